package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

func TestNormalTime(t *testing.T) {
	if reflect.DeepEqual(t0, NormalTime(t0)) {
		t.Fatal("t0 should differ from its normal form (location, monotonic reading)")
	}
	n := NormalTime(t0)
	if !n.Equal(t0) || n.Location() != time.UTC || n.Nanosecond() != t0.Nanosecond() {
		t.Errorf("NormalTime(%v) = %v", t0, n)
	}
	if !reflect.DeepEqual(n, NormalTime(n)) {
		t.Error("NormalTime is not idempotent")
	}
	if z := NormalTime(time.Time{}.In(local)); !reflect.DeepEqual(z, time.Time{}) {
		t.Errorf("NormalTime(zero in a location) = %#v, want time.Time{}", z)
	}
}

func TestRoundTrip(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()

	r1 := record(1)
	r1.Lines = 5
	r2 := record(2) // waiting, never answered: zero times
	r2.Status = routing.ChatWaiting
	r2.Operator = ""
	r2.FirstAnswer = time.Time{}
	r2.Transcript = true
	r2.Patron = protocols.Address{Network: "sms", Account: "unc-sms", User: "+15555550123"}
	r2.Lines = 1
	submitWait(t, s, Batch{
		Chats: []routing.ChatRecord{r2, r1},
		Lines: append(linesOf(1, 0, 5), linesOf(2, 0, 1)...),
	})

	got := mustLoad(t, s, 100)
	want := routing.State{
		Chats: []routing.ChatSnapshot{
			{Record: NormalRecord(r1), Lines: normalLines(0, 5)},
			{Record: NormalRecord(r2), Lines: normalLines(0, 1)},
		},
		NextChat: 3,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Load:\n got %+v\nwant %+v", got, want)
	}
	// The normalisation is all there is: the values are equal.
	if !got.Chats[0].Record.Started.Equal(r1.Started) || got.Chats[0].Record.Started.Location() != time.UTC {
		t.Errorf("Started = %v, want %v in UTC", got.Chats[0].Record.Started, r1.Started)
	}
	if ls := mustLines(t, s, 1); !reflect.DeepEqual(ls, normalLines(0, 5)) {
		t.Errorf("Lines(1) = %+v", ls)
	}
	if ls := mustLines(t, s, 99); ls != nil {
		t.Errorf("Lines of an unknown chat = %+v, want nil", ls)
	}

	// Same after reopening (nothing only in memory).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, path)
	if got2, err := s2.Load(ctx, 100); err != nil || !reflect.DeepEqual(got2, want) {
		t.Fatalf("Load after reopen: %v\n got %+v\nwant %+v", err, got2, want)
	}
}

func TestEmptyStore(t *testing.T) {
	s, _ := openTemp(t)
	st := mustLoad(t, s, 10)
	if !reflect.DeepEqual(st, routing.State{NextChat: 1}) {
		t.Errorf("Load of an empty store = %+v, want NextChat 1 and nothing else", st)
	}
	out, err := s.PendingOutbound(context.Background())
	if err != nil || out != nil {
		t.Errorf("PendingOutbound = %v, %v", out, err)
	}
}

func TestLoadContextLines(t *testing.T) {
	s, _ := openTemp(t)
	r := record(7)
	r.Lines = 10
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{r}, Lines: linesOf(7, 0, 10)})

	for _, tc := range []struct {
		context int
		want    []routing.Line
	}{
		{3, normalLines(7, 10)},
		{1, normalLines(9, 10)},
		{10, normalLines(0, 10)},
		{50, normalLines(0, 10)},
		{0, nil},
		{-1, nil},
	} {
		st := mustLoad(t, s, tc.context)
		if len(st.Chats) != 1 || !reflect.DeepEqual(st.Chats[0].Lines, tc.want) {
			t.Errorf("Load(%d) lines = %+v, want %+v", tc.context, st.Chats, tc.want)
		}
	}
	if ls := mustLines(t, s, 7); !reflect.DeepEqual(ls, normalLines(0, 10)) {
		t.Errorf("Lines = %+v", ls)
	}
}

