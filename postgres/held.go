package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

const heldColumns = `id, provider, kind, fingerprint, redacted, environment, labels::text, created_at, rotated_at, expires_at, key_id, sealed, status, status_reason, status_at`

func scanHeld(row pgx.Row) (*aicred.HeldCredential, error) {
	var (
		h                aicred.HeldCredential
		fp, labels       string
		created          time.Time
		rotated, expires pgtype.Timestamptz
		status           string
		statusAt         pgtype.Timestamptz
	)
	if err := row.Scan(&h.ID, &h.Provider, &h.Kind, &fp, &h.Redacted, &h.Environment, &labels,
		&created, &rotated, &expires, &h.KeyID, &h.Sealed, &status, &h.StatusReason, &statusAt); err != nil {
		return nil, err
	}
	h.Status, h.StatusAt = aicred.HeldStatus(status), fromTS(statusAt)
	h.Fingerprint = aicred.Fingerprint(fp)
	var err error
	if h.Labels, err = parseMap(labels); err != nil {
		return nil, err
	}
	h.CreatedAt, h.RotatedAt, h.ExpiresAt = aicred.StoreTime(created), fromTS(rotated), fromTS(expires)
	return &h, nil
}

// enterHeld makes sure the held credential's fingerprint is in the
// inventory, and records its lifecycle dates where the inventory has none.
// created is when the secret came to be: the record's CreatedAt, or its
// RotatedAt for a rotation's new secret.
func enterHeld(ctx context.Context, tx pgx.Tx, h *aicred.HeldCredential, created, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO credentials AS c (fingerprint, provider, kind, redacted, recorded_at, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (fingerprint) DO UPDATE SET
			created_at = coalesce(c.created_at, excluded.created_at),
			expires_at = coalesce(excluded.expires_at, c.expires_at)`,
		string(h.Fingerprint), h.Provider, h.Kind, h.Redacted, now, ts(created), ts(h.ExpiresAt))
	return err
}

// PutHeldCredential implements aicred.HeldCredentialService.
func (s *Store) PutHeldCredential(ctx context.Context, h *aicred.HeldCredential) error {
	if err := h.Prepare(time.Now()); err != nil {
		return err
	}
	return s.write(ctx, "put held credential "+h.ID, func(tx pgx.Tx, c *audit.Chain) error {
		if err := enterHeld(ctx, tx, h, h.CreatedAt, c.Now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO held_credentials (id, provider, kind, fingerprint, redacted, environment, labels,
				created_at, rotated_at, expires_at, key_id, sealed, status, status_reason, status_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (id) DO NOTHING`,
			h.ID, h.Provider, h.Kind, string(h.Fingerprint), h.Redacted, h.Environment, jsonMap(h.Labels),
			h.CreatedAt, ts(h.RotatedAt), ts(h.ExpiresAt), h.KeyID, h.Sealed, string(h.Status), h.StatusReason, ts(h.StatusAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return aicred.Errorf(aicred.ErrConflict, "held credential %s exists", h.ID)
		}
		c.Append(audit.HeldAdded(h))
		return nil
	})
}

// GetHeldCredential implements aicred.HeldCredentialService.
func (s *Store) GetHeldCredential(ctx context.Context, id string) (*aicred.HeldCredential, error) {
	ctx, cancel := boundOp(ctx) // on a request's path
	defer cancel()
	var h *aicred.HeldCredential
	err := s.read(ctx, "get held credential", func(tx pgx.Tx) error {
		var err error
		h, err = getHeld(ctx, tx, id, false)
		return err
	})
	return h, err
}

func getHeld(ctx context.Context, tx pgx.Tx, id string, lock bool) (*aicred.HeldCredential, error) {
	q := "SELECT " + heldColumns + " FROM held_credentials WHERE id = $1"
	if lock {
		q += " FOR UPDATE"
	}
	h, err := scanHeld(tx.QueryRow(ctx, q, aicred.StorableText(id)))
	if errors.Is(err, pgx.ErrNoRows) {
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
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	q := "SELECT " + heldColumns + " FROM held_credentials"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id COLLATE "C"`
	var out []aicred.HeldCredential
	err := s.read(ctx, "list held credentials", func(tx pgx.Tx) error {
		var err error
		out, err = listHeld(ctx, tx, q, args...)
		return err
	})
	return out, err
}

func listHeld(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]aicred.HeldCredential, error) {
	rows, err := tx.Query(ctx, query, args...)
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
	err := s.write(ctx, "rotate held credential "+aicred.StorableText(next.ID), func(tx pgx.Tx, c *audit.Chain) error {
		old, err := getHeld(ctx, tx, next.ID, true)
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
		if _, err := tx.Exec(ctx, `UPDATE held_credentials SET fingerprint = $1, redacted = $2, rotated_at = $3, expires_at = $4,
			key_id = $5, sealed = $6 WHERE id = $7`,
			string(n.Fingerprint), n.Redacted, ts(n.RotatedAt), ts(n.ExpiresAt), n.KeyID, n.Sealed, n.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE credentials SET rotated_at = $1 WHERE fingerprint = $2`, ts(n.RotatedAt), string(old.Fingerprint)); err != nil {
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
	var out *aicred.HeldCredential
	err = s.write(ctx, "set held credential status "+id, func(tx pgx.Tx, c *audit.Chain) error {
		h, err := getHeld(ctx, tx, id, true)
		if err != nil {
			return err
		}
		from := h.Status
		if from == status {
			out = h
			return nil
		}
		h.Status, h.StatusReason, h.StatusAt = status, reason, c.Now
		if _, err := tx.Exec(ctx, `UPDATE held_credentials SET status = $1, status_reason = $2, status_at = $3 WHERE id = $4`,
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
		out = h
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RewrapHeld implements aicred.HeldCredentialService.
func (s *Store) RewrapHeld(ctx context.Context, rewrap aicred.RewrapFunc) (int, error) {
	changed := 0
	err := s.write(ctx, "rewrap held credentials", func(tx pgx.Tx, c *audit.Chain) error {
		changed = 0
		all, err := listHeld(ctx, tx, "SELECT "+heldColumns+` FROM held_credentials ORDER BY id COLLATE "C" FOR UPDATE`)
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
			if _, err := tx.Exec(ctx, `UPDATE held_credentials SET sealed = $1, key_id = $2 WHERE id = $3`, blob, keyID, h.ID); err != nil {
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
