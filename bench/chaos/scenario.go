package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
)

// failClosedWindow is how long a replica may answer from its cached
// grants after the store stopped answering (grantcache's maxStale), and
// revocationBound how long after the store is reachable again a
// revocation must be honoured everywhere.
const (
	failClosedWindow = 3 * time.Second
	revocationBound  = time.Second
	// slack covers the time between a request's start and its grant
	// lookup.
	slack = 250 * time.Millisecond
)

// A fault is what a scenario does to the cluster.
type fault struct {
	name string
	// apply starts the fault and returns when it is over; it reports
	// the spans during which each replica could not reach the store and
	// the replicas it killed.
	apply func(ctx context.Context, c *cluster, t *timeline) error
}

// timeline records what happened when.
type timeline struct {
	mu          sync.Mutex
	start, end  time.Time      // the fault
	unreachable map[int][]span // by replica
	kills       []kill         // replicas killed with SIGKILL
	revokedAt   time.Time      // the canary's revocation committed
	events      []string
}

type span struct{ from, to time.Time }

type kill struct {
	replica int
	at      time.Time
	queued  float64 // usage records the replica had queued at its last scrape
}

func (t *timeline) note(format string, args ...any) {
	t.mu.Lock()
	t.events = append(t.events, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

func (t *timeline) addUnreachable(replicas []int, from, to time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.unreachable == nil {
		t.unreachable = map[int][]span{}
	}
	for _, r := range replicas {
		t.unreachable[r] = append(t.unreachable[r], span{from, to})
	}
}

func all(c *cluster) []int {
	var out []int
	for i := range c.reps {
		out = append(out, i)
	}
	return out
}

// Faults.

func killFault(c *cluster, t *timeline, r int, down time.Duration) error {
	rep := c.reps[r]
	queued := c.lastQueued(r)
	t.mu.Lock()
	t.kills = append(t.kills, kill{replica: r, at: time.Now(), queued: queued})
	t.mu.Unlock()
	c.kill9(rep)
	t.note("replica %d killed (SIGKILL)", r)
	time.Sleep(down)
	return c.supervise(rep, t)
}

// supervise starts a replica again, as a supervisor would: a replica that
// cannot reach the store at start exits, and is started again a second
// later, until it is ready (at most a minute).
func (c *cluster) supervise(rep *replica, t *timeline) error {
	deadline := time.Now().Add(time.Minute)
	for starts := 1; ; starts++ {
		if err := c.startReplica(rep); err != nil {
			return err
		}
		for !rep.alive() || waitReady(context.Background(), rep.url(), 500*time.Millisecond) != nil {
			if !rep.alive() {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("replica %d not ready a minute after its restart", rep.i)
			}
		}
		if rep.alive() {
			t.note("replica %d restarted and ready (%d start(s))", rep.i, starts)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %d kept exiting after its restart", rep.i)
		}
		time.Sleep(time.Second)
	}
}

func blackholeFault(c *cluster, t *timeline, d time.Duration) {
	from := time.Now()
	for _, p := range c.proxies {
		p.blackhole()
	}
	time.Sleep(d)
	for _, p := range c.proxies {
		p.heal()
	}
	t.addUnreachable(all(c), from, time.Now())
}

func latencyFault(c *cluster, d, extra time.Duration) {
	for _, p := range c.proxies {
		p.setLatency(extra)
	}
	time.Sleep(d)
	for _, p := range c.proxies {
		p.setLatency(0)
	}
}

// pgRestart restarts PostgreSQL for real (pg_ctlcluster), or, by default,
// does to every replica's link what a restart does: close every
// connection and refuse new ones for down.
func pgRestart(c *cluster, t *timeline, down time.Duration) error {
	from := time.Now()
	if c.o.pgRestart {
		// The span PostgreSQL was unreachable is measured: from the first
		// failed query of a probe (every 20 ms) to its first success
		// after, not the whole pg_ctlcluster command.
		pctx, stop := context.WithCancel(context.Background())
		probed := make(chan span, 1)
		go func() { probed <- probeDown(pctx, c.dsn) }()
		out, err := exec.Command("sh", "-c", "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -n1) main restart").CombinedOutput()
		if err != nil {
			stop()
			return fmt.Errorf("pg_ctlcluster restart: %v: %s", err, out)
		}
		took := time.Since(from)
		time.Sleep(2 * time.Second)
		stop()
		down := <-probed
		if down.from.IsZero() {
			down = span{from, time.Now()}
		}
		t.addUnreachable(all(c), down.from, down.to)
		t.note("PostgreSQL restarted (pg_ctlcluster, %v); unreachable for %v", took.Round(time.Millisecond), down.to.Sub(down.from).Round(time.Millisecond))
		return nil
	} else {
		for _, p := range c.proxies {
			p.reset()
		}
		time.Sleep(down)
		for _, p := range c.proxies {
			p.heal()
		}
		t.note("PostgreSQL restart emulated: every connection reset, refused for %v", down)
	}
	t.addUnreachable(all(c), from, time.Now())
	return nil
}

// scenarios returns the scenarios of a run, one fault at a time, then
// in combination.
func scenarios(o options) []fault {
	black := o.blackLen
	d := o.faultLen
	restartName := "PostgreSQL restart (emulated)"
	if o.pgRestart {
		restartName = "PostgreSQL restart"
	}
	return []fault{
		{"baseline", func(ctx context.Context, c *cluster, t *timeline) error {
			time.Sleep(d)
			return nil
		}},
		{"kill -9 replica, restart", func(ctx context.Context, c *cluster, t *timeline) error {
			return killFault(c, t, 1, d/2)
		}},
		{restartName, func(ctx context.Context, c *cluster, t *timeline) error {
			if err := pgRestart(c, t, 2*time.Second); err != nil {
				return err
			}
			time.Sleep(d / 2)
			return nil
		}},
		{fmt.Sprintf("PostgreSQL black-holed %v", black), func(ctx context.Context, c *cluster, t *timeline) error {
			blackholeFault(c, t, black)
			return nil
		}},
		{"PostgreSQL +100ms latency", func(ctx context.Context, c *cluster, t *timeline) error {
			latencyFault(c, d, 100*time.Millisecond)
			return nil
		}},
		{"black-hole + kill -9 + latency", func(ctx context.Context, c *cluster, t *timeline) error {
			for _, p := range c.proxies {
				p.setLatency(100 * time.Millisecond)
			}
			var wg sync.WaitGroup
			var kerr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(black / 3)
				kerr = killFault(c, t, 2, black/3)
			}()
			blackholeFault(c, t, black)
			wg.Wait()
			for _, p := range c.proxies {
				p.setLatency(0)
			}
			return kerr
		}},
		{"restart + kill -9 + latency", func(ctx context.Context, c *cluster, t *timeline) error {
			for _, p := range c.proxies {
				p.setLatency(100 * time.Millisecond)
			}
			defer func() {
				for _, p := range c.proxies {
					p.setLatency(0)
				}
			}()
			var wg sync.WaitGroup
			var kerr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				kerr = killFault(c, t, 0, d/2)
			}()
			err := pgRestart(c, t, 2*time.Second)
			wg.Wait()
			time.Sleep(d / 2)
			return errors.Join(err, kerr)
		}},
	}
}

