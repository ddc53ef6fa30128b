package gateway

import (
	"context"
	"sync"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// guestCache remembers recent patrons' guest ids so that a chat's messages
// do not each ask the store. It forgets everything when it grows past its
// limit: the store keeps the ids, so that costs only lookups.
type guestCache struct {
	st    store.Store
	limit int

	mu sync.Mutex
	m  map[protocols.Address]routing.GuestID
}

func newGuestCache(st store.Store, limit int) *guestCache {
	return &guestCache{st: st, limit: limit, m: make(map[protocols.Address]routing.GuestID)}
}

func (c *guestCache) get(ctx context.Context, addr protocols.Address) (routing.GuestID, error) {
	c.mu.Lock()
	g, ok := c.m[addr]
	c.mu.Unlock()
	if ok {
		return g, nil
	}
	g, err := c.st.Guest(ctx, addr)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.m) >= c.limit {
		clear(c.m)
	}
	c.m[addr] = g
	c.mu.Unlock()
	return g, nil
}