func TestLoadOrderAndNextChat(t *testing.T) {
	s, _ := openTemp(t)
	var chats []routing.ChatRecord
	for _, id := range []routing.ChatID{5, 3, 9, 4} {
		chats = append(chats, record(id))
	}
	ended := record(12)
	ended.Status = routing.ChatEnded
	ended.Ended = t0.Add(time.Hour)
	ended.EndReason = routing.EndClosed
	chats = append(chats, ended)
	submitWait(t, s, Batch{Chats: chats})

	st := mustLoad(t, s, 5)
	var ids []routing.ChatID
	for _, c := range st.Chats {
		ids = append(ids, c.Record.ID)
	}
	if !reflect.DeepEqual(ids, []routing.ChatID{3, 4, 5, 9}) {
		t.Errorf("open chats = %v, want [3 4 5 9] (ordered, ended one left out)", ids)
	}
	if st.NextChat != 13 {
		t.Errorf("NextChat = %d, want 13 (above the ended chat)", st.NextChat)
	}
}

func TestNextChatSurvivesDeletedChats(t *testing.T) {
	s, _ := openTemp(t)
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{record(40), record(41)}})
	// A later expiry of old chats must not make ids reusable.
	if _, err := s.wdbForTest().Exec("DELETE FROM chats"); err != nil {
		t.Fatal(err)
	}
	if st := mustLoad(t, s, 0); st.NextChat != 42 || st.Chats != nil {
		t.Errorf("Load = %+v, want no chats and NextChat 42", st)
	}
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{record(7)}})
	if st := mustLoad(t, s, 0); st.NextChat != 42 {
		t.Errorf("NextChat = %d, want 42", st.NextChat)
	}
}

func TestTranscripts(t *testing.T) {
	s, _ := openTemp(t)
	keep, drop := record(1), record(2)
	keep.Transcript = true
	keep.Lines, drop.Lines = 4, 4
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{keep, drop}, Lines: append(linesOf(1, 0, 4), linesOf(2, 0, 4)...)})

	for _, r := range []*routing.ChatRecord{&keep, &drop} {
		r.Status = routing.ChatEnded
		r.Ended = t0.Add(time.Hour)
		r.EndReason = routing.EndPatronLeft
		r.Lines = 5
	}
	// The last line comes in the batch that ends the chats.
	submitWait(t, s, Batch{
		Chats: []routing.ChatRecord{keep, drop},
		Lines: append(linesOf(1, 4, 5), linesOf(2, 4, 5)...),
	})
	if ls := mustLines(t, s, 1); !reflect.DeepEqual(ls, normalLines(0, 5)) {
		t.Errorf("transcript chat lines = %+v, want all 5", ls)
	}
	if ls := mustLines(t, s, 2); ls != nil {
		t.Errorf("chat without transcript kept %d lines after it ended", len(ls))
	}
	// A late line of the ended chat is not stored either.
	submitWait(t, s, Batch{Lines: linesOf(2, 5, 6)})
	if ls := mustLines(t, s, 2); ls != nil {
		t.Errorf("late line of a chat without transcript stored: %+v", ls)
	}
	if st := mustLoad(t, s, 10); st.Chats != nil || st.NextChat != 3 {
		t.Errorf("Load = %+v, want no open chats, NextChat 3", st)
	}
	// The record of the ended chat is kept, for statistics.
	var n int
	if err := s.r.QueryRow("SELECT count(*) FROM chats WHERE status = 3").Scan(&n); err != nil || n != 2 {
		t.Errorf("ended records = %d, %v; want 2", n, err)
	}
}

