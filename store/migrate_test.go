package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/owlgate/owlgate/routing"
)

func TestSchemaVersionMatchesMigrations(t *testing.T) {
	if SchemaVersion != len(migrations) {
		t.Fatalf("SchemaVersion = %d, but there are %d migrations", SchemaVersion, len(migrations))
	}
}

// userVersion reads PRAGMA user_version of the database at path directly.
func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrationIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "owlgate.db")
	ctx := context.Background()
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.Guest(ctx, addr("p"))
	if err != nil {
		t.Fatal(err)
	}
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{record(1)}, Lines: linesOf(1, 0, 1)})
	want := mustLoad(t, s, 10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s, err := OpenSQLite(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		if got := mustLoad(t, s, 10); !reflect.DeepEqual(got, want) {
			t.Errorf("reopen %d: Load = %+v, want %+v", i, got, want)
		}
		if g2, err := s.Guest(ctx, addr("p")); err != nil || g2 != g {
			t.Errorf("reopen %d: Guest = %q, %v; want %q", i, g2, err, g)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if v := userVersion(t, path); v != SchemaVersion {
			t.Errorf("reopen %d: user_version = %d, want %d", i, v, SchemaVersion)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "owlgate.db")
	ctx := context.Background()
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	submitWait(t, s, Batch{Chats: []routing.ChatRecord{record(1)}})
	s.Close()

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = OpenSQLite(ctx, path)
	if err == nil {
		s.Close()
		t.Fatal("a database from a newer owlgate was opened")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("err = %v, want ErrSchemaTooNew", err)
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprint(SchemaVersion+1)) || !strings.Contains(msg, "upgrade owlgate") {
		t.Errorf("error does not say what to do: %q", msg)
	}
	if v := userVersion(t, path); v != SchemaVersion+1 {
		t.Errorf("refusing changed the version to %d", v)
	}
}

func TestFailedMigrationChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "owlgate.db")
	ctx := context.Background()
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	orig := migrations
	defer func() { migrations = orig }()
	migrations = append(append([]string(nil), orig...),
		"CREATE TABLE newthing (a INTEGER); CREATE TABLE broken (")
	if s, err := OpenSQLite(ctx, path); err == nil {
		s.Close()
		t.Fatal("a broken migration succeeded")
	} else if !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", len(migrations))) {
		t.Errorf("error does not name the step: %v", err)
	}
	if v := userVersion(t, path); v != len(orig) {
		t.Errorf("user_version = %d after a failed migration, want %d", v, len(orig))
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'newthing'").Scan(&n); err != nil || n != 0 {
		t.Errorf("the failed step left table newthing (%d, %v)", n, err)
	}
}

func TestUnsupportedPath(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "a?b.db"} {
		if s, err := OpenSQLite(context.Background(), p); err == nil {
			s.Close()
			t.Errorf("OpenSQLite(%q): no error", p)
		}
	}
}

// TestCrashDurability runs a child process that submits batches, waits for
// their commits, and then kills itself with SIGKILL: no Close, no deferred
// function, no flush. What the child saw committed must be in the file.
func TestCrashDurability(t *testing.T) {
	if path := os.Getenv("OWLGATE_STORE_CRASH_CHILD"); path != "" {
		crashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "owlgate.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OWLGATE_STORE_CRASH_CHILD="+path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "committed 100") {
		t.Fatalf("child did not commit:\n%s", out)
	}

	s := openAt(t, path)
	st := mustLoad(t, s, 1000)
	if len(st.Chats) != 1 || st.Chats[0].Record.Lines != 100 || len(st.Chats[0].Lines) != 100 {
		t.Fatalf("after the crash: %d chats, %+v", len(st.Chats), st.Chats)
	}
	if g, err := s.Guest(context.Background(), addr("crash")); err != nil || g != "guest-1001" {
		t.Errorf("guest after the crash = %q, %v", g, err)
	}
}

func crashChild(path string) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	if _, err := s.Guest(ctx, addr("crash")); err != nil {
		fmt.Println("guest:", err)
		os.Exit(2)
	}
	r := record(1)
	var commits []*Commit
	for i := 1; i <= 100; i++ {
		r.Lines = i
		commits = append(commits, s.Submit(Batch{Chats: []routing.ChatRecord{r}, Lines: linesOf(1, i-1, i)}))
	}
	for _, c := range commits {
		if err := c.Wait(ctx); err != nil {
			fmt.Println("commit:", err)
			os.Exit(2)
		}
	}
	fmt.Println("committed 100")
	os.Stdout.Sync()
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
