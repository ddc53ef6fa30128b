package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// ErrInvalidBatch is wrapped by the error of a commit whose batch cannot be
// stored as it is (a chat id of 0, a time outside what the store can hold,
// an outbound message without an id...). Such a batch is refused by Submit
// alone: it fails nothing else.
var ErrInvalidBatch = errors.New("invalid batch")

// Times are stored as unix nanoseconds (INTEGER), the zero time as NULL.
// That holds the years 1678 to 2262 at full precision.

func encTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func decTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// storableTime reports whether t survives the round trip through unix
// nanoseconds.
func storableTime(t time.Time) bool {
	return t.IsZero() || time.Unix(0, t.UnixNano()).Equal(t)
}

// NormalTime returns t as [SQLite] gives it back: the zero time stays the
// zero time (whatever its location); any other time is in UTC, with no
// monotonic clock reading, at nanosecond precision. Callers comparing what
// they stored with what Load, Lines or PendingOutbound return compare
// normalised values (or use time.Time.Equal).
func NormalTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.Unix(0, t.UnixNano()).UTC()
}

// NormalRecord returns r with every time normalised by [NormalTime]: the
// record Load returns for r.
func NormalRecord(r routing.ChatRecord) routing.ChatRecord {
	r.Started = NormalTime(r.Started)
	r.FirstAnswer = NormalTime(r.FirstAnswer)
	r.Ended = NormalTime(r.Ended)
	r.LastActivity = NormalTime(r.LastActivity)
	return r
}

// NormalLine returns l as the store gives it back: its time normalised by
// [NormalTime] and an empty attachment list as nil.
func NormalLine(l routing.Line) routing.Line {
	l.At = NormalTime(l.At)
	if len(l.Attachments) == 0 {
		l.Attachments = nil
	}
	return l
}

// NormalOutbound returns o as PendingOutbound gives it back: its time
// normalised by [NormalTime] and an empty attachment list as nil.
func NormalOutbound(o Outbound) Outbound {
	o.Created = NormalTime(o.Created)
	if len(o.Attachments) == 0 {
		o.Attachments = nil
	}
	return o
}

// attachmentJSON is the stored form of an attachment, decoupled from the Go
// field names.
type attachmentJSON struct {
	URL      string `json:"url"`
	Name     string `json:"name,omitempty"`
	MIMEType string `json:"mime,omitempty"`
	Size     int64  `json:"size,omitempty"`
}

// encAttachments returns the JSON array of as, or nil (NULL) for none.
func encAttachments(as []protocols.Attachment) (any, error) {
	if len(as) == 0 {
		return nil, nil
	}
	js := make([]attachmentJSON, len(as))
	for i, a := range as {
		js[i] = attachmentJSON{URL: a.URL, Name: a.Name, MIMEType: a.MIMEType, Size: a.Size}
	}
	b, err := json.Marshal(js)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func decAttachments(s sql.NullString) ([]protocols.Attachment, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var js []attachmentJSON
	if err := json.Unmarshal([]byte(s.String), &js); err != nil {
		return nil, err
	}
	if len(js) == 0 {
		return nil, nil
	}
	as := make([]protocols.Attachment, len(js))
	for i, a := range js {
		as[i] = protocols.Attachment{URL: a.URL, Name: a.Name, MIMEType: a.MIMEType, Size: a.Size}
	}
	return as, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// encodedBatch is a Batch checked and turned into statement arguments. Submit
// builds it on the caller's goroutine, so the writer only executes.
type encodedBatch struct {
	chats    [][]any // upsertChat arguments
	purge    []int64 // ended chats without transcript: delete their lines
	lines    [][]any // upsertLine arguments
	outbound [][]any // upsertOutbound arguments
	done     []string
	maxChat  int64
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("store: %s: %w", fmt.Sprintf(format, args...), ErrInvalidBatch)
}

func chatKey(id routing.ChatID) (int64, error) {
	if id == 0 || id > math.MaxInt64 {
		return 0, invalid("chat id %d out of range", id)
	}
	return int64(id), nil
}

// encodeBatch checks b and returns its statement arguments. Errors never
// quote message text or patron ids.
func encodeBatch(b *Batch) (*encodedBatch, error) {
	e := &encodedBatch{
		chats:    make([][]any, 0, len(b.Chats)),
		lines:    make([][]any, 0, len(b.Lines)),
		outbound: make([][]any, 0, len(b.Outbound)),
		done:     make([]string, 0, len(b.Done)),
	}
	for i := range b.Chats {
		r := &b.Chats[i]
		id, err := chatKey(r.ID)
		if err != nil {
			return nil, err
		}
		if r.Status < routing.ChatWaiting || r.Status > routing.ChatEnded {
			return nil, invalid("chat %d: invalid status %d", id, r.Status)
		}
		if !storableTime(r.Started) || !storableTime(r.FirstAnswer) || !storableTime(r.Ended) || !storableTime(r.LastActivity) {
			return nil, invalid("chat %d: time outside the years 1678-2262", id)
		}
		if r.Transfers < 0 || r.Lines < 0 {
			return nil, invalid("chat %d: negative count", id)
		}
		e.chats = append(e.chats, []any{
			id, int64(r.Status), string(r.Origin), string(r.Queue), string(r.Library),
			string(r.Patron.Network), string(r.Patron.Account), string(r.Patron.User),
			string(r.Guest), string(r.Operator),
			encTime(r.Started), encTime(r.FirstAnswer), encTime(r.Ended), encTime(r.LastActivity),
			int64(r.Transfers), string(r.EndReason), boolInt(r.Transcript), boolInt(r.OfflineNotified),
			int64(r.Lines),
		})
		if r.Status == routing.ChatEnded && !r.Transcript {
			e.purge = append(e.purge, id)
		}
		e.maxChat = max(e.maxChat, id)
	}
	for i := range b.Lines {
		l := &b.Lines[i]
		id, err := chatKey(l.Chat)
		if err != nil {
			return nil, err
		}
		if l.Line.N < 0 {
			return nil, invalid("chat %d: negative line number", id)
		}
		if !storableTime(l.Line.At) {
			return nil, invalid("chat %d line %d: time outside the years 1678-2262", id, l.Line.N)
		}
		att, err := encAttachments(l.Line.Attachments)
		if err != nil {
			return nil, fmt.Errorf("store: chat %d line %d: attachments: %w", id, l.Line.N, err)
		}
		e.lines = append(e.lines, []any{
			id, int64(l.Line.N), encTime(l.Line.At), int64(l.Line.From), string(l.Line.Operator), l.Line.Text, att,
		})
	}
	for i := range b.Outbound {
		o := &b.Outbound[i]
		if o.ID == "" {
			return nil, invalid("outbound message without an id")
		}
		if o.Chat > math.MaxInt64 {
			return nil, invalid("outbound message: chat id %d out of range", o.Chat)
		}
		if !storableTime(o.Created) {
			return nil, invalid("outbound message: time outside the years 1678-2262")
		}
		att, err := encAttachments(o.Attachments)
		if err != nil {
			return nil, fmt.Errorf("store: outbound message: attachments: %w", err)
		}
		e.outbound = append(e.outbound, []any{
			string(o.ID), int64(o.Chat), string(o.To.Network), string(o.To.Account), string(o.To.User),
			o.Text, att, encTime(o.Created),
		})
	}
	for _, id := range b.Done {
		if id != "" {
			e.done = append(e.done, string(id))
		}
	}
	return e, nil
}
