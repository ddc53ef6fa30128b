//go:build goolm

package matrix

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/internal/testenv"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/matrix/matrixtest"
	"github.com/owlgate/owlgate/protocols/protocoltest"
)

// wait bounds each wait of the tests: a liveness bound, not a speed check.
const wait = 60 * time.Second

const libraryPassword = "library-pw-1234"

// server is a Dendrite with the library's account on it.
type server struct {
	*testenv.Dendrite
	library id.UserID
	n       atomic.Int32
}

func startServer(t *testing.T) *server {
	t.Helper()
	d := testenv.StartDendrite(t)
	lib, _ := d.AddUser("library", libraryPassword)
	return &server{Dendrite: d, library: id.UserID(lib)}
}

// config returns the library's account with its password.
func (s *server) config() Config {
	return Config{Homeserver: s.URL, UserID: string(s.library), Password: config.NewSecret(libraryPassword)}
}

// newTestAdapter builds an adapter from c with its data in dir.
func newTestAdapter(t *testing.T, c Config, dir string) *Adapter {
	t.Helper()
	a, err := newAdapter(protocols.AccountSpec{
		ID: "unc-matrix", Network: Network, DataDir: dir,
		Decode: func(v any) error { *v.(*Config) = c; return nil },
		Log:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatalf("newAdapter: %v", err)
	}
	return a
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// runAdapter runs a until the test ends, returning its sink once online.
func runAdapter(t *testing.T, a *Adapter) (*protocoltest.Sink, func()) {
	t.Helper()
	sink := protocoltest.NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, sink) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	wctx, wcancel := context.WithTimeout(context.Background(), wait)
	defer wcancel()
	if err := sink.WaitState(wctx, protocols.AccountOnline); err != nil {
		t.Fatalf("the adapter did not come online: %v (last %+v)", err, sink.LastState())
	}
	return sink, stop
}

// newPatron makes a new patron account on the server and logs it in.
func (s *server) newPatron(t *testing.T, ctx context.Context) *matrixtest.Patron {
	t.Helper()
	name := fmt.Sprintf("patron%d", s.n.Add(1))
	user, _ := s.AddUser(name, "patron-pw-1234")
	p, err := matrixtest.Login(ctx, s.URL, id.UserID(user), "patron-pw-1234", t.TempDir())
	if err != nil {
		t.Fatalf("patron login: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// nextMessage returns the next protocols.Message the sink got.
func nextMessage(t *testing.T, ctx context.Context, sink *protocoltest.Sink) protocols.Message {
	t.Helper()
	for {
		ev, err := sink.NextEvent(ctx)
		if err != nil {
			t.Fatalf("waiting for a message: %v", err)
		}
		if m, ok := ev.(protocols.Message); ok {
			return m
		}
	}
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// encryptedChat runs a new adapter (a new device) and opens an encrypted
// direct room with it from a new patron.
func (s *server) encryptedChat(t *testing.T) (*Adapter, *protocoltest.Sink, *matrixtest.Patron, id.RoomID, context.Context) {
	t.Helper()
	a := newTestAdapter(t, s.config(), t.TempDir())
	sink, _ := runAdapter(t, a)
	ctx := timeout(t)
	p := s.newPatron(t, ctx)
	room, err := p.OpenDirect(ctx, s.library, true)
	if err != nil {
		t.Fatal(err)
	}
	return a, sink, p, room, ctx
}
