package aicred

import (
	"context"
	"math"
	"strings"
	"time"
)

// BudgetService keeps budgets that several gateway processes spend from
// together. A process never charges the store per request: it takes an
// allowance (a lease on part of what is left), spends it locally, and
// returns it with what it really spent. The store grants at most what is
// left after the spend and every outstanding lease, atomically, so the
// processes together never spend more than the limit (give or take the
// real cost of requests exceeding their reservation).
//
// Expiry: a lease carries an expiry (now + TTL, on the store's clock). A
// lease neither returned nor renewed by then is charged in full as spend
// the next time anyone takes an allowance from its budget: its holder may
// have died after spending all of it, and releasing it as unspent could
// overspend the budget. A live holder renews well before expiry. The cost
// of a crash is therefore over-counting (a budget exhausted early), never
// overspending.
//
// Leases and spend are metering, not audited state: they do not go
// through the audit log.
type BudgetService interface {
	// TakeAllowance grants min(WantUSD, LimitUSD - spent - outstanding
	// leases), after charging the budget's expired leases in full. A
	// grant of 0 is a refusal: the Allowance has no LeaseID and nothing
	// is stored. The budget is created on first use; LimitUSD replaces
	// the limit it had (a role's budget may change).
	// Errors: ErrInvalid (a malformed scope, a negative or non-finite
	// amount, no holder, TTL < 1ms).
	TakeAllowance(ctx context.Context, q AllowanceRequest) (Allowance, error)

	// ReturnAllowance ends a lease: spentUSD becomes spend (even when it
	// exceeds the grant: the real cost is what counts) and the rest is
	// released. A lease past its expiry that nobody charged yet is
	// returned as usual.
	// Errors: ErrInvalid (a negative or non-finite amount), ErrNotFound
	// (no such lease: it was returned already or expired and was charged
	// in full).
	ReturnAllowance(ctx context.Context, leaseID string, spentUSD float64) error

	// RenewAllowance moves a lease's expiry to now + ttl.
	// Errors: ErrInvalid (ttl < 1ms), ErrNotFound (no such lease, or it
	// expired: it may have been charged already, so it is not revived).
	RenewAllowance(ctx context.Context, leaseID string, ttl time.Duration) (Allowance, error)

	// GetBudget returns a budget's spend and outstanding leases (expired
	// leases not yet charged count as outstanding).
	// Errors: ErrNotFound (no allowance was ever taken from it).
	GetBudget(ctx context.Context, scope string) (Budget, error)
}

// An AllowanceRequest asks for a slice of a budget.
type AllowanceRequest struct {
	// Scope names the budget: TokenBudgetScope or WorkloadDayScope.
	Scope    string
	LimitUSD float64
	WantUSD  float64
	// Holder names the process taking the lease (host, pid), for
	// operators reading the lease table.
	Holder string
	TTL    time.Duration
}

// An Allowance is a granted lease. GrantedUSD 0 means refused.
type Allowance struct {
	LeaseID    string    `json:"lease_id,omitempty"`
	Scope      string    `json:"scope"`
	Holder     string    `json:"holder,omitempty"`
	GrantedUSD float64   `json:"granted_usd"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	// LeftUSD is what remained of the budget after this grant.
	LeftUSD float64 `json:"left_usd"`
}

// A Budget is the state of one scope.
type Budget struct {
	Scope          string  `json:"scope"`
	LimitUSD       float64 `json:"limit_usd"`
	SpentUSD       float64 `json:"spent_usd"`
	OutstandingUSD float64 `json:"outstanding_usd"`
	Leases         int     `json:"leases"`
}

// Budget scope prefixes.
const (
	ScopeToken    = "token:"
	ScopeWorkload = "workload:"
)

// TokenBudgetScope names the lifetime budget of one token.
func TokenBudgetScope(tokenID string) string { return ScopeToken + tokenID }

// WorkloadDayScope names a workload's budget for the UTC day of t.
// workload is issuer + " " + subject.
func WorkloadDayScope(workload string, t time.Time) string {
	return ScopeWorkload + workload + ":" + UsageDay(t)
}

// ValidBudgetScope reports whether s is a scope a budget may have.
func ValidBudgetScope(s string) bool {
	if len(s) > 1024 || StorableText(s) != s {
		return false
	}
	if id, ok := strings.CutPrefix(s, ScopeToken); ok {
		return id != ""
	}
	if rest, ok := strings.CutPrefix(s, ScopeWorkload); ok {
		i := strings.LastIndexByte(rest, ':')
		if i < 1 {
			return false
		}
		_, err := time.Parse(time.DateOnly, rest[i+1:])
		return err == nil
	}
	return false
}

// Validate checks q. Errors: ErrInvalid.
func (q AllowanceRequest) Validate() error {
	switch {
	case !ValidBudgetScope(q.Scope):
		return Errorf(ErrInvalid, "allowance: malformed budget scope (want token:<id> or workload:<issuer subject>:<YYYY-MM-DD>)")
	case !validUSD(q.LimitUSD) || !validUSD(q.WantUSD):
		return Errorf(ErrInvalid, "allowance %s: limit and amount must be finite and not negative", q.Scope)
	case q.Holder == "":
		return Errorf(ErrInvalid, "allowance %s: no holder", q.Scope)
	case q.TTL < time.Millisecond:
		return Errorf(ErrInvalid, "allowance %s: TTL %s is too short", q.Scope, q.TTL)
	}
	return nil
}

func validUSD(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 && v < maxUSD }

// maxUSD keeps nano-dollar amounts inside int64 with room for sums.
const maxUSD = 1e9

// ValidUSD reports whether v is an amount a budget can hold: finite, not
// negative, under a billion dollars.
func ValidUSD(v float64) bool { return validUSD(v) }

// Stores keep budget amounts as integer nano-dollars, so sums and
// comparisons are exact and the grant rule holds to the last digit.

// NanoUSD converts dollars to nano-dollars (rounded to nearest).
func NanoUSD(usd float64) int64 { return int64(math.Round(usd * 1e9)) }

// USDOfNano converts nano-dollars to dollars.
func USDOfNano(n int64) float64 { return float64(n) / 1e9 }
