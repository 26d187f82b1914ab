package postgres

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

var _ audit.CheckpointStore = (*Store)(nil)

// AuditHead implements audit.CheckpointStore.
func (s *Store) AuditHead(ctx context.Context) (aicred.AuditHead, error) {
	var head aicred.AuditHead
	err := s.read(ctx, "read audit head", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&head.Seq, &head.Hash)
	})
	if head.Seq == 0 {
		head.Hash = audit.Genesis
	}
	return head, err
}

// PutCheckpoint implements audit.CheckpointStore. It writes no audit
// record: a checkpoint is about the log, not a change it records (and a
// record would move the head it signs).
func (s *Store) PutCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	if c.Seq < 1 || c.Hash == "" || c.KeyID == "" || len(c.Signature) == 0 {
		return aicred.Errorf(aicred.ErrInvalid, "audit checkpoint: seq, hash, key id and signature are required")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (seq) DO NOTHING`, c.Seq, c.Hash, ts(c.At), aicred.StorableText(c.KeyID), base64.StdEncoding.EncodeToString(c.Signature))
	return classify(err, "put audit checkpoint %d", c.Seq)
}

// ListCheckpoints implements audit.CheckpointStore.
func (s *Store) ListCheckpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	var out []audit.Checkpoint
	err := s.read(ctx, "list audit checkpoints", func(tx pgx.Tx) error {
		var err error
		out, err = checkpoints(ctx, tx, `ORDER BY seq`)
		return err
	})
	return out, err
}

// LastCheckpoint implements audit.CheckpointStore.
func (s *Store) LastCheckpoint(ctx context.Context) (audit.Checkpoint, error) {
	var out []audit.Checkpoint
	err := s.read(ctx, "last audit checkpoint", func(tx pgx.Tx) error {
		var err error
		out, err = checkpoints(ctx, tx, `ORDER BY seq DESC LIMIT 1`)
		return err
	})
	if err != nil {
		return audit.Checkpoint{}, err
	}
	if len(out) == 0 {
		return audit.Checkpoint{}, aicred.Errorf(aicred.ErrNotFound, "no audit checkpoint")
	}
	return out[0], nil
}

func checkpoints(ctx context.Context, tx pgx.Tx, order string) ([]audit.Checkpoint, error) {
	rows, err := tx.Query(ctx, `SELECT seq, hash, at, key_id, signature FROM audit_checkpoints `+order)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		var c audit.Checkpoint
		var at time.Time
		var sig string
		if err := rows.Scan(&c.Seq, &c.Hash, &at, &c.KeyID, &sig); err != nil {
			return nil, err
		}
		c.At = aicred.StoreTime(at)
		// A signature that does not decode stays empty and fails
		// verification.
		c.Signature, _ = base64.StdEncoding.DecodeString(sig)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Prune deletes what the store no longer needs: grants that expired
// before grantsBefore, usage records older than usageBefore, and budget
// rows last touched before budgetsBefore that no lease holds (a zero time
// skips that kind). It writes one audit record (store.pruned) with the
// counts when anything was deleted. The caller keeps budgetsBefore at
// least a day and a token's lifetime back, so that no budget still in use
// is reset.
func (s *Store) Prune(ctx context.Context, grantsBefore, usageBefore, budgetsBefore time.Time) (grants, usage, budgets int64, err error) {
	err = s.write(ctx, "prune", func(tx pgx.Tx, c *audit.Chain) error {
		del := func(q string, before time.Time) (int64, error) {
			if before.IsZero() {
				return 0, nil
			}
			tag, err := tx.Exec(ctx, q, before)
			return tag.RowsAffected(), err
		}
		var err error
		if grants, err = del(`DELETE FROM grants WHERE expires_at < $1`, grantsBefore); err != nil {
			return err
		}
		if usage, err = del(`DELETE FROM usage_records WHERE at < $1`, usageBefore); err != nil {
			return err
		}
		if budgets, err = del(`DELETE FROM budgets b WHERE updated_at < $1
			AND NOT EXISTS (SELECT 1 FROM budget_leases l WHERE l.scope = b.scope)`, budgetsBefore); err != nil {
			return err
		}
		if grants+usage+budgets > 0 {
			c.Append(audit.Pruned(grants, usage, budgets))
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	return grants, usage, budgets, nil
}
