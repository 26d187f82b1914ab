package gateway

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aicred/aicred/broker"
)

// Limits are what a role allows one token and its workload; 0 means no
// limit.
type Limits struct {
	// TokenUSD caps the spend of one token over its whole life.
	TokenUSD float64
	// WorkloadDailyUSD caps the spend of one workload (issuer + subject,
	// all its tokens) per UTC day.
	WorkloadDailyUSD float64
	// RequestsPerMinute, TokensPerMinute and Concurrent apply per token.
	RequestsPerMinute int
	TokensPerMinute   int
	Concurrent        int
}

func (l Limits) none() bool { return l == Limits{} }

// LimitsOf returns a role's limits.
func LimitsOf(r *broker.Role) Limits {
	return Limits{
		TokenUSD: r.Budget.PerTokenUSD, WorkloadDailyUSD: r.Budget.PerWorkloadDailyUSD,
		RequestsPerMinute: r.Rate.RequestsPerMinute, TokensPerMinute: r.Rate.TokensPerMinute, Concurrent: r.Rate.Concurrent,
	}
}

// An AdmitRequest asks to reserve a request's worst case.
type AdmitRequest struct {
	TokenID      string
	TokenExpires time.Time
	Workload     string // issuer + " " + subject
	Limits       Limits
	CostUSD      float64 // worst-case cost
	Tokens       int64   // worst-case tokens (input estimate + max output)
}

// A Ticket is an admitted request's reservation, to be settled once.
type Ticket struct {
	ID       uint64
	TokenID  string
	Workload string
	CostUSD  float64
	Tokens   int64
}

// Reasons a request is not admitted.
const (
	RefusedTokenBudget    = "token_budget"
	RefusedWorkloadBudget = "workload_daily_budget"
	RefusedRequestRate    = "requests_per_minute"
	RefusedTokenRate      = "tokens_per_minute"
	RefusedConcurrency    = "concurrent_requests"
)

// An AdmitError says why a request was not admitted and, when waiting
// helps, for how long (RetryAfter 0: waiting does not help).
type AdmitError struct {
	Reason     string
	RetryAfter time.Duration
	Msg        string
}

func (e *AdmitError) Error() string { return e.Msg }

// Admission checks budgets and rate limits and holds reservations.
// Admit checks and reserves for both the token and the workload
// atomically; Settle replaces the reservation by the real cost and token
// count (once per ticket: settling a ticket again does nothing).
// Implementations must be safe for concurrent use.
//
// Reservations expire: one not settled within a TTL is charged in full
// as spend and its in-flight slot is freed. A settlement that was lost
// must not hold budget forever, but the request may also still be
// running (a long stream), so releasing the reservation could let new
// requests overspend the budget; charging it is the safe side (the same
// rule the store applies to expired leases). A Settle that arrives after
// its ticket expired still counts: the budget is charged the real cost
// minus the reservation already charged, so a real cost above the
// reservation adds the difference and one below it credits the
// difference back (the real cost is known then, so crediting cannot
// overspend). The in-flight slot is not released a second time.
//
// MemoryAdmission serves one process. LeasedAdmission (lease.go) serves
// several processes sharing budgets: it takes allowances from the store
// atomically in slices and spends them locally.
type Admission interface {
	Admit(ctx context.Context, q AdmitRequest) (Ticket, error)
	Settle(ctx context.Context, t Ticket, costUSD float64, tokens int64)
}

// MemoryAdmission is an in-memory Admission for one process. A
// reservation not settled within TTL (a request whose settlement was
// lost, or one still streaming) is charged in full as spend and its
// in-flight slot freed (see Admission); a settlement arriving later, up
// to lateKeep(TTL) after the expiry, replaces that charge by the real
// cost. A settlement later still is ignored: the reservation stays
// charged.
type MemoryAdmission struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	next      uint64
	tokens    map[string]*tokenState
	workloads map[string]*workloadState
	held      map[uint64]*held
	expired   map[uint64]*lapsed // charged at expiry, awaiting a late Settle
	minExpiry time.Time          // no reservation expires before this
	nextGC    time.Time
}

type tokenState struct {
	spent, reserved float64
	inflight        int
	expires         time.Time
	rpm, tpm        bucket
}

type workloadState struct {
	day             int64 // days since the epoch, UTC
	spent, reserved float64
	inflight        int
}

