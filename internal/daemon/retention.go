package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// RetentionInterval is how often owlgate deletes the transcripts that
// their queue's transcript_days has expired (also once at start).
const RetentionInterval = time.Hour

// retention deletes expired transcripts at start and every
// RetentionInterval until ctx ends. A failed pass is logged and tried
// again at the next; it never stops owlgate.
func retention(ctx context.Context, cfg *config.Config, h *store.History, log *slog.Logger) error {
	if len(expiring(cfg)) == 0 {
		return nil
	}
	t := time.NewTicker(RetentionInterval)
	defer t.Stop()
	for {
		expireTranscripts(ctx, cfg, h, log, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// expiring returns the queues whose transcripts expire.
func expiring(cfg *config.Config) []config.Queue {
	var qs []config.Queue
	for _, q := range cfg.Queues {
		if q.Transcripts && q.TranscriptDays > 0 {
			qs = append(qs, q)
		}
	}
	return qs
}

// expireTranscripts deletes, for each queue with transcript_days, the
// transcripts of its chats that ended more than that many days before now.
// The chats' records stay.
func expireTranscripts(ctx context.Context, cfg *config.Config, h *store.History, log *slog.Logger, now time.Time) {
	for _, q := range expiring(cfg) {
		n, err := h.PurgeTranscripts(ctx, routing.QueueID(q.ID), now.AddDate(0, 0, -q.TranscriptDays))
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Error("expired transcripts not deleted; trying again later", "queue", q.ID, "err", err)
		case n > 0:
			log.Info("expired transcripts deleted", "queue", q.ID, "transcripts", n, "days", q.TranscriptDays)
		}
	}
}
