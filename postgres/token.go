package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

// RevocationChannel is the LISTEN/NOTIFY channel on which Revoke announces
// each revocation's seq to every process sharing the database.
const RevocationChannel = "aicred_revocations"

const grantColumns = `id, token_hash, class, issuer, subject, policy, role, scope, audience, environment, credentials,
	issued_at, expires_at, revoked_at, revoke_reason`

func scanGrant(row pgx.Row) (*aicred.Grant, error) {
	var (
		g               aicred.Grant
		issued, expires time.Time
		revoked         pgtype.Timestamptz
	)
	if err := row.Scan(&g.ID, &g.TokenHash, &g.Class, &g.Issuer, &g.Subject, &g.Policy, &g.Role, &g.Scope,
		&g.Audience, &g.Environment, &g.Credentials, &issued, &expires, &revoked, &g.RevokeReason); err != nil {
		return nil, err
	}
	g.Scope, g.Credentials = nilIfEmpty(g.Scope), nilIfEmpty(g.Credentials)
	g.IssuedAt, g.ExpiresAt, g.RevokedAt = aicred.StoreTime(issued), aicred.StoreTime(expires), fromTS(revoked)
	return &g, nil
}

// list returns v as a text[] argument: a nil slice would be NULL.
func list(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func nilIfEmpty(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	return v
}

// IssueGrant implements aicred.TokenService.
func (s *Store) IssueGrant(ctx context.Context, g *aicred.Grant) error {
	if err := g.Prepare(time.Now()); err != nil {
		return err
	}
	return s.write(ctx, "issue grant "+g.ID, func(tx pgx.Tx, c *audit.Chain) error {
		if err := checkNotHeld(ctx, tx, g, c.Now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO grants (`+grantColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, '') ON CONFLICT DO NOTHING`,
			g.ID, g.TokenHash, g.Class, g.Issuer, g.Subject, g.Policy, g.Role, list(g.Scope),
			g.Audience, g.Environment, list(g.Credentials), g.IssuedAt, g.ExpiresAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return aicred.Errorf(aicred.ErrConflict, "grant %s: the id or the token is issued already", g.ID)
		}
		c.Append(audit.TokenIssued(g))
		return nil
	})
}

// LookupGrant implements aicred.TokenService: one indexed read from the
// pool, without a transaction.
func (s *Store) LookupGrant(ctx context.Context, tokenHash string) (*aicred.Grant, error) {
	ctx, cancel := boundOp(ctx) // on a request's path
	defer cancel()
	g, err := scanGrant(s.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE token_hash = $1`, aicred.StorableText(tokenHash)))
	if errors.Is(err, pgx.ErrNoRows) {
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
			args = append(args, aicred.StorableText(c.v))
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	if f.Credential != "" {
		cond, a := revokeMatch(&aicred.Revocation{By: aicred.RevokeCredential, Value: aicred.StorableText(f.Credential)}, len(args)+1)
		where, args = append(where, cond), append(args, a...)
	}
	if !f.IncludeExpired {
		args = append(args, time.Now())
		where = append(where, "revoked_at IS NULL", fmt.Sprintf("expires_at > $%d", len(args)))
	}
	q := `SELECT ` + grantColumns + ` FROM grants`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY issued_at DESC, id COLLATE "C" DESC`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, q, args...)
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

// revokeMatch returns the condition selecting the grants r matches, with
// placeholders from $first, and its arguments. It agrees with
// aicred.Revocation.Matches.
func revokeMatch(r *aicred.Revocation, first int) (string, []any) {
	switch r.By {
	case aicred.RevokeToken:
		return fmt.Sprintf("id = $%d", first), []any{r.Value}
	case aicred.RevokeWorkload:
		issuer, subject, _ := r.Workload()
		return fmt.Sprintf("issuer = $%d AND subject = $%d", first, first+1), []any{issuer, subject}
	case aicred.RevokeRole:
		return fmt.Sprintf("role = $%d", first), []any{r.Value}
	case aicred.RevokePolicy:
		return fmt.Sprintf("policy = $%d", first), []any{r.Value}
	case aicred.RevokeHeldKey: // a held credential's secret changed: no grant
		return "FALSE", nil
	default: // aicred.RevokeCredential; Prepare refused anything else
		return fmt.Sprintf("credentials @> ARRAY[$%d::text]", first), []any{r.Value}
	}
}

// Revoke implements aicred.TokenService. The grants are marked, the
// revocation recorded and its seq announced on RevocationChannel in one
// transaction; PostgreSQL delivers the notification at commit.
func (s *Store) Revoke(ctx context.Context, r *aicred.Revocation) error {
	if err := r.Prepare(); err != nil {
		return err
	}
	var done aicred.Revocation
	err := s.write(ctx, "revoke by "+r.By, func(tx pgx.Tx, c *audit.Chain) error {
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
	return nil
}

// insertRevocation marks the grants rv matches revoked and records rv
// (its At, Grants and Seq are set), notifies the watchers and appends its
// audit record, in tx.
func insertRevocation(ctx context.Context, tx pgx.Tx, c *audit.Chain, rv *aicred.Revocation) error {
	rv.At = c.Now
	match, args := revokeMatch(rv, 3)
	tag, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = $1, revoke_reason = $2
		WHERE revoked_at IS NULL AND expires_at > $1 AND `+match,
		append([]any{rv.At, rv.Reason}, args...)...)
	if err != nil {
		return err
	}
	rv.Grants = int(tag.RowsAffected())
	// The head row lock serialises writers, so max + 1 is gapless and
	// in commit order: a watcher resuming after seq n misses nothing.
	if err := tx.QueryRow(ctx, `INSERT INTO revocations (seq, "by", value, reason, at, grants)
		VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM revocations), $1, $2, $3, $4, $5) RETURNING seq`,
		rv.By, rv.Value, rv.Reason, rv.At, rv.Grants).Scan(&rv.Seq); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, RevocationChannel, strconv.FormatInt(rv.Seq, 10)); err != nil {
		return err
	}
	c.Append(audit.TokenRevoked(rv))
	return nil
}

// RevocationsSince implements aicred.TokenService.
func (s *Store) RevocationsSince(ctx context.Context, seq int64) ([]aicred.Revocation, error) {
	out, err := revocationsSince(ctx, s.pool, seq)
	if err != nil {
		return nil, classify(err, "revocations since %d", seq)
	}
	return out, nil
}

// querier is what the pool, a connection and a transaction offer to read.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func revocationsSince(ctx context.Context, q querier, seq int64) ([]aicred.Revocation, error) {
	rows, err := q.Query(ctx, `SELECT seq, "by", value, reason, at, grants FROM revocations WHERE seq > $1 ORDER BY seq`, seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []aicred.Revocation
	for rows.Next() {
		var r aicred.Revocation
		if err := rows.Scan(&r.Seq, &r.By, &r.Value, &r.Reason, &r.At, &r.Grants); err != nil {
			return nil, err
		}
		r.At = aicred.StoreTime(r.At)
		out = append(out, r)
	}
	return out, rows.Err()
}
