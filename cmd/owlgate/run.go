package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/gateway"
	"github.com/owlgate/owlgate/store"
)

// cmdRun runs the gateway until ctx ends (SIGINT or SIGTERM).
func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	path, err := configFlag("run", args, stderr)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return configError(err)
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	built, err := gateway.FromConfig(cfg, networks(), log)
	if err != nil {
		return configError(err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, "owlgate.db")
	st, err := store.OpenSQLite(ctx, dbPath)
	if err != nil {
		return err
	}
	log.Info("owlgate starting", "version", versionString(), "config", cfg.File(), "store", dbPath,
		"queues", len(cfg.Queues), "accounts", len(built.Accounts))
	link, err := newLink(cfg, built.Routing, st, log)
	if err != nil {
		st.Close()
		return err
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
		return err
	}
	runErr := gw.Run(ctx)
	if err := st.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("closing the store: %w", err)
	}
	if runErr == nil {
		log.Info("owlgate stopped")
	}
	return runErr
}

// newLogger makes the process's logger from the config's log section.
func newLogger(c config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log.level %q: %w", c.Level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