func TestRecordUpdateKeepsLinesAndLineReplace(t *testing.T) {
	s, _ := openTemp(t)
	r := record(3)
	r.Lines = 3
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{r}, Lines: linesOf(3, 0, 3)})
	r.Operator = "bob@localhost"
	r.Transfers = 2
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{r}})
	if ls := mustLines(t, s, 3); len(ls) != 3 {
		t.Fatalf("updating the record lost lines: %d left", len(ls))
	}
	l := line(1)
	l.Text = "edited"
	l.Attachments = nil
	submitWait(t, s, Batch{Lines: []ChatLine{{Chat: 3, Line: l}}})
	want := normalLines(0, 3)
	want[1] = NormalLine(l)
	if ls := mustLines(t, s, 3); !reflect.DeepEqual(ls, want) {
		t.Errorf("Lines = %+v, want %+v", ls, want)
	}
	if st := mustLoad(t, s, 0); !reflect.DeepEqual(st.Chats[0].Record, NormalRecord(r)) {
		t.Errorf("record = %+v, want %+v", st.Chats[0].Record, NormalRecord(r))
	}
}

func TestOutbound(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	mk := func(id string, created time.Time) Outbound {
		return Outbound{ID: protocols.MessageID(id), Chat: 1, To: addr("p"), Text: "reply " + id, Created: created}
	}
	a := mk("a", t0.Add(2*time.Second))
	b := mk("b", t0)
	b.Attachments = []protocols.Attachment{{URL: "https://example.edu/map.png", MIMEType: "image/png"}}
	c := mk("c", t0) // same time as b: by id
	d := mk("d", t0.Add(time.Second))
	d.Attachments = []protocols.Attachment{} // comes back nil
	submitWait(t, s, Batch{Outbound: []Outbound{a, c}})
	submitWait(t, s, Batch{Outbound: []Outbound{d, b}})

	got, err := s.PendingOutbound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Outbound{NormalOutbound(b), NormalOutbound(c), NormalOutbound(d), NormalOutbound(a)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PendingOutbound:\n got %+v\nwant %+v", got, want)
	}
	if got[2].Attachments != nil {
		t.Error("empty attachments should come back nil")
	}

	submitWait(t, s, Batch{Done: []protocols.MessageID{"b", "d", "unknown"}})
	got, err = s.PendingOutbound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Outbound{NormalOutbound(c), NormalOutbound(a)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after Done:\n got %+v\nwant %+v", got, want)
	}
	// Recorded and done in one batch: the done step comes last.
	submitWait(t, s, Batch{Outbound: []Outbound{mk("e", t0)}, Done: []protocols.MessageID{"e", "a", "c"}})
	if got, err := s.PendingOutbound(ctx); err != nil || got != nil {
		t.Fatalf("after all done: %+v, %v", got, err)
	}
}

// holdWriter makes the writer's first group wait until release is called,
// so that batches submitted meanwhile form one group. groups receives the
// size of each group.
func holdWriter(s *SQLite) (groups chan int, release func()) {
	groups = make(chan int, 1000)
	gate := make(chan struct{})
	var once sync.Once
	first := true
	s.testHookGroup = func(n int) {
		groups <- n
		if first {
			first = false
			<-gate
		}
	}
	return groups, func() { once.Do(func() { close(gate) }) }
}

func TestGroupCommitOrdering(t *testing.T) {
	s, _ := openTemp(t)
	groups, release := holdWriter(s)
	defer release()

	first := s.Submit(Batch{Chats: []routing.ChatRecord{record(1)}})
	if n := <-groups; n != 1 {
		t.Fatalf("first group has %d batches", n)
	}
	// The writer is held: these queue up into one group.
	var commits []*Commit
	r := record(1)
	for i := 1; i <= 100; i++ {
		r.Lines = i
		r.Transfers = i
		commits = append(commits, s.Submit(Batch{Chats: []routing.ChatRecord{r}, Lines: linesOf(1, i-1, i)}))
	}
	select {
	case <-commits[0].Done():
		t.Fatal("a commit finished while its group waits")
	default:
	}
	release()
	wait(t, first)
	for _, c := range commits {
		wait(t, c)
	}
	if n := <-groups; n != 100 {
		t.Errorf("second group has %d batches, want 100", n)
	}
	st := mustLoad(t, s, 1000)
	if len(st.Chats) != 1 || st.Chats[0].Record.Lines != 100 || st.Chats[0].Record.Transfers != 100 {
		t.Fatalf("the last batch did not win: %+v", st.Chats)
	}
	if !reflect.DeepEqual(st.Chats[0].Lines, normalLines(0, 100)) {
		t.Errorf("lines = %d, want 100 in order", len(st.Chats[0].Lines))
	}
}

