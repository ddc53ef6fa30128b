package daemon

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// TestExpireTranscripts: each queue's transcript_days counts from the
// chat's end; queues without it keep theirs; records stay.
func TestExpireTranscripts(t *testing.T) {
	t.Setenv("PW", "pw")
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "owlgate.yaml"), []byte(`libraries: [{id: unc}]
operators:
  - jid: alice@localhost
    library: unc
    password: ${PW}
queues:
  - {id: month, library: unc, transcripts: true, transcript_days: 30}
  - {id: week, library: unc, transcripts: true, transcript_days: 7}
  - {id: forever, library: unc, transcripts: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "owlgate.db")
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)
	ended := func(id routing.ChatID, q routing.QueueID, daysAgo int) routing.ChatRecord {
		end := now.AddDate(0, 0, -daysAgo)
		return routing.ChatRecord{ID: id, Status: routing.ChatEnded, Origin: q, Queue: q, Library: "unc",
			Patron: protocols.Address{Network: "irc", Account: "a", User: "u"}, Guest: "guest-1001",
			Started: end.Add(-time.Hour), Ended: end, LastActivity: end, EndReason: routing.EndIdle, Transcript: true, Lines: 1}
	}
	recs := []routing.ChatRecord{ended(1, "month", 31), ended(2, "month", 29), ended(3, "week", 8), ended(4, "week", 6), ended(5, "forever", 3650)}
	var b store.Batch
	b.Chats = recs
	for _, r := range recs {
		b.Lines = append(b.Lines, store.ChatLine{Chat: r.ID, Line: routing.Line{At: r.Started, From: routing.FromPatron, Text: "hi"}})
	}
	if err := st.Submit(b).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := store.OpenHistory(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	expireTranscripts(ctx, cfg, h, slog.New(slog.DiscardHandler), now)
	for id, kept := range map[routing.ChatID]bool{1: false, 2: true, 3: false, 4: true, 5: true} {
		ls, err := st.Lines(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if (len(ls) == 1) != kept {
			t.Errorf("chat %d: %d lines, want kept=%v", id, len(ls), kept)
		}
		if _, err := h.Chat(ctx, id); err != nil {
			t.Errorf("chat %d's record: %v", id, err)
		}
	}
}
