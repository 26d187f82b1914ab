package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aicred/aicred"
)

// LeaseConfig tunes a LeasedAdmission; zero values take the defaults.
type LeaseConfig struct {
	// Holder names this process in the store's lease table (default
	// host:pid).
	Holder string
	// TTL is how long a lease lives unless renewed (default 2m). A
	// process that dies leaves its leases to expire; the store then
	// charges them in full, so a smaller TTL frees a dead process's
	// share sooner and costs more renewals.
	TTL time.Duration
	// Idle is how long an allowance goes unused before it is returned
	// (default 30s).
	Idle time.Duration
	// Tick is how often leases are renewed, retired and returned
	// (default TTL/6, at most Idle/2).
	Tick time.Duration
	// SliceFraction and SliceRequests size each allowance taken:
	// max(SliceFraction x the limit, SliceRequests x the request's worst
	// case), capped by the store at what is left (defaults 0.1 and 20).
	// Larger slices mean fewer store round trips and more of the budget
	// held by one process while others may need it.
	SliceFraction float64
	SliceRequests float64
	// ReservationTTL bounds how long a reservation waits for its
	// settlement before it is charged at its worst case and its
	// in-flight slot freed (default 10m), as MemoryAdmission does (see
	// Admission): the request may still be running, so the reservation
	// is charged, never released.
	ReservationTTL time.Duration
	// LateSettle is how long after a reservation expired its settlement
	// still corrects the charge to the real cost (default max(1h, 6 x
	// ReservationTTL)). Until then the budget's pool keeps its last
	// lease, renewed, to carry the correction to the store; after it
	// the reservation stays charged (logged) and a settlement changes
	// nothing.
	LateSettle time.Duration
	// DryRetry is how long a budget the store refused to top up, or
	// failed to, is refused locally without asking again (default 1s).
	DryRetry time.Duration
	// StoreTimeout bounds each call to the store (default 2s). A store
	// gone silent (a black-holed network answers nothing, refuses
	// nothing) would otherwise hold a request until its client gave up,
	// and the maintenance loop for good.
	StoreTimeout time.Duration
	Log          *slog.Logger
	Now          func() time.Time
}

// LeasedAdmission is the Admission for several gateway processes sharing
// budgets through the store. Budgets (Limits.TokenUSD and
// Limits.WorkloadDailyUSD) are spent from allowances leased from the
// store in slices: the hot path only touches memory, and since the store
// never grants more than is left, the processes together cannot spend
// more than a budget (beyond requests whose real cost exceeds their
// reservation). When a slice runs out Admit takes another synchronously;
// if the store cannot be reached Admit fails with ErrUnavailable (the
// gateway answers 503: fail closed) unless the allowance in hand covers
// the request. Allowances are renewed while in use, returned with their
// real spend when idle or on Close, and a dead process's leases expire
// and are charged in full.
//
// Rate limits and concurrency stay per process: a MemoryAdmission with
// the budgets zeroed enforces them.
type LeasedAdmission struct {
	store aicred.BudgetService
	cfg   LeaseConfig
	log   *slog.Logger
	now   func() time.Time
	rates *MemoryAdmission

	mu      sync.RWMutex
	pools   map[poolKey]*pool
	tickets map[uint64]leasedTicket
	late    map[uint64]leasedTicket // expired and charged, awaiting a late Settle
	closed  bool

	stop chan struct{}
	done chan struct{}
}

type poolKey struct {
	workload bool // false: a token's lifetime budget
	id       string
	day      int64 // workload budgets: days since the epoch, UTC
}

type leasedTicket struct {
	token, workload *pool
	cost            float64
	// expires: in tickets, when the reservation is charged; in late,
	// when a late settlement stops being awaited.
	expires time.Time
}

// A pool is this process's share of one budget: the leases it holds,
// what it spent and reserved against them.
type pool struct {
	scope string

	mu        sync.Mutex
	limit     float64
	leases    []heldLease
	granted   float64 // sum of the leases' grants
	spent     float64 // settled spend not yet returned to the store
	reserved  float64
	inflight  int
	late      int // reservations charged at expiry, awaiting a late Settle: keep a lease to carry the correction
	lastUse   time.Time
	dryUntil  time.Time // the store had no more: refuse locally until then
	downErr   error     // the store failed: refuse with this until downUntil
	downUntil time.Time
	taking    chan struct{} // closed when the allowance being taken arrives
	dead      bool          // dropped from the map: look it up again
}