// TestDeliveredInSameGroup: a message recorded and marked done in one group
// (it was sent while its batch waited for the disk) ends up not in the
// outbox, whatever was stored before; recorded again after it was done, it
// stays.
func TestDeliveredInSameGroup(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{record(1)}})
	out := func(id string) Outbound {
		return Outbound{ID: protocols.MessageID(id), Chat: 1, To: addr("p"), Text: "t " + id, Created: t0}
	}
	// "old" is in the outbox before the group (sent again after a restart).
	submitWait(t, s, Batch{Outbound: []Outbound{out("old")}})

	groups, release := holdWriter(s)
	defer release()
	hold := s.Submit(Batch{Chats: []routing.ChatRecord{record(1)}})
	<-groups
	var commits []*Commit
	for _, b := range []Batch{
		{Outbound: []Outbound{out("a")}},                                   // recorded...
		{Done: []protocols.MessageID{"a"}},                                 // ...and done in the same group
		{Outbound: []Outbound{out("b")}, Done: []protocols.MessageID{"b"}}, // both in one batch
		{Outbound: []Outbound{out("old")}},                                 // stored before, recorded anew...
		{Done: []protocols.MessageID{"old"}},                               // ...and done
		{Done: []protocols.MessageID{"c"}},                                 // done before...
		{Outbound: []Outbound{out("c")}},                                   // ...recorded (again): it stays
		{Outbound: []Outbound{out("d")}},                                   // done in a later group
	} {
		commits = append(commits, s.Submit(b))
	}
	release()
	wait(t, hold)
	for _, c := range commits {
		wait(t, c)
	}
	if n := <-groups; n != len(commits) {
		t.Fatalf("the batches made a group of %d, want %d", n, len(commits))
	}
	pending, err := s.PendingOutbound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range pending {
		ids = append(ids, string(o.ID))
	}
	if want := []string{"c", "d"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("outbox = %v, want %v", ids, want)
	}
	submitWait(t, s, Batch{Done: []protocols.MessageID{"d"}})
	if pending, _ := s.PendingOutbound(ctx); len(pending) != 1 || pending[0].ID != "c" {
		t.Errorf("after d was done in a later group: %+v", pending)
	}
}

func TestGroupFailsAsOne(t *testing.T) {
	s, _ := openTemp(t)
	groups, release := holdWriter(s)
	defer release()

	wait0 := s.Submit(Batch{Chats: []routing.ChatRecord{record(1)}})
	<-groups
	good1 := s.Submit(Batch{Chats: []routing.ChatRecord{record(2)}})
	// A line of a chat never stored breaks the foreign key: the whole
	// group's transaction fails.
	bad := s.Submit(Batch{Lines: linesOf(99, 0, 1)})
	good2 := s.Submit(Batch{Outbound: []Outbound{{ID: "x", Chat: 2, To: addr("p"), Text: "t", Created: t0}}})
	release()
	wait(t, wait0)
	ctx := context.Background()
	for i, c := range []*Commit{good1, bad, good2} {
		if err := c.Wait(ctx); err == nil {
			t.Errorf("commit %d of the failed group: nil error", i)
		}
	}
	if n := <-groups; n != 3 {
		t.Errorf("failed group had %d batches, want 3", n)
	}
	st := mustLoad(t, s, 0)
	if len(st.Chats) != 1 || st.Chats[0].Record.ID != 1 {
		t.Errorf("chats after the failed group: %+v, want only chat 1", st.Chats)
	}
	if out, _ := s.PendingOutbound(ctx); out != nil {
		t.Errorf("outbound of the failed group was written: %+v", out)
	}
	// The store goes on.
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{record(2)}})
	if st := mustLoad(t, s, 0); len(st.Chats) != 2 {
		t.Errorf("after the failure, chats = %+v", st.Chats)
	}
}

