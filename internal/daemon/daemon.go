// Package daemon assembles a running owlgate from a loaded config: the
// store, the network adapters, the operator link and the gateway. The CLI's
// `run` command uses it, and so do the end-to-end tests, which register a
// loopback network for their patrons.
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/gateway"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/store"
	"github.com/owlgate/owlgate/xmpp"
	"github.com/owlgate/owlgate/xmpp/server"
)

// Options is what a Daemon is built from.
type Options struct {
	Config   *config.Config
	Networks map[string]protocols.Factory // the adapters of this build, by network name
	Log      *slog.Logger
	Version  string
}

// Daemon is owlgate assembled and ready to run.
type Daemon struct {
	log       *slog.Logger
	store     *store.SQLite
	link      *xmpp.Service
	transport xmpp.Transport
	gw        *gateway.Gateway
}

// New builds every part and opens the store. Config mistakes, including
// the accounts' network keys, come back as config errors.
func New(ctx context.Context, opts Options) (*Daemon, error) {
	cfg, log := opts.Config, opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	built, err := gateway.FromConfig(cfg, opts.Networks, log)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, "owlgate.db")
	st, err := store.OpenSQLite(ctx, dbPath, store.WithLogger(log))
	if err != nil {
		return nil, err
	}
	link, transport, err := newLink(cfg, built.Routing, st, log, opts.Version)
	if err != nil {
		st.Close()
		return nil, err
	}
	gw, err := gateway.New(gateway.Options{
		Routing:  built.Routing,
		Accounts: built.Accounts,
		Store:    st,
		Link:     link,
		Log:      log,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	log.Info("owlgate starting", "version", opts.Version, "config", cfg.File(), "store", dbPath,
		"xmpp", cfg.XMPP.Mode, "domain", cfg.XMPP.Domain, "queues", len(cfg.Queues), "accounts", len(built.Accounts))
	return &Daemon{log: log, store: st, link: link, transport: transport, gw: gw}, nil
}

// Run runs owlgate until ctx ends, then closes the store. It returns nil
// after a clean shutdown.
func (d *Daemon) Run(ctx context.Context) error {
	runErr := d.gw.Run(ctx)
	if err := d.store.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("closing the store: %w", err)
	}
	if runErr == nil {
		d.log.Info("owlgate stopped")
	}
	return runErr
}

// XMPPAddr returns the address the embedded server listens on, once it
// does (nil in component mode).
func (d *Daemon) XMPPAddr(ctx context.Context) (net.Addr, error) {
	srv, ok := d.transport.(*server.Server)
	if !ok {
		return nil, nil
	}
	select {
	case <-srv.Ready():
		return srv.Addr(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Link is the operator link (the service over its transport).
func (d *Daemon) Link() *xmpp.Service { return d.link }
