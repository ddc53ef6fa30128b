package protocoltest

import (
	"context"
	"fmt"
	"sync"

	"github.com/owlgate/owlgate/protocols"
)

// Sink is a [protocols.Sink] that records what an adapter reports. Its
// methods are safe for concurrent use; the Wait and Next methods block until
// what they wait for happened or ctx ends.
type Sink struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every report
	events  []protocols.Inbound
	states  []protocols.StateReport
	read    int // events already returned by NextEvent

	// Refuse, when set, is returned by Deliver instead of recording.
	Refuse error
}

var _ protocols.Sink = (*Sink)(nil)

// NewSink returns an empty recording sink.
func NewSink() *Sink { return &Sink{changed: make(chan struct{})} }

func (s *Sink) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Deliver records ev.
func (s *Sink) Deliver(ctx context.Context, ev protocols.Inbound) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Refuse != nil {
		return s.Refuse
	}
	s.events = append(s.events, ev)
	s.notify()
	return nil
}

// ReportState records r.
func (s *Sink) ReportState(r protocols.StateReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states = append(s.states, r)
	s.notify()
}

// States returns the states reported so far, in order.
func (s *Sink) States() []protocols.AccountState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]protocols.AccountState, len(s.states))
	for i, r := range s.states {
		out[i] = r.State
	}
	return out
}

// LastState returns the last state report, or the zero one.
func (s *Sink) LastState() protocols.StateReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.states) == 0 {
		return protocols.StateReport{}
	}
	return s.states[len(s.states)-1]
}

// wait blocks until cond, called with s.mu held, returns true.
func (s *Sink) wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		if cond() {
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitState blocks until the account reported state st (at any time since
// the sink was made).
func (s *Sink) WaitState(ctx context.Context, st protocols.AccountState) error {
	err := s.wait(ctx, func() bool {
		for _, r := range s.states {
			if r.State == st {
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("waiting for state %s (states so far %v): %w", st, s.States(), err)
	}
	return nil
}

// WaitStateCount waits until the adapter has reported st n times in all
// (the second AccountOnline: it is back after a reconnection).
func (s *Sink) WaitStateCount(ctx context.Context, st protocols.AccountState, n int) error {
	err := s.wait(ctx, func() bool {
		seen := 0
		for _, r := range s.states {
			if r.State == st {
				seen++
			}
		}
		return seen >= n
	})
	if err != nil {
		return fmt.Errorf("waiting for state %s %d times (states so far %v): %w", st, n, s.States(), err)
	}
	return nil
}

// NextEvent returns the next inbound event not returned before, waiting for
// one.
func (s *Sink) NextEvent(ctx context.Context) (protocols.Inbound, error) {
	var ev protocols.Inbound
	err := s.wait(ctx, func() bool {
		if s.read < len(s.events) {
			ev = s.events[s.read]
			s.read++
			return true
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for an inbound event: %w", err)
	}
	return ev, nil
}