type held struct {
	t       Ticket
	expires time.Time
}

// A lapsed reservation was charged in full at expiry; a late Settle
// corrects the charge to the real cost.
type lapsed struct {
	t      Ticket
	day    int64 // the workload day the reservation was charged to
	forget time.Time
}

// lateKeep is how long after a reservation expired its settlement is
// still accepted: long enough for long streams, bounded so that lost
// settlements are eventually forgotten.
func lateKeep(ttl time.Duration) time.Duration { return max(time.Hour, 6*ttl) }

// NewMemoryAdmission returns an Admission whose reservations expire after
// ttl (default 10 minutes); now defaults to time.Now.
func NewMemoryAdmission(ttl time.Duration, now func() time.Time) *MemoryAdmission {
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryAdmission{ttl: ttl, now: now, tokens: map[string]*tokenState{},
		workloads: map[string]*workloadState{}, held: map[uint64]*held{}, expired: map[uint64]*lapsed{}}
}

func utcDay(t time.Time) int64 { return t.Unix() / 86400 }

// Admit implements Admission.
func (a *MemoryAdmission) Admit(_ context.Context, q AdmitRequest) (Ticket, error) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !now.Before(a.minExpiry) || !now.Before(a.nextGC) {
		a.sweep(now)
	}
	l := q.Limits
	ts := a.tokens[q.TokenID]
	if ts == nil {
		ts = &tokenState{expires: q.TokenExpires}
		ts.rpm.init(float64(l.RequestsPerMinute), now)
		ts.tpm.init(float64(l.TokensPerMinute), now)
		a.tokens[q.TokenID] = ts
	}
	ws := a.workloads[q.Workload]
	day := utcDay(now)
	if ws == nil {
		ws = &workloadState{day: day}
		a.workloads[q.Workload] = ws
	} else {
		ws.roll(day)
	}

	// Check everything first, then take: all or nothing.
	if l.TokenUSD > 0 && ts.spent+ts.reserved+q.CostUSD > l.TokenUSD {
		return Ticket{}, &AdmitError{Reason: RefusedTokenBudget,
			Msg: "aicred gateway: this token's budget is spent (or too little is left for this request's worst case)"}
	}
	if l.WorkloadDailyUSD > 0 && ws.spent+ws.reserved+q.CostUSD > l.WorkloadDailyUSD {
		midnight := time.Unix((day+1)*86400, 0)
		return Ticket{}, &AdmitError{Reason: RefusedWorkloadBudget, RetryAfter: midnight.Sub(now),
			Msg: "aicred gateway: the workload's daily budget is spent (or too little is left for this request's worst case)"}
	}
	if l.Concurrent > 0 && ts.inflight >= l.Concurrent {
		return Ticket{}, &AdmitError{Reason: RefusedConcurrency, RetryAfter: time.Second,
			Msg: "aicred gateway: too many concurrent requests for this token"}
	}
	if l.RequestsPerMinute > 0 {
		if wait, ok := ts.rpm.check(float64(l.RequestsPerMinute), 1, now); !ok {
			return Ticket{}, &AdmitError{Reason: RefusedRequestRate, RetryAfter: wait,
				Msg: "aicred gateway: rate limit reached for requests per minute"}
		}
	}
	if l.TokensPerMinute > 0 {
		if wait, ok := ts.tpm.check(float64(l.TokensPerMinute), float64(q.Tokens), now); !ok {
			return Ticket{}, &AdmitError{Reason: RefusedTokenRate, RetryAfter: wait,
				Msg: "aicred gateway: rate limit reached for tokens per minute (counting this request's worst case)"}
		}
	}
	if l.RequestsPerMinute > 0 {
		ts.rpm.level--
	}
	if l.TokensPerMinute > 0 {
		ts.tpm.level -= float64(q.Tokens)
	}
	ts.reserved += q.CostUSD
	ws.reserved += q.CostUSD
	ts.inflight++
	ws.inflight++
	a.next++
	t := Ticket{ID: a.next, TokenID: q.TokenID, Workload: q.Workload, CostUSD: q.CostUSD, Tokens: q.Tokens}
	exp := now.Add(a.ttl)
	a.held[t.ID] = &held{t: t, expires: exp}
	if len(a.held) == 1 || exp.Before(a.minExpiry) {
		a.minExpiry = exp
	}
	return t, nil
}