func TestInvalidBatchRefusedAlone(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	badTime := record(2)
	badTime.Started = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	badStatus := record(3)
	badStatus.Status = 0
	for name, b := range map[string]Batch{
		"chat id 0":           {Chats: []routing.ChatRecord{record(0)}},
		"time out of range":   {Chats: []routing.ChatRecord{badTime}},
		"status":              {Chats: []routing.ChatRecord{badStatus}},
		"line of chat 0":      {Lines: linesOf(0, 0, 1)},
		"negative line":       {Lines: []ChatLine{{Chat: 1, Line: routing.Line{N: -1}}}},
		"outbound without id": {Outbound: []Outbound{{Chat: 1, Text: "x"}}},
	} {
		c := s.Submit(b)
		if err := c.Wait(ctx); !errors.Is(err, ErrInvalidBatch) {
			t.Errorf("%s: err = %v, want ErrInvalidBatch", name, err)
		}
	}
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{record(1)}})
	if st := mustLoad(t, s, 0); len(st.Chats) != 1 {
		t.Errorf("chats = %+v", st.Chats)
	}
}

func TestEmptyBatch(t *testing.T) {
	s, _ := openTemp(t)
	submitWait(t, s, Batch{})
	c1 := s.Submit(Batch{Chats: []routing.ChatRecord{record(1)}})
	c2 := s.Submit(Batch{})
	wait(t, c2)
	// An empty batch is ordered too: when it is done, the ones before it
	// are.
	select {
	case <-c1.Done():
	default:
		t.Error("empty batch finished before an earlier batch")
	}
}

