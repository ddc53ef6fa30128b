//go:build goolm

package matrix

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/owlgate/owlgate/protocols"
)

// writeJSON writes v to path atomically (a temporary file renamed), readable
// by owlgate's user alone.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readJSON reads path into v; a missing file leaves v as it is.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// roomInfo is what owlgate knows of one room it chats in.
type roomInfo struct {
	Patron id.UserID `json:"patron,omitempty"` // the other member of a direct room
	Group  bool      `json:"group,omitempty"`  // a listed group room
}

// roomBook maps direct rooms to their patron and each patron to the room
// they wrote in last, kept in rooms.json in the data folder so that replies
// after a restart go to the right room.
type roomBook struct {
	path string
	mu   sync.Mutex
	v    struct {
		Rooms   map[id.RoomID]roomInfo   `json:"rooms"`
		Patrons map[id.UserID]id.RoomID  `json:"patrons"` // the room a patron wrote in last
		Last    map[id.RoomID]id.EventID `json:"last"`    // the last timeline event handled, per room
	}
	loaded bool
}

func newRoomBook(dir string) *roomBook {
	b := &roomBook{}
	if dir != "" {
		b.path = filepath.Join(dir, "rooms.json")
	}
	b.v.Rooms = map[id.RoomID]roomInfo{}
	b.v.Patrons = map[id.UserID]id.RoomID{}
	b.v.Last = map[id.RoomID]id.EventID{}
	return b
}

func (b *roomBook) load() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.loaded || b.path == "" {
		return nil
	}
	if err := readJSON(b.path, &b.v); err != nil {
		return fmt.Errorf("matrix: reading %s: %w", b.path, err)
	}
	if b.v.Rooms == nil {
		b.v.Rooms = map[id.RoomID]roomInfo{}
	}
	if b.v.Patrons == nil {
		b.v.Patrons = map[id.UserID]id.RoomID{}
	}
	if b.v.Last == nil {
		b.v.Last = map[id.RoomID]id.EventID{}
	}
	b.loaded = true
	return nil
}

func (b *roomBook) saveLocked() error {
	if b.path == "" {
		return nil
	}
	if err := writeJSON(b.path, &b.v); err != nil {
		return fmt.Errorf("matrix: writing %s: %w", b.path, err)
	}
	return nil
}

func (b *roomBook) room(r id.RoomID) (roomInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ri, ok := b.v.Rooms[r]
	return ri, ok
}

// set records a room; for a patron's message, the room is also where
// replies to the patron go from now on.
func (b *roomBook) set(r id.RoomID, ri roomInfo, patron id.UserID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, had := b.v.Rooms[r]
	changed := !had || old != ri
	b.v.Rooms[r] = ri
	if patron != "" && b.v.Patrons[patron] != r {
		b.v.Patrons[patron] = r
		changed = true
	}
	if !changed {
		return nil
	}
	return b.saveLocked()
}

// forget drops a room, and the patron's reply room if it was this one.
func (b *roomBook) forget(r id.RoomID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ri, ok := b.v.Rooms[r]
	if !ok {
		return nil
	}
	delete(b.v.Rooms, r)
	delete(b.v.Last, r)
	if ri.Patron != "" && b.v.Patrons[ri.Patron] == r {
		delete(b.v.Patrons, ri.Patron)
	}
	for p, pr := range b.v.Patrons {
		if pr == r {
			delete(b.v.Patrons, p)
		}
	}
	return b.saveLocked()
}

// lastEvent is the last timeline event of room a batch handled.
func (b *roomBook) lastEvent(r id.RoomID) id.EventID {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.v.Last[r]
}

// setLast records the last timeline event of each room of a handled batch.
func (b *roomBook) setLast(last map[id.RoomID]id.EventID) error {
	if len(last) == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for r, e := range last {
		b.v.Last[r] = e
	}
	return b.saveLocked()
}

// replyRoom is the room replies to a patron go to.
func (b *roomBook) replyRoom(p id.UserID) (id.RoomID, roomInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.v.Patrons[p]
	if !ok {
		return "", roomInfo{}, false
	}
	ri, ok := b.v.Rooms[r]
	return r, ri, ok
}

// mediaFile is a file a patron sent, which owlgate serves to operators at
// a link.
type mediaFile struct {
	URL  id.ContentURIString      `json:"url"`
	File *event.EncryptedFileInfo `json:"file,omitempty"` // the key, for files of encrypted rooms
	Name string                   `json:"name,omitempty"`
	MIME string                   `json:"mime,omitempty"`
}

// mediaBook holds the files behind the links owlgate gave operators, by
// an unguessable token, in media.json in the data folder: the links work
// after a restart. Entries are kept as long as the folder is.
type mediaBook struct {
	path   string
	mu     sync.Mutex
	files  map[string]mediaFile
	loaded bool
}

func newMediaBook(dir string) *mediaBook {
	b := &mediaBook{files: map[string]mediaFile{}}
	if dir != "" {
		b.path = filepath.Join(dir, "media.json")
	}
	return b
}

func (b *mediaBook) loadLocked() error {
	if b.loaded || b.path == "" {
		return nil
	}
	if err := readJSON(b.path, &b.files); err != nil {
		return fmt.Errorf("matrix: reading %s: %w", b.path, err)
	}
	if b.files == nil {
		b.files = map[string]mediaFile{}
	}
	b.loaded = true
	return nil
}

func (b *mediaBook) add(token string, f mediaFile) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.loadLocked(); err != nil {
		return err
	}
	b.files[token] = f
	if b.path == "" {
		return nil
	}
	if err := writeJSON(b.path, b.files); err != nil {
		return fmt.Errorf("matrix: writing %s: %w", b.path, err)
	}
	return nil
}

func (b *mediaBook) get(token string) (mediaFile, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.loadLocked(); err != nil {
		return mediaFile{}, false, err
	}
	f, ok := b.files[token]
	return f, ok, nil
}

// sentBook remembers, in memory, which owlgate message each recent event
// owlgate sent carried, so that a patron's read receipt names it.
type sentBook struct {
	mu    sync.Mutex
	ids   map[id.EventID]protocols.MessageID
	order []id.EventID
}

const sentBookSize = 4096

func newSentBook() *sentBook { return &sentBook{ids: map[id.EventID]protocols.MessageID{}} }

func (b *sentBook) add(e id.EventID, m protocols.MessageID) {
	if m == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.order) >= sentBookSize {
		delete(b.ids, b.order[0])
		b.order = b.order[1:]
	}
	b.ids[e] = m
	b.order = append(b.order, e)
}

// take returns the message an event carried, once.
func (b *sentBook) take(e id.EventID) (protocols.MessageID, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.ids[e]
	delete(b.ids, e)
	return m, ok
}

// eventSet is the events delivered from sync batches whose token is not
// saved yet.
type eventSet struct {
	mu sync.Mutex
	m  map[id.EventID]bool
}

func (e *eventSet) has(ev id.EventID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.m[ev]
}

func (e *eventSet) add(ev id.EventID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[id.EventID]bool{}
	}
	e.m[ev] = true
}

func (e *eventSet) clear() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.m)
}
