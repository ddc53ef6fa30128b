package sms

import (
	"context"
	"sync"
)

// What the adapter remembers in memory only, each bounded: the webhooks it
// took (to ignore Twilio repeating one), the status callbacks it reported,
// and how far a split text got. None of it survives a restart; see doc.go.

// memorySize bounds each of the adapter's memories.
const memorySize = 10_000

// fifoMap is a map that forgets its oldest keys past max. It is not safe
// for concurrent use.
type fifoMap[V any] struct {
	max   int
	m     map[string]V
	order []string // keys, oldest first; may name keys deleted since
}

func newFIFOMap[V any](max int) *fifoMap[V] {
	return &fifoMap[V]{max: max, m: make(map[string]V)}
}

func (f *fifoMap[V]) get(k string) (V, bool) {
	v, ok := f.m[k]
	return v, ok
}

func (f *fifoMap[V]) put(k string, v V) {
	if _, ok := f.m[k]; !ok {
		f.order = append(f.order, k)
	}
	f.m[k] = v
	for len(f.m) > f.max && len(f.order) > 0 {
		delete(f.m, f.order[0])
		f.order = f.order[1:]
	}
	if len(f.order) > 2*f.max {
		// Keys deleted since they were put: compact the list.
		live := make([]string, 0, len(f.m))
		for _, k := range f.order {
			if _, ok := f.m[k]; ok {
				live = append(live, k)
			}
		}
		f.order = live
	}
}

func (f *fifoMap[V]) delete(k string) { delete(f.m, k) }

// seenSIDs are the MessageSids of the webhooks taken, so that one Twilio
// sends again (it did not get the answer in time, or its fallback URL is
// this one too) is answered without being handed over twice. A webhook
// arriving while the same one is being handed over waits for the outcome:
// a duplicate if it succeeded, handed over anew if it failed.
type seenSIDs struct {
	mu sync.Mutex
	m  *fifoMap[*seenEntry]
}

type seenEntry struct {
	done chan struct{} // closed when the first is finished
	ok   bool          // it was handed over; set before done closes
}

func newSeenSIDs() *seenSIDs { return &seenSIDs{m: newFIFOMap[*seenEntry](memorySize)} }

// claim returns an entry to finish when sid is new (or its earlier
// hand-over failed), or nil when sid was handed over already.
func (s *seenSIDs) claim(ctx context.Context, sid string) (*seenEntry, error) {
	for {
		s.mu.Lock()
		e, ok := s.m.get(sid)
		if !ok {
			e = &seenEntry{done: make(chan struct{})}
			s.m.put(sid, e)
			s.mu.Unlock()
			return e, nil
		}
		s.mu.Unlock()
		select {
		case <-e.done:
			if e.ok {
				return nil, nil
			}
			// It failed and was forgotten: try again.
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// finish records the outcome of a claimed sid's hand-over.
func (s *seenSIDs) finish(sid string, e *seenEntry, ok bool) {
	s.mu.Lock()
	if !ok {
		if cur, found := s.m.get(sid); found && cur == e {
			s.m.delete(sid)
		}
	}
	e.ok = ok
	s.mu.Unlock()
	close(e.done)
}

// callbacks tracks what status callbacks reported about each text owlgate
// sent, by owlgate's message id: a failure is reported once, and a receipt
// once every part of the text was delivered.
type callbacks struct {
	mu sync.Mutex
	m  *fifoMap[*sentText]
}

type sentText struct {
	failed    bool
	delivered []bool // by part
	receipt   bool
}

func newCallbacks() *callbacks { return &callbacks{m: newFIFOMap[*sentText](memorySize)} }

func (c *callbacks) get(id string, parts int) *sentText {
	t, ok := c.m.get(id)
	if !ok {
		t = &sentText{delivered: make([]bool, parts)}
		c.m.put(id, t)
	}
	return t
}

// fail reports whether the failure of text id is the first one.
func (c *callbacks) fail(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.get(id, 1)
	first := !t.failed
	t.failed = true
	return first
}

// unfail forgets a failure that could not be reported.
func (c *callbacks) unfail(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.get(id, 1).failed = false
}

// delivered records that part (0-based) of parts of text id was delivered,
// and reports whether that completes the text (for the first time).
func (c *callbacks) delivered(id string, part, parts int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.get(id, parts)
	if part < 0 || part >= len(t.delivered) || t.failed || t.receipt {
		return false
	}
	t.delivered[part] = true
	for _, d := range t.delivered {
		if !d {
			return false
		}
	}
	t.receipt = true
	return true
}

// progress remembers how many parts of a split text went out before a
// failure, so that the gateway sending the same text again (with the same
// id) resumes after them instead of repeating them. The key is the
// message's id and its text: the gateway sends a message's text and its
// attachment links with one id.
type progress struct {
	mu sync.Mutex
	m  *fifoMap[int]
}

func newProgress() *progress { return &progress{m: newFIFOMap[int](memorySize)} }

func (p *progress) sent(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, _ := p.m.get(key)
	return n
}

func (p *progress) set(key string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n == 0 {
		p.m.delete(key)
		return
	}
	p.m.put(key, n)
}