// roll starts a new day's spend: reservations still out stay, and are
// charged to the day they settle (or expire) in.
func (ws *workloadState) roll(day int64) {
	if ws.day != day {
		ws.day, ws.spent = day, 0
	}
}

// Settle implements Admission. A ticket whose reservation expired (and
// was charged in full) is charged the difference between its real cost
// and the reservation: more when it cost more, credited back when it
// cost less (see Admission). Its in-flight slot was freed at expiry and
// is not freed again. A ticket settled already, or unknown, changes
// nothing.
func (a *MemoryAdmission) Settle(_ context.Context, t Ticket, costUSD float64, tokens int64) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	ts, ws := a.tokens[t.TokenID], a.workloads[t.Workload]
	if ws != nil {
		ws.roll(utcDay(now))
	}
	if _, ok := a.held[t.ID]; ok {
		delete(a.held, t.ID)
		a.release(t, ts, ws)
		if ts != nil && ts.tpm.capacity > 0 {
			// Give back the tokens reserved but not used.
			ts.tpm.level = min(ts.tpm.capacity, ts.tpm.level+float64(t.Tokens-tokens))
		}
		if ts != nil {
			ts.spent += costUSD
		}
		if ws != nil {
			ws.spent += costUSD
		}
		return
	}
	l, ok := a.expired[t.ID]
	if !ok {
		return // settled already (or never admitted here)
	}
	delete(a.expired, t.ID)
	d := costUSD - l.t.CostUSD
	if ts != nil {
		ts.spent = max(0, ts.spent+d)
	}
	if ws == nil && d > 0 {
		// Forgotten since (idle on a past day): the excess is today's.
		ws = &workloadState{day: utcDay(now)}
		a.workloads[t.Workload] = ws
	}
	// A credit goes back only to the day that was charged: crediting
	// today for yesterday's over-charge would let today overspend.
	if ws != nil && (d > 0 || ws.day == l.day) {
		ws.spent = max(0, ws.spent+d)
	}
}

// expire charges an expired reservation in full as spend and frees its
// in-flight slot, keeping a record for a late Settle. Called under a.mu.
func (a *MemoryAdmission) expire(t Ticket, now time.Time) {
	ts, ws := a.tokens[t.TokenID], a.workloads[t.Workload]
	a.release(t, ts, ws)
	l := &lapsed{t: t, day: -1, forget: now.Add(lateKeep(a.ttl))}
	if ts != nil {
		ts.spent += t.CostUSD
	}
	if ws != nil {
		ws.roll(utcDay(now))
		ws.spent += t.CostUSD
		l.day = ws.day
	}
	a.expired[t.ID] = l
}

func (a *MemoryAdmission) release(t Ticket, ts *tokenState, ws *workloadState) {
	// With nothing in flight the reservations are exactly 0, whatever
	// the rounding of the sums.
	if ts != nil {
		ts.inflight--
		ts.reserved = math.Max(0, ts.reserved-t.CostUSD)
		if ts.inflight <= 0 {
			ts.inflight, ts.reserved = 0, 0
		}
	}
	if ws != nil {
		ws.inflight--
		ws.reserved = math.Max(0, ws.reserved-t.CostUSD)
		if ws.inflight <= 0 {
			ws.inflight, ws.reserved = 0, 0
		}
	}
}

// sweep charges expired reservations (see expire), and forgets expired
// tokens, idle workloads of past days and expired reservations whose
// settlement never came. Called under a.mu.
func (a *MemoryAdmission) sweep(now time.Time) {
	a.minExpiry = time.Time{}
	for id, h := range a.held {
		if !now.Before(h.expires) {
			delete(a.held, id)
			a.expire(h.t, now)
			continue
		}
		if a.minExpiry.IsZero() || h.expires.Before(a.minExpiry) {
			a.minExpiry = h.expires
		}
	}
	if a.minExpiry.IsZero() {
		a.minExpiry = now.Add(a.ttl)
	}
	if !now.Before(a.nextGC) {
		a.nextGC = now.Add(time.Minute)
		day := utcDay(now)
		for id, ts := range a.tokens {
			if ts.inflight == 0 && !ts.expires.IsZero() && now.After(ts.expires) {
				delete(a.tokens, id)
			}
		}
		for k, ws := range a.workloads {
			if ws.day != day && ws.inflight == 0 {
				delete(a.workloads, k)
			}
		}
		for id, l := range a.expired {
			if !now.Before(l.forget) {
				delete(a.expired, id)
			}
		}
	}
}

