package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

const heldColumns = `id, provider, kind, fingerprint, redacted, environment, labels, created_at, rotated_at, expires_at, key_id, sealed, status, status_reason, status_at`

func scanHeld(row interface{ Scan(...any) error }) (*aicred.HeldCredential, error) {
	var (
		h                aicred.HeldCredential
		labels, created  string
		rotated, expires sql.NullString
		statusAt         sql.NullString
	)
	if err := row.Scan(&h.ID, &h.Provider, &h.Kind, &h.Fingerprint, &h.Redacted, &h.Environment, &labels,
		&created, &rotated, &expires, &h.KeyID, &h.Sealed, &h.Status, &h.StatusReason, &statusAt); err != nil {
		return nil, err
	}
	var err error
	if h.Labels, err = parseMap(labels); err != nil {
		return nil, err
	}
	if h.CreatedAt, err = audit.ParseTime(created); err != nil {
		return nil, err
	}
	if h.RotatedAt, err = parseTS(rotated); err != nil {
		return nil, err
	}
	if h.ExpiresAt, err = parseTS(expires); err != nil {
		return nil, err
	}
	if h.StatusAt, err = parseTS(statusAt); err != nil {
		return nil, err
	}
	return &h, nil
}

// enterHeld makes sure the held credential's fingerprint is in the
// inventory, and records its lifecycle dates where the inventory has none.
// created is when the secret came to be: the record's CreatedAt, or its
// RotatedAt for a rotation's new secret.
func enterHeld(ctx context.Context, tx *sql.Tx, h *aicred.HeldCredential, created, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO credentials (fingerprint, provider, kind, redacted, recorded_at, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING`,
		h.Fingerprint, h.Provider, h.Kind, h.Redacted, audit.FormatTime(now), ts(created), ts(h.ExpiresAt)); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE credentials SET
		created_at = coalesce(created_at, ?), expires_at = coalesce(?, expires_at) WHERE fingerprint = ?`,
		ts(created), ts(h.ExpiresAt), h.Fingerprint)
	return err
}

