package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/gateway"
)

// cmdCheck loads a config, builds (but does not start) every account's
// adapter, and prints a summary, or every error.
func cmdCheck(args []string, stdout, stderr io.Writer) error {
	path, err := configFlag("check", args, stderr)
	if err != nil {
		return err
	}
	cfg, err := load(path)
	if err != nil {
		return err
	}
	summarize(stdout, cfg)
	return nil
}

// load loads a config and builds its adapters, so that the networks' own
// keys are checked too. Config errors are printed one per line.
func load(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, configError(err)
	}
	if _, err := gateway.FromConfig(cfg, networks(), nil); err != nil {
		return nil, configError(err)
	}
	return cfg, nil
}

// configError formats config errors one per line under a count.
func configError(err error) error {
	errs := config.AsErrors(err)
	if len(errs) == 0 {
		return err
	}
	var b strings.Builder
	if len(errs) == 1 {
		b.WriteString("1 error in the config:")
	} else {
		fmt.Fprintf(&b, "%d errors in the config:", len(errs))
	}
	for _, e := range errs {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return fmt.Errorf("%s", b.String())
}

// apiSummary says who may use the history API.
func apiSummary(h config.HTTP) string {
	var libs []string
	for _, lt := range h.LibraryTokens {
		if !slices.Contains(libs, lt.Library) {
			libs = append(libs, lt.Library)
		}
	}
	var who []string
	if h.AdminToken.IsSet() {
		who = append(who, "the admin token")
	}
	if len(libs) > 0 {
		who = append(who, "library tokens of "+strings.Join(libs, ", "))
	}
	if len(who) == 0 {
		return "/api off (no token)"
	}
	return "/api for " + strings.Join(who, " and ")
}

// summarize prints what a config sets up, for an administrator to read.
func summarize(w io.Writer, cfg *config.Config) {
	fmt.Fprintf(w, "%s: OK\n", cfg.File())
	switch cfg.XMPP.Mode {
	case config.ModeComponent:
		fmt.Fprintf(w, "xmpp: component %s, connecting to %s\n", cfg.XMPP.Domain, cfg.XMPP.Connect)
	default:
		fmt.Fprintf(w, "xmpp: embedded server for %s on %s\n", cfg.XMPP.Domain, cfg.XMPP.Listen)
	}
	fmt.Fprintf(w, "http: %s; %s\n", cfg.HTTP.Listen, apiSummary(cfg.HTTP))
	fmt.Fprintf(w, "data: %s\n", cfg.DataDir)

	fmt.Fprintf(w, "libraries (%d):\n", len(cfg.Libraries))
	for _, l := range cfg.Libraries {
		fmt.Fprintf(w, "  %s  %s", l.ID, l.Name)
		if len(l.Collaborations) > 0 {
			fmt.Fprintf(w, "  (collaborations: %s)", strings.Join(l.Collaborations, ", "))
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "operators (%d):\n", len(cfg.Operators))
	for _, o := range cfg.Operators {
		fmt.Fprintf(w, "  %s  %s, %s\n", o.JID, o.Name, o.Library)
	}

	fmt.Fprintf(w, "queues (%d):\n", len(cfg.Queues))
	perNetwork := map[string][]string{}
	for _, q := range cfg.Queues {
		fmt.Fprintf(w, "  %s  %s, %s: %d operators", q.ID, q.Name, q.Library, len(q.Operators))
		if len(q.Fallback) > 0 {
			fmt.Fprintf(w, "; falls back to %s", strings.Join(q.Fallback, ", "))
			if q.FallbackAfter > 0 {
				fmt.Fprintf(w, " (also after %s unanswered)", q.FallbackAfter)
			}
		}
		if q.Transcripts {
			fmt.Fprint(w, "; keeps transcripts")
			if q.TranscriptDays > 0 {
				fmt.Fprintf(w, " for %d days", q.TranscriptDays)
			}
		}
		fmt.Fprintln(w)
		for i := range q.Accounts {
			a := &q.Accounts[i]
			perNetwork[a.Network] = append(perNetwork[a.Network],
				fmt.Sprintf("%s (idle %s)", a.ID, q.IdleTimeoutFor(a, 0).Round(time.Second)))
		}
	}

	n := 0
	for _, as := range perNetwork {
		n += len(as)
	}
	fmt.Fprintf(w, "accounts (%d):\n", n)
	for _, network := range slices.Sorted(maps.Keys(perNetwork)) {
		fmt.Fprintf(w, "  %s: %s\n", network, strings.Join(perNetwork[network], ", "))
	}
}