// row is one scenario's line of the table.
type row struct {
	Scenario        string        `json:"scenario"`
	Served          int           `json:"served"`
	Refused         int           `json:"refused"`
	Failed          int           `json:"failed"`
	ErrDuring       float64       `json:"error_rate_during"`
	ErrAfter        float64       `json:"error_rate_after"`
	P50During       time.Duration `json:"p50_during"`
	P99During       time.Duration `json:"p99_during"`
	P99After        time.Duration `json:"p99_after"`
	Recovery        time.Duration `json:"recovery"`
	Overspend       float64       `json:"max_overspend_usd"`
	OverspendBound  float64       `json:"overspend_bound_usd"`
	RevokedLast     time.Duration `json:"revoked_accepted_last"` // after the revocation; <0: never accepted after it
	RevokedBound    time.Duration `json:"revoked_bound"`
	RevokedInWindow int           `json:"revoked_accepted_while_unreachable"`
	ServedStale     int           `json:"served_past_fail_closed_window"`
	UsageSent       int64         `json:"usage_sent"`
	UsageRecorded   int64         `json:"usage_recorded"`
	UsageLost       int64         `json:"usage_lost"`
	UsageLostBound  int64         `json:"usage_lost_bound"`
	LostCounted     float64       `json:"usage_lost_counted"`
	AuditOK         bool          `json:"audit_ok"`
	AuditNote       string        `json:"audit_note,omitempty"`
	Violations      []string      `json:"violations,omitempty"`
	Events          []string      `json:"events,omitempty"`
	Failures        string        `json:"failures,omitempty"`
	MaxTokenSpend   float64       `json:"max_token_spend_usd"`
	MaxDailySpend   float64       `json:"max_workload_day_spend_usd"`
	MaxEdgeSpend    float64       `json:"max_edge_token_spend_usd"`
	MaxFeedAge      float64       `json:"max_feed_age_seconds"`
	NotReady        int           `json:"readyz_failures"`
}

