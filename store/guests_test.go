package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

func TestGuestStableAndDistinct(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	addrs := []protocols.Address{
		{Network: "irc", Account: "unc-irc", User: "Patron"},
		{Network: "irc", Account: "unc-irc", User: "patron"}, // ids are case-sensitive
		{Network: "irc", Account: "duke-irc", User: "Patron"},
		{Network: "matrix", Account: "unc-irc", User: "Patron"},
		{Network: "sms", Account: "unc-sms", User: "+15555550123"},
	}
	ids := map[protocols.Address]routing.GuestID{}
	for i, a := range addrs {
		id, err := s.Guest(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if want := routing.GuestIDFromNumber(int64(1001 + i)); id != want {
			t.Errorf("Guest(%v) = %q, want %q", a, id, want)
		}
		ids[a] = id
	}
	for _, a := range addrs {
		if id, err := s.Guest(ctx, a); err != nil || id != ids[a] {
			t.Errorf("Guest(%v) again = %q, %v; want %q", a, id, err, ids[a])
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openAt(t, path)
	for _, a := range addrs {
		if id, err := s2.Guest(ctx, a); err != nil || id != ids[a] {
			t.Errorf("after reopen, Guest(%v) = %q, %v; want %q", a, id, err, ids[a])
		}
	}
	if id, err := s2.Guest(ctx, addr("newcomer")); err != nil || id != "guest-1006" {
		t.Errorf("new guest after reopen = %q, %v; want guest-1006", id, err)
	}
	if _, err := s2.Guest(ctx, protocols.Address{}); err == nil {
		t.Error("Guest of the zero address: no error")
	}
}

func TestGuestConcurrent(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const n = 64

	// Many calls for one new address, at once: one id.
	same := make([]routing.GuestID, n)
	// And many new addresses at once: all distinct.
	distinct := make([]routing.GuestID, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			id, err := s.Guest(ctx, addr("same"))
			same[i] = id
			if err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			id, err := s.Guest(ctx, addr(fmt.Sprintf("user%d", i)))
			distinct[i] = id
			if err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, id := range same {
		if id != same[0] {
			t.Fatalf("concurrent Guest for one address: call %d got %q, call 0 got %q", i, id, same[0])
		}
	}
	seen := map[routing.GuestID]bool{same[0]: true}
	for _, id := range distinct {
		if seen[id] {
			t.Fatalf("guest id %q given twice", id)
		}
		seen[id] = true
	}
	// Exactly n+1 numbers were used: 1001..1001+n, no gaps.
	for i := range n + 1 {
		if !seen[routing.GuestIDFromNumber(int64(1001+i))] {
			t.Errorf("guest-%d not assigned; ids: %v", 1001+i, seen)
		}
	}
}

func TestGuestWithPendingBatches(t *testing.T) {
	// A guest request queued behind batches shares their transaction and
	// is not held up by them, nor they by it.
	s, _ := openTemp(t)
	ctx := context.Background()
	var commits []*Commit
	for i := 1; i <= 50; i++ {
		commits = append(commits, s.Submit(Batch{Chats: []routing.ChatRecord{record(routing.ChatID(i))}}))
	}
	if _, err := s.Guest(ctx, addr("between")); err != nil {
		t.Fatal(err)
	}
	for _, c := range commits {
		wait(t, c)
	}
}
