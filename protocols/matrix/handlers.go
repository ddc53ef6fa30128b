//go:build goolm

package matrix

import (
	"context"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/owlgate/owlgate/protocols"
)

// firstSync reports whether ctx is of the device's very first sync, whose
// timeline is history from before owlgate ran: it is not delivered.
func firstSync(ctx context.Context) bool {
	since, _ := ctx.Value(mautrix.SyncTokenContextKey).(string)
	return since == ""
}

// onMember handles invites to the account (accepted or declined), and
// patrons leaving their rooms.
func (s *session) onMember(ctx context.Context, evt *event.Event) {
	m := evt.Content.AsMember()
	me := s.cli.UserID
	target := id.UserID(evt.GetStateKey())
	if target == me {
		switch {
		case m.Membership == event.MembershipInvite && evt.Mautrix.EventSource&event.SourceInvite != 0:
			s.onInvite(ctx, evt, m)
		case m.Membership == event.MembershipLeave || m.Membership == event.MembershipBan:
			// Kicked, or owlgate left: the room is no longer a chat.
			if err := s.a.rooms.forget(evt.RoomID); err != nil {
				s.a.log.Warn("matrix: forgetting a room", "err", err)
			}
		}
		return
	}
	if firstSync(ctx) || evt.Mautrix.EventSource&event.SourceTimeline == 0 {
		return
	}
	if m.Membership != event.MembershipLeave && m.Membership != event.MembershipBan {
		return
	}
	ri, ok := s.a.rooms.room(evt.RoomID)
	if !ok || ri.Group || ri.Patron != target {
		return
	}
	reason := "left the room"
	if m.Membership == event.MembershipBan || evt.Sender != target {
		reason = "removed from the room"
	}
	s.deliver(ctx, evt.ID, protocols.Left{From: s.a.addr(string(target)), Reason: reason})
	if err := s.a.rooms.forget(evt.RoomID); err != nil {
		s.a.log.Warn("matrix: forgetting a room", "err", err)
	}
	// An empty direct room is of no more use: leave it, so that the next
	// chat is a new room.
	if _, err := s.cli.LeaveRoom(ctx, evt.RoomID); err != nil {
		s.a.log.Debug("matrix: leaving a room the patron left", "room", string(evt.RoomID), "err", err)
	}
}

// onInvite accepts a direct invite (from an allowed homeserver) or an
// invite to a listed room, and declines the others.
func (s *session) onInvite(ctx context.Context, evt *event.Event, m *event.MemberEventContent) {
	inviter := evt.Sender
	log := s.a.log
	listed := s.a.s.rooms[evt.RoomID]
	allowed := len(s.a.s.invitesFrom) == 0 || s.a.s.invitesFrom[strings.ToLower(inviter.Homeserver())]
	if !listed && (!m.IsDirect || !allowed) {
		log.Info("matrix: declining an invite", "direct", m.IsDirect, "homeserver_allowed", allowed)
		if _, err := s.cli.LeaveRoom(ctx, evt.RoomID); err != nil {
			log.Warn("matrix: declining an invite", "err", err)
		}
		return
	}
	if _, err := s.cli.JoinRoomByID(ctx, evt.RoomID); err != nil {
		log.Warn("matrix: accepting an invite", "err", err)
		return
	}
	ri := roomInfo{Patron: inviter}
	if listed {
		ri = roomInfo{Group: true}
	}
	if err := s.a.rooms.set(evt.RoomID, ri, ""); err != nil {
		log.Warn("matrix: recording a room", "err", err)
	}
	log.Info("matrix: accepted an invite", "direct", !listed)
	log.Debug("matrix: invited", "patron", string(inviter), "room", string(evt.RoomID))
}

