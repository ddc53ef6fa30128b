package httpapi

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// The export formats of the chat history: the API's /api/chats (JSON),
// /api/chats.csv, and `owlgate history export`, byte for byte the same.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
)

// Chat is one chat as the history exports it: its statistics, never what
// was written nor who the patron is on their network (only the guest id).
type Chat struct {
	ID              routing.ChatID `json:"id"`
	Status          string         `json:"status"` // waiting, held or ended
	Start           time.Time      `json:"start"`
	FirstAnswer     *time.Time     `json:"first_answer,omitempty"`
	End             *time.Time     `json:"end,omitempty"`
	Queue           string         `json:"queue"`  // the queue the chat was with last (after fallback or transfer)
	Origin          string         `json:"origin"` // the queue the patron wrote to
	Library         string         `json:"library"`
	Network         string         `json:"network"`
	Account         string         `json:"account"`
	Guest           string         `json:"guest"`
	Operator        string         `json:"operator,omitempty"`         // the last operator who held it
	WaitSeconds     int64          `json:"wait_seconds"`               // until the first answer; for an unanswered chat, until its end (or now)
	DurationSeconds *int64         `json:"duration_seconds,omitempty"` // from start to end, for an ended chat
	Answered        bool           `json:"answered"`
	Transfers       int            `json:"transfers"`
	EndReason       string         `json:"end_reason,omitempty"`
	Transcript      bool           `json:"transcript"` // a transcript is stored
}

// ChatOf turns a record into its exported form; now is for the wait of an
// open chat nobody answered yet.
func ChatOf(r routing.ChatRecord, now time.Time) Chat {
	c := Chat{
		ID:          r.ID,
		Status:      r.Status.String(),
		Start:       r.Started.UTC(),
		Queue:       string(r.Queue),
		Origin:      string(r.Origin),
		Library:     string(r.Library),
		Network:     string(r.Patron.Network),
		Account:     string(r.Patron.Account),
		Guest:       string(r.Guest),
		Operator:    string(r.Operator),
		WaitSeconds: seconds(r.Wait(now)),
		Answered:    r.Answered(),
		Transfers:   r.Transfers,
		EndReason:   string(r.EndReason),
		Transcript:  r.Transcript,
	}
	if r.Answered() {
		t := r.FirstAnswer.UTC()
		c.FirstAnswer = &t
	}
	if !r.Ended.IsZero() {
		t := r.Ended.UTC()
		c.End = &t
		d := seconds(r.Ended.Sub(r.Started))
		c.DurationSeconds = &d
	}
	return c
}

func seconds(d time.Duration) int64 { return int64(math.Round(max(d, 0).Seconds())) }

// CSVHeader is the first row of the CSV export.
var CSVHeader = []string{"id", "start", "end", "queue", "origin", "library", "network", "account", "guest",
	"operator", "wait_seconds", "duration_seconds", "answered", "transfers", "end_reason", "status", "transcript"}

// csvRow is a chat as a CSV row, in CSVHeader's order. Times are RFC 3339
// in UTC; an open chat has an empty end and duration.
func (c *Chat) csvRow() []string {
	end, dur := "", ""
	if c.End != nil {
		end = c.End.Format(time.RFC3339)
	}
	if c.DurationSeconds != nil {
		dur = strconv.FormatInt(*c.DurationSeconds, 10)
	}
	return []string{
		strconv.FormatUint(uint64(c.ID), 10), c.Start.Format(time.RFC3339), end,
		c.Queue, c.Origin, c.Library, c.Network, c.Account, c.Guest, c.Operator,
		strconv.FormatInt(c.WaitSeconds, 10), dur, strconv.FormatBool(c.Answered),
		strconv.Itoa(c.Transfers), c.EndReason, c.Status, strconv.FormatBool(c.Transcript),
	}
}

// ExportChats writes every chat f selects to w, in the format (FormatJSON:
// {"chats": [...]}, FormatCSV: CSVHeader then one row per chat), as it
// reads them: an export of any size takes little memory. After an error
// what was written is incomplete.
func ExportChats(ctx context.Context, w io.Writer, h *store.History, f store.Filter, format string, now time.Time) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	var err error
	switch format {
	case FormatCSV:
		cw := csv.NewWriter(bw)
		if err = cw.Write(CSVHeader); err != nil {
			return err
		}
		err = h.Chats(ctx, f, func(r routing.ChatRecord) error {
			c := ChatOf(r, now)
			return cw.Write(c.csvRow())
		})
		if err == nil {
			cw.Flush()
			err = cw.Error()
		}
	case FormatJSON:
		bw.WriteString(`{"chats":[`)
		first := true
		err = h.Chats(ctx, f, func(r routing.ChatRecord) error {
			b, err := json.Marshal(ChatOf(r, now))
			if err != nil {
				return err
			}
			if !first {
				bw.WriteByte(',')
			}
			first = false
			bw.WriteString("\n")
			_, err = bw.Write(b)
			return err
		})
		bw.WriteString("\n]}\n")
	default:
		return fmt.Errorf("httpapi: export format %q: want csv or json", format)
	}
	if err != nil {
		return fmt.Errorf("httpapi: export: %w", err)
	}
	return bw.Flush()
}

// ParseTime reads a time of a history filter: RFC 3339
// (2026-12-01T09:00:00Z, 2026-12-01T09:00:00-05:00) or a date alone
// (2026-12-01), midnight at its start in loc. For the end of a range (end
// true) a date alone means the midnight after it, so that until=2026-12-31
// takes in the whole last day.
func ParseTime(s string, loc *time.Location, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date or time; write 2026-12-01 or 2026-12-01T09:00:00Z", s)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}