func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	s, path := openTemp(t)
	ctx := context.Background()

	// Close waits for everything queued.
	var commits []*Commit
	for i := 1; i <= 200; i++ {
		commits = append(commits, s.Submit(Batch{Chats: []routing.ChatRecord{record(routing.ChatID(i))}}))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, c := range commits {
		select {
		case <-c.Done():
			if err := c.Wait(ctx); err != nil {
				t.Fatalf("commit %d: %v", i, err)
			}
		default:
			t.Fatalf("commit %d not finished when Close returned", i)
		}
	}
	select {
	case <-s.stopped:
	default:
		t.Fatal("writer still running after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// After Close.
	if err := s.Submit(Batch{Chats: []routing.ChatRecord{record(500)}}).Wait(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Guest(ctx, addr("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Guest after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Load(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Lines(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Lines after Close: %v, want ErrClosed", err)
	}
	if _, err := s.PendingOutbound(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("PendingOutbound after Close: %v, want ErrClosed", err)
	}

	// No goroutine left behind (database/sql's openers included).
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}

	s2 := openAt(t, path)
	if st := mustLoad(t, s2, 0); len(st.Chats) != 200 {
		t.Errorf("after reopen: %d chats, want 200", len(st.Chats))
	}
}

func TestDurableBeforeClose(t *testing.T) {
	s1, path := openTemp(t)
	ctx := context.Background()
	g, err := s1.Guest(ctx, addr("durable"))
	if err != nil {
		t.Fatal(err)
	}
	r := record(1)
	r.Lines = 2
	submitWait(t, s1, Batch{Chats: []routing.ChatRecord{r}, Lines: linesOf(1, 0, 2),
		Outbound: []Outbound{{ID: "o1", Chat: 1, To: addr("durable"), Text: "hi", Created: t0}}})

	// A second handle, s1 still open and never closed before: it sees
	// everything whose commit returned.
	s2 := openAt(t, path)
	st := mustLoad(t, s2, 10)
	want := routing.State{Chats: []routing.ChatSnapshot{{Record: NormalRecord(r), Lines: normalLines(0, 2)}}, NextChat: 2}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("second handle Load:\n got %+v\nwant %+v", st, want)
	}
	if g2, err := s2.Guest(ctx, addr("durable")); err != nil || g2 != g {
		t.Errorf("second handle Guest = %q, %v; want %q", g2, err, g)
	}
	if out, err := s2.PendingOutbound(ctx); err != nil || len(out) != 1 {
		t.Errorf("second handle PendingOutbound = %+v, %v", out, err)
	}
}

func TestPragmas(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	check := func(name string, conn *sql.Conn) {
		t.Helper()
		for pragma, want := range map[string]string{
			"journal_mode":       "wal",
			"synchronous":        "2", // FULL
			"foreign_keys":       "1",
			"busy_timeout":       "10000",
			"wal_autocheckpoint": "0",
		} {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
				t.Errorf("%s: PRAGMA %s = %q, %v; want %q", name, pragma, got, err, want)
			}
		}
	}
	// Several read connections at once: each one has the pragmas.
	var conns []*sql.Conn
	for i := 0; i < 3; i++ {
		c, err := s.r.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		check("reader", c)
		conns = append(conns, c)
		var q string
		if err := c.QueryRowContext(ctx, "PRAGMA query_only").Scan(&q); err != nil || q != "1" {
			t.Errorf("reader: query_only = %q, %v", q, err)
		}
	}
	_ = conns
	// The writer connection, through the writer goroutine's pool: borrow
	// it between groups.
	c, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("writer", c)
	for pragma, want := range map[string]string{"temp_store": "2", "cache_size": "-16384"} {
		var got string
		if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
			t.Errorf("writer: PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
	c.Close()
}

// wdbForTest returns a plain handle on the writer's database for tests'
// own statements. It takes the writer's one connection between groups.
func (s *SQLite) wdbForTest() *sql.DB { return s.w }

func TestSubmitDoesNotKeepBatch(t *testing.T) {
	s, _ := openTemp(t)
	r := record(1)
	r.Lines = 1
	b := Batch{Chats: []routing.ChatRecord{r}, Lines: linesOf(1, 0, 1)}
	c := s.Submit(b)
	// The engine may reuse its buffers once Submit returned.
	b.Chats[0].Operator = "mallory@localhost"
	b.Lines[0].Line.Text = "overwritten"
	b.Lines[0].Line.Attachments[0].URL = "https://evil.example/"
	wait(t, c)
	st := mustLoad(t, s, 10)
	want := routing.State{Chats: []routing.ChatSnapshot{{Record: NormalRecord(r), Lines: normalLines(0, 1)}}, NextChat: 2}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stored what the caller changed after Submit:\n got %+v\nwant %+v", st, want)
	}
}

// TestConcurrentUse runs writers, guest lookups and reads at once (for the
// race detector), then checks every event landed.
func TestConcurrentUse(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const chats, events = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for p := 1; p <= chats; p++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r := record(routing.ChatID(p))
			for i := 0; i < events; i++ {
				r.Lines = i + 1
				if err := s.Submit(Batch{Chats: []routing.ChatRecord{r}, Lines: linesOf(r.ID, i, i+1)}).Wait(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < events; i++ {
				if _, err := s.Guest(ctx, addr(fmt.Sprint("g", i%10))); err != nil {
					errs <- err
					return
				}
				if _, err := s.Load(ctx, 5); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := mustLoad(t, s, 3)
	if len(st.Chats) != chats {
		t.Fatalf("%d chats, want %d", len(st.Chats), chats)
	}
	for _, c := range st.Chats {
		if c.Record.Lines != events || !reflect.DeepEqual(c.Lines, normalLines(events-3, events)) {
			t.Errorf("chat %d: Lines %d, last lines %+v", c.Record.ID, c.Record.Lines, c.Lines)
		}
	}
}

// TestLoadDerivesLinesAndLastActivity: the engine saves a new line without
// its chat's record, so Load takes an open chat's Lines and LastActivity
// from its newest line when that is newer than the record.
func TestLoadDerivesLinesAndLastActivity(t *testing.T) {
	s, _ := openTemp(t)

	stale := record(1) // saved at its first line, then lines 1..4 alone
	stale.Lines = 1
	stale.LastActivity = line(0).At
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{stale}, Lines: linesOf(1, 0, 1)})
	for n := 1; n < 5; n++ {
		submitWait(t, s, Batch{Lines: linesOf(1, n, n+1)})
	}

	ahead := record(2) // the record counts more than is stored: it stands
	ahead.Lines = 7
	noLines := record(3) // no line at all: the record stands
	noLines.Lines = 0
	current := record(4) // saved with its last line: equal
	current.Lines = 3
	current.LastActivity = line(2).At
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{ahead, noLines, current},
		Lines: append(linesOf(2, 0, 3), linesOf(4, 0, 3)...)})

	// An ended chat's record is what it says (and is not loaded).
	ended := record(5)
	ended.Status = routing.ChatEnded
	ended.Transcript = true
	ended.Ended = t0.Add(time.Hour)
	ended.Lines = 2
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{ended}, Lines: linesOf(5, 0, 4)})

	derived := stale
	derived.Lines = 5
	derived.LastActivity = line(4).At
	want := routing.State{Chats: []routing.ChatSnapshot{
		{Record: NormalRecord(derived), Lines: normalLines(2, 5)},
		{Record: NormalRecord(ahead), Lines: normalLines(0, 3)},
		{Record: NormalRecord(noLines)},
		{Record: NormalRecord(current), Lines: normalLines(0, 3)},
	}, NextChat: 6}
	if st := mustLoad(t, s, 3); !reflect.DeepEqual(st, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", st, want)
	}
}

