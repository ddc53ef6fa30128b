//go:build goolm

// Package matrixtest is a patron's Matrix client for owlgate's tests, on
// mautrix (the same library as the adapter, but only its client side) with
// end-to-end encryption through its crypto helper: it logs in to a real
// homeserver (Dendrite in the tests), opens direct rooms with the library's
// account, plain or encrypted, writes, sends files, types, reads, and leaves,
// and waits for what the library sends as events, never by sleeping.
package matrixtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/attachment"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	_ "modernc.org/sqlite" // the crypto store's database, pure Go
)

// Received is one message event the patron received from someone else.
type Received struct {
	Room   id.RoomID
	Sender id.UserID
	ID     id.EventID
	Type   event.MessageType
	Body   string
	// Encrypted: the event came encrypted and was decrypted.
	Encrypted bool
}

// Patron is a logged-in patron, syncing until Close.
type Patron struct {
	UserID id.UserID
	Client *mautrix.Client

	helper *cryptohelper.CryptoHelper
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	changed  chan struct{}
	msgs     []Received
	typing   map[id.RoomID][]id.UserID
	receipts map[id.EventID]bool // events of the patron someone else has read
	joined   map[id.RoomID]map[id.UserID]bool
}

// Login logs in as userID with password on the homeserver at url, with a
// crypto store in dir, and starts syncing. The first sync's history is
// skipped.
func Login(ctx context.Context, url string, userID id.UserID, password, dir string) (*Patron, error) {
	cli, err := mautrix.NewClient(url, userID, "")
	if err != nil {
		return nil, err
	}
	syncer := mautrix.NewDefaultSyncer()
	cli.Syncer = syncer
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "patron-crypto.db")+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db, err := dbutil.NewWithDB(raw, "sqlite3")
	if err != nil {
		return nil, err
	}
	helper, err := cryptohelper.NewCryptoHelper(cli, []byte("owlgate test patron pickle key!!"), db)
	if err != nil {
		return nil, err
	}
	helper.LoginAs = &mautrix.ReqLogin{
		Type:       mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: string(userID)},
		Password:   password,
	}
	if err := helper.Init(ctx); err != nil {
		return nil, fmt.Errorf("patron %s: crypto: %w", userID, err)
	}
	cli.Crypto = helper
	p := &Patron{
		UserID: userID, Client: cli, helper: helper, done: make(chan struct{}),
		changed:  make(chan struct{}),
		typing:   map[id.RoomID][]id.UserID{},
		receipts: map[id.EventID]bool{},
		joined:   map[id.RoomID]map[id.UserID]bool{},
	}
	syncer.OnEventType(event.EventMessage, func(ctx context.Context, evt *event.Event) {
		if evt.Sender == userID {
			return
		}
		c := evt.Content.AsMessage()
		p.update(func() {
			p.msgs = append(p.msgs, Received{Room: evt.RoomID, Sender: evt.Sender, ID: evt.ID, Type: c.MsgType, Body: c.Body,
				Encrypted: evt.Mautrix.EventSource&event.SourceDecrypted != 0})
		})
	})
	syncer.OnEventType(event.EphemeralEventTyping, func(ctx context.Context, evt *event.Event) {
		p.update(func() { p.typing[evt.RoomID] = evt.Content.AsTyping().UserIDs })
	})
	syncer.OnEventType(event.EphemeralEventReceipt, func(ctx context.Context, evt *event.Event) {
		p.update(func() {
			for ev, rs := range *evt.Content.AsReceipt() {
				for _, users := range rs {
					for u := range users {
						if u != userID {
							p.receipts[ev] = true
						}
					}
				}
			}
		})
	})
	syncer.OnEventType(event.StateMember, func(ctx context.Context, evt *event.Event) {
		m := evt.Content.AsMember()
		p.update(func() {
			if p.joined[evt.RoomID] == nil {
				p.joined[evt.RoomID] = map[id.UserID]bool{}
			}
			p.joined[evt.RoomID][id.UserID(evt.GetStateKey())] = m.Membership == event.MembershipJoin
		})
	})
	sctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		defer close(p.done)
		for sctx.Err() == nil {
			if err := cli.SyncWithContext(sctx); err != nil && sctx.Err() == nil {
				select {
				case <-sctx.Done():
				case <-time.After(100 * time.Millisecond): // the homeserver restarting: sync again
				}
			}
		}
	}()
	return p, nil
}

// Close stops syncing and closes the crypto store.
func (p *Patron) Close() {
	p.cancel()
	<-p.done
	p.helper.Close()
}

func (p *Patron) update(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait calls cond under the lock until it is true or ctx ends.
func (p *Patron) wait(ctx context.Context, what string, cond func() bool) error {
	for {
		p.mu.Lock()
		ok, ch := cond(), p.changed
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("patron %s: waiting for %s: %w", p.UserID, what, ctx.Err())
		}
	}
}

// OpenDirect creates a direct room with the library's account, encrypted
// or not, invites it, and waits until it joined.
func (p *Patron) OpenDirect(ctx context.Context, library id.UserID, encrypted bool) (id.RoomID, error) {
	req := &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{library}}
	if encrypted {
		req.InitialState = []*event.Event{{
			Type:    event.StateEncryption,
			Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
		}}
	}
	resp, err := p.Client.CreateRoom(ctx, req)
	if err != nil {
		return "", fmt.Errorf("patron %s: creating a room: %w", p.UserID, err)
	}
	if err := p.WaitJoined(ctx, resp.RoomID, library); err != nil {
		return "", err
	}
	if encrypted {
		// The room's encryption must be known before the first send, or
		// the message goes out in the clear.
		if err := p.wait(ctx, "the room's encryption", func() bool {
			enc, err := p.Client.StateStore.IsEncrypted(ctx, resp.RoomID)
			return err == nil && enc
		}); err != nil {
			return "", err
		}
	}
	return resp.RoomID, nil
}

