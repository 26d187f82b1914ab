package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
	"github.com/aicred/aicred/seal"
)

// pruner is a store that deletes what its retention settings no longer
// keep (sqlite.Store and postgres.Store).
type pruner interface {
	Prune(ctx context.Context, grantsBefore, usageBefore, budgetsBefore time.Time) (grants, usage, budgets int64, err error)
}

// startHousekeeping starts, until ctx ends, the audit checkpointer (a
// signed chain head every audit.checkpoint_every records or
// audit.checkpoint_interval) and the pruner (every retention.interval).
// Every server sharing a store runs both: a checkpoint of a head already
// signed is kept once, and pruning twice deletes nothing more.
func startHousekeeping(ctx context.Context, log *slog.Logger, cfg *serverConfig, st aicred.Store, ring *seal.Keyring) {
	if cs, ok := st.(audit.CheckpointStore); ok {
		cp := &audit.Checkpointer{Store: cs, Signer: ring, Every: cfg.Audit.CheckpointEvery,
			Interval: cfg.Audit.CheckpointInterval, Log: log}
		go cp.Run(ctx)
	}
	if p, ok := st.(pruner); ok {
		go prune(ctx, log, p, cfg.Retention)
	}
}

// prune runs p every r.Interval, the first time a minute after start.
func prune(ctx context.Context, log *slog.Logger, p pruner, r retentionConfig) {
	wait := min(time.Minute, r.Interval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = r.Interval
		now := time.Now()
		var usageBefore time.Time
		if r.Usage > 0 {
			usageBefore = now.Add(-r.Usage)
		}
		pctx, cancel := context.WithTimeout(aicred.WithActor(ctx, "server"), time.Minute)
		g, u, b, err := p.Prune(pctx, now.Add(-r.ExpiredGrants), usageBefore, now.Add(-r.Budgets))
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("prune: the store did not answer; retrying at the next interval", "err", err)
			}
			continue
		}
		if g+u+b > 0 {
			log.Info("pruned", "expired_grants", g, "usage_records", u, "budgets", b)
		}
	}
}
