package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

const holdColumns = `workload, until, reason, created_by, created_at, revocation_seq`

// pgQuerier is what both the pool and a transaction offer to read.
type pgQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func scanHold(row pgx.Row) (*aicred.WorkloadHold, error) {
	var h aicred.WorkloadHold
	if err := row.Scan(&h.Workload, &h.Until, &h.Reason, &h.CreatedBy, &h.CreatedAt, &h.RevocationSeq); err != nil {
		return nil, err
	}
	h.Until, h.CreatedAt = aicred.StoreTime(h.Until), aicred.StoreTime(h.CreatedAt)
	return &h, nil
}

// activeHold returns the hold on workload that is active at now.
// Errors: ErrNotFound.
func activeHold(ctx context.Context, q pgQuerier, workload string, now time.Time) (*aicred.WorkloadHold, error) {
	h, err := scanHold(q.QueryRow(ctx, `SELECT `+holdColumns+` FROM workload_holds WHERE workload = $1 AND until > $2`, workload, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, aicred.Errorf(aicred.ErrNotFound, "no active hold on that workload")
	}
	return h, err
}

// putHold stores h (prepared) inside a write transaction, keeping the
// later end of an active hold, updates h to what was stored and appends
// workload.held.
func putHold(ctx context.Context, tx pgx.Tx, c *audit.Chain, h *aicred.WorkloadHold) error {
	h.CreatedBy, h.CreatedAt = c.Actor, c.Now
	if _, err := tx.Exec(ctx, `INSERT INTO workload_holds (`+holdColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (workload) DO UPDATE SET until = greatest(workload_holds.until, excluded.until), reason = excluded.reason,
			created_by = excluded.created_by, created_at = excluded.created_at, revocation_seq = excluded.revocation_seq`,
		h.Workload, h.Until, h.Reason, h.CreatedBy, h.CreatedAt, h.RevocationSeq); err != nil {
		return err
	}
	stored, err := activeHold(ctx, tx, h.Workload, c.Now)
	if err != nil {
		return err
	}
	*h = *stored
	c.Append(audit.WorkloadHeld(h))
	return nil
}

// checkNotHeld refuses a workload grant for a held workload. It runs in
// IssueGrant's write transaction, after the audit head lock that a
// revocation's transaction also takes first: a grant is either issued
// before the revocation (which then revokes it) or refused.
func checkNotHeld(ctx context.Context, tx pgx.Tx, g *aicred.Grant, now time.Time) error {
	if g.Class != aicred.TokenWorkload {
		return nil
	}
	if _, err := activeHold(ctx, tx, g.Issuer+" "+g.Subject, now); err != nil {
		if aicred.KindOf(err) == aicred.ErrNotFound {
			return nil
		}
		return err
	}
	return aicred.Errorf(aicred.ErrUnauthorized, "grant %s: the workload is held from new tokens", g.ID)
}

// HoldWorkload implements aicred.WorkloadHoldService.
func (s *Store) HoldWorkload(ctx context.Context, h *aicred.WorkloadHold) error {
	if err := h.Prepare(time.Now()); err != nil {
		return err
	}
	var done aicred.WorkloadHold
	err := s.write(ctx, "hold workload", func(tx pgx.Tx, c *audit.Chain) error {
		done = *h
		done.RevocationSeq = 0
		return putHold(ctx, tx, c, &done)
	})
	if err != nil {
		return err
	}
	*h = done
	return nil
}

// LiftWorkloadHold implements aicred.WorkloadHoldService.
func (s *Store) LiftWorkloadHold(ctx context.Context, workload, reason string) error {
	workload = aicred.StorableText(workload)
	if err := aicred.CheckWorkload(workload); err != nil {
		return err
	}
	reason, err := aicred.LiftReason(reason)
	if err != nil {
		return err
	}
	return s.write(ctx, "lift workload hold", func(tx pgx.Tx, c *audit.Chain) error {
		h, err := activeHold(ctx, tx, workload, c.Now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM workload_holds WHERE workload = $1`, workload); err != nil {
			return err
		}
		c.Append(audit.WorkloadHoldLifted(h, reason))
		return nil
	})
}

// WorkloadHold implements aicred.WorkloadHoldService.
func (s *Store) WorkloadHold(ctx context.Context, workload string) (*aicred.WorkloadHold, error) {
	ctx, cancel := boundOp(ctx) // on a request's path
	defer cancel()
	h, err := activeHold(ctx, s.pool, aicred.StorableText(workload), time.Now())
	if err != nil {
		return nil, classify(err, "workload hold")
	}
	return h, nil
}

// ListWorkloadHolds implements aicred.WorkloadHoldService.
func (s *Store) ListWorkloadHolds(ctx context.Context) ([]aicred.WorkloadHold, error) {
	var out []aicred.WorkloadHold
	err := s.read(ctx, "list workload holds", func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, `SELECT `+holdColumns+` FROM workload_holds WHERE until > $1 ORDER BY workload`, time.Now())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			h, err := scanHold(rows)
			if err != nil {
				return err
			}
			out = append(out, *h)
		}
		return rows.Err()
	})
	return out, err
}

// replayPruneEvery is how often RememberReplay drops expired keys.
const replayPruneEvery = time.Minute

// RememberReplay implements aicred.ReplayService: one upsert that takes
// an absent or expired key and leaves a live one alone. Concurrent calls
// with one key wait on its row, and the loser re-reads it live, so
// exactly one caller across every process on the database sees it fresh.
// It takes no lock on the audit chain.
func (s *Store) RememberReplay(ctx context.Context, keyHash string, until time.Time) (bool, error) {
	now := time.Now()
	if err := aicred.CheckReplayKey(keyHash, until, now); err != nil {
		return false, err
	}
	// On the exchange's path, with the request's context, which has no
	// deadline: bounded, so that a silent database does not hold a
	// pooled connection until the client gives up.
	ctx, cancel := boundOp(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `INSERT INTO replay_keys (key_hash, until) VALUES ($1, $2)
		ON CONFLICT (key_hash) DO UPDATE SET until = excluded.until WHERE replay_keys.until <= $3`,
		keyHash, aicred.StoreTime(until), aicred.StoreTime(now))
	if err != nil {
		return false, classify(err, "remember replay key")
	}
	if last := s.replayPruned.Load(); now.UnixNano()-last >= int64(replayPruneEvery) && s.replayPruned.CompareAndSwap(last, now.UnixNano()) {
		if _, err := s.pool.Exec(ctx, `DELETE FROM replay_keys WHERE until <= $1`, aicred.StoreTime(now)); err != nil {
			// The key is remembered; a failed sweep is retried next time.
			s.replayPruned.Store(last)
		}
	}
	return tag.RowsAffected() == 1, nil
}
