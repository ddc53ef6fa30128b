package server

import (
	"context"
	"errors"
	"sync"
)

// OfflineStore keeps messages for operators who are offline (XEP-0160
// style): the server stores a message it cannot deliver, with a XEP-0203
// delay stamp, and delivers what is stored when the operator next sends
// available presence with a non-negative priority. *store.SQLite
// implements it durably.
type OfflineStore interface {
	// PutOffline stores one serialized message stanza for the bare JID
	// to, or fails when limit messages are already stored for it.
	PutOffline(ctx context.Context, to string, stanza []byte, limit int) error
	// TakeOffline returns and removes every message stored for to, oldest
	// first.
	TakeOffline(ctx context.Context, to string) ([][]byte, error)
}

// ErrOfflineFull is the error of MemoryOffline.PutOffline over the limit.
var ErrOfflineFull = errors.New("xmpp server: offline message store full for this operator")

// MemoryOffline is an OfflineStore in memory: messages are lost at
// restart.
type MemoryOffline struct {
	mu   sync.Mutex
	msgs map[string][][]byte
}

// NewMemoryOffline returns an empty MemoryOffline.
func NewMemoryOffline() *MemoryOffline {
	return &MemoryOffline{msgs: make(map[string][][]byte)}
}

// PutOffline implements OfflineStore.
func (m *MemoryOffline) PutOffline(_ context.Context, to string, stanza []byte, limit int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if limit > 0 && len(m.msgs[to]) >= limit {
		return ErrOfflineFull
	}
	m.msgs[to] = append(m.msgs[to], append([]byte(nil), stanza...))
	return nil
}

// TakeOffline implements OfflineStore.
func (m *MemoryOffline) TakeOffline(_ context.Context, to string) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.msgs[to]
	delete(m.msgs, to)
	return out, nil
}
