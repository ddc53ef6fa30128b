package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// Built is what [FromConfig] makes of a config: the engine's view of it,
// one adapter per account, and what each queue redacts.
type Built struct {
	Routing  routing.Config
	Accounts []Account
	Redact   map[routing.QueueID]Redaction // queues that redact, for Options.Redact
}

// FromConfig builds the routing config and every account's adapter with the
// factories of the networks this build has. Adapters only decode and check
// their keys here; nothing connects. Every problem is returned at once, as
// config errors naming the file, line and key. Each account keeps its state
// in data_dir/accounts/<id>, which [Gateway.Run] makes.
func FromConfig(cfg *config.Config, networks map[string]protocols.Factory, log *slog.Logger) (*Built, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Built{Routing: routing.Config{DefaultIdleTimeout: config.DefaultIdleTimeout}}
	for _, l := range cfg.Libraries {
		lib := routing.Library{ID: routing.LibraryID(l.ID), Name: l.Name}
		for _, c := range l.Collaborations {
			lib.Collaborations = append(lib.Collaborations, routing.CollaborationID(c))
		}
		b.Routing.Libraries = append(b.Routing.Libraries, lib)
	}
	for _, o := range cfg.Operators {
		b.Routing.Operators = append(b.Routing.Operators, routing.Operator{
			ID: routing.OperatorID(o.JID), Name: o.Name, Library: routing.LibraryID(o.Library),
		})
	}
	var errs []error
	for qi := range cfg.Queues {
		q := &cfg.Queues[qi]
		rq := routing.Queue{
			ID:             routing.QueueID(q.ID),
			Name:           q.Name,
			Library:        routing.LibraryID(q.Library),
			Transcripts:    q.Transcripts,
			FallbackAfter:  time.Duration(q.FallbackAfter),
			OfflineMessage: q.OfflineMessage,
			ShowPhone:      q.ShowPhone,
		}
		for _, o := range q.Operators {
			rq.Operators = append(rq.Operators, routing.OperatorID(o))
		}
		for _, f := range q.Fallback {
			rq.Fallback = append(rq.Fallback, routing.QueueID(f))
		}
		if r, err := ParseRedaction(q.Redact); err != nil {
			errs = append(errs, err) // config.Load checked the names
		} else if r != 0 {
			if b.Redact == nil {
				b.Redact = make(map[routing.QueueID]Redaction)
			}
			b.Redact[rq.ID] = r
		}
		for ai := range q.Accounts {
			a := &q.Accounts[ai]
			adapter, err := buildAdapter(cfg, a, networks, log)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rq.Accounts = append(rq.Accounts, routing.Account{
				ID:          protocols.AccountID(a.ID),
				Network:     protocols.Network(a.Network),
				IdleTimeout: q.IdleTimeoutFor(a, adapter.Capabilities().IdleTimeout),
			})
			b.Accounts = append(b.Accounts, Account{
				ID:           protocols.AccountID(a.ID),
				Network:      protocols.Network(a.Network),
				Queue:        routing.QueueID(q.ID),
				Adapter:      adapter,
				DataDir:      accountDir(cfg, a),
				OfflineGrace: time.Duration(q.OfflineGrace),
			})
		}
		b.Routing.Queues = append(b.Routing.Queues, rq)
	}
	if len(errs) > 0 {
		return nil, joinConfigErrors(errs)
	}
	return b, nil
}

func buildAdapter(cfg *config.Config, a *config.Account, networks map[string]protocols.Factory, log *slog.Logger) (protocols.Adapter, error) {
	factory, ok := networks[a.Network]
	if !ok {
		have := slices.Sorted(maps.Keys(networks))
		fix := "this build has no network adapters yet"
		if len(have) > 0 {
			fix = "write one of: " + strings.Join(have, ", ")
		}
		return nil, a.KeyError("network", fmt.Sprintf("network %q is not available in this build", a.Network), fix)
	}
	adapter, err := factory(protocols.AccountSpec{
		ID:      protocols.AccountID(a.ID),
		Network: protocols.Network(a.Network),
		Decode:  a.Decode,
		DataDir: accountDir(cfg, a),
		Log:     log.With("network", a.Network, "account", a.ID),
	})
	if err != nil {
		return nil, a.WrapError(err)
	}
	return adapter, nil
}

// joinConfigErrors flattens the accounts' errors into one config.Errors
// when they all are config errors, so they print one per line.
func joinConfigErrors(errs []error) error {
	var all config.Errors
	for _, err := range errs {
		ce := config.AsErrors(err)
		if ce == nil {
			return errors.Join(errs...)
		}
		all = append(all, ce...)
	}
	return all
}

func accountDir(cfg *config.Config, a *config.Account) string {
	return filepath.Join(cfg.DataDir, "accounts", a.ID)
}