type heldLease struct {
	id      string
	granted float64
	expires time.Time // local estimate, never later than the store's
}

func (p *pool) available() float64 { return p.granted - p.spent - p.reserved }

// NewLeasedAdmission returns a LeasedAdmission spending budgets leased
// from store, and starts its maintenance goroutine. Close it to return
// what it holds.
func NewLeasedAdmission(store aicred.BudgetService, cfg LeaseConfig) *LeasedAdmission {
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		cfg.Holder = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 2 * time.Minute
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 30 * time.Second
	}
	if cfg.Tick <= 0 {
		cfg.Tick = min(cfg.TTL/6, cfg.Idle/2)
	}
	if cfg.SliceFraction <= 0 {
		cfg.SliceFraction = 0.1
	}
	if cfg.SliceRequests <= 0 {
		cfg.SliceRequests = 20
	}
	if cfg.ReservationTTL <= 0 {
		cfg.ReservationTTL = 10 * time.Minute
	}
	if cfg.LateSettle <= 0 {
		cfg.LateSettle = lateKeep(cfg.ReservationTTL)
	}
	if cfg.DryRetry <= 0 {
		cfg.DryRetry = time.Second
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &LeasedAdmission{store: store, cfg: cfg, log: cfg.Log, now: cfg.Now,
		rates: NewMemoryAdmission(cfg.ReservationTTL, cfg.Now),
		pools: map[poolKey]*pool{}, tickets: map[uint64]leasedTicket{}, late: map[uint64]leasedTicket{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go a.maintain()
	return a
}

// Admit implements Admission: the budgets first (reserving the worst
// case from the allowances in hand, topping them up from the store when
// short), then this process's rate limits and concurrency.
func (a *LeasedAdmission) Admit(ctx context.Context, q AdmitRequest) (Ticket, error) {
	now := a.now()
	l := q.Limits
	var tp, wp *pool
	var err error
	if l.TokenUSD > 0 {
		if tp, err = a.reserve(ctx, poolKey{id: q.TokenID}, l.TokenUSD, q.CostUSD, now); err != nil {
			return Ticket{}, a.budgetErr(err, RefusedTokenBudget, now)
		}
	}
	if l.WorkloadDailyUSD > 0 {
		if wp, err = a.reserve(ctx, poolKey{workload: true, id: q.Workload, day: utcDay(now)}, l.WorkloadDailyUSD, q.CostUSD, now); err != nil {
			tp.unreserve(q.CostUSD)
			return Ticket{}, a.budgetErr(err, RefusedWorkloadBudget, now)
		}
	}
	rq := q
	rq.Limits.TokenUSD, rq.Limits.WorkloadDailyUSD = 0, 0
	t, err := a.rates.Admit(ctx, rq)
	if err != nil {
		tp.unreserve(q.CostUSD)
		wp.unreserve(q.CostUSD)
		return Ticket{}, err
	}
	if tp != nil || wp != nil {
		a.mu.Lock()
		a.tickets[t.ID] = leasedTicket{token: tp, workload: wp, cost: q.CostUSD, expires: now.Add(a.cfg.ReservationTTL)}
		a.mu.Unlock()
	}
	return t, nil
}

// errDry: the store granted less than the request's worst case.
var errDry = fmt.Errorf("budget spent")

func (a *LeasedAdmission) budgetErr(err error, reason string, now time.Time) error {
	if err != errDry {
		return err
	}
	ae := &AdmitError{Reason: reason}
	if reason == RefusedWorkloadBudget {
		ae.RetryAfter = time.Unix((utcDay(now)+1)*86400, 0).Sub(now)
		ae.Msg = "aicred gateway: the workload's daily budget is spent (or too little is left for this request's worst case)"
	} else {
		ae.Msg = "aicred gateway: this token's budget is spent (or too little is left for this request's worst case)"
	}
	return ae
}

// Settle implements Admission: the reservation becomes spend against the
// allowances (a cost above the reservation included), and the rate
// limiter settles its tokens. For a ticket whose reservation expired
// (charged in full by tick) the spend is corrected by the real cost
// minus the reservation, up or down (see Admission); its pools kept a
// lease to carry that to the store. Settling a ticket again does
// nothing.
func (a *LeasedAdmission) Settle(ctx context.Context, t Ticket, costUSD float64, tokens int64) {
	a.mu.Lock()
	lt, ok := a.tickets[t.ID]
	delete(a.tickets, t.ID)
	late, isLate := a.late[t.ID]
	delete(a.late, t.ID)
	a.mu.Unlock()
	now := a.now()
	switch {
	case ok:
		lt.token.settle(lt.cost, costUSD, now)
		lt.workload.settle(lt.cost, costUSD, now)
	case isLate:
		late.token.settleLate(late.cost, costUSD, now)
		late.workload.settleLate(late.cost, costUSD, now)
	}
	a.rates.Settle(ctx, t, costUSD, tokens)
}

// errClosed: Admit after Close.
var errClosed = aicred.Errorf(aicred.ErrUnavailable, "budget admission is closed")

// pool returns the pool of key, creating it.
func (a *LeasedAdmission) pool(k poolKey, limit float64, now time.Time) (*pool, error) {
	a.mu.RLock()
	p, closed := a.pools[k], a.closed
	a.mu.RUnlock()
	if closed {
		return nil, errClosed
	}
	if p != nil {
		return p, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, errClosed
	}
	if p = a.pools[k]; p == nil {
		scope := aicred.TokenBudgetScope(k.id)
		if k.workload {
			scope = aicred.WorkloadDayScope(k.id, time.Unix(k.day*86400, 0))
		}
		p = &pool{scope: scope, limit: limit, lastUse: now}
		a.pools[k] = p
	}
	return p, nil
}

// reserve reserves cost in the pool of k, taking a new allowance from the
// store when what is in hand does not cover it. One take per pool is in
// flight at a time; concurrent requests wait for it.
func (a *LeasedAdmission) reserve(ctx context.Context, k poolKey, limit, cost float64, now time.Time) (*pool, error) {
	p, err := a.pool(k, limit, now)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	for p.dead { // maintenance dropped it between our lookup and lock
		p.mu.Unlock()
		if p, err = a.pool(k, limit, now); err != nil {
			return nil, err
		}
		p.mu.Lock()
	}
	p.limit = limit
	for {
		if p.available() >= cost {
			p.reserved += cost
			p.inflight++
			p.lastUse = now
			p.mu.Unlock()
			return p, nil
		}
		if now.Before(p.dryUntil) {
			p.mu.Unlock()
			return nil, errDry
		}
		if now.Before(p.downUntil) {
			// Requests that queued behind a failed take fail with it
			// rather than each waiting out the store's timeout in turn.
			err := p.downErr
			p.mu.Unlock()
			return nil, err
		}
		if ch := p.taking; ch != nil {
			p.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, aicred.Errorf(aicred.ErrUnavailable, "budget %s: waiting for an allowance: %w", p.scope, ctx.Err())
			}
			p.mu.Lock()
			continue
		}
		want := max(a.cfg.SliceFraction*limit, a.cfg.SliceRequests*cost, cost-p.available())
		ch := make(chan struct{})
		p.taking = ch
		p.mu.Unlock()
		sctx, cancel := context.WithTimeout(ctx, a.cfg.StoreTimeout)
		al, err := a.store.TakeAllowance(sctx, aicred.AllowanceRequest{Scope: p.scope, LimitUSD: limit, WantUSD: min(want, limit),
			Holder: a.cfg.Holder, TTL: a.cfg.TTL})
		cancel()
		p.mu.Lock()
		p.taking = nil
		close(ch)
		if err != nil {
			// Fail closed: whatever the store's trouble, no allowance
			// means no request.
			p.downErr = aicred.Errorf(aicred.ErrUnavailable, "budget %s: taking an allowance: %w", p.scope, err)
			p.downUntil = a.now().Add(a.cfg.DryRetry)
			err = p.downErr
			p.mu.Unlock()
			return nil, err
		}
		if al.GrantedUSD > 0 {
			p.leases = append(p.leases, heldLease{id: al.LeaseID, granted: al.GrantedUSD, expires: now.Add(a.cfg.TTL)})
			p.granted += al.GrantedUSD
		}
		if p.available() < cost {
			p.dryUntil = now.Add(a.cfg.DryRetry)
		}
		// Loop: reserve if it now fits, else refuse as dry.
	}
}

func (p *pool) unreserve(cost float64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.releaseLocked(cost)
	p.mu.Unlock()
}

func (p *pool) settle(reserved, cost float64, now time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.releaseLocked(reserved)
	p.spent += cost
	p.lastUse = now
	p.mu.Unlock()
}

// expire charges a reservation whose settlement did not come in time in
// full, frees its in-flight slot, and keeps the pool (and its last
// lease) for a late settlement.
func (p *pool) expire(reserved float64, now time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.releaseLocked(reserved)
	p.spent += reserved
	p.late++
	p.lastUse = now
	p.mu.Unlock()
}

// settleLate corrects the charge of an expired reservation to the real
// cost. An excess becomes spend, carried to the store by the pool's
// lease like any spend above the grants. A credit lowers the spend not
// yet returned to the store (all of it is this budget's); what of the
// charge was returned already stays charged: over-counted, never
// overspent.
func (p *pool) settleLate(charged, cost float64, now time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.late = max(0, p.late-1)
	p.spent = max(0, p.spent+cost-charged)
	p.lastUse = now
	p.mu.Unlock()
}

// forgetLate stops waiting for an expired reservation's settlement.
func (p *pool) forgetLate() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.late = max(0, p.late-1)
	p.mu.Unlock()
}

