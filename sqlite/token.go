package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

const grantColumns = `id, token_hash, class, issuer, subject, policy, role, scope, audience, environment, credentials,
	issued_at, expires_at, revoked_at, revoke_reason`

func scanGrant(row interface{ Scan(...any) error }) (*aicred.Grant, error) {
	var (
		g               aicred.Grant
		scope, creds    string
		issued, expires string
		revoked         sql.NullString
	)
	if err := row.Scan(&g.ID, &g.TokenHash, &g.Class, &g.Issuer, &g.Subject, &g.Policy, &g.Role, &scope,
		&g.Audience, &g.Environment, &creds, &issued, &expires, &revoked, &g.RevokeReason); err != nil {
		return nil, err
	}
	var err error
	if g.Scope, err = parseList(scope); err != nil {
		return nil, fmt.Errorf("grant %s: scope: %w", g.ID, err)
	}
	if g.Credentials, err = parseList(creds); err != nil {
		return nil, fmt.Errorf("grant %s: credentials: %w", g.ID, err)
	}
	if g.IssuedAt, err = audit.ParseTime(issued); err != nil {
		return nil, err
	}
	if g.ExpiresAt, err = audit.ParseTime(expires); err != nil {
		return nil, err
	}
	if g.RevokedAt, err = parseTS(revoked); err != nil {
		return nil, err
	}
	return &g, nil
}

func jsonList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // strings only
	return string(b)
}

