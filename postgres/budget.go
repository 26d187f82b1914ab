package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
)

// newLeaseID returns a random lease id.
func newLeaseID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "lease_" + hex.EncodeToString(b[:])
}

// Leases use the database server's clock (now(), the transaction's start),
// so processes on hosts with skewed clocks agree on expiry.

// leaseSums reads a budget's outstanding leases and their count.
func leaseSums(ctx context.Context, tx pgx.Tx, scope string) (out int64, n int, err error) {
	err = tx.QueryRow(ctx, `SELECT coalesce(sum(granted_nusd), 0)::bigint, count(*) FROM budget_leases WHERE scope = $1`, scope).Scan(&out, &n)
	return
}

// TakeAllowance implements aicred.BudgetService. The upsert locks the
// budget's row first; in READ COMMITTED every later statement sees what
// the previous lock holder committed, so reading what is left and
// inserting the lease is atomic across processes. Lock order is always
// budget row, then lease rows, so allowances cannot deadlock.
func (s *Store) TakeAllowance(ctx context.Context, q aicred.AllowanceRequest) (aicred.Allowance, error) {
	if err := q.Validate(); err != nil {
		return aicred.Allowance{}, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return aicred.Allowance{}, classify(err, "take allowance: begin")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	limit := aicred.NanoUSD(q.LimitUSD)
	if _, err := tx.Exec(ctx, `INSERT INTO budgets (scope, limit_nusd, spent_nusd, updated_at) VALUES ($1, $2, 0, now())
		ON CONFLICT (scope) DO UPDATE SET limit_nusd = EXCLUDED.limit_nusd, updated_at = now()`, q.Scope, limit); err != nil {
		return aicred.Allowance{}, classify(err, "take allowance")
	}
	// Expired leases become spend, in full (see aicred.BudgetService).
	var spent int64
	if err := tx.QueryRow(ctx, `WITH expired AS (
			DELETE FROM budget_leases WHERE scope = $1 AND expires_at <= now() RETURNING granted_nusd)
		UPDATE budgets SET spent_nusd = spent_nusd + (SELECT coalesce(sum(granted_nusd), 0) FROM expired)
		WHERE scope = $1 RETURNING spent_nusd`, q.Scope).Scan(&spent); err != nil {
		return aicred.Allowance{}, classify(err, "take allowance: charge expired leases")
	}
	out, _, err := leaseSums(ctx, tx, q.Scope)
	if err != nil {
		return aicred.Allowance{}, classify(err, "take allowance")
	}
	left := max(0, limit-spent-out)
	grant := min(aicred.NanoUSD(q.WantUSD), left)
	a := aicred.Allowance{Scope: q.Scope, GrantedUSD: aicred.USDOfNano(grant), LeftUSD: aicred.USDOfNano(left - grant)}
	if grant > 0 {
		a.LeaseID, a.Holder = newLeaseID(), q.Holder
		if err := tx.QueryRow(ctx, `INSERT INTO budget_leases (id, scope, holder, granted_nusd, taken_at, expires_at)
			VALUES ($1, $2, $3, $4, now(), now() + $5::interval) RETURNING expires_at`,
			a.LeaseID, q.Scope, aicred.StorableText(q.Holder), grant, q.TTL).Scan(&a.ExpiresAt); err != nil {
			return aicred.Allowance{}, classify(err, "take allowance: lease")
		}
		a.ExpiresAt = aicred.StoreTime(a.ExpiresAt)
	}
	if err := tx.Commit(ctx); err != nil {
		return aicred.Allowance{}, classify(err, "take allowance: commit")
	}
	return a, nil
}

// lockLease locks the budget row of a lease, then the lease (the same
// order as TakeAllowance), and returns the scope. Errors: ErrNotFound.
func lockLease(ctx context.Context, tx pgx.Tx, leaseID string) (string, error) {
	var scope string
	if err := tx.QueryRow(ctx, `SELECT scope FROM budget_leases WHERE id = $1`, leaseID).Scan(&scope); err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM budgets WHERE scope = $1 FOR UPDATE`, scope); err != nil {
		return "", err
	}
	return scope, nil
}

func noLease(err error, format string, args ...any) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return aicred.Errorf(aicred.ErrNotFound, format, args...)
	}
	return err
}

// ReturnAllowance implements aicred.BudgetService.
func (s *Store) ReturnAllowance(ctx context.Context, leaseID string, spentUSD float64) error {
	if !aicred.ValidUSD(spentUSD) {
		return aicred.Errorf(aicred.ErrInvalid, "return allowance: spend must be finite and not negative")
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return classify(err, "return allowance: begin")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	const gone = "return allowance %s: no such lease (returned already, or expired and charged in full)"
	scope, err := lockLease(ctx, tx, leaseID)
	if err != nil {
		return classify(noLease(err, gone, leaseID), "return allowance %s", leaseID)
	}
	res, err := tx.Exec(ctx, `DELETE FROM budget_leases WHERE id = $1`, leaseID)
	if err != nil {
		return classify(err, "return allowance %s", leaseID)
	}
	if res.RowsAffected() == 0 { // charged by a TakeAllowance between our two statements
		return aicred.Errorf(aicred.ErrNotFound, gone, leaseID)
	}
	if _, err := tx.Exec(ctx, `UPDATE budgets SET spent_nusd = spent_nusd + $1, updated_at = now() WHERE scope = $2`,
		aicred.NanoUSD(spentUSD), scope); err != nil {
		return classify(err, "return allowance %s", leaseID)
	}
	if err := tx.Commit(ctx); err != nil {
		return classify(err, "return allowance %s: commit", leaseID)
	}
	return nil
}

// RenewAllowance implements aicred.BudgetService.
func (s *Store) RenewAllowance(ctx context.Context, leaseID string, ttl time.Duration) (aicred.Allowance, error) {
	if ttl < time.Millisecond {
		return aicred.Allowance{}, aicred.Errorf(aicred.ErrInvalid, "renew allowance %s: TTL %s is too short", leaseID, ttl)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return aicred.Allowance{}, classify(err, "renew allowance: begin")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	const gone = "renew allowance %s: no such lease, or it expired"
	scope, err := lockLease(ctx, tx, leaseID)
	if err != nil {
		return aicred.Allowance{}, classify(noLease(err, gone, leaseID), "renew allowance %s", leaseID)
	}
	a := aicred.Allowance{LeaseID: leaseID, Scope: scope}
	var granted, limit, spent int64
	err = tx.QueryRow(ctx, `UPDATE budget_leases SET expires_at = now() + $2::interval WHERE id = $1 AND expires_at > now()
		RETURNING holder, granted_nusd, expires_at`, leaseID, ttl).Scan(&a.Holder, &granted, &a.ExpiresAt)
	if err != nil {
		return aicred.Allowance{}, classify(noLease(err, gone, leaseID), "renew allowance %s", leaseID)
	}
	if err := tx.QueryRow(ctx, `SELECT limit_nusd, spent_nusd FROM budgets WHERE scope = $1`, scope).Scan(&limit, &spent); err != nil {
		return aicred.Allowance{}, classify(err, "renew allowance %s", leaseID)
	}
	out, _, err := leaseSums(ctx, tx, scope)
	if err != nil {
		return aicred.Allowance{}, classify(err, "renew allowance %s", leaseID)
	}
	if err := tx.Commit(ctx); err != nil {
		return aicred.Allowance{}, classify(err, "renew allowance %s: commit", leaseID)
	}
	a.ExpiresAt = aicred.StoreTime(a.ExpiresAt)
	a.GrantedUSD, a.LeftUSD = aicred.USDOfNano(granted), aicred.USDOfNano(max(0, limit-spent-out))
	return a, nil
}

// GetBudget implements aicred.BudgetService.
func (s *Store) GetBudget(ctx context.Context, scope string) (aicred.Budget, error) {
	b := aicred.Budget{Scope: scope}
	err := s.read(ctx, "get budget", func(tx pgx.Tx) error {
		var limit, spent int64
		err := tx.QueryRow(ctx, `SELECT limit_nusd, spent_nusd FROM budgets WHERE scope = $1`, scope).Scan(&limit, &spent)
		if errors.Is(err, pgx.ErrNoRows) {
			return aicred.Errorf(aicred.ErrNotFound, "no budget %q", scope)
		}
		if err != nil {
			return err
		}
		out, n, err := leaseSums(ctx, tx, scope)
		b.LimitUSD, b.SpentUSD, b.OutstandingUSD, b.Leases = aicred.USDOfNano(limit), aicred.USDOfNano(spent), aicred.USDOfNano(out), n
		return err
	})
	return b, err
}
