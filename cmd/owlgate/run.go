package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/internal/daemon"
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
	d, err := daemon.New(ctx, daemon.Options{Config: cfg, Networks: networks(), Log: log, Version: versionString()})
	if err != nil {
		return configError(err)
	}
	return d.Run(ctx)
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