func parseList(s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("bad JSON array: %w", err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

// IssueGrant implements aicred.TokenService.
func (s *Store) IssueGrant(ctx context.Context, g *aicred.Grant) error {
	if err := g.Prepare(time.Now()); err != nil {
		return err
	}
	return s.write(ctx, "issue grant "+g.ID, func(tx *sql.Tx, c *audit.Chain) error {
		if err := checkNotHeld(ctx, tx, g, c.Now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO grants (`+grantColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '') ON CONFLICT DO NOTHING`,
			g.ID, g.TokenHash, g.Class, g.Issuer, g.Subject, g.Policy, g.Role, jsonList(g.Scope),
			g.Audience, g.Environment, jsonList(g.Credentials), audit.FormatTime(g.IssuedAt), audit.FormatTime(g.ExpiresAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return aicred.Errorf(aicred.ErrConflict, "grant %s: the id or the token is issued already", g.ID)
		}
		c.Append(audit.TokenIssued(g))
		return nil
	})
}

// LookupGrant implements aicred.TokenService. It is one indexed read on a
// reader connection, without a transaction: the gateway's cache misses
// come here.
func (s *Store) LookupGrant(ctx context.Context, tokenHash string) (*aicred.Grant, error) {
	g, err := scanGrant(s.r.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE token_hash = ?`, tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		// The hash is not quoted: whoever asks may have passed the token.
		return nil, aicred.Errorf(aicred.ErrNotFound, "lookup grant: no grant for that token")
	}
	if err != nil {
		return nil, classify(err, "lookup grant")
	}
	return g, nil
}

// ListGrants implements aicred.TokenService.
func (s *Store) ListGrants(ctx context.Context, f aicred.TokenFilter) ([]aicred.Grant, error) {
	if f.Limit < 0 {
		return nil, aicred.Errorf(aicred.ErrInvalid, "list grants: negative limit")
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"id", f.ID}, {"class", f.Class}, {"role", f.Role}, {"issuer", f.Issuer}, {"subject", f.Subject}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, aicred.StorableText(c.v))
		}
	}
	if f.Credential != "" {
		cond, a := revokeMatch(&aicred.Revocation{By: aicred.RevokeCredential, Value: aicred.StorableText(f.Credential)})
		where, args = append(where, cond), append(args, a...)
	}
	if !f.IncludeExpired {
		where = append(where, "revoked_at IS NULL", "expires_at > ?")
		args = append(args, audit.FormatTime(time.Now()))
	}
	q := `SELECT ` + grantColumns + ` FROM grants`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY issued_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, classify(err, "list grants")
	}
	defer rows.Close()
	var out []aicred.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, classify(err, "list grants")
		}
		out = append(out, *g)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, "list grants")
	}
	return out, nil
}

// revokeMatch returns the condition selecting the grants r matches, and
// its arguments. It agrees with aicred.Revocation.Matches.
func revokeMatch(r *aicred.Revocation) (string, []any) {
	switch r.By {
	case aicred.RevokeToken:
		return "id = ?", []any{r.Value}
	case aicred.RevokeWorkload:
		issuer, subject, _ := r.Workload()
		return "issuer = ? AND subject = ?", []any{issuer, subject}
	case aicred.RevokeRole:
		return "role = ?", []any{r.Value}
	case aicred.RevokePolicy:
		return "policy = ?", []any{r.Value}
	case aicred.RevokeHeldKey: // a held credential's secret changed: no grant
		return "0 = 1", nil
	default: // aicred.RevokeCredential; Prepare refused anything else
		return "EXISTS (SELECT 1 FROM json_each(grants.credentials) WHERE json_each.value = ?)", []any{r.Value}
	}
}

// Revoke implements aicred.TokenService. The grants are marked and the
// revocation recorded in one write transaction; watchers in this process
// hear of it right after the commit, other processes at their next poll.
func (s *Store) Revoke(ctx context.Context, r *aicred.Revocation) error {
	if err := r.Prepare(); err != nil {
		return err
	}
	var done aicred.Revocation
	err := s.write(ctx, "revoke by "+r.By, func(tx *sql.Tx, c *audit.Chain) error {
		rv := *r
		if err := insertRevocation(ctx, tx, c, &rv); err != nil {
			return err
		}
		h, err := rv.HoldFor(c.Now)
		if err != nil {
			return err
		}
		if h != nil {
			h.RevocationSeq = rv.Seq
			if err := putHold(ctx, tx, c, h); err != nil {
				return err
			}
		}
		done = rv
		return nil
	})
	if err != nil {
		return err
	}
	*r = done
	s.hub.publish(done)
	return nil
}

// insertRevocation marks the grants rv matches revoked and records rv
// (its At, Grants and Seq are set) with its audit record, in tx. The
// caller publishes it after the commit.
func insertRevocation(ctx context.Context, tx *sql.Tx, c *audit.Chain, rv *aicred.Revocation) error {
	rv.At = c.Now
	at := audit.FormatTime(rv.At)
	match, args := revokeMatch(rv)
	res, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = ?, revoke_reason = ?
		WHERE revoked_at IS NULL AND expires_at > ? AND `+match,
		append([]any{at, rv.Reason, at}, args...)...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	rv.Grants = int(n)
	if err := tx.QueryRowContext(ctx, `INSERT INTO revocations (seq, "by", value, reason, at, grants)
		VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM revocations), ?, ?, ?, ?, ?) RETURNING seq`,
		rv.By, rv.Value, rv.Reason, at, rv.Grants).Scan(&rv.Seq); err != nil {
		return err
	}
	c.Append(audit.TokenRevoked(rv))
	return nil
}

// RevocationsSince implements aicred.TokenService.
func (s *Store) RevocationsSince(ctx context.Context, seq int64) ([]aicred.Revocation, error) {
	out, err := revocationsSince(ctx, s.r, seq)
	if err != nil {
		return nil, classify(err, "revocations since %d", seq)
	}
	return out, nil
}

func revocationsSince(ctx context.Context, q querier, seq int64) ([]aicred.Revocation, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, "by", value, reason, at, grants FROM revocations WHERE seq > ? ORDER BY seq`, seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []aicred.Revocation
	for rows.Next() {
		var r aicred.Revocation
		var at string
		if err := rows.Scan(&r.Seq, &r.By, &r.Value, &r.Reason, &at, &r.Grants); err != nil {
			return nil, err
		}
		if r.At, err = audit.ParseTime(at); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// checkNotHeld refuses a workload grant for a held workload. It runs in
// IssueGrant's write transaction, which a revocation's cannot interleave
// with: a grant is either issued before the revocation (which then
// revokes it) or refused.
func checkNotHeld(ctx context.Context, tx *sql.Tx, g *aicred.Grant, now time.Time) error {
	if g.Class != aicred.TokenWorkload {
		return nil
	}
	_, err := activeHold(ctx, tx, g.Issuer+" "+g.Subject, now)
	if err != nil {
		if aicred.KindOf(err) == aicred.ErrNotFound {
			return nil
		}
		return err
	}
	return aicred.Errorf(aicred.ErrUnauthorized, "grant %s: the workload is held from new tokens", g.ID)
}