// maintain renews, retires and returns leases every Tick, and charges
// reservations never settled.
func (a *LeasedAdmission) maintain() {
	defer close(a.done)
	t := time.NewTicker(a.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.tick(context.Background())
		}
	}
}

// tick does one round of maintenance.
func (a *LeasedAdmission) tick(ctx context.Context) {
	now := a.now()
	a.mu.Lock()
	for id, lt := range a.tickets {
		if now.After(lt.expires) {
			// A settlement lost, or a request still running: charge the
			// worst case, never release it (see Admission), and await
			// a late settlement.
			delete(a.tickets, id)
			lt.token.expire(lt.cost, now)
			lt.workload.expire(lt.cost, now)
			lt.expires = now.Add(a.cfg.LateSettle)
			a.late[id] = lt
		}
	}
	for id, lt := range a.late {
		if now.After(lt.expires) {
			delete(a.late, id)
			lt.token.forgetLate()
			lt.workload.forgetLate()
			a.log.Warn("budget reservation expired and never settled: it stays charged at its worst case", "usd", lt.cost)
		}
	}
	pools := make(map[poolKey]*pool, len(a.pools))
	for k, p := range a.pools {
		pools[k] = p
	}
	a.mu.Unlock()
	for k, p := range pools {
		if empty, _ := a.maintainPool(ctx, p, now); empty {
			a.mu.Lock()
			p.mu.Lock()
			if len(p.leases) == 0 && p.inflight == 0 && p.late == 0 && p.taking == nil {
				delete(a.pools, k)
				p.dead = true
			}
			p.mu.Unlock()
			a.mu.Unlock()
		}
	}
}

