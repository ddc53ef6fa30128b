//go:build goolm

package matrix

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// Network is the network name of Matrix accounts.
const Network protocols.Network = "matrix"

// MaxTextLength is the longest text of one message Send sends; longer texts
// are split. Matrix allows events of 64 KiB, which encryption inflates by a
// third; 16 KiB leaves room for both.
const MaxTextLength = 16 * 1024

// Adapter is one Matrix account of the library: the user patrons invite to
// direct rooms.
type Adapter struct {
	id      protocols.AccountID
	network protocols.Network
	s       *settings
	log     *slog.Logger
	dataDir string

	rooms *roomBook  // patrons and their rooms, kept in dataDir
	media *mediaBook // links to patrons' files, kept in dataDir
	sent  *sentBook  // events owlgate sent, for read receipts

	delivered eventSet // delivered from batches not yet marked done

	cur     atomic.Pointer[session]
	running atomic.Bool
	backoff protocols.Backoff
}

var (
	_ protocols.Adapter     = (*Adapter)(nil)
	_ protocols.HTTPMounter = (*Adapter)(nil)
)

// New is the Matrix network's [protocols.Factory]: it decodes and checks the
// account's keys (see [Config]) and does no I/O.
func New(spec protocols.AccountSpec) (protocols.Adapter, error) {
	return newAdapter(spec)
}

func newAdapter(spec protocols.AccountSpec) (*Adapter, error) {
	var c Config
	if err := spec.DecodeInto(&c); err != nil {
		return nil, err
	}
	s, err := c.validate()
	if err != nil {
		return nil, err
	}
	log, network := spec.Logger(), spec.NetworkOr(Network)
	return &Adapter{
		id:      spec.ID,
		network: network,
		s:       s,
		log:     log,
		dataDir: spec.DataDir,
		rooms:   newRoomBook(spec.DataDir),
		media:   newMediaBook(spec.DataDir),
		sent:    newSentBook(),
	}, nil
}

// Capabilities: Matrix has typing notifications, read receipts (reported as
// receipts) and membership (leaving is reported). Files patrons send become
// links; owlgate sends links, not uploads, and plain text.
func (a *Adapter) Capabilities() protocols.Capabilities {
	return protocols.Capabilities{
		Typing:        true,
		Receipts:      true,
		Presence:      true,
		MaxTextLength: MaxTextLength,
	}
}

func (a *Adapter) addr(user string) protocols.Address {
	return protocols.Address{Network: a.network, Account: a.id, User: protocols.UserID(user)}
}

// Run logs in and syncs until ctx ends; see [protocols.Adapter].
func (a *Adapter) Run(ctx context.Context, sink protocols.Sink) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("matrix: Run called while the account already runs")
	}
	defer a.running.Store(false)
	if a.dataDir == "" {
		return errors.New("matrix: the account has no data folder")
	}
	bo := a.backoff
	for {
		sink.ReportState(protocols.StateReport{State: protocols.AccountConnecting})
		up, err := a.attempt(ctx, sink)
		if ctx.Err() != nil {
			a.log.Info("matrix: stopped")
			sink.ReportState(protocols.StateReport{State: protocols.AccountStopped})
			return nil
		}
		if errors.Is(err, protocols.ErrBadCredentials) {
			a.log.Error("matrix: the homeserver refused the account's credentials; not retrying", "err", err)
			sink.ReportState(protocols.StateReport{State: protocols.AccountBadCredentials, Err: err})
			return err
		}
		if err == nil {
			err = errors.New("matrix: sync ended")
		}
		d := bo.Next(up)
		a.log.Warn("matrix: disconnected; retrying", "err", err, "in", d.Round(time.Millisecond))
		sink.ReportState(protocols.StateReport{State: protocols.AccountBackoff, Err: err, Retry: time.Now().Add(d)})
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			sink.ReportState(protocols.StateReport{State: protocols.AccountStopped})
			return nil
		}
	}
}

// attempt logs in, syncs until the sync fails or ctx ends, and returns how
// long the account was online.
func (a *Adapter) attempt(ctx context.Context, sink protocols.Sink) (time.Duration, error) {
	s, err := a.connect(ctx, sink)
	if err != nil {
		return 0, err
	}
	defer s.close()
	err = s.syncLoop(ctx, func() {
		a.cur.Store(s)
		sink.ReportState(protocols.StateReport{State: protocols.AccountOnline})
		a.log.Info("matrix: online", "device", string(s.cli.DeviceID))
	})
	a.cur.CompareAndSwap(s, nil)
	var up time.Duration
	if !s.onlineAt.IsZero() {
		up = time.Since(s.onlineAt)
	}
	return up, err
}

// Send delivers one outbound event; see [protocols.Adapter].
func (a *Adapter) Send(ctx context.Context, out protocols.Outbound) error {
	s := a.cur.Load()
	if s == nil {
		return fmt.Errorf("matrix %s: %w", a.id, protocols.ErrNotConnected)
	}
	switch o := out.(type) {
	case protocols.OutMessage:
		return s.sendText(ctx, o.To.User, o.ID, o.Text)
	case protocols.OutAttachment:
		text := o.Attachment.URL
		if o.Caption != "" {
			text = o.Caption + "\n" + text
		}
		return s.sendText(ctx, o.To.User, o.ID, text)
	case protocols.OutState:
		return s.sendState(ctx, o.To.User, o.State)
	default:
		return fmt.Errorf("matrix %s: %T: %w", a.id, out, protocols.ErrUnsupported)
	}
}
