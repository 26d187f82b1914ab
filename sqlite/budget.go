package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

// newLeaseID returns a random lease id.
func newLeaseID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "lease_" + hex.EncodeToString(b[:])
}

// budgetState reads a budget's limit, spend, outstanding leases and their
// count.
func budgetState(ctx context.Context, q querier, scope string) (limit, spent, out int64, n int, err error) {
	if err = q.QueryRowContext(ctx, `SELECT limit_nusd, spent_nusd FROM budgets WHERE scope = ?`, scope).Scan(&limit, &spent); err != nil {
		return
	}
	err = q.QueryRowContext(ctx, `SELECT coalesce(sum(granted_nusd), 0), count(*) FROM budget_leases WHERE scope = ?`, scope).Scan(&out, &n)
	return
}

// TakeAllowance implements aicred.BudgetService. The write transaction
// (BEGIN IMMEDIATE) holds SQLite's write lock from the first statement, so
// reading what is left and inserting the lease is atomic across
// connections and processes.
func (s *Store) TakeAllowance(ctx context.Context, q aicred.AllowanceRequest) (aicred.Allowance, error) {
	if err := q.Validate(); err != nil {
		return aicred.Allowance{}, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return aicred.Allowance{}, classify(err, "take allowance: begin")
	}
	defer tx.Rollback()
	now := time.Now()
	nowS := audit.FormatTime(now)
	limit := aicred.NanoUSD(q.LimitUSD)
	if _, err := tx.ExecContext(ctx, `INSERT INTO budgets (scope, limit_nusd, spent_nusd, updated_at) VALUES (?, ?, 0, ?)
		ON CONFLICT (scope) DO UPDATE SET limit_nusd = excluded.limit_nusd, updated_at = excluded.updated_at`,
		q.Scope, limit, nowS); err != nil {
		return aicred.Allowance{}, classify(err, "take allowance")
	}
	// Expired leases become spend, in full (see aicred.BudgetService).
	var expired int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(granted_nusd), 0) FROM budget_leases WHERE scope = ? AND expires_at <= ?`,
		q.Scope, nowS).Scan(&expired); err != nil {
		return aicred.Allowance{}, classify(err, "take allowance: expired leases")
	}
	if res, err := tx.ExecContext(ctx, `DELETE FROM budget_leases WHERE scope = ? AND expires_at <= ?`, q.Scope, nowS); err != nil {
		return aicred.Allowance{}, classify(err, "take allowance: expired leases")
	} else if n, _ := res.RowsAffected(); n > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE budgets SET spent_nusd = spent_nusd + ? WHERE scope = ?`, expired, q.Scope); err != nil {
			return aicred.Allowance{}, classify(err, "take allowance: charge expired leases")
		}
	}
	_, spent, out, _, err := budgetState(ctx, tx, q.Scope)
	if err != nil {
		return aicred.Allowance{}, classify(err, "take allowance")
	}
	left := max(0, limit-spent-out)
	grant := min(aicred.NanoUSD(q.WantUSD), left)
	a := aicred.Allowance{Scope: q.Scope, Holder: q.Holder, GrantedUSD: aicred.USDOfNano(grant), LeftUSD: aicred.USDOfNano(left - grant)}
	if grant > 0 {
		a.LeaseID = newLeaseID()
		a.ExpiresAt = aicred.StoreTime(now.Add(q.TTL))
		if _, err := tx.ExecContext(ctx, `INSERT INTO budget_leases (id, scope, holder, granted_nusd, taken_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			a.LeaseID, q.Scope, aicred.StorableText(q.Holder), grant, nowS, audit.FormatTime(a.ExpiresAt)); err != nil {
			return aicred.Allowance{}, classify(err, "take allowance: lease")
		}
	} else {
		a.Holder = ""
	}
	if err := tx.Commit(); err != nil {
		return aicred.Allowance{}, classify(err, "take allowance: commit")
	}
	return a, nil
}

// ReturnAllowance implements aicred.BudgetService.
func (s *Store) ReturnAllowance(ctx context.Context, leaseID string, spentUSD float64) error {
	if !aicred.ValidUSD(spentUSD) {
		return aicred.Errorf(aicred.ErrInvalid, "return allowance: spend must be finite and not negative")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return classify(err, "return allowance: begin")
	}
	defer tx.Rollback()
	var scope string
	err = tx.QueryRowContext(ctx, `DELETE FROM budget_leases WHERE id = ? RETURNING scope`, leaseID).Scan(&scope)
	if errors.Is(err, sql.ErrNoRows) {
		return aicred.Errorf(aicred.ErrNotFound, "return allowance %s: no such lease (returned already, or expired and charged in full)", leaseID)
	}
	if err != nil {
		return classify(err, "return allowance %s", leaseID)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE budgets SET spent_nusd = spent_nusd + ?, updated_at = ? WHERE scope = ?`,
		aicred.NanoUSD(spentUSD), audit.FormatTime(time.Now()), scope); err != nil {
		return classify(err, "return allowance %s", leaseID)
	}
	if err := tx.Commit(); err != nil {
		return classify(err, "return allowance %s: commit", leaseID)
	}
	return nil
}