// TestDoneGroupedInOrder: a group's done messages are deleted together (in
// statements of up to 1<<maxRowsLog ids), yet in the order of the batches
// with respect to the outbound messages they touch.
func TestDoneGroupedInOrder(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	mk := func(id string) Outbound {
		return Outbound{ID: protocols.MessageID(id), Chat: 1, To: addr("p"), Text: "reply " + id, Created: t0}
	}
	const many = 3<<maxRowsLog + 13 // several statements and a remainder
	var all []Outbound
	for i := range many {
		all = append(all, mk(fmt.Sprintf("m%03d", i)))
	}
	submitWait(t, s, Batch{Outbound: append(all, mk("again"), mk("gone"))})

	groups, release := holdWriter(s)
	defer release()
	held := s.Submit(Batch{Outbound: []Outbound{mk("held")}}) // the held group
	if n := <-groups; n != 1 {
		t.Fatalf("first group has %d batches", n)
	}
	// One group: every m but m000 done, one a batch; "again" done then
	// recorded anew (it stays); "late" recorded then done (it goes).
	var commits []*Commit
	for i := 1; i < many; i++ {
		commits = append(commits, s.Submit(Batch{Done: []protocols.MessageID{all[i].ID}}))
	}
	commits = append(commits,
		s.Submit(Batch{Done: []protocols.MessageID{"again", "gone", "unknown"}}),
		s.Submit(Batch{Outbound: []Outbound{mk("again"), mk("late")}}),
		s.Submit(Batch{Done: []protocols.MessageID{"late"}}),
	)
	release()
	wait(t, held)
	for _, c := range commits {
		wait(t, c)
	}
	if n := <-groups; n != len(commits) {
		t.Errorf("second group has %d batches, want %d", n, len(commits))
	}
	got, err := s.PendingOutbound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Outbound{NormalOutbound(mk("again")), NormalOutbound(mk("held")), NormalOutbound(all[0])}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PendingOutbound:\n got %+v\nwant %+v", got, want)
	}
	// Many done in one batch, too.
	var ids []protocols.MessageID
	for _, o := range got {
		ids = append(ids, o.ID)
	}
	submitWait(t, s, Batch{Done: ids})
	if got, err := s.PendingOutbound(ctx); err != nil || got != nil {
		t.Fatalf("after all done: %+v, %v", got, err)
	}
}

