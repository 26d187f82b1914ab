package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

const holdColumns = `workload, until, reason, created_by, created_at, revocation_seq`

func scanHold(row interface{ Scan(...any) error }) (*aicred.WorkloadHold, error) {
	var (
		h              aicred.WorkloadHold
		until, created string
	)
	if err := row.Scan(&h.Workload, &until, &h.Reason, &h.CreatedBy, &created, &h.RevocationSeq); err != nil {
		return nil, err
	}
	var err error
	if h.Until, err = audit.ParseTime(until); err != nil {
		return nil, err
	}
	if h.CreatedAt, err = audit.ParseTime(created); err != nil {
		return nil, err
	}
	return &h, nil
}

// activeHold returns the hold on workload that is active at now.
// Errors: ErrNotFound.
func activeHold(ctx context.Context, q querier, workload string, now time.Time) (*aicred.WorkloadHold, error) {
	h, err := scanHold(q.QueryRowContext(ctx, `SELECT `+holdColumns+` FROM workload_holds WHERE workload = ? AND until > ?`,
		workload, audit.FormatTime(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, aicred.Errorf(aicred.ErrNotFound, "no active hold on that workload")
	}
	return h, err
}

// putHold stores h (prepared) inside a write transaction, keeping the
// later end of an active hold, updates h to what was stored and appends
// workload.held.
func putHold(ctx context.Context, tx *sql.Tx, c *audit.Chain, h *aicred.WorkloadHold) error {
	h.CreatedBy, h.CreatedAt = c.Actor, c.Now
	if _, err := tx.ExecContext(ctx, `INSERT INTO workload_holds (`+holdColumns+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (workload) DO UPDATE SET until = max(workload_holds.until, excluded.until), reason = excluded.reason,
			created_by = excluded.created_by, created_at = excluded.created_at, revocation_seq = excluded.revocation_seq`,
		h.Workload, audit.FormatTime(h.Until), h.Reason, h.CreatedBy, audit.FormatTime(h.CreatedAt), h.RevocationSeq); err != nil {
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

// HoldWorkload implements aicred.WorkloadHoldService.
func (s *Store) HoldWorkload(ctx context.Context, h *aicred.WorkloadHold) error {
	if err := h.Prepare(time.Now()); err != nil {
		return err
	}
	var done aicred.WorkloadHold
	err := s.write(ctx, "hold workload", func(tx *sql.Tx, c *audit.Chain) error {
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
	return s.write(ctx, "lift workload hold", func(tx *sql.Tx, c *audit.Chain) error {
		h, err := activeHold(ctx, tx, workload, c.Now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM workload_holds WHERE workload = ?`, workload); err != nil {
			return err
		}
		c.Append(audit.WorkloadHoldLifted(h, reason))
		return nil
	})
}

// WorkloadHold implements aicred.WorkloadHoldService.
func (s *Store) WorkloadHold(ctx context.Context, workload string) (*aicred.WorkloadHold, error) {
	h, err := activeHold(ctx, s.r, aicred.StorableText(workload), time.Now())
	if err != nil {
		return nil, classify(err, "workload hold")
	}
	return h, nil
}

// ListWorkloadHolds implements aicred.WorkloadHoldService.
func (s *Store) ListWorkloadHolds(ctx context.Context) ([]aicred.WorkloadHold, error) {
	var out []aicred.WorkloadHold
	err := s.read(ctx, "list workload holds", func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `SELECT `+holdColumns+` FROM workload_holds WHERE until > ? ORDER BY workload`,
			audit.FormatTime(time.Now()))
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
// an absent or expired key and leaves a live one alone, in a write
// transaction (BEGIN IMMEDIATE), so that exactly one caller across every
// process on the file sees it fresh.
func (s *Store) RememberReplay(ctx context.Context, keyHash string, until time.Time) (bool, error) {
	now := time.Now()
	if err := aicred.CheckReplayKey(keyHash, until, now); err != nil {
		return false, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, classify(err, "remember replay key: begin")
	}
	defer tx.Rollback()
	at := audit.FormatTime(now)
	res, err := tx.ExecContext(ctx, `INSERT INTO replay_keys (key_hash, until) VALUES (?, ?)
		ON CONFLICT (key_hash) DO UPDATE SET until = excluded.until WHERE replay_keys.until <= ?`,
		keyHash, audit.FormatTime(until), at)
	if err != nil {
		return false, classify(err, "remember replay key")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, classify(err, "remember replay key")
	}
	if last := s.replayPruned.Load(); now.UnixNano()-last >= int64(replayPruneEvery) && s.replayPruned.CompareAndSwap(last, now.UnixNano()) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM replay_keys WHERE until <= ?`, at); err != nil {
			return false, classify(err, "prune replay keys")
		}
	}
	if err := tx.Commit(); err != nil {
		return false, classify(err, "remember replay key: commit")
	}
	return n == 1, nil
}