// patronRoom returns what the room of a patron's event is, recording
// direct rooms owlgate did not know (joined before owlgate ran, or before
// its data folder was made): a room of two members, the account and the
// sender. It reports false for rooms owlgate ignores.
func (s *session) patronRoom(ctx context.Context, evt *event.Event) (roomInfo, bool) {
	if evt.Sender == s.cli.UserID {
		return roomInfo{}, false
	}
	if s.a.s.rooms[evt.RoomID] {
		return roomInfo{Group: true}, true
	}
	if ri, ok := s.a.rooms.room(evt.RoomID); ok {
		return ri, !ri.Group && ri.Patron == evt.Sender
	}
	members, err := s.cli.StateStore.GetRoomJoinedOrInvitedMembers(ctx, evt.RoomID)
	if err != nil || len(members) != 2 {
		return roomInfo{}, false
	}
	for _, u := range members {
		if u != s.cli.UserID && u != evt.Sender {
			return roomInfo{}, false
		}
	}
	ri := roomInfo{Patron: evt.Sender}
	if err := s.a.rooms.set(evt.RoomID, ri, ""); err != nil {
		s.a.log.Warn("matrix: recording a room", "err", err)
	}
	return ri, true
}

// onMessage turns a patron's message (decrypted already, in encrypted
// rooms) into a protocols.Message.
func (s *session) onMessage(ctx context.Context, evt *event.Event) {
	if firstSync(ctx) {
		return
	}
	if _, ok := s.patronRoom(ctx, evt); !ok {
		return
	}
	c := evt.Content.AsMessage()
	edited := false
	if c.RelatesTo != nil && c.RelatesTo.Type == event.RelReplace && c.NewContent != nil {
		c, edited = c.NewContent, true
	}
	msg := protocols.Message{
		From: s.a.addr(string(evt.Sender)),
		ID:   protocols.MessageID(evt.ID),
		Sent: time.UnixMilli(evt.Timestamp),
	}
	switch c.MsgType {
	case event.MsgImage, event.MsgFile, event.MsgVideo, event.MsgAudio:
		att := protocols.Attachment{Name: c.GetFileName(), URL: s.a.mediaLink(c)}
		if c.Info != nil {
			att.MIMEType, att.Size = c.Info.MimeType, int64(c.Info.Size)
		}
		if att.URL == "" {
			msg.Text = "[a file owlgate cannot link: " + att.Name + "]"
		} else {
			msg.Attachments = []protocols.Attachment{att}
		}
		if caption := c.GetCaption(); caption != "" {
			msg.Text = strings.TrimSpace(caption + " " + msg.Text)
		}
	case event.MsgLocation:
		msg.Text = plainText(c) + " " + c.GeoURI
	case event.MsgEmote:
		msg.Text = "* " + plainText(c)
	default:
		msg.Text = plainText(c)
	}
	if edited {
		msg.Text = "(edited) " + msg.Text
	}
	if msg.Text == "" && len(msg.Attachments) == 0 {
		return
	}
	if err := s.a.rooms.set(evt.RoomID, s.roomOf(evt), evt.Sender); err != nil {
		s.a.log.Warn("matrix: recording a room", "err", err)
	}
	s.mu.Lock()
	s.lastSeen[evt.RoomID] = evt.ID
	s.mu.Unlock()
	s.a.log.Debug("matrix: message from a patron", "patron", string(evt.Sender), "room", string(evt.RoomID), "text", msg.Text)
	s.deliver(ctx, evt.ID, msg)
}

// roomOf is the room record of a patron's event that patronRoom accepted.
func (s *session) roomOf(evt *event.Event) roomInfo {
	if s.a.s.rooms[evt.RoomID] {
		return roomInfo{Group: true}
	}
	return roomInfo{Patron: evt.Sender}
}

// plainText is a message's text for operators: the formatted body as plain
// text when there is one, else the body, without the quote of a reply.
func plainText(c *event.MessageEventContent) string {
	c.RemoveReplyFallback()
	if c.Format == event.FormatHTML && c.FormattedBody != "" {
		return strings.TrimSpace(plainParser.Parse(c.FormattedBody, format.NewContext(context.Background())))
	}
	return strings.TrimSpace(c.Body)
}

