//go:build goolm

package matrix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/matrix/matrixtest"
	"github.com/owlgate/owlgate/protocols/protocoltest"
)

// harnessPatron is a patron of the conformance suite: a new Dendrite
// account in a plain direct room with the library.
type harnessPatron struct {
	p    *matrixtest.Patron
	room id.RoomID
}

func (h *harnessPatron) ID() protocols.UserID { return protocols.UserID(h.p.UserID) }
func (h *harnessPatron) Say(ctx context.Context, text string) error {
	_, err := h.p.Say(ctx, h.room, text)
	return err
}
func (h *harnessPatron) Next(ctx context.Context) (string, error) {
	m, err := h.p.Next(ctx, h.room)
	return m.Body, err
}
func (h *harnessPatron) Leave(ctx context.Context) error { return h.p.Leave(ctx, h.room) }

// The tests run one after the other, each with its own Dendrite, but for
// the two that mostly wait (for a key that never comes, for a homeserver to
// come back): starting Dendrites side by side loads CI's two cores.

// TestConformance runs the adapter through protocols/protocoltest against a
// real Dendrite: each subtest a new device of the library's account (a
// fresh data folder), each patron a new account in its own direct room.
func TestConformance(t *testing.T) {
	srv := startServer(t)
	protocoltest.Run(t, protocoltest.Harness{
		Network: Network,
		Account: "unc-matrix",
		NewAdapter: func(t *testing.T) protocols.Adapter {
			return newTestAdapter(t, srv.config(), t.TempDir())
		},
		NewPatron: func(t *testing.T, ctx context.Context) protocoltest.Patron {
			p := srv.newPatron(t, ctx)
			room, err := p.OpenDirect(ctx, srv.library, false)
			if err != nil {
				t.Fatal(err)
			}
			return &harnessPatron{p: p, room: room}
		},
		Timeout: wait,
	})
}

