package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// seedStore makes a data folder whose database holds four ended chats,
// started on December 1 to 4, 2026, with a transcript each, and one open
// chat. The store stays open, as when owlgate runs.
func seedStore(t *testing.T) (dir string, st *store.SQLite) {
	t.Helper()
	dir = t.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "owlgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var b store.Batch
	for i := 1; i <= 5; i++ {
		start := time.Date(2026, 12, i, 15, 0, 0, 0, time.Local)
		r := routing.ChatRecord{
			ID: routing.ChatID(i), Status: routing.ChatEnded, Origin: "reference", Queue: "reference", Library: "unc",
			Patron:  protocols.Address{Network: "irc", Account: "unc-irc", User: protocols.UserID(fmt.Sprintf("nick%d", i))},
			Guest:   routing.GuestIDFromNumber(int64(1000 + i)),
			Started: start, FirstAnswer: start.Add(time.Minute), Ended: start.Add(time.Hour), LastActivity: start.Add(time.Hour),
			Operator: "alice@localhost", EndReason: routing.EndClosed, Transcript: true, Lines: 1,
		}
		if i == 5 {
			r.Status, r.Ended, r.EndReason = routing.ChatHeld, time.Time{}, ""
		}
		b.Chats = append(b.Chats, r)
		b.Lines = append(b.Lines, store.ChatLine{Chat: r.ID, Line: routing.Line{N: 0, At: start, From: routing.FromPatron, Text: "hello"}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Submit(b).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	return dir, st
}

func exportIDs(t *testing.T, args ...string) []string {
	t.Helper()
	code, out, errs := runCmd(append([]string{"history", "export"}, args...)...)
	if code != 0 {
		t.Fatalf("history export %v: exit %d: %s", args, code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) == 0 || rows[0][0] != "id" {
		t.Fatalf("not the CSV export: %v\n%s", err, out)
	}
	var ids []string
	for _, r := range rows[1:] {
		ids = append(ids, r[0])
	}
	return ids
}

func TestHistoryExport(t *testing.T) {
	dir, _ := seedStore(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "1 2 3 4 5"},
		{[]string{"--since", "2026-12-02"}, "2 3 4 5"},
		{[]string{"--since", "2026-12-02", "--until", "2026-12-03"}, "2 3"},
		{[]string{"--until", "2026-12-02T15:00:00" + time.Date(2026, 12, 2, 15, 0, 0, 0, time.Local).Format("Z07:00")}, "1"},
		{[]string{"--answered", "false"}, ""},
		{[]string{"--queue", "nightowl"}, ""},
		{[]string{"--library", "unc", "--network", "irc", "--operator", "Alice@localhost"}, "1 2 3 4 5"},
	} {
		got := strings.Join(exportIDs(t, append([]string{"--data-dir", dir}, tc.args...)...), " ")
		if got != tc.want {
			t.Errorf("export %v: %q, want %q", tc.args, got, tc.want)
		}
	}

	code, out, errs := runCmd("history", "export", "--data-dir", dir, "--format", "json", "--since", "2026-12-04")
	var j struct{ Chats []struct{ ID int } }
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil || len(j.Chats) != 2 || j.Chats[0].ID != 4 {
		t.Errorf("json export: exit %d %s %s", code, out, errs)
	}
	if strings.Contains(out, "nick") {
		t.Errorf("the export names a patron's handle:\n%s", out)
	}

	// --config finds the data folder in the config.
	t.Setenv("ALICE_PASSWORD", "pw")
	cfg := filepath.Join(t.TempDir(), "owlgate.yaml")
	yaml := "data_dir: " + dir + "\nlibraries: [{id: unc}]\noperators:\n  - jid: alice@localhost\n    library: unc\n    password: ${ALICE_PASSWORD}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := exportIDs(t, "--config", cfg, "--since", "2026-12-05"); strings.Join(got, " ") != "5" {
		t.Errorf("export with --config: %v", got)
	}
}

func TestHistoryPurge(t *testing.T) {
	dir, st := seedStore(t)
	code, out, errs := runCmd("history", "purge", "--data-dir", dir, "--before", "2026-12-03", "--transcripts-only")
	if code != 0 || !strings.Contains(out, "deleted the transcripts of 2 chats") {
		t.Fatalf("purge --transcripts-only: exit %d %q %s", code, out, errs)
	}
	for id, want := range map[routing.ChatID]int{1: 0, 2: 0, 3: 1, 5: 1} {
		if ls, err := st.Lines(context.Background(), id); err != nil || len(ls) != want {
			t.Errorf("chat %d has %d lines (%v), want %d", id, len(ls), err, want)
		}
	}
	if got := strings.Join(exportIDs(t, "--data-dir", dir), " "); got != "1 2 3 4 5" {
		t.Errorf("records after purging transcripts: %s", got)
	}

	// While owlgate runs (its store is open and writing), a purge goes
	// through; open chats stay.
	code, out, errs = runCmd("history", "purge", "--data-dir", dir, "--before", "2027-01-01")
	if code != 0 || !strings.Contains(out, "deleted 4 chats that ended before 2027-01-01") {
		t.Fatalf("purge: exit %d %q %s", code, out, errs)
	}
	if got := strings.Join(exportIDs(t, "--data-dir", dir), " "); got != "5" {
		t.Errorf("after the purge: %s", got)
	}
	if ls, err := st.Lines(context.Background(), 5); err != nil || len(ls) != 1 {
		t.Errorf("the open chat's lines: %v %v", ls, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Submit(store.Batch{Lines: []store.ChatLine{{Chat: 5, Line: routing.Line{N: 1, At: time.Now(), From: routing.FromPatron, Text: "still here"}}}}).Wait(ctx); err != nil {
		t.Errorf("the store's writer after the purge: %v", err)
	}
}

func TestHistoryUsageErrors(t *testing.T) {
	dir, _ := seedStore(t)
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"history"}, 2, "owlgate history export"},
		{[]string{"history", "nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"history", "purge", "--data-dir", dir}, 2, "--before DATE is required"},
		{[]string{"history", "export"}, 2, "--config FILE or --data-dir DIR is required"},
		{[]string{"history", "export", "--data-dir", dir, "--config", "x.yaml"}, 2, "not both"},
		{[]string{"history", "export", "--data-dir", dir, "--since", "yesterday"}, 2, "write 2026-12-01"},
		{[]string{"history", "export", "--data-dir", dir, "--format", "xml"}, 2, "write csv or json"},
		{[]string{"history", "export", "--data-dir", dir, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"history", "export", "--data-dir", t.TempDir()}, 1, "has owlgate run with this data_dir?"},
		{[]string{"history", "export", "--config", filepath.Join(t.TempDir(), "none.yaml")}, 1, "cannot read the config file"},
	} {
		code, out, errs := runCmd(tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.says) {
			t.Errorf("%v: exit %d, %q%q; want %d saying %q", tc.args, code, out, errs, tc.code, tc.says)
		}
	}
}