// TestLinesGroupedInOrder: a group's lines are written together (in
// statements of up to 1<<maxRowsLog lines), yet as the batches would be
// one after the other: a record ending a chat without transcript deletes
// the lines before it and keeps out those after it, and a line written
// again replaces the earlier one, even within one statement.
func TestLinesGroupedInOrder(t *testing.T) {
	s, _ := openTemp(t)
	drop, keep, many := record(1), record(2), record(3)
	keep.Transcript = true
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{drop, keep, many}})

	groups, release := holdWriter(s)
	defer release()
	held := s.Submit(Batch{Lines: linesOf(2, 0, 1)})
	if n := <-groups; n != 1 {
		t.Fatalf("first group has %d batches", n)
	}
	edited := line(1)
	edited.Text = "edited"
	edited.Attachments = nil
	ended := drop
	ended.Status, ended.Ended, ended.EndReason, ended.Lines = routing.ChatEnded, t0.Add(time.Hour), routing.EndIdle, 3
	const n = 3<<maxRowsLog + 5
	commits := []*Commit{
		s.Submit(Batch{Lines: linesOf(1, 0, 3)}),
		s.Submit(Batch{Lines: linesOf(2, 1, 3)}),
		s.Submit(Batch{Lines: []ChatLine{{Chat: 2, Line: edited}}}), // replaces line 1 of chat 2
		s.Submit(Batch{Lines: linesOf(3, 0, n)}),
		s.Submit(Batch{Chats: []routing.ChatRecord{ended}}), // deletes chat 1's lines 0..2
		s.Submit(Batch{Lines: linesOf(1, 3, 4)}),            // too late: not stored
		s.Submit(Batch{Lines: linesOf(2, 3, 5)}),
	}
	release()
	wait(t, held)
	for _, c := range commits {
		wait(t, c)
	}
	if g := <-groups; g != len(commits) {
		t.Errorf("second group has %d batches, want %d", g, len(commits))
	}
	if ls := mustLines(t, s, 1); ls != nil {
		t.Errorf("chat ended without transcript has %d lines", len(ls))
	}
	want := normalLines(0, 5)
	want[1] = NormalLine(edited)
	if ls := mustLines(t, s, 2); !reflect.DeepEqual(ls, want) {
		t.Errorf("chat 2 lines:\n got %+v\nwant %+v", ls, want)
	}
	if ls := mustLines(t, s, 3); !reflect.DeepEqual(ls, normalLines(0, n)) {
		t.Errorf("chat 3: %d lines, want %d in order", len(ls), n)
	}

	// A line written twice in one statement: the later one stays.
	twice := line(9)
	twice.Text = "second"
	submitWait(t, s, Batch{Lines: []ChatLine{{Chat: 3, Line: line(9)}, {Chat: 3, Line: twice}}})
	if ls := mustLines(t, s, 3); ls[9].Text != "second" {
		t.Errorf("line written twice in a batch: %q", ls[9].Text)
	}
}

// TestCommitDelay: with a commit delay, a batch that finds the writer idle
// waits the delay, and one submitted meanwhile joins its group.
func TestCommitDelay(t *testing.T) {
	idle := make(chan struct{}, 1)
	var s *SQLite
	var slept []time.Duration
	var b *Commit
	hookIdle := func() {
		select {
		case idle <- struct{}{}:
		default:
		}
	}
	hookSleep := func(d time.Duration) {
		slept = append(slept, d)
		if b == nil {
			b = s.Submit(Batch{Chats: []routing.ChatRecord{record(2)}}) // arrives during the delay
		}
	}
	s, err := OpenSQLite(context.Background(), t.TempDir()+"/owlgate.db", WithCommitDelay(time.Hour), withWriterHooks(hookIdle, hookSleep))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	groups := make(chan int, 4)
	s.testHookGroup = func(n int) { groups <- n }
	<-idle
	a := s.Submit(Batch{Chats: []routing.ChatRecord{record(1)}})
	wait(t, a)
	if n := <-groups; n != 2 {
		t.Errorf("the first group had %d batches, want both", n)
	}
	wait(t, b)
	if len(slept) != 1 || slept[0] != time.Hour {
		t.Errorf("the writer waited %v, want the delay once", slept)
	}
	if st := mustLoad(t, s, 0); len(st.Chats) != 2 {
		t.Errorf("chats = %+v", st.Chats)
	}
}
