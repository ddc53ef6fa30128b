//go:build goolm

package matrix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/owlgate/owlgate/protocols"
)

// typingTimeout is how long the homeserver shows the account typing
// unless told it stopped.
const typingTimeout = 30 * time.Second

// sendText sends text to the room the patron wrote in last, split into
// parts of at most MaxTextLength bytes. Each part has a transaction id made
// from owlgate's message id, so that sending the same message again (a
// retry after a lost answer) does not post it twice.
func (s *session) sendText(ctx context.Context, patron protocols.UserID, msgID protocols.MessageID, text string) error {
	user := id.UserID(patron)
	room, ri, ok := s.a.rooms.replyRoom(user)
	if !ok {
		return fmt.Errorf("matrix %s: no room with this patron: %w", s.a.id, protocols.ErrUnknownPatron)
	}
	// One send at a time: messages keep their order, and an encrypted
	// room's megolm session is shared once.
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	for i, part := range splitText(text, MaxTextLength) {
		content := &event.MessageEventContent{MsgType: event.MsgText, Body: part}
		if ri.Group {
			// In a group room, the reply names the patron it answers.
			content.Body = string(user) + ": " + part
			content.Mentions = &event.Mentions{UserIDs: []id.UserID{user}}
		}
		var req mautrix.ReqSendEvent
		if msgID != "" {
			sum := sha256.Sum256([]byte(msgID))
			req.TransactionID = "owlgate." + hex.EncodeToString(sum[:12]) + "." + strconv.Itoa(i)
		}
		resp, err := s.cli.SendMessageEvent(ctx, room, event.EventMessage, content, req)
		if err != nil {
			return sendError(s.a.id, err)
		}
		s.a.sent.add(resp.EventID, msgID)
	}
	// The message ends the operator's typing; not every homeserver says so
	// itself.
	s.mu.Lock()
	wasTyping := s.typingOn[room]
	s.typingOn[room] = false
	s.mu.Unlock()
	if wasTyping {
		if _, err := s.cli.UserTyping(ctx, room, false, 0); err != nil {
			s.a.log.Debug("matrix: ending the typing notification", "err", err)
		}
	}
	return nil
}

// sendState shows the operator typing (composing) or not (paused, inactive,
// gone), and marks the patron's messages read when the operator looks at the
// chat (active): what XEP-0085 says of an operator is all owlgate knows of
// what they have seen.
func (s *session) sendState(ctx context.Context, patron protocols.UserID, st protocols.ChatState) error {
	room, _, ok := s.a.rooms.replyRoom(id.UserID(patron))
	if !ok {
		return nil // nothing to show typing to
	}
	s.mu.Lock()
	wasTyping := s.typingOn[room]
	last, read := s.lastSeen[room], s.readUpTo[room]
	s.mu.Unlock()
	typing := st == protocols.Composing
	if typing || wasTyping {
		if _, err := s.cli.UserTyping(ctx, room, typing, typingTimeout); err != nil {
			return sendError(s.a.id, err)
		}
		s.mu.Lock()
		s.typingOn[room] = typing
		s.mu.Unlock()
	}
	if st == protocols.StateActive && last != "" && last != read {
		if err := s.cli.MarkRead(ctx, room, last); err != nil {
			return sendError(s.a.id, err)
		}
		s.mu.Lock()
		s.readUpTo[room] = last
		s.mu.Unlock()
	}
	return nil
}

// sendError classifies a failed request to the homeserver for the gateway.
func sendError(account protocols.AccountID, err error) error {
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.RespError != nil {
		code := he.RespError.ErrCode
		switch {
		case code == "M_LIMIT_EXCEEDED":
			var after time.Duration
			if ms, ok := he.RespError.ExtraData["retry_after_ms"].(float64); ok {
				after = time.Duration(ms) * time.Millisecond
			}
			return &protocols.RetryAfterError{Err: fmt.Errorf("matrix %s: %w", account, protocols.ErrRateLimited), After: after}
		case code == "M_FORBIDDEN":
			return fmt.Errorf("matrix %s: not allowed in the patron's room: %w", account, protocols.ErrUnknownPatron)
		case code == "M_UNKNOWN_TOKEN":
			return fmt.Errorf("matrix %s: logged out: %w", account, protocols.ErrNotConnected)
		case he.RespError.StatusCode >= 400 && he.RespError.StatusCode < 500:
			return fmt.Errorf("matrix %s: %s: %w", account, code, protocols.ErrRejected)
		}
	}
	if errors.As(err, &he) && he.Response != nil && he.Response.StatusCode >= 400 && he.Response.StatusCode < 500 &&
		he.Response.StatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("matrix %s: %s: %w", account, he.Response.Status, protocols.ErrRejected)
	}
	// The homeserver unreachable, a 5xx, an encryption step that needed
	// the homeserver: sending again later can succeed.
	return fmt.Errorf("matrix %s: %w: %v", account, protocols.ErrNotConnected, err)
}

// splitText cuts text into parts of at most limit bytes on UTF-8
// boundaries, at a line break or space in the second half of a part when
// there is one.
func splitText(text string, limit int) []string {
	var parts []string
	for len(text) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		for i := cut - 1; i > cut/2; i-- {
			if text[i] == '\n' || text[i] == ' ' {
				cut = i + 1
				break
			}
		}
		parts = append(parts, text[:cut])
		text = text[cut:]
	}
	return append(parts, text)
}
