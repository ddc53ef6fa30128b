package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/owlgate/owlgate/routing"
)

// walSize returns the size of the database's write-ahead log file (0 when
// there is none).
func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestCheckpointsBoundWAL writes the same amount in many rounds, with a
// checkpoint tick after each: the write-ahead log is started over after
// each checkpoint, so its file stays the size of one round's writes rather
// than growing with every round. Close empties it.
func TestCheckpointsBoundWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "owlgate.db")
	ticks := make(chan time.Time)
	results := make(chan error)
	s, err := OpenSQLite(context.Background(), path,
		withCheckpointTicks(ticks, func(err error) { results <- err }), withCheckpointPages(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	const chats, rounds, perRound = 20, 12, 100
	recs := make([]routing.ChatRecord, chats)
	for i := range recs {
		recs[i] = record(routing.ChatID(i + 1))
	}
	submitWait(t, s, Batch{Chats: recs})

	checkpoint := func() {
		t.Helper()
		ticks <- time.Now()
		if err := <-results; err != nil {
			t.Fatalf("checkpoint: %v", err)
		}
	}
	round := func() {
		t.Helper()
		var last *Commit
		for i := 0; i < perRound; i++ {
			r := &recs[i%chats]
			l := line(r.Lines)
			r.Lines++
			last = s.Submit(Batch{Chats: []routing.ChatRecord{*r}, Lines: []ChatLine{{Chat: r.ID, Line: l}}})
			wait(t, last) // one transaction each: as many frames as can be
		}
	}

	round()
	grown := walSize(t, path)
	checkpoint()
	round()
	first := walSize(t, path)
	if first == 0 || grown == 0 {
		t.Fatalf("no write-ahead log: %d, %d bytes", grown, first)
	}
	for i := 2; i < rounds; i++ {
		checkpoint()
		round()
	}
	// Without checkpoints the log would hold every round: rounds times
	// the first's frames.
	if got := walSize(t, path); got > first*3/2 {
		t.Errorf("write-ahead log grew to %d bytes after %d rounds, %d after the first checkpoint", got, rounds, first)
	}

	// Everything is still there, and Close leaves no log behind.
	st := mustLoad(t, s, 0)
	if len(st.Chats) != chats || st.Chats[0].Record.Lines != rounds*perRound/chats {
		t.Fatalf("after the rounds: %d chats, %+v", len(st.Chats), st.Chats[0].Record)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := walSize(t, path); n != 0 {
		t.Errorf("write-ahead log of %d bytes after Close", n)
	}
	s2 := openAt(t, path)
	if st := mustLoad(t, s2, 0); len(st.Chats) != chats {
		t.Errorf("after reopen: %d chats", len(st.Chats))
	}
}

// TestNoCheckpointWithoutTick: the writer's commits never checkpoint on
// their own (wal_autocheckpoint=0), so without ticks (and with the page
// trigger off) the log only grows.
func TestNoCheckpointWithoutTick(t *testing.T) {
	path := filepath.Join(t.TempDir(), "owlgate.db")
	s, err := OpenSQLite(context.Background(), path, withCheckpointTicks(make(chan time.Time), nil), withCheckpointPages(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := record(1)
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{r}})
	// SQLite's automatic checkpoint would run at 1,000 pages; write more.
	prev := walSize(t, path)
	for i := 0; i < 1200; i++ {
		l := line(r.Lines)
		r.Lines++
		submitWait(t, s, Batch{Chats: []routing.ChatRecord{r}, Lines: []ChatLine{{Chat: r.ID, Line: l}}})
		if n := walSize(t, path); n < prev {
			t.Fatalf("write-ahead log shrank from %d to %d bytes without a checkpoint tick", prev, n)
		} else {
			prev = n
		}
	}
	var frames int
	if err := s.ck.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(new(int), &frames, new(int)); err != nil {
		t.Fatal(err)
	}
	if frames < 1000 {
		t.Errorf("write-ahead log holds %d frames after 1,200 commits: something checkpointed it", frames)
	}
}

// TestCheckpointAfterPages: without any tick, the writer asks for a
// checkpoint once it wrote the page threshold to the log, so the log stays
// near the threshold however much is written.
func TestCheckpointAfterPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "owlgate.db")
	const pages = 100
	results := make(chan error, 1000)
	s, err := OpenSQLite(context.Background(), path,
		withCheckpointTicks(make(chan time.Time), func(err error) { results <- err }), withCheckpointPages(pages))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := record(1)
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{r}})
	const commits = 2000 // several pages each: many times the threshold
	for i := 0; i < commits; i++ {
		l := line(r.Lines)
		r.Lines++
		submitWait(t, s, Batch{Chats: []routing.ChatRecord{r}, Lines: []ChatLine{{Chat: r.ID, Line: l}}})
	}
	n := 0
	for done := false; !done; {
		select {
		case err := <-results:
			if err != nil {
				t.Fatalf("checkpoint: %v", err)
			}
			n++
		default:
			done = true
		}
	}
	if n < 2 {
		t.Fatalf("%d checkpoints after %d commits with a threshold of %d pages", n, commits, pages)
	}
	// The log restarts after each checkpoint: it holds a few thresholds'
	// worth of pages at most, not every commit's.
	const pageSize = 4096 + 24 // a frame: page and header
	if size := walSize(t, path); size > 10*pages*pageSize {
		t.Errorf("write-ahead log of %d bytes (%d frames) with a threshold of %d pages", size, size/pageSize, pages)
	}
	if st := mustLoad(t, s, 0); st.Chats[0].Record.Lines != commits {
		t.Errorf("Lines = %d, want %d", st.Chats[0].Record.Lines, commits)
	}
}