// WaitJoined waits until user is a joined member of room.
func (p *Patron) WaitJoined(ctx context.Context, room id.RoomID, user id.UserID) error {
	return p.wait(ctx, string(user)+" joining", func() bool { return p.joined[room][user] })
}

// WaitLeft waits until user is no longer a joined member of room.
func (p *Patron) WaitLeft(ctx context.Context, room id.RoomID, user id.UserID) error {
	return p.wait(ctx, string(user)+" leaving", func() bool {
		j, ok := p.joined[room][user]
		return ok && !j
	})
}

// Say sends text to room, encrypted when the room is.
func (p *Patron) Say(ctx context.Context, room id.RoomID, text string) (id.EventID, error) {
	resp, err := p.Client.SendText(ctx, room, text)
	if err != nil {
		return "", fmt.Errorf("patron %s: sending: %w", p.UserID, err)
	}
	return resp.EventID, nil
}

// SayHTML sends a formatted message.
func (p *Patron) SayHTML(ctx context.Context, room id.RoomID, body, html string) error {
	_, err := p.Client.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: body, Format: event.FormatHTML, FormattedBody: html,
	})
	return err
}

// SendFile uploads data and sends it as an m.image (for image/ types) or
// m.file; in an encrypted room the file is encrypted before upload, as
// clients do.
func (p *Patron) SendFile(ctx context.Context, room id.RoomID, name, mimeType string, data []byte) error {
	content := &event.MessageEventContent{MsgType: event.MsgFile, Body: name, FileName: name,
		Info: &event.FileInfo{MimeType: mimeType, Size: len(data)}}
	if len(mimeType) > 6 && mimeType[:6] == "image/" {
		content.MsgType = event.MsgImage
	}
	enc, err := p.Client.StateStore.IsEncrypted(ctx, room)
	if err != nil {
		return err
	}
	upload, ctype := data, mimeType
	var ef *attachment.EncryptedFile
	if enc {
		ef = attachment.NewEncryptedFile()
		upload, ctype = ef.Encrypt(data), "application/octet-stream"
	}
	up, err := p.Client.UploadBytes(ctx, upload, ctype)
	if err != nil {
		return fmt.Errorf("patron %s: uploading: %w", p.UserID, err)
	}
	if enc {
		content.File = &event.EncryptedFileInfo{EncryptedFile: *ef, URL: up.ContentURI.CUString()}
	} else {
		content.URL = up.ContentURI.CUString()
	}
	_, err = p.Client.SendMessageEvent(ctx, room, event.EventMessage, content)
	return err
}

// SendUndecryptable sends a megolm event of a session nobody has (a
// client that lost its keys), which no device can decrypt.
func (p *Patron) SendUndecryptable(ctx context.Context, room id.RoomID) error {
	raw, _ := json.Marshal(map[string]any{
		"algorithm":  id.AlgorithmMegolmV1,
		"sender_key": "ZmFrZXNlbmRlcmtleWZha2VzZW5kZXJrZXlmYWtlcw",
		"session_id": "bm9ib2R5aGFzdGhpc3Nlc3Npb25ub2JvZHloYXN0aGk",
		"device_id":  "NOSUCHDEVICE",
		"ciphertext": "AwgAEnB7ZmFrZQ",
	})
	_, err := p.Client.SendMessageEvent(ctx, room, event.EventEncrypted, json.RawMessage(raw))
	return err
}

// Typing shows the patron typing in room, or not.
func (p *Patron) Typing(ctx context.Context, room id.RoomID, typing bool) error {
	_, err := p.Client.UserTyping(ctx, room, typing, 30*time.Second)
	return err
}

// Leave leaves room.
func (p *Patron) Leave(ctx context.Context, room id.RoomID) error {
	_, err := p.Client.LeaveRoom(ctx, room)
	return err
}

// Next returns the oldest message received in room not taken yet.
func (p *Patron) Next(ctx context.Context, room id.RoomID) (Received, error) {
	var got Received
	err := p.wait(ctx, "a message", func() bool {
		for i, m := range p.msgs {
			if m.Room == room {
				got = m
				p.msgs = append(p.msgs[:i:i], p.msgs[i+1:]...)
				return true
			}
		}
		return false
	})
	return got, err
}

// Pending returns the messages received in room and not taken yet.
func (p *Patron) Pending(room id.RoomID) []Received {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Received
	for _, m := range p.msgs {
		if m.Room == room {
			out = append(out, m)
		}
	}
	return out
}

// WaitTyping waits until user's typing in room is as given.
func (p *Patron) WaitTyping(ctx context.Context, room id.RoomID, user id.UserID, typing bool) error {
	return p.wait(ctx, fmt.Sprintf("%s typing=%v", user, typing), func() bool {
		for _, u := range p.typing[room] {
			if u == user {
				return typing
			}
		}
		return !typing
	})
}

// WaitRead waits until someone else sent a read receipt for ev.
func (p *Patron) WaitRead(ctx context.Context, ev id.EventID) error {
	return p.wait(ctx, "a read receipt", func() bool { return p.receipts[ev] })
}
