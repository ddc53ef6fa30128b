package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/httpapi"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

const historyUsage = `usage:
  owlgate history export (--config FILE | --data-dir DIR) [--since DATE] [--until DATE]
                         [--queue Q] [--library L] [--network N] [--operator JID] [--answered true|false]
                         [--format csv|json]
  owlgate history purge  (--config FILE | --data-dir DIR) --before DATE [--transcripts-only]

export writes the chats that started in [--since, --until] to standard output, as
GET /api/chats.csv (or /api/chats) does. purge deletes the chats that ended before
--before: their records and transcripts, or with --transcripts-only their
transcripts alone. A DATE is 2026-12-01 (midnight, local time) or an RFC 3339
time, 2026-12-01T09:00:00Z; --until 2026-12-31 takes in the whole day.
Both work on the database in data_dir while owlgate runs or not.
`

// cmdHistory runs `owlgate history export|purge`.
func cmdHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, historyUsage)
		return errUsage
	}
	switch args[0] {
	case "export":
		return historyExport(ctx, args[1:], stdout, stderr)
	case "purge":
		return historyPurge(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, historyUsage)
		return nil
	}
	fmt.Fprintf(stderr, "owlgate history: unknown command %q\n\n%s", args[0], historyUsage)
	return errUsage
}

// historyFlags are the flags both history commands take: where the
// database is.
type historyFlags struct {
	fs      *flag.FlagSet
	config  string
	dataDir string
}

func newHistoryFlags(name string, stderr io.Writer) *historyFlags {
	h := &historyFlags{fs: flag.NewFlagSet("owlgate history "+name, flag.ContinueOnError)}
	h.fs.SetOutput(stderr)
	h.fs.Usage = func() { fmt.Fprint(stderr, historyUsage) }
	h.fs.StringVar(&h.config, "config", "", "the configuration `file`: the database is in its data_dir")
	h.fs.StringVar(&h.config, "c", "", "short for --config")
	h.fs.StringVar(&h.dataDir, "data-dir", "", "the data `folder` (data_dir), instead of --config")
	return h
}

// parse parses args and opens the history of the database.
func (h *historyFlags) parse(ctx context.Context, args []string, stderr io.Writer) (*store.History, error) {
	if err := h.fs.Parse(args); err != nil {
		return nil, errUsage
	}
	if h.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", h.fs.Name(), h.fs.Arg(0))
		return nil, errUsage
	}
	dir := h.dataDir
	switch {
	case h.config != "" && h.dataDir != "":
		fmt.Fprintf(stderr, "%s: give --config or --data-dir, not both\n", h.fs.Name())
		return nil, errUsage
	case h.config != "":
		cfg, err := config.Load(h.config)
		if err != nil {
			return nil, configError(err)
		}
		dir = cfg.DataDir
	case dir == "":
		fmt.Fprintf(stderr, "%s: --config FILE or --data-dir DIR is required\n", h.fs.Name())
		return nil, errUsage
	}
	return store.OpenHistory(ctx, filepath.Join(dir, "owlgate.db"))
}

// timeFlag is a DATE flag.
type timeFlag struct {
	t   time.Time
	end bool // a date alone means the midnight after it
}

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	t, err := httpapi.ParseTime(s, time.Local, f.end)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "httpapi: "))
	}
	f.t = t
	return nil
}

// boolFlag is an optional true/false flag.
type boolFlag struct{ v *bool }

func (f *boolFlag) String() string {
	if f.v == nil {
		return ""
	}
	return strconv.FormatBool(*f.v)
}

func (f *boolFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q: write true or false", s)
	}
	f.v = &b
	return nil
}

func historyExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	h := newHistoryFlags("export", stderr)
	var (
		since, until                      = timeFlag{}, timeFlag{end: true}
		answered                          boolFlag
		queue, library, network, operator string
		format                            string
	)
	h.fs.Var(&since, "since", "chats that started at or after this `DATE`")
	h.fs.Var(&until, "until", "chats that started before this `DATE` (a date alone: the end of that day)")
	h.fs.StringVar(&queue, "queue", "", "chats that came in on the `queue` or ended with it")
	h.fs.StringVar(&library, "library", "", "chats of the `library`")
	h.fs.StringVar(&network, "network", "", "chats on the `network`")
	h.fs.StringVar(&operator, "operator", "", "chats last held by the operator (`JID`)")
	h.fs.Var(&answered, "answered", "`true`: answered chats; false: unanswered")
	h.fs.StringVar(&format, "format", httpapi.FormatCSV, "csv or json")
	hist, err := h.parse(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer hist.Close()
	if format != httpapi.FormatCSV && format != httpapi.FormatJSON {
		fmt.Fprintf(stderr, "owlgate history export: --format %q: write csv or json\n", format)
		return errUsage
	}
	f := store.Filter{
		Since: since.t, Until: until.t,
		Queue: routing.QueueID(queue), Library: routing.LibraryID(library), Network: protocols.Network(network),
		Operator: routing.OperatorID(strings.ToLower(operator)), Answered: answered.v,
	}
	return httpapi.ExportChats(ctx, stdout, hist, f, format, time.Now())
}

func historyPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	h := newHistoryFlags("purge", stderr)
	var before timeFlag
	var transcriptsOnly bool
	h.fs.Var(&before, "before", "delete what ended before this `DATE`")
	h.fs.BoolVar(&transcriptsOnly, "transcripts-only", false, "delete the transcripts, keep the chats' records (statistics)")
	hist, err := h.parse(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer hist.Close()
	if before.t.IsZero() {
		fmt.Fprintln(stderr, "owlgate history purge: --before DATE is required, e.g. --before 2026-01-01")
		return errUsage
	}
	if transcriptsOnly {
		n, err := hist.PurgeTranscripts(ctx, "", before.t)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted the transcripts of %d chats that ended before %s\n", n, before.t.Format(time.RFC3339))
		return nil
	}
	n, err := hist.PurgeChats(ctx, before.t)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %d chats that ended before %s\n", n, before.t.Format(time.RFC3339))
	return nil
}