// A lease being given back, with the spend charged to it.
type giveBack struct {
	heldLease
	spent float64
}

// maintainPool gives back what p no longer needs and renews the rest. It
// reports whether p is empty and idle, and how many leases it failed to
// give back.
func (a *LeasedAdmission) maintainPool(ctx context.Context, p *pool, now time.Time) (empty bool, failed int) {
	var back []giveBack
	var renew []heldLease
	p.mu.Lock()
	// Leases past their expiry are the store's now: it charges them in
	// full, which covers what was spent from them.
	kept := p.leases[:0]
	for _, l := range p.leases {
		if now.Before(l.expires) {
			kept = append(kept, l)
			continue
		}
		a.log.Warn("budget lease expired before it was renewed; the store charges it in full", "scope", p.scope, "lease", l.id, "usd", l.granted)
		p.granted -= l.granted
		p.spent = max(0, p.spent-l.granted)
	}
	p.leases = kept
	// A pool awaiting a late settlement is not idle: it keeps its last
	// lease (renewed) to carry the correction to the store.
	idle := p.inflight == 0 && p.late == 0 && p.taking == nil && now.Sub(p.lastUse) >= a.cfg.Idle
	switch {
	case idle:
		// Give everything back, the spend on the first leases first.
		for i, l := range p.leases {
			s := min(p.spent, l.granted)
			if i == len(p.leases)-1 {
				s = p.spent // anything spent above the grants, too
			}
			p.spent -= s
			back = append(back, giveBack{l, s})
		}
		if p.spent > 1e-12 {
			// Spend above the grants with no lease left to carry it
			// (the last one expired): the store never hears of it.
			a.log.Warn("budget spend above the allowances not charged to the store", "scope", p.scope, "usd", p.spent)
		}
		p.leases, p.granted, p.spent = nil, 0, 0
	default:
		// Retire leases spent in full, so the store's spend stays
		// current and the lease table short. The last lease stays: it
		// carries any spend above the grants until it is given back.
		for len(p.leases) > 1 && p.spent >= p.leases[0].granted {
			l := p.leases[0]
			p.leases = p.leases[1:]
			p.granted -= l.granted
			p.spent -= l.granted
			back = append(back, giveBack{l, l.granted})
		}
		for _, l := range p.leases {
			if l.expires.Sub(now) < a.cfg.TTL/2 {
				renew = append(renew, l)
			}
		}
	}
	empty = len(p.leases) == 0 && idle
	p.mu.Unlock()

	for _, b := range back {
		sctx, cancel := context.WithTimeout(ctx, a.cfg.StoreTimeout)
		err := a.store.ReturnAllowance(sctx, b.id, b.spent)
		cancel()
		if err != nil {
			// It will expire and be charged in full: over-counted, never
			// overspent.
			a.log.Warn("budget lease not returned; it will expire and be charged in full", "scope", p.scope, "lease", b.id, "err", err)
			failed++
		}
	}
	for _, l := range renew {
		start := a.now()
		sctx, cancel := context.WithTimeout(ctx, a.cfg.StoreTimeout)
		_, err := a.store.RenewAllowance(sctx, l.id, a.cfg.TTL)
		cancel()
		switch {
		case err == nil:
			p.mu.Lock()
			for i := range p.leases {
				if p.leases[i].id == l.id {
					p.leases[i].expires = start.Add(a.cfg.TTL)
				}
			}
			p.mu.Unlock()
		case aicred.KindOf(err) == aicred.ErrNotFound:
			// Charged already (we were too late): stop spending it.
			p.mu.Lock()
			for i := range p.leases {
				if p.leases[i].id == l.id {
					p.granted -= l.granted
					p.spent = max(0, p.spent-l.granted)
					p.leases = append(p.leases[:i], p.leases[i+1:]...)
					break
				}
			}
			p.mu.Unlock()
		default:
			a.log.Warn("budget lease not renewed; retrying", "scope", p.scope, "lease", l.id, "err", err)
		}
	}
	return empty, failed
}

