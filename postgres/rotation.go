package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

const rotationColumns = `id, held_id, provider, kind, state, admin_held_id,
	old_fingerprint, old_redacted, old_provider_id, old_attrs, old_expires_at, old_key_id, old_sealed,
	new_fingerprint, new_redacted, new_provider_id, new_attrs, new_key_id, new_sealed,
	error, actor, created_at, updated_at`

func scanRotation(row interface{ Scan(...any) error }) (*aicred.Rotation, error) {
	var (
		r                   aicred.Rotation
		state, oldFP, newFP string
		oldAttrs, newAttrs  string
		oldExp              pgtype.Timestamptz
		created, updated    time.Time
	)
	if err := row.Scan(&r.ID, &r.HeldID, &r.Provider, &r.Kind, &state, &r.AdminHeldID,
		&oldFP, &r.OldRedacted, &r.OldProviderID, &oldAttrs, &oldExp, &r.OldKeyID, &r.OldSealed,
		&newFP, &r.NewRedacted, &r.NewProviderID, &newAttrs, &r.NewKeyID, &r.NewSealed,
		&r.Error, &r.Actor, &created, &updated); err != nil {
		return nil, err
	}
	r.State, r.OldFingerprint, r.NewFingerprint = aicred.RotationState(state), aicred.Fingerprint(oldFP), aicred.Fingerprint(newFP)
	var err error
	if r.OldAttrs, err = parseMap(oldAttrs); err != nil {
		return nil, err
	}
	if r.NewAttrs, err = parseMap(newAttrs); err != nil {
		return nil, err
	}
	r.OldExpiresAt, r.CreatedAt, r.UpdatedAt = fromTS(oldExp), aicred.StoreTime(created), aicred.StoreTime(updated)
	if len(r.OldSealed) == 0 {
		r.OldSealed = nil
	}
	if len(r.NewSealed) == 0 {
		r.NewSealed = nil
	}
	return &r, nil
}

func getRotation(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string, lock bool) (*aicred.Rotation, error) {
	query := `SELECT ` + rotationColumns + ` FROM rotations WHERE id = $1`
	if lock {
		query += " FOR UPDATE"
	}
	r, err := scanRotation(q.QueryRow(ctx, query, aicred.StorableText(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, aicred.Errorf(aicred.ErrNotFound, "rotation %q not found", aicred.StorableText(id))
	}
	return r, err
}

// StartRotation implements aicred.RotationService.
func (s *Store) StartRotation(ctx context.Context, r *aicred.Rotation) error {
	if err := r.Prepare(); err != nil {
		return err
	}
	return s.write(ctx, "start rotation "+r.ID, func(tx pgx.Tx, c *audit.Chain) error {
		for _, id := range []string{r.HeldID, r.AdminHeldID} {
			if id == "" {
				continue
			}
			if _, err := getHeld(ctx, tx, id, id == r.HeldID); err != nil {
				return err
			}
		}
		var other string
		err := tx.QueryRow(ctx, `SELECT id FROM rotations WHERE held_id = $1 AND state NOT IN ($2, $3)`,
			r.HeldID, string(aicred.RotationDone), string(aicred.RotationRolledBack)).Scan(&other)
		if err == nil {
			return aicred.Errorf(aicred.ErrConflict, "held credential %s has an unfinished rotation %s (resume or roll it back)", r.HeldID, other)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		r.Actor, r.CreatedAt, r.UpdatedAt = aicred.StorableText(aicred.ActorFrom(ctx)), c.Now, c.Now
		res, err := tx.Exec(ctx, `INSERT INTO rotations (`+rotationColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, '', '', '', '{}', '', NULL, '', $14, $15, $16) ON CONFLICT DO NOTHING`,
			r.ID, r.HeldID, r.Provider, r.Kind, string(r.State), r.AdminHeldID,
			string(r.OldFingerprint), r.OldRedacted, r.OldProviderID, jsonMap(r.OldAttrs), ts(r.OldExpiresAt), r.OldKeyID, r.OldSealed,
			r.Actor, r.CreatedAt, r.UpdatedAt)
		if err != nil {
			return err
		}
		if res.RowsAffected() == 0 {
			return aicred.Errorf(aicred.ErrConflict, "rotation %s exists", r.ID)
		}
		c.Append(aicred.RotationStartedEvent(r))
		return nil
	})
}

// AdvanceRotation implements aicred.RotationService.
func (s *Store) AdvanceRotation(ctx context.Context, id string, from aicred.RotationState, st *aicred.RotationStep) (*aicred.Rotation, error) {
	if err := st.Check(id, from); err != nil {
		return nil, err
	}
	var out *aicred.Rotation
	err := s.write(ctx, "advance rotation "+aicred.StorableText(id), func(tx pgx.Tx, c *audit.Chain) error {
		before, err := getRotation(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if before.State != from {
			return aicred.Errorf(aicred.ErrConflict, "rotation %s is in state %s, not %s", id, before.State, from)
		}
		after := before.Apply(st, c.Now)
		if _, err := tx.Exec(ctx, `UPDATE rotations SET state = $1, error = $2, updated_at = $3,
			new_fingerprint = $4, new_redacted = $5, new_provider_id = $6, new_attrs = $7, new_key_id = $8, new_sealed = $9,
			old_key_id = $10, old_sealed = $11 WHERE id = $12`,
			string(after.State), after.Error, after.UpdatedAt,
			string(after.NewFingerprint), after.NewRedacted, after.NewProviderID, jsonMap(after.NewAttrs), after.NewKeyID, blobOrNil(after.NewSealed),
			after.OldKeyID, blobOrNil(after.OldSealed), id); err != nil {
			return err
		}
		c.Append(aicred.RotationStepEvent(before, after, st))
		out = after
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func blobOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// GetRotation implements aicred.RotationService.
func (s *Store) GetRotation(ctx context.Context, id string) (*aicred.Rotation, error) {
	r, err := getRotation(ctx, s.pool, id, false)
	if err != nil {
		return nil, classify(err, "get rotation")
	}
	return r, nil
}

// ListRotations implements aicred.RotationService.
func (s *Store) ListRotations(ctx context.Context, f aicred.RotationFilter) ([]aicred.Rotation, error) {
	if f.Limit < 0 {
		return nil, aicred.Errorf(aicred.ErrInvalid, "list rotations: negative limit")
	}
	var where []string
	var args []any
	if f.HeldID != "" {
		where = append(where, fmt.Sprintf("held_id = $%d", len(args)+1))
		args = append(args, aicred.StorableText(f.HeldID))
	}
	if f.Active {
		where = append(where, fmt.Sprintf("state NOT IN ($%d, $%d)", len(args)+1, len(args)+2))
		args = append(args, string(aicred.RotationDone), string(aicred.RotationRolledBack))
	}
	q := `SELECT ` + rotationColumns + ` FROM rotations`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT $%d", len(args)+1)
		args = append(args, f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, classify(err, "list rotations")
	}
	defer rows.Close()
	var out []aicred.Rotation
	for rows.Next() {
		r, err := scanRotation(rows)
		if err != nil {
			return nil, classify(err, "list rotations")
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, "list rotations")
	}
	return out, nil
}