// Spent returns a token's settled spend and outstanding reservations.
func (a *MemoryAdmission) Spent(tokenID string) (spent, reserved float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ts := a.tokens[tokenID]; ts != nil {
		return ts.spent, ts.reserved
	}
	return 0, 0
}

// WorkloadSpent returns a workload's settled spend and outstanding
// reservations today.
func (a *MemoryAdmission) WorkloadSpent(workload string) (spent, reserved float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ws := a.workloads[workload]; ws != nil {
		return ws.spent, ws.reserved
	}
	return 0, 0
}

// A bucket refills capacity per minute, evenly.
type bucket struct {
	capacity, level float64
	last            time.Time
}

func (b *bucket) init(capacity float64, now time.Time) {
	b.capacity, b.level, b.last = capacity, capacity, now
}

// check refills the bucket and reports whether n fits, or how long until
// it does (0 when it never will).
func (b *bucket) check(capacity, n float64, now time.Time) (time.Duration, bool) {
	if b.capacity != capacity { // the role changed
		b.level += capacity - b.capacity
		b.capacity = capacity
	}
	if el := now.Sub(b.last); el > 0 {
		b.level = min(b.capacity, b.level+el.Minutes()*b.capacity)
		b.last = now
	}
	if n <= b.level {
		return 0, true
	}
	if n > b.capacity {
		return 0, false
	}
	return time.Duration((n - b.level) / b.capacity * float64(time.Minute)), false
}

// admit is the stage that reserves the worst case against the token's and
// the workload's budgets and checks the rate limits, before any upstream
// call.
type admit struct {
	adm Admission
}

func (s admit) serve(x *exchange) error {
	if x.role == nil {
		return nil
	}
	l := LimitsOf(x.role)
	if l.none() {
		return nil
	}
	est := x.estimate()
	t, err := s.adm.Admit(x.r.Context(), AdmitRequest{
		TokenID: x.grant.ID, TokenExpires: x.grant.ExpiresAt, Workload: x.grant.Issuer + " " + x.grant.Subject,
		Limits: l, CostUSD: x.price.worstInput().Cost(est), Tokens: est.InputTokens + est.OutputTokens,
	})
	if err != nil {
		ae, ok := err.(*AdmitError)
		if !ok {
			return err
		}
		rf := &refusal{status: http.StatusTooManyRequests, typ: "requests", code: "rate_limit_exceeded", msg: ae.Msg}
		switch ae.Reason {
		case RefusedTokenBudget, RefusedWorkloadBudget:
			rf.typ, rf.code = "insufficient_quota", "insufficient_quota"
		case RefusedTokenRate:
			rf.typ = "tokens"
		}
		if ae.RetryAfter > 0 {
			rf.retryAfter = int64(math.Ceil(ae.RetryAfter.Seconds()))
		}
		return rf
	}
	x.adm, x.ticket = s.adm, t
	return nil
}

// findRole looks up the token's role as configured now: its budgets,
// rate limits and allowances. A role that no longer exists refuses.
type findRole struct {
	roles func(name string) (*broker.Role, bool)
}

func (s findRole) serve(x *exchange) error {
	if s.roles == nil {
		return nil
	}
	r, ok := s.roles(x.grant.Role)
	if !ok || r == nil {
		return refuse(http.StatusForbidden, "permission_error", "unknown_role", "aicred gateway: this token's role no longer exists")
	}
	x.role = r
	return nil
}

// settle replaces the exchange's reservation, if any, by what was
// charged; only the first call counts.
func (x *exchange) settle(costUSD float64, u Usage) {
	if x.adm == nil || !x.settled.CompareAndSwap(false, true) {
		return
	}
	x.adm.Settle(context.WithoutCancel(x.r.Context()), x.ticket, costUSD, u.Total())
}

// settleReserved settles at the reservation when metering never did.
func (x *exchange) settleReserved() {
	if x.adm != nil && !x.settled.Load() {
		x.settle(x.ticket.CostUSD, Usage{OutputTokens: x.ticket.Tokens})
	}
}

func retryAfterHeader(w http.ResponseWriter, secs int64) {
	if secs > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
}