// Close stops maintenance and returns every allowance held, with its
// spend; reservations still in flight are charged at their worst case,
// and so stay those that expired (a Settle after Close changes nothing).
// After Close, Admit refuses budgeted requests.
func (a *LeasedAdmission) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	close(a.stop)
	a.mu.Unlock()
	<-a.done

	a.mu.Lock()
	pools := make([]*pool, 0, len(a.pools))
	for _, p := range a.pools {
		pools = append(pools, p)
	}
	clear(a.tickets)
	clear(a.late)
	a.mu.Unlock()
	var failed int
	for _, p := range pools {
		p.mu.Lock()
		p.spent += p.reserved
		p.reserved, p.inflight, p.late = 0, 0, 0
		p.lastUse = time.Time{}
		p.mu.Unlock()
		_, n := a.maintainPool(ctx, p, a.now())
		failed += n
	}
	if failed > 0 {
		return aicred.Errorf(aicred.ErrUnavailable, "budget leases: %d not returned; they expire and are charged in full", failed)
	}
	return nil
}

// Held returns the allowance this process holds for a budget scope: what
// it was granted and has not returned, spent and reserved.
func (a *LeasedAdmission) Held(scope string) (granted, spent, reserved float64) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, p := range a.pools {
		if p.scope == scope {
			p.mu.Lock()
			granted, spent, reserved = p.granted, p.spent, p.reserved
			p.mu.Unlock()
		}
	}
	return
}

// releaseLocked drops a reservation and its in-flight slot; p.mu is held.
func (p *pool) releaseLocked(reserved float64) {
	p.reserved -= reserved
	p.inflight--
	if p.inflight <= 0 {
		p.inflight, p.reserved = 0, 0
	}
}
