package store

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/owlgate/owlgate/routing"
)

// openHistory opens the history of the store at path for the test.
func openHistory(t *testing.T, path string) *History {
	t.Helper()
	h, err := OpenHistory(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenHistory: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// ended returns record id as an ended chat that started at start.
func ended(id routing.ChatID, start time.Time, transcript bool) routing.ChatRecord {
	r := record(id)
	r.Status = routing.ChatEnded
	r.Started = start
	r.FirstAnswer = start.Add(30 * time.Second)
	r.Ended = start.Add(10 * time.Minute)
	r.LastActivity = r.Ended
	r.EndReason = routing.EndPatronLeft
	r.Transcript = transcript
	r.Lines = 3
	return r
}

// chatIDs lists the ids of the chats f selects, in order.
func chatIDs(t *testing.T, h *History, f Filter) []routing.ChatID {
	t.Helper()
	var ids []routing.ChatID
	if err := h.Chats(context.Background(), f, func(r routing.ChatRecord) error {
		ids = append(ids, r.ID)
		return nil
	}); err != nil {
		t.Fatalf("Chats(%+v): %v", f, err)
	}
	return ids
}

func TestHistoryChatsFilters(t *testing.T) {
	s, path := openTemp(t)
	day := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var recs []routing.ChatRecord
	for i := range 6 {
		recs = append(recs, ended(routing.ChatID(i+1), day.Add(time.Duration(i)*24*time.Hour), false))
	}
	recs[1].Library, recs[1].Origin, recs[1].Queue = "duke", "duke-ref", "duke-ref"
	recs[2].Patron.Network = "sms"
	recs[3].FirstAnswer = time.Time{} // never answered
	recs[3].Operator = ""
	recs[4].Operator = "bob@localhost"
	recs[4].Queue = "reference" // handled by the origin itself
	recs[5].Status, recs[5].Ended, recs[5].EndReason = routing.ChatHeld, time.Time{}, ""
	// Stored out of order: the history comes back by start.
	slices.Reverse(recs)
	submitWait(t, s, Batch{Chats: recs})
	h := openHistory(t, path)

	yes, no := true, false
	for _, tc := range []struct {
		name string
		f    Filter
		want []routing.ChatID
	}{
		{"all", Filter{}, []routing.ChatID{1, 2, 3, 4, 5, 6}},
		{"since", Filter{Since: day.Add(48 * time.Hour)}, []routing.ChatID{3, 4, 5, 6}},
		{"until", Filter{Until: day.Add(48 * time.Hour)}, []routing.ChatID{1, 2}},
		{"since and until", Filter{Since: day.Add(24 * time.Hour), Until: day.Add(72*time.Hour + 1)}, []routing.ChatID{2, 3, 4}},
		{"library", Filter{Library: "duke"}, []routing.ChatID{2}},
		{"queue as origin", Filter{Queue: "reference"}, []routing.ChatID{1, 3, 4, 5, 6}},
		{"queue at the end", Filter{Queue: "nightowl"}, []routing.ChatID{1, 3, 4, 6}},
		{"network", Filter{Network: "sms"}, []routing.ChatID{3}},
		{"operator", Filter{Operator: "bob@localhost"}, []routing.ChatID{5}},
		{"answered", Filter{Answered: &yes}, []routing.ChatID{1, 2, 3, 5, 6}},
		{"unanswered", Filter{Answered: &no}, []routing.ChatID{4}},
		{"combined", Filter{Library: "unc", Answered: &yes, Since: day.Add(24 * time.Hour)}, []routing.ChatID{3, 5, 6}},
		{"limit", Filter{Limit: 2}, []routing.ChatID{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := chatIDs(t, h, tc.f); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	got, err := h.Chat(context.Background(), 4)
	if err != nil || got != NormalRecord(recs[2]) {
		t.Errorf("Chat(4) = %+v, %v; want %+v", got, err, NormalRecord(recs[2]))
	}
	if _, err := h.Chat(context.Background(), 99); !errors.Is(err, ErrNoChat) {
		t.Errorf("Chat(99): %v, want ErrNoChat", err)
	}
}

// TestHistoryChatsPages reads more chats than a page holds, some starting
// at the same time, and stops when the callback fails.
func TestHistoryChatsPages(t *testing.T) {
	defer func(n int) { pageSize = n }(pageSize)
	pageSize = 3
	s, path := openTemp(t)
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var recs []routing.ChatRecord
	var want []routing.ChatID
	for i := range 10 {
		// Pairs of chats start at the same time: paging goes by id then.
		recs = append(recs, ended(routing.ChatID(20-i), start.Add(time.Duration(i/2)*time.Minute), false))
	}
	submitWait(t, s, Batch{Chats: recs})
	for i := 0; i < 10; i += 2 {
		want = append(want, routing.ChatID(20-i-1), routing.ChatID(20-i))
	}
	h := openHistory(t, path)
	if got := chatIDs(t, h, Filter{}); !slices.Equal(got, want) {
		t.Errorf("all pages: %v, want %v", got, want)
	}
	if got := chatIDs(t, h, Filter{Limit: 7}); !slices.Equal(got, want[:7]) {
		t.Errorf("limit 7: %v, want %v", got, want[:7])
	}
	stop := errors.New("stop")
	n := 0
	err := h.Chats(context.Background(), Filter{}, func(routing.ChatRecord) error {
		n++
		if n == 4 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 4 {
		t.Errorf("Chats returned %v after %d chats, want the callback's error after 4", err, n)
	}
}

func TestHistoryDeleteTranscriptAndChat(t *testing.T) {
	s, path := openTemp(t)
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	open := record(3)
	submitWait(t, s, Batch{
		Chats: []routing.ChatRecord{ended(1, start, true), ended(2, start, true), open},
		Lines: slices.Concat(linesOf(1, 0, 3), linesOf(2, 0, 3), linesOf(3, 0, 2)),
	})
	h := openHistory(t, path)
	ctx := context.Background()
	if ls, err := h.Transcript(ctx, 1); err != nil || !equalLines(ls, normalLines(0, 3)) {
		t.Fatalf("Transcript(1) = %+v, %v", ls, err)
	}

	if err := h.DeleteTranscript(ctx, 1); err != nil {
		t.Fatalf("DeleteTranscript(1): %v", err)
	}
	if ls, err := h.Transcript(ctx, 1); err != nil || ls != nil {
		t.Errorf("after DeleteTranscript: lines %+v, %v", ls, err)
	}
	r, err := h.Chat(ctx, 1)
	if err != nil || r.Transcript || r.Lines != 3 || !r.Answered() || r.EndReason != routing.EndPatronLeft {
		t.Errorf("after DeleteTranscript the record is %+v, %v: want its statistics, without transcript", r, err)
	}
	if err := h.DeleteTranscript(ctx, 1); err != nil {
		t.Errorf("DeleteTranscript again: %v", err)
	}

	if err := h.DeleteChat(ctx, 2); err != nil {
		t.Fatalf("DeleteChat(2): %v", err)
	}
	if _, err := h.Chat(ctx, 2); !errors.Is(err, ErrNoChat) {
		t.Errorf("Chat(2) after DeleteChat: %v", err)
	}
	if ls := mustLines(t, s, 2); ls != nil {
		t.Errorf("lines of the deleted chat: %+v", ls)
	}

	for _, id := range []routing.ChatID{3} {
		if err := h.DeleteTranscript(ctx, id); !errors.Is(err, ErrChatOpen) {
			t.Errorf("DeleteTranscript(open chat): %v, want ErrChatOpen", err)
		}
		if err := h.DeleteChat(ctx, id); !errors.Is(err, ErrChatOpen) {
			t.Errorf("DeleteChat(open chat): %v, want ErrChatOpen", err)
		}
	}
	if ls := mustLines(t, s, 3); len(ls) != 2 {
		t.Errorf("the open chat lost its lines: %+v", ls)
	}
	for _, id := range []routing.ChatID{2, 99, 0} {
		if err := h.DeleteChat(ctx, id); !errors.Is(err, ErrNoChat) {
			t.Errorf("DeleteChat(%d): %v, want ErrNoChat", id, err)
		}
		if err := h.DeleteTranscript(ctx, id); !errors.Is(err, ErrNoChat) {
			t.Errorf("DeleteTranscript(%d): %v, want ErrNoChat", id, err)
		}
	}
	// The gateway's store goes on, and never reuses the deleted id.
	if st := mustLoad(t, s, 0); st.NextChat != 4 {
		t.Errorf("NextChat = %d after deleting chat 2, want 4", st.NextChat)
	}
}

func equalLines(a, b []routing.Line) bool {
	return slices.EqualFunc(a, b, func(x, y routing.Line) bool {
		return x.N == y.N && x.At.Equal(y.At) && x.Text == y.Text && x.From == y.From && x.Operator == y.Operator &&
			slices.Equal(x.Attachments, y.Attachments)
	})
}

// TestHistoryPurge checks retention: transcripts of one queue ended before
// a time go, in chunks, their records stay; then whole chats go.
func TestHistoryPurge(t *testing.T) {
	defer func(n int) { purgeChunk = n }(purgeChunk)
	purgeChunk = 2
	s, path := openTemp(t)
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var recs []routing.ChatRecord
	var lines []ChatLine
	for i := range 7 {
		id := routing.ChatID(i + 1)
		r := ended(id, start.Add(time.Duration(i)*24*time.Hour), true)
		if i == 5 {
			r.Origin = "nightowl" // another queue's transcript
		}
		recs = append(recs, r)
		lines = append(lines, linesOf(id, 0, 2)...)
	}
	open := record(8)
	open.Started = start.Add(7 * 24 * time.Hour)
	recs = append(recs, open)
	lines = append(lines, linesOf(8, 0, 2)...)
	submitWait(t, s, Batch{Chats: recs, Lines: lines})
	h := openHistory(t, path)
	ctx := context.Background()

	// Chats 1..5 and 6 (nightowl) ended before day 6.
	cut := start.Add(6 * 24 * time.Hour)
	n, err := h.PurgeTranscripts(ctx, "reference", cut)
	if err != nil || n != 5 {
		t.Fatalf("PurgeTranscripts = %d, %v; want 5", n, err)
	}
	for id := routing.ChatID(1); id <= 8; id++ {
		ls := mustLines(t, s, id)
		kept := id >= 6
		if kept != (len(ls) == 2) {
			t.Errorf("chat %d has %d lines after the purge", id, len(ls))
		}
		r, err := h.Chat(ctx, id)
		if err != nil {
			t.Fatalf("chat %d's record is gone: %v", id, err)
		}
		if id <= 5 && r.Transcript {
			t.Errorf("chat %d still says it has a transcript", id)
		}
	}
	if n, err := h.PurgeTranscripts(ctx, "reference", cut); err != nil || n != 0 {
		t.Errorf("second PurgeTranscripts = %d, %v; want 0", n, err)
	}
	if n, err := h.PurgeTranscripts(ctx, "", cut); err != nil || n != 1 {
		t.Errorf("PurgeTranscripts of every queue = %d, %v; want 1 (nightowl's)", n, err)
	}

	n, err = h.PurgeChats(ctx, start.Add(3*24*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("PurgeChats = %d, %v; want 3", n, err)
	}
	if got := chatIDs(t, h, Filter{}); !slices.Equal(got, []routing.ChatID{4, 5, 6, 7, 8}) {
		t.Errorf("after PurgeChats: %v", got)
	}
	if n, err := h.PurgeChats(ctx, start.Add(365*24*time.Hour)); err != nil || n != 4 {
		t.Errorf("PurgeChats of all = %d, %v; want 4 (not the open chat)", n, err)
	}
	if ls := mustLines(t, s, 8); len(ls) != 2 {
		t.Errorf("the open chat lost its lines: %+v", ls)
	}
}

// TestHistoryPurgeWhileWriting purges while the gateway's store commits
// new chats: both go through.
func TestHistoryPurgeWhileWriting(t *testing.T) {
	defer func(n int) { purgeChunk = n }(purgeChunk)
	purgeChunk = 10
	s, path := openTemp(t)
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var recs []routing.ChatRecord
	for i := range 200 {
		recs = append(recs, ended(routing.ChatID(i+1), start, true))
	}
	submitWait(t, s, Batch{Chats: recs})
	h := openHistory(t, path)

	var wg sync.WaitGroup
	var commits []*Commit
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			id := routing.ChatID(1000 + i)
			commits = append(commits, s.Submit(Batch{Chats: []routing.ChatRecord{record(id)}, Lines: linesOf(id, 0, 1)}))
		}
	}()
	n, err := h.PurgeChats(context.Background(), start.Add(time.Hour))
	wg.Wait()
	if err != nil || n != 200 {
		t.Errorf("PurgeChats = %d, %v; want 200", n, err)
	}
	for _, c := range commits {
		wait(t, c)
	}
	if st := mustLoad(t, s, 1); len(st.Chats) != 200 {
		t.Errorf("%d open chats after the purge, want 200", len(st.Chats))
	}
}

func TestOpenHistoryRefuses(t *testing.T) {
	ctx := context.Background()
	if _, err := OpenHistory(ctx, t.TempDir()+"/none.db"); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("missing file: %v, want ErrNoDatabase", err)
	}
	for _, p := range []string{"", "file:x.db", "a?b.db"} {
		if h, err := OpenHistory(ctx, p); err == nil {
			h.Close()
			t.Errorf("OpenHistory(%q): no error", p)
		}
	}
}