// TestEncryptedRoom: a patron writes in an encrypted direct room (their
// client encrypts it, as Element does by default); owlgate decrypts it,
// and its reply reaches the patron encrypted.
func TestEncryptedRoom(t *testing.T) {
	srv := startServer(t)
	a, sink, p, room, ctx := srv.encryptedChat(t)
	const q = "Is my interlibrary loan in? 🦉"
	if _, err := p.Say(ctx, room, q); err != nil {
		t.Fatal(err)
	}
	m := nextMessage(t, ctx, sink)
	if m.Text != q || m.From != a.addr(string(p.UserID)) {
		t.Fatalf("got %+v; want %q from the patron", m, q)
	}
	const answer = "Yes, it came this morning: desk 2."
	if err := a.Send(ctx, protocols.OutMessage{To: m.From, ID: "enc-1", Text: answer}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, err := p.Next(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if got.Body != answer || !got.Encrypted {
		t.Errorf("the patron received %+v; want %q, encrypted", got, answer)
	}
}

// TestRestartNoReplayNoSkip: owlgate stops; the patron writes more than a
// sync's timeline holds; owlgate starts again as the same device (its
// login and sync token in the data folder): every message written while it
// was away arrives once, in order, and nothing delivered before comes again.
func TestRestartNoReplayNoSkip(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	a := newTestAdapter(t, srv.config(), dir)
	sink, stop := runAdapter(t, a)
	ctx := timeout(t)
	p := srv.newPatron(t, ctx)
	room, err := p.OpenDirect(ctx, srv.library, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Say(ctx, room, "before the restart"); err != nil {
		t.Fatal(err)
	}
	if m := nextMessage(t, ctx, sink); m.Text != "before the restart" {
		t.Fatalf("got %q", m.Text)
	}
	var before savedLogin
	if err := readJSON(filepath.Join(dir, "session.json"), &before); err != nil || before.DeviceID == "" {
		t.Fatalf("session.json: %+v, %v", before, err)
	}
	stop()

	const away = timelineLimit + 10 // more than one sync's timeline: the gap is fetched
	for i := range away {
		if _, err := p.Say(ctx, room, fmt.Sprintf("while away %02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	a2 := newTestAdapter(t, srv.config(), dir)
	sink2, _ := runAdapter(t, a2)
	for i := range away {
		want := fmt.Sprintf("while away %02d", i)
		if m := nextMessage(t, ctx, sink2); m.Text != want {
			t.Fatalf("message %d after the restart is %q, want %q", i, m.Text, want)
		}
	}
	if _, err := p.Say(ctx, room, "after the restart"); err != nil {
		t.Fatal(err)
	}
	if m := nextMessage(t, ctx, sink2); m.Text != "after the restart" {
		t.Fatalf("got %q after the backlog, want the new message (a replay?)", m.Text)
	}
	var after savedLogin
	if err := readJSON(filepath.Join(dir, "session.json"), &after); err != nil || after.DeviceID != before.DeviceID {
		t.Errorf("the device changed across the restart: %q -> %q (%v)", before.DeviceID, after.DeviceID, err)
	}
	// The reply still reaches the patron (same device, keys kept).
	if err := a2.Send(ctx, protocols.OutMessage{To: a2.addr(string(p.UserID)), ID: "after-1", Text: "welcome back"}); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Next(ctx, room); err != nil || got.Body != "welcome back" {
		t.Errorf("the patron received %+v, %v", got, err)
	}
}

// TestAttachmentLinks: files a patron sends, in a plain and an encrypted
// room, arrive as links to owlgate's HTTP route, which serves them from the
// homeserver's authenticated media, decrypted.
func TestAttachmentLinks(t *testing.T) {
	srv := startServer(t)
	mux := http.NewServeMux()
	web := httptest.NewServer(mux)
	defer web.Close()
	c := srv.config()
	c.PublicURL = web.URL
	a := newTestAdapter(t, c, t.TempDir())
	for _, r := range a.HTTPRoutes() {
		method, path, _ := strings.Cut(r.Pattern, " ")
		mux.Handle(method+" "+protocols.HookPath(a.id, path), r.Handler)
	}
	sink, _ := runAdapter(t, a)
	ctx := timeout(t)
	for _, encrypted := range []bool{false, true} {
		p := srv.newPatron(t, ctx)
		room, err := p.OpenDirect(ctx, srv.library, encrypted)
		if err != nil {
			t.Fatal(err)
		}
		data := bytes.Repeat([]byte("\x89PNG owlgate "), 100)
		if err := p.SendFile(ctx, room, "map-1850.png", "image/png", data); err != nil {
			t.Fatal(err)
		}
		m := nextMessage(t, ctx, sink)
		if len(m.Attachments) != 1 {
			t.Fatalf("encrypted=%v: got %+v; want one attachment", encrypted, m)
		}
		att := m.Attachments[0]
		if att.Name != "map-1850.png" || att.MIMEType != "image/png" || att.Size != int64(len(data)) ||
			!strings.HasPrefix(att.URL, web.URL+"/hooks/unc-matrix/media/") {
			t.Fatalf("encrypted=%v: attachment %+v", encrypted, att)
		}
		resp, err := http.Get(att.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.Header.Get("Content-Type") != "image/png" {
			t.Errorf("encrypted=%v: GET the link: %d %q, %d bytes (equal: %v)", encrypted, resp.StatusCode,
				resp.Header.Get("Content-Type"), len(body), bytes.Equal(body, data))
		}
	}
	if resp, err := http.Get(web.URL + "/hooks/unc-matrix/media/not-a-token"); err != nil || resp.StatusCode != 404 {
		t.Errorf("an unknown token: %v, %v; want 404", resp, err)
	}
}

// TestTypingReceiptsFormatting: a patron typing reaches owlgate as
// composing then paused; the operator's composing and paused reach the
// patron as typing; the operator's active marks the patron's message read;
// a formatted message arrives as plain text.
func TestTypingReceiptsFormatting(t *testing.T) {
	srv := startServer(t)
	a, sink, p, room, ctx := srv.encryptedChat(t)
	if err := p.SayHTML(ctx, room, "**Where** is _the_ map room?",
		`<b>Where</b> is <em>the</em> <a href="https://example.edu/maps">map room</a>?`); err != nil {
		t.Fatal(err)
	}
	m := nextMessage(t, ctx, sink)
	if m.Text != "Where is the map room (https://example.edu/maps)?" {
		t.Errorf("formatted message as %q", m.Text)
	}
	patron := m.From

	if err := p.Typing(ctx, room, true); err != nil {
		t.Fatal(err)
	}
	expectState(t, ctx, sink, protocols.Composing)
	if err := p.Typing(ctx, room, false); err != nil {
		t.Fatal(err)
	}
	expectState(t, ctx, sink, protocols.Paused)

	if err := a.Send(ctx, protocols.OutState{To: patron, State: protocols.Composing}); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitTyping(ctx, room, srv.library, true); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, protocols.OutState{To: patron, State: protocols.Paused}); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitTyping(ctx, room, srv.library, false); err != nil {
		t.Fatal(err)
	}
	// A message ends the typing the operator's composing showed.
	if err := a.Send(ctx, protocols.OutState{To: patron, State: protocols.Composing}); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitTyping(ctx, room, srv.library, true); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, protocols.OutMessage{To: patron, ID: "typed", Text: "Here it is."}); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitTyping(ctx, room, srv.library, false); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Next(ctx, room); err != nil || got.Body != "Here it is." {
		t.Fatalf("the patron received %+v, %v", got, err)
	}
	if err := a.Send(ctx, protocols.OutState{To: patron, State: protocols.StateActive}); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitRead(ctx, id.EventID(m.ID)); err != nil {
		t.Fatal(err)
	}

	// The patron's read receipt on owlgate's reply is a Receipt for it.
	if err := a.Send(ctx, protocols.OutMessage{To: patron, ID: "read-me", Text: "Third floor."}); err != nil {
		t.Fatal(err)
	}
	got, err := p.Next(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Client.MarkRead(ctx, room, got.ID); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := sink.NextEvent(ctx)
		if err != nil {
			t.Fatalf("no receipt: %v", err)
		}
		if r, ok := ev.(protocols.Receipt); ok {
			if r.ID != "read-me" || r.From != patron {
				t.Errorf("receipt %+v", r)
			}
			break
		}
	}
}

func expectState(t *testing.T, ctx context.Context, sink *protocoltest.Sink, want protocols.ChatState) {
	t.Helper()
	for {
		ev, err := sink.NextEvent(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if sc, ok := ev.(protocols.StateChange); ok {
			if sc.State != want {
				t.Fatalf("state %s, want %s", sc.State, want)
			}
			return
		}
	}
}

// TestInvites: invites from homeservers not listed in invites_from and
// invites to group rooms are declined; a direct invite from a listed
// homeserver is taken.
func TestInvites(t *testing.T) {
	srv := startServer(t)
	ctx := timeout(t)
	p := srv.newPatron(t, ctx)

	// A direct invite from localhost, not listed: declined.
	c := srv.config()
	c.InvitesFrom = []string{"example.org"}
	_, stop := runAdapter(t, newTestAdapter(t, c, t.TempDir()))
	resp, err := p.Client.CreateRoom(ctx, directRoom(srv.library, true))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitLeft(ctx, resp.RoomID, srv.library); err != nil {
		t.Fatalf("the invite from an unlisted homeserver was not declined: %v", err)
	}
	stop()

	// localhost (the test's server) listed: a group room is declined...
	c.InvitesFrom = []string{"example.org", "localhost"}
	runAdapter(t, newTestAdapter(t, c, t.TempDir()))
	resp, err = p.Client.CreateRoom(ctx, directRoom(srv.library, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitLeft(ctx, resp.RoomID, srv.library); err != nil {
		t.Fatalf("the group invite was not declined: %v", err)
	}
	// ... and a direct one accepted.
	resp, err = p.Client.CreateRoom(ctx, directRoom(srv.library, true))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitJoined(ctx, resp.RoomID, srv.library); err != nil {
		t.Fatal(err)
	}
}

// TestBadCredentials: a wrong password and a wrong access token are
// reported as bad credentials, and Run stops retrying.
func TestBadCredentials(t *testing.T) {
	srv := startServer(t)
	for name, c := range map[string]Config{
		"password":     {Homeserver: srv.URL, UserID: string(srv.library), Password: config.NewSecret("wrong-password")},
		"access_token": {Homeserver: srv.URL, UserID: string(srv.library), AccessToken: config.NewSecret("not-a-token")},
	} {
		a := newTestAdapter(t, c, t.TempDir())
		sink := protocoltest.NewSink()
		err := a.Run(timeout(t), sink)
		if !errors.Is(err, protocols.ErrBadCredentials) {
			t.Errorf("%s: Run returned %v, want bad credentials", name, err)
		}
		if st := sink.LastState(); st.State != protocols.AccountBadCredentials {
			t.Errorf("%s: last state %+v", name, st)
		}
	}
}

// TestAccessToken: an account configured with an access token (of a device
// made for owlgate) logs in as that device.
func TestAccessToken(t *testing.T) {
	srv := startServer(t)
	_, token := srv.AddUser("tokenlibrary", "token-pw-1234")
	c := Config{Homeserver: srv.URL, UserID: "@tokenlibrary:localhost", AccessToken: config.NewSecret(token)}
	a := newTestAdapter(t, c, t.TempDir())
	sink, _ := runAdapter(t, a)
	ctx := timeout(t)
	p := srv.newPatron(t, ctx)
	room, err := p.OpenDirect(ctx, "@tokenlibrary:localhost", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Say(ctx, room, "hello token"); err != nil {
		t.Fatal(err)
	}
	if m := nextMessage(t, ctx, sink); m.Text != "hello token" {
		t.Errorf("got %q", m.Text)
	}
}

// TestUndecryptable: a message encrypted with a session owlgate never got
// (and no device gives it when asked) reaches the operator as a notice,
// and the patron is told to send it again.
func TestUndecryptable(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	_, sink, p, room, ctx := srv.encryptedChat(t)
	if err := p.SendUndecryptable(ctx, room); err != nil {
		t.Fatal(err)
	}
	m := nextMessage(t, ctx, sink)
	if m.Text != undecryptable || m.From.User != protocols.UserID(p.UserID) {
		t.Errorf("got %+v; want the notice", m)
	}
	got, err := p.Next(ctx, room)
	if err != nil || got.Type != event.MsgNotice || !strings.Contains(got.Body, "could not decrypt") {
		t.Errorf("the patron received %+v, %v", got, err)
	}
}

func directRoom(invite id.UserID, direct bool) *mautrix.ReqCreateRoom {
	return &mautrix.ReqCreateRoom{Preset: "private_chat", IsDirect: direct, Invite: []id.UserID{invite}}
}

// stateSink is a protocoltest.Sink that also passes every state report to
// a channel, so that a test can await a sequence of states.
type stateSink struct {
	*protocoltest.Sink
	states chan protocols.AccountState
}

func (s *stateSink) ReportState(r protocols.StateReport) {
	s.Sink.ReportState(r)
	s.states <- r.State
}

func (s *stateSink) await(t *testing.T, ctx context.Context, want protocols.AccountState) {
	t.Helper()
	for {
		select {
		case st := <-s.states:
			if st == want {
				return
			}
		case <-ctx.Done():
			t.Fatalf("waiting for state %s: %v (states %v)", want, ctx.Err(), s.States())
		}
	}
}

// TestHomeserverRestart: the homeserver goes away; the account reports
// backoff, reconnects when it is back, and the chat goes on in the same
// room with nothing lost.
func TestHomeserverRestart(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	a := newTestAdapter(t, srv.config(), t.TempDir())
	sink := &stateSink{Sink: protocoltest.NewSink(), states: make(chan protocols.AccountState, 100)}
	ctx := timeout(t)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx, sink) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	sink.await(t, ctx, protocols.AccountOnline)
	p := srv.newPatron(t, ctx)
	room, err := p.OpenDirect(ctx, srv.library, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Say(ctx, room, "first"); err != nil {
		t.Fatal(err)
	}
	if m := nextMessage(t, ctx, sink.Sink); m.Text != "first" {
		t.Fatalf("got %q", m.Text)
	}

	srv.Stop()
	sink.await(t, ctx, protocols.AccountBackoff)
	srv.Start()
	sink.await(t, ctx, protocols.AccountOnline)
	if _, err := p.Say(ctx, room, "after the outage"); err != nil {
		t.Fatal(err)
	}
	if m := nextMessage(t, ctx, sink.Sink); m.Text != "after the outage" {
		t.Fatalf("got %q after the outage; want the new message only", m.Text)
	}
	if err := a.Send(ctx, protocols.OutMessage{To: a.addr(string(p.UserID)), ID: "after", Text: "still here"}); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Next(ctx, room); err != nil || got.Body != "still here" {
		t.Errorf("the patron received %+v, %v", got, err)
	}
}

// TestGroupRooms: in a group room listed in rooms, every member is a
// patron, and a reply goes to the room naming the patron; in a direct room,
// a third member who joined is not the room's patron and is ignored.
func TestGroupRooms(t *testing.T) {
	srv := startServer(t)
	ctx := timeout(t)
	p1 := srv.newPatron(t, ctx)
	p2 := srv.newPatron(t, ctx)
	group, err := p1.Client.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Invite: []id.UserID{srv.library, p2.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Client.JoinRoomByID(ctx, group.RoomID); err != nil {
		t.Fatal(err)
	}
	c := srv.config()
	c.Rooms = []string{string(group.RoomID)}
	a := newTestAdapter(t, c, t.TempDir())
	sink, _ := runAdapter(t, a)
	if err := p1.WaitJoined(ctx, group.RoomID, srv.library); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Say(ctx, group.RoomID, "Who can help with citations?"); err != nil {
		t.Fatal(err)
	}
	m := nextMessage(t, ctx, sink)
	if m.From.User != protocols.UserID(p2.UserID) || m.Text != "Who can help with citations?" {
		t.Fatalf("got %+v from the group room", m)
	}
	if err := a.Send(ctx, protocols.OutMessage{To: m.From, ID: "group-1", Text: "I can."}); err != nil {
		t.Fatal(err)
	}
	got, err := p1.Next(ctx, group.RoomID)
	for err == nil && got.Sender != srv.library { // p2's question came first
		got, err = p1.Next(ctx, group.RoomID)
	}
	if err != nil || got.Body != string(p2.UserID)+": I can." {
		t.Errorf("the room received %+v, %v; want the reply naming the patron", got, err)
	}

	// A direct room of p1's, which p2 joins later: p2 is not its patron.
	room, err := p1.OpenDirect(ctx, srv.library, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p1.Client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: p2.UserID}); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Client.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	if err := p1.WaitJoined(ctx, room, p2.UserID); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Say(ctx, room, "I am not this room's patron"); err != nil {
		t.Fatal(err)
	}
	if _, err := p1.Say(ctx, room, "I am"); err != nil {
		t.Fatal(err)
	}
	if m := nextMessage(t, ctx, sink); m.Text != "I am" || m.From.User != protocols.UserID(p1.UserID) {
		t.Errorf("got %+v; want only the direct room's patron", m)
	}
}
