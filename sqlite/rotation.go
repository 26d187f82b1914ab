package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

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
		oldExp              sql.NullString
		created, updated    string
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
	if r.OldExpiresAt, err = parseTS(oldExp); err != nil {
		return nil, err
	}
	if r.CreatedAt, err = audit.ParseTime(created); err != nil {
		return nil, err
	}
	if r.UpdatedAt, err = audit.ParseTime(updated); err != nil {
		return nil, err
	}
	if len(r.OldSealed) == 0 {
		r.OldSealed = nil
	}
	if len(r.NewSealed) == 0 {
		r.NewSealed = nil
	}
	return &r, nil
}

func getRotation(ctx context.Context, q querier, id string) (*aicred.Rotation, error) {
	r, err := scanRotation(q.QueryRowContext(ctx, `SELECT `+rotationColumns+` FROM rotations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, aicred.Errorf(aicred.ErrNotFound, "rotation %q not found", aicred.StorableText(id))
	}
	return r, err
}

// StartRotation implements aicred.RotationService.
func (s *Store) StartRotation(ctx context.Context, r *aicred.Rotation) error {
	if err := r.Prepare(); err != nil {
		return err
	}
	return s.write(ctx, "start rotation "+r.ID, func(tx *sql.Tx, c *audit.Chain) error {
		for _, id := range []string{r.HeldID, r.AdminHeldID} {
			if id == "" {
				continue
			}
			if _, err := getHeld(ctx, tx, id); err != nil {
				return err
			}
		}
		var other string
		err := tx.QueryRowContext(ctx, `SELECT id FROM rotations WHERE held_id = ? AND state NOT IN (?, ?)`,
			r.HeldID, aicred.RotationDone, aicred.RotationRolledBack).Scan(&other)
		if err == nil {
			return aicred.Errorf(aicred.ErrConflict, "held credential %s has an unfinished rotation %s (resume or roll it back)", r.HeldID, other)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		r.Actor, r.CreatedAt, r.UpdatedAt = aicred.StorableText(aicred.ActorFrom(ctx)), c.Now, c.Now
		res, err := tx.ExecContext(ctx, `INSERT INTO rotations (`+rotationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', '{}', '', NULL, '', ?, ?, ?) ON CONFLICT DO NOTHING`,
			r.ID, r.HeldID, r.Provider, r.Kind, r.State, r.AdminHeldID,
			r.OldFingerprint, r.OldRedacted, r.OldProviderID, jsonMap(r.OldAttrs), ts(r.OldExpiresAt), r.OldKeyID, r.OldSealed,
			r.Actor, audit.FormatTime(r.CreatedAt), audit.FormatTime(r.UpdatedAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
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
	err := s.write(ctx, "advance rotation "+aicred.StorableText(id), func(tx *sql.Tx, c *audit.Chain) error {
		before, err := getRotation(ctx, tx, id)
		if err != nil {
			return err
		}
		if before.State != from {
			return aicred.Errorf(aicred.ErrConflict, "rotation %s is in state %s, not %s", id, before.State, from)
		}
		after := before.Apply(st, c.Now)
		if _, err := tx.ExecContext(ctx, `UPDATE rotations SET state = ?, error = ?, updated_at = ?,
			new_fingerprint = ?, new_redacted = ?, new_provider_id = ?, new_attrs = ?, new_key_id = ?, new_sealed = ?,
			old_key_id = ?, old_sealed = ? WHERE id = ?`,
			after.State, after.Error, audit.FormatTime(after.UpdatedAt),
			after.NewFingerprint, after.NewRedacted, after.NewProviderID, jsonMap(after.NewAttrs), after.NewKeyID, nilIfEmpty(after.NewSealed),
			after.OldKeyID, nilIfEmpty(after.OldSealed), id); err != nil {
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

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// GetRotation implements aicred.RotationService.
func (s *Store) GetRotation(ctx context.Context, id string) (*aicred.Rotation, error) {
	r, err := getRotation(ctx, s.r, id)
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
		where = append(where, "held_id = ?")
		args = append(args, aicred.StorableText(f.HeldID))
	}
	if f.Active {
		where = append(where, "state NOT IN (?, ?)")
		args = append(args, aicred.RotationDone, aicred.RotationRolledBack)
	}
	q := `SELECT ` + rotationColumns + ` FROM rotations`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
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