// failures summarises why requests failed, most frequent first.
func failures(rs []result) string {
	n := map[string]int{}
	for _, r := range rs {
		if r.failed() {
			n[r.kind+": "+r.why]++
		}
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return n[b] - n[a] })
	var parts []string
	for i, k := range keys {
		if i == 4 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

// runScenario runs one fault under load and checks the invariants.
func runScenario(ctx context.Context, c *cluster, f fault, o options, progress io.Writer) (row, error) {
	rw := row{Scenario: f.name}
	res := &results{}
	l := newLoader(c, res)
	tag := fmt.Sprintf("s%d", time.Now().UnixNano()%1e9)
	l.newSessions(tag)
	lostBefore := c.lostCounted()
	loadStart := time.Now()
	c.resetFeedStats()

	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { l.run(loadCtx, o.rate); close(loadDone) }()
	scrapeCtx, stopScrape := context.WithCancel(ctx)
	defer stopScrape()
	go c.scrape(scrapeCtx, 250*time.Millisecond)

	// The canary: a token probed on every replica directly, revoked
	// during the fault.
	canarySub := "canary-" + tag
	var canary string
	var err error
	for range 50 {
		if canary, err = l.exchange(c.lbURL, canarySub); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if canary == "" {
		stopLoad()
		<-loadDone
		return rw, fmt.Errorf("canary exchange: %w", err)
	}
	pr := newProber(c, canary)
	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	go func() { pr.run(probeCtx); close(probeDone) }()

	warm := 3 * time.Second
	after := 8 * time.Second
	if o.short {
		warm, after = 2*time.Second, 6*time.Second
	}
	time.Sleep(warm)
	t := &timeline{start: time.Now()}
	// The revocation, made during the fault through a connection of the
	// harness's own (as an operator's `aicred token revoke` would be),
	// retried until the store takes it.
	revokeDone := make(chan error, 1)
	go func() {
		delay := max(o.faultLen, o.blackLen) / 2
		if strings.HasPrefix(f.name, "baseline") {
			delay = o.faultLen / 2
		}
		time.Sleep(delay)
		deadline := time.Now().Add(60 * time.Second)
		for {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.store.Revoke(aicred.WithActor(rctx, "chaos"), &aicred.Revocation{By: aicred.RevokeWorkload,
				Value: issuerURL + " " + canarySub, Reason: "chaos: revoked during the fault", Hold: aicred.NoHold})
			cancel()
			if err == nil {
				t.mu.Lock()
				t.revokedAt = time.Now()
				t.mu.Unlock()
				revokeDone <- nil
				return
			}
			if time.Now().After(deadline) {
				revokeDone <- err
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	ferr := f.apply(ctx, c, t)
	t.end = time.Now()
	if err := <-revokeDone; err != nil {
		ferr = errors.Join(ferr, fmt.Errorf("revoke: %w", err))
	}
	time.Sleep(after)
	afterEnd := time.Now()
	stopLoad()
	<-loadDone
	stopProbe()
	<-probeDone

	// Let every replica write what it queued: wait until the store holds
	// a record for every answer the upstream gave, or 30 s.
	sent := c.up.callsWith("-" + tag + "-")
	var recorded int64
	for deadline := time.Now().Add(30 * time.Second); ; {
		n, err := c.usageRows(ctx, loadStart)
		if err != nil {
			return rw, err
		}
		recorded = n
		if n >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.waitDrained(ctx, 5*time.Second)
	stopScrape()

	// Requests and latency.
	all := res.between(time.Time{}, afterEnd.Add(time.Hour))
	for _, r := range all {
		switch {
		case r.served():
			rw.Served++
		case r.refused():
			rw.Refused++
		default:
			rw.Failed++
		}
	}
	during := res.between(t.start, t.end)
	post := res.between(t.end, afterEnd)
	rw.ErrDuring, rw.P50During, rw.P99During = errRate(during), pct(during, 50), pct(during, 99)
	rw.ErrAfter, rw.P99After = errRate(post), pct(post, 99)
	rw.Recovery = recovery(post, t.end)
	rw.Failures = failures(all)

	// Budgets: what the upstream billed per token (tight) and per
	// workload (daily), against the budget.
	capacity := c.up.maxCost() * float64(len(c.reps))
	rw.OverspendBound = capacity
	for _, v := range c.up.billedEach("tight-" + tag) {
		rw.Overspend = max(rw.Overspend, v-tightTokenUSD)
		rw.MaxTokenSpend = max(rw.MaxTokenSpend, v)
	}
	for _, v := range c.up.billedEach("edge-" + tag) {
		rw.Overspend = max(rw.Overspend, v-edgeTokenUSD)
		rw.MaxEdgeSpend = max(rw.MaxEdgeSpend, v)
	}
	for i := range 2 {
		v := c.up.billedBy(fmt.Sprintf("daily-%s-%d#", tag, i))
		rw.Overspend = max(rw.Overspend, v-dailyUSD)
		rw.MaxDailySpend = max(rw.MaxDailySpend, v)
	}
	if rw.Overspend > rw.OverspendBound+1e-12 {
		rw.Violations = append(rw.Violations, fmt.Sprintf("budget overspent by $%.6f (bound $%.6f)", rw.Overspend, rw.OverspendBound))
	}

	// Revocation.
	reachable := t.revokedAt
	for _, spans := range t.unreachable {
		for _, s := range spans {
			if !t.revokedAt.Before(s.from) && t.revokedAt.Before(s.to) {
				reachable = later(reachable, s.to)
			}
		}
	}
	rw.RevokedBound = reachable.Sub(t.revokedAt) + revocationBound
	rw.RevokedLast = -1
	for _, a := range pr.accepted() {
		if a.at.After(t.revokedAt) {
			rw.RevokedLast = max(rw.RevokedLast, a.at.Sub(t.revokedAt))
		}
		for _, s := range t.unreachable[a.replica] {
			if a.at.After(s.from.Add(failClosedWindow+slack)) && a.at.Before(s.to) && a.at.After(t.revokedAt) {
				rw.RevokedInWindow++
			}
		}
	}
	if rw.RevokedLast > rw.RevokedBound {
		rw.Violations = append(rw.Violations, fmt.Sprintf("revoked token accepted %v after the revocation (bound %v)", rw.RevokedLast, rw.RevokedBound))
	}
	if rw.RevokedInWindow > 0 {
		rw.Violations = append(rw.Violations, fmt.Sprintf("revoked token accepted %d times while the store was unreachable past the fail-closed window", rw.RevokedInWindow))
	}
	// Fail closed: nothing served by a replica cut off from the store
	// for longer than the window.
	for _, r := range all {
		if !r.served() || r.backend < 0 || r.kind == kindExchange {
			continue
		}
		for _, s := range t.unreachable[r.backend] {
			if r.start.After(s.from.Add(failClosedWindow+slack)) && r.start.Add(r.lat).Before(s.to) {
				rw.ServedStale++
			}
		}
	}
	if rw.ServedStale > 0 {
		rw.Violations = append(rw.Violations, fmt.Sprintf("%d gateway calls served past the fail-closed window", rw.ServedStale))
	}

	// Usage records.
	rw.UsageSent, rw.UsageRecorded = sent, recorded
	rw.UsageLost = rw.UsageSent - rw.UsageRecorded
	rw.LostCounted = c.lostCounted() - lostBefore
	for _, k := range t.kills {
		rw.UsageLostBound += int64(k.queued) + 200 // what it had queued, and one batch in flight
	}
	if rw.UsageLost < 0 || rw.UsageLost > rw.UsageLostBound {
		rw.Violations = append(rw.Violations, fmt.Sprintf("usage records: %d sent, %d recorded: %d lost (bound %d)", rw.UsageSent, rw.UsageRecorded, rw.UsageLost, rw.UsageLostBound))
	}
	if rw.LostCounted > 0 {
		rw.Violations = append(rw.Violations, fmt.Sprintf("a live replica counted %v usage records lost", rw.LostCounted))
	}

	// The audit chain.
	rw.AuditOK, rw.AuditNote = c.auditVerify(ctx)
	if !rw.AuditOK {
		rw.Violations = append(rw.Violations, "audit verify: "+rw.AuditNote)
	} else if !strings.Contains(rw.AuditNote, "checkpoints OK") {
		rw.Violations = append(rw.Violations, "audit verify checked no signed checkpoint: "+rw.AuditNote)
	}
	// A replica cut off from the store past the fail-closed window says
	// so: its feed age passes the window and /readyz fails.
	rw.MaxFeedAge, rw.NotReady = c.feedStats()
	longest := time.Duration(0)
	for _, spans := range t.unreachable {
		for _, s := range spans {
			longest = max(longest, s.to.Sub(s.from))
		}
	}
	if longest > failClosedWindow+time.Second && (rw.MaxFeedAge < failClosedWindow.Seconds() || rw.NotReady == 0) {
		rw.Violations = append(rw.Violations, fmt.Sprintf("store unreachable, but feed age peaked at %.1fs and /readyz failed %d times", rw.MaxFeedAge, rw.NotReady))
	}
	if rw.Recovery > 10*time.Second {
		rw.Violations = append(rw.Violations, fmt.Sprintf("not recovered %v after the fault", rw.Recovery))
	}
	t.mu.Lock()
	rw.Events = t.events
	t.mu.Unlock()
	if ferr != nil {
		rw.Violations = append(rw.Violations, "fault: "+ferr.Error())
	}
	fmt.Fprintf(progress, "chaos: %-34s served %d refused %d failed %d, violations %d\n", f.name, rw.Served, rw.Refused, rw.Failed, len(rw.Violations))
	return rw, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func errRate(rs []result) float64 {
	if len(rs) == 0 {
		return 0
	}
	n := 0
	for _, r := range rs {
		if r.failed() {
			n++
		}
	}
	return float64(n) / float64(len(rs))
}

func pct(rs []result, p int) time.Duration {
	if len(rs) == 0 {
		return 0
	}
	lat := make([]time.Duration, 0, len(rs))
	for _, r := range rs {
		lat = append(lat, r.lat)
	}
	slices.Sort(lat)
	i := min(len(lat)-1, max(0, (len(lat)*p+99)/100-1))
	return lat[i]
}

// recovery is how long after the fault's end the last failed request
// started (0 when none failed after it).
func recovery(post []result, end time.Time) time.Duration {
	var last time.Duration
	for _, r := range post {
		if r.failed() {
			last = max(last, r.start.Add(r.lat).Sub(end))
		}
	}
	return last
}

// prober asks every replica directly, every 20 ms, whether the canary
// token is accepted.
type prober struct {
	c      *cluster
	token  string
	client *http.Client
	mu     sync.Mutex
	acc    []acceptance
}

type acceptance struct {
	replica int
	at      time.Time // when the request was sent
}

func newProber(c *cluster, token string) *prober {
	return &prober{c: c, token: token, client: &http.Client{Timeout: 2 * time.Second}}
}

func (p *prober) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i, r := range p.c.reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				at := time.Now()
				if ok, _ := whoami(p.client, r.url(), p.token); ok {
					p.mu.Lock()
					p.acc = append(p.acc, acceptance{replica: i, at: at})
					p.mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

func (p *prober) accepted() []acceptance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.acc)
}

// Cluster-wide reads.

// usageRows counts the usage records of requests made since from (the
// canary's probes make none).
func (c *cluster) usageRows(ctx context.Context, from time.Time) (int64, error) {
	var n int64
	const q = `SELECT count(*) FROM usage_records WHERE at >= $1`
	err := c.db.QueryRow(ctx, q, from).Scan(&n)
	if err != nil { // PostgreSQL restarted: connect again
		_ = c.db.Close(ctx)
		if c.db, err = pgx.Connect(ctx, c.dsn); err != nil {
			return 0, fmt.Errorf("count usage records: %w", err)
		}
		err = c.db.QueryRow(ctx, q, from).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("count usage records: %w", err)
	}
	return n, nil
}

// scrape reads every live replica's metrics every interval.
func (c *cluster) scrape(ctx context.Context, every time.Duration) {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for _, r := range c.reps {
			if !r.alive() {
				continue
			}
			if m, err := metricsOf(client, r.url()); err == nil {
				c.setMetrics(r.i, m)
			}
			resp, err := client.Get(r.url() + "/readyz")
			if err == nil {
				resp.Body.Close()
			}
			c.mmu.Lock()
			if err == nil && resp.StatusCode != http.StatusOK {
				c.notReady++
			}
			c.mmu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (c *cluster) setMetrics(i int, m map[string]float64) {
	c.mmu.Lock()
	defer c.mmu.Unlock()
	if c.metrics == nil {
		c.metrics = map[int]map[string]float64{}
	}
	// A restarted replica's counters start again from 0: carry what the
	// dead one counted as lost.
	if prev := c.metrics[i]; prev != nil && m["aicred_gateway_usage_records_lost_total"] < prev["aicred_gateway_usage_records_lost_total"] {
		c.lostCarried += prev["aicred_gateway_usage_records_lost_total"]
	}
	c.metrics[i] = m
	c.maxFeedAge = max(c.maxFeedAge, m["aicred_revocation_feed_age_seconds"])
}

func (c *cluster) resetFeedStats() {
	c.mmu.Lock()
	c.maxFeedAge, c.notReady = 0, 0
	c.mmu.Unlock()
}

func (c *cluster) feedStats() (float64, int) {
	c.mmu.Lock()
	defer c.mmu.Unlock()
	return c.maxFeedAge, c.notReady
}

func (c *cluster) lastQueued(i int) float64 {
	c.mmu.Lock()
	defer c.mmu.Unlock()
	return c.metrics[i]["aicred_gateway_usage_records_queued"]
}

func (c *cluster) lostCounted() float64 {
	c.mmu.Lock()
	defer c.mmu.Unlock()
	sum := c.lostCarried
	for _, m := range c.metrics {
		sum += m["aicred_gateway_usage_records_lost_total"]
	}
	return sum
}

// waitDrained waits until no live replica has usage records queued.
func (c *cluster) waitDrained(ctx context.Context, within time.Duration) {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		queued := 0.0
		for _, r := range c.reps {
			if !r.alive() {
				continue
			}
			m, err := metricsOf(client, r.url())
			if err != nil {
				queued++
				continue
			}
			c.setMetrics(r.i, m)
			queued += m["aicred_gateway_usage_records_queued"]
		}
		if queued == 0 {
			time.Sleep(300 * time.Millisecond) // a batch being written is not counted as queued
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// auditVerify runs `aicred audit verify` against the store.
func (c *cluster) auditVerify(ctx context.Context) (bool, string) {
	cmd := exec.CommandContext(ctx, c.bin, "audit", "verify", "--store", c.dsn)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	note := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(note, '\n'); i >= 0 {
		note = note[i+1:]
	}
	if err != nil {
		return false, fmt.Sprintf("%v: %s", err, note)
	}
	return true, note
}

// probeDown queries PostgreSQL every 20 ms until ctx ends and returns the
// span from the first failure to the first success after it.
func probeDown(ctx context.Context, dsn string) span {
	var down span
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		conn, err := pgx.Connect(qctx, dsn)
		if err == nil {
			err = conn.Ping(qctx)
			_ = conn.Close(qctx)
		}
		cancel()
		now := time.Now()
		switch {
		case err != nil && down.from.IsZero() && ctx.Err() == nil:
			down.from = now
		case err == nil && !down.from.IsZero() && down.to.IsZero():
			down.to = now
			return down
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !down.from.IsZero() && down.to.IsZero() {
		down.to = time.Now()
	}
	return down
}