// plainParser turns Matrix HTML into plain text: emphasis, strikethrough and
// code lose their marks (no Markdown asterisks for operators), links keep
// their URL, lists and quotes their lines, mentions become names.
var plainParser = &format.HTMLParser{
	TabsToSpaces:           4,
	Newline:                "\n",
	HorizontalLine:         "\n---\n",
	PillConverter:          format.DefaultPillConverter,
	BoldConverter:          func(s string, _ format.Context) string { return s },
	ItalicConverter:        func(s string, _ format.Context) string { return s },
	StrikethroughConverter: func(s string, _ format.Context) string { return s },
	UnderlineConverter:     func(s string, _ format.Context) string { return s },
	MonospaceConverter:     func(s string, _ format.Context) string { return s },
	MonospaceBlockConverter: func(s, _ string, _ format.Context) string {
		return s
	},
}

// onTyping reports patrons starting (composing) and stopping (paused)
// typing.
func (s *session) onTyping(ctx context.Context, evt *event.Event) {
	if firstSync(ctx) {
		return
	}
	ri, ok := s.a.rooms.room(evt.RoomID)
	listed := s.a.s.rooms[evt.RoomID]
	if !ok && !listed {
		return
	}
	now := map[id.UserID]bool{}
	for _, u := range evt.Content.AsTyping().UserIDs {
		if u != s.cli.UserID && (listed || u == ri.Patron) {
			now[u] = true
		}
	}
	s.mu.Lock()
	before := s.typing[evt.RoomID]
	s.typing[evt.RoomID] = now
	s.mu.Unlock()
	for u := range now {
		if !before[u] {
			s.sink.Deliver(ctx, protocols.StateChange{From: s.a.addr(string(u)), State: protocols.Composing})
		}
	}
	for u := range before {
		if !now[u] {
			s.sink.Deliver(ctx, protocols.StateChange{From: s.a.addr(string(u)), State: protocols.Paused})
		}
	}
}

// onReceipt reports a patron's read receipt on a message owlgate sent as
// a protocols.Receipt for it.
func (s *session) onReceipt(ctx context.Context, evt *event.Event) {
	if firstSync(ctx) {
		return
	}
	for evID, receipts := range *evt.Content.AsReceipt() {
		for typ, users := range receipts {
			if typ != event.ReceiptTypeRead && typ != event.ReceiptTypeReadPrivate {
				continue
			}
			for u := range users {
				if u == s.cli.UserID {
					continue
				}
				if msgID, ok := s.a.sent.take(evID); ok {
					s.sink.Deliver(ctx, protocols.Receipt{From: s.a.addr(string(u)), ID: msgID})
				}
			}
		}
	}
}

// undecryptable is the text operators get for a patron's message owlgate
// could not decrypt.
const undecryptable = "[owlgate: the patron sent an encrypted message that owlgate could not decrypt; " +
	"it asked the patron's devices for the key, and told the patron to send it again]"

// onDecryptError tells the operator of a patron's message that could not
// be decrypted, even after asking the patron's devices for its key (the
// crypto helper does, and waits for the key, before calling this), and
// tells the patron.
func (s *session) onDecryptError(evt *event.Event, err error) {
	ctx := s.ctx
	if ctx.Err() != nil {
		return
	}
	if _, ok := s.patronRoom(ctx, evt); !ok {
		return
	}
	s.a.log.Warn("matrix: a patron's message could not be decrypted", "err", err)
	if err := s.a.rooms.set(evt.RoomID, s.roomOf(evt), evt.Sender); err != nil {
		s.a.log.Warn("matrix: recording a room", "err", err)
	}
	s.deliver(ctx, evt.ID, protocols.Message{
		From: s.a.addr(string(evt.Sender)),
		ID:   protocols.MessageID(evt.ID),
		Text: undecryptable,
		Sent: time.UnixMilli(evt.Timestamp),
	})
	notice := &event.MessageEventContent{MsgType: event.MsgNotice,
		Body: "The library could not decrypt your last message. Please send it again."}
	if _, err := s.cli.SendMessageEvent(ctx, evt.RoomID, event.EventMessage, notice); err != nil {
		s.a.log.Warn("matrix: telling a patron their message was not decrypted", "err", err)
	}
}