// PutHeldCredential implements aicred.HeldCredentialService.
func (s *Store) PutHeldCredential(ctx context.Context, h *aicred.HeldCredential) error {
	if err := h.Prepare(time.Now()); err != nil {
		return err
	}
	return s.write(ctx, "put held credential "+h.ID, func(tx *sql.Tx, c *audit.Chain) error {
		if err := enterHeld(ctx, tx, h, h.CreatedAt, c.Now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO held_credentials (`+heldColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			h.ID, h.Provider, h.Kind, h.Fingerprint, h.Redacted, h.Environment, jsonMap(h.Labels),
			audit.FormatTime(h.CreatedAt), ts(h.RotatedAt), ts(h.ExpiresAt), h.KeyID, h.Sealed,
			string(h.Status), h.StatusReason, ts(h.StatusAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return aicred.Errorf(aicred.ErrConflict, "held credential %s exists", h.ID)
		}
		c.Append(audit.HeldAdded(h))
		return nil
	})
}

// GetHeldCredential implements aicred.HeldCredentialService.
func (s *Store) GetHeldCredential(ctx context.Context, id string) (*aicred.HeldCredential, error) {
	var h *aicred.HeldCredential
	err := s.read(ctx, "get held credential", func(tx *sql.Tx) error {
		var err error
		h, err = getHeld(ctx, tx, id)
		return err
	})
	return h, err
}

func getHeld(ctx context.Context, q querier, id string) (*aicred.HeldCredential, error) {
	h, err := scanHeld(q.QueryRowContext(ctx, "SELECT "+heldColumns+" FROM held_credentials WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, aicred.Errorf(aicred.ErrNotFound, "held credential %q not found", aicred.StorableText(id))
	}
	return h, err
}

// ListHeldCredentials implements aicred.HeldCredentialService.
func (s *Store) ListHeldCredentials(ctx context.Context, f aicred.HeldFilter) ([]aicred.HeldCredential, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"provider", f.Provider}, {"kind", f.Kind}, {"environment", f.Environment}, {"key_id", f.KeyID}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	q := "SELECT " + heldColumns + " FROM held_credentials"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	var out []aicred.HeldCredential
	err := s.read(ctx, "list held credentials", func(tx *sql.Tx) error {
		var err error
		out, err = listHeld(ctx, tx, q, args...)
		return err
	})
	return out, err
}

func listHeld(ctx context.Context, q querier, query string, args ...any) ([]aicred.HeldCredential, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []aicred.HeldCredential
	for rows.Next() {
		h, err := scanHeld(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *h)
	}
	return out, rows.Err()
}

// RotateHeld implements aicred.HeldCredentialService.
func (s *Store) RotateHeld(ctx context.Context, next *aicred.HeldCredential) (*aicred.HeldCredential, error) {
	now := time.Now()
	var out *aicred.HeldCredential
	err := s.write(ctx, "rotate held credential "+aicred.StorableText(next.ID), func(tx *sql.Tx, c *audit.Chain) error {
		old, err := getHeld(ctx, tx, next.ID)
		if err != nil {
			return err
		}
		n, err := old.Rotated(next, now)
		if err != nil {
			return err
		}
		if err := enterHeld(ctx, tx, n, n.RotatedAt, c.Now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE held_credentials SET fingerprint = ?, redacted = ?, rotated_at = ?, expires_at = ?,
			key_id = ?, sealed = ? WHERE id = ?`,
			n.Fingerprint, n.Redacted, ts(n.RotatedAt), ts(n.ExpiresAt), n.KeyID, n.Sealed, n.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE credentials SET rotated_at = ? WHERE fingerprint = ?`, ts(n.RotatedAt), old.Fingerprint); err != nil {
			return err
		}
		c.Append(audit.HeldRotated(old.Fingerprint, n))
		out = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetHeldStatus implements aicred.HeldCredentialService.
func (s *Store) SetHeldStatus(ctx context.Context, id string, status aicred.HeldStatus, reason string) (*aicred.HeldCredential, error) {
	reason, err := aicred.CheckHeldStatus(id, status, reason)
	if err != nil {
		return nil, err
	}
	var (
		out  *aicred.HeldCredential
		done *aicred.Revocation
	)
	err = s.write(ctx, "set held credential status "+id, func(tx *sql.Tx, c *audit.Chain) error {
		h, err := getHeld(ctx, tx, id)
		if err != nil {
			return err
		}
		from := h.Status
		if from == status {
			out, done = h, nil
			return nil
		}
		h.Status, h.StatusReason, h.StatusAt = status, reason, c.Now
		if _, err := tx.ExecContext(ctx, `UPDATE held_credentials SET status = ?, status_reason = ?, status_at = ? WHERE id = ?`,
			string(h.Status), h.StatusReason, ts(h.StatusAt), h.ID); err != nil {
			return err
		}
		rv := &aicred.Revocation{By: aicred.RevokeHeldKey, Value: h.ID, Reason: "held credential " + string(status) + ": " + reason}
		if err := rv.Prepare(); err != nil {
			return err
		}
		if err := insertRevocation(ctx, tx, c, rv); err != nil {
			return err
		}
		c.Append(aicred.HeldStatusEvent(h, from, rv.Seq))
		out, done = h, rv
		return nil
	})
	if err != nil {
		return nil, err
	}
	if done != nil {
		s.hub.publish(*done)
	}
	return out, nil
}

// RewrapHeld implements aicred.HeldCredentialService.
func (s *Store) RewrapHeld(ctx context.Context, rewrap aicred.RewrapFunc) (int, error) {
	changed := 0
	err := s.write(ctx, "rewrap held credentials", func(tx *sql.Tx, c *audit.Chain) error {
		changed = 0
		all, err := listHeld(ctx, tx, "SELECT "+heldColumns+" FROM held_credentials ORDER BY id")
		if err != nil {
			return err
		}
		var from, to []string
		for i := range all {
			h := &all[i]
			blob, keyID, err := rewrap(h)
			if err != nil {
				return aicred.Errorf(aicred.KindOf(err), "held credential %s: %w", h.ID, err)
			}
			if keyID == h.KeyID && bytes.Equal(blob, h.Sealed) {
				continue
			}
			if keyID == "" || len(blob) == 0 {
				return aicred.Errorf(aicred.ErrInvalid, "held credential %s: rewrap returned no blob or key id", h.ID)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE held_credentials SET sealed = ?, key_id = ? WHERE id = ?`, blob, keyID, h.ID); err != nil {
				return err
			}
			from, to = addUnique(from, h.KeyID), addUnique(to, keyID)
			changed++
		}
		c.Append(audit.MasterKeyRotated(changed, from, to))
		return nil
	})
	if err != nil {
		return 0, err
	}
	return changed, nil
}

func addUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	s = append(s, v)
	slices.Sort(s)
	return s
}
