package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestOfflinePutTake(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	for i := range 3 {
		if err := s.PutOffline(ctx, "alice@localhost", []byte(fmt.Sprintf("<message>%d</message>", i)), 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutOffline(ctx, "alice@localhost", []byte("<message/>"), 3); !errors.Is(err, ErrOfflineFull) {
		t.Fatalf("fourth message over a limit of 3: err = %v, want ErrOfflineFull", err)
	}
	if err := s.PutOffline(ctx, "bob@localhost", []byte("<message>b</message>"), 3); err != nil {
		t.Fatal(err)
	}
	// Durable: a reopened store still has them.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	got, err := s.TakeOffline(ctx, "alice@localhost")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("took %d messages, want 3", len(got))
	}
	for i, m := range got {
		if want := fmt.Sprintf("<message>%d</message>", i); string(m) != want {
			t.Errorf("message %d = %s, want %s", i, m, want)
		}
	}
	if got, err := s.TakeOffline(ctx, "alice@localhost"); err != nil || len(got) != 0 {
		t.Errorf("second take = %d messages, %v; want none", len(got), err)
	}
	if got, err := s.TakeOffline(ctx, "bob@localhost"); err != nil || len(got) != 1 {
		t.Errorf("bob's take = %d messages, %v; want 1", len(got), err)
	}
}