// RenewAllowance implements aicred.BudgetService.
func (s *Store) RenewAllowance(ctx context.Context, leaseID string, ttl time.Duration) (aicred.Allowance, error) {
	if ttl < time.Millisecond {
		return aicred.Allowance{}, aicred.Errorf(aicred.ErrInvalid, "renew allowance %s: TTL %s is too short", leaseID, ttl)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return aicred.Allowance{}, classify(err, "renew allowance: begin")
	}
	defer tx.Rollback()
	now := time.Now()
	a := aicred.Allowance{LeaseID: leaseID, ExpiresAt: aicred.StoreTime(now.Add(ttl))}
	var granted int64
	err = tx.QueryRowContext(ctx, `UPDATE budget_leases SET expires_at = ? WHERE id = ? AND expires_at > ? RETURNING scope, holder, granted_nusd`,
		audit.FormatTime(a.ExpiresAt), leaseID, audit.FormatTime(now)).Scan(&a.Scope, &a.Holder, &granted)
	if errors.Is(err, sql.ErrNoRows) {
		return aicred.Allowance{}, aicred.Errorf(aicred.ErrNotFound, "renew allowance %s: no such lease, or it expired", leaseID)
	}
	if err != nil {
		return aicred.Allowance{}, classify(err, "renew allowance %s", leaseID)
	}
	limit, spent, out, _, err := budgetState(ctx, tx, a.Scope)
	if err != nil {
		return aicred.Allowance{}, classify(err, "renew allowance %s", leaseID)
	}
	a.GrantedUSD, a.LeftUSD = aicred.USDOfNano(granted), aicred.USDOfNano(max(0, limit-spent-out))
	if err := tx.Commit(); err != nil {
		return aicred.Allowance{}, classify(err, "renew allowance %s: commit", leaseID)
	}
	return a, nil
}

// GetBudget implements aicred.BudgetService.
func (s *Store) GetBudget(ctx context.Context, scope string) (aicred.Budget, error) {
	b := aicred.Budget{Scope: scope}
	var err error
	err = s.read(ctx, "get budget", func(tx *sql.Tx) error {
		limit, spent, out, n, err := budgetState(ctx, tx, scope)
		if errors.Is(err, sql.ErrNoRows) {
			return aicred.Errorf(aicred.ErrNotFound, "no budget %q", scope)
		}
		b.LimitUSD, b.SpentUSD, b.OutstandingUSD, b.Leases = aicred.USDOfNano(limit), aicred.USDOfNano(spent), aicred.USDOfNano(out), n
		return err
	})
	return b, err
}
