package web

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/gateway"
	"github.com/aicred/aicred/posture"
)

// postureCache keeps the latest posture report: evaluating 10,000
// credentials with their sightings takes longer than a page may, so pages
// are served the latest report and a stale one (older than ttl, or
// marked stale by an action) is evaluated again in the background, one
// evaluation at a time. Only a console that has never evaluated waits
// for it (and the console starts one at once: warm).
type postureCache struct {
	st  aicred.Store
	cfg posture.Config
	ttl time.Duration
	now func() time.Time

	mu         sync.Mutex
	snap       *postureSnap
	stale      bool
	refreshing bool
	eval       sync.Mutex // one evaluation at a time
}

type postureSnap struct {
	R    *posture.Report
	At   time.Time
	Took time.Duration
	byFP map[aicred.Fingerprint]int
}

func (s *postureSnap) find(fp aicred.Fingerprint) *posture.CredentialPosture {
	if i, ok := s.byFP[fp]; ok {
		return &s.R.Credentials[i]
	}
	return nil
}

func (p *postureCache) get(ctx context.Context) (*postureSnap, error) {
	p.mu.Lock()
	s := p.snap
	if s != nil {
		if p.stale || p.now().Sub(s.At) >= p.ttl {
			p.kick()
		}
		p.mu.Unlock()
		return s, nil
	}
	p.mu.Unlock()
	return p.evaluate(ctx)
}

// kick starts a background evaluation unless one runs; p.mu is held.
func (p *postureCache) kick() {
	if p.refreshing {
		return
	}
	p.refreshing = true
	go func() {
		_, _ = p.evaluate(context.Background())
		p.mu.Lock()
		p.refreshing = false
		p.mu.Unlock()
	}()
}

// warm evaluates the posture in the background, so the first page does
// not wait for it.
func (p *postureCache) warm() {
	p.mu.Lock()
	p.kick()
	p.mu.Unlock()
}

// evaluate reads the inventory, evaluates it and keeps the result.
func (p *postureCache) evaluate(ctx context.Context) (*postureSnap, error) {
	p.eval.Lock()
	defer p.eval.Unlock()
	now := p.now()
	start := time.Now()
	details, err := p.st.ListCredentialDetails(ctx, aicred.CredentialFilter{})
	if err != nil {
		return nil, fmt.Errorf("posture: credentials: %w", err)
	}
	inv := posture.Inventory{Credentials: details, Held: map[string]aicred.Fingerprint{}}
	gs, err := p.st.ListGrants(ctx, aicred.TokenFilter{Class: aicred.TokenWorkload, Issuer: broker.ManualIssuer, IncludeExpired: true})
	if err != nil {
		return nil, fmt.Errorf("posture: tokens issued by hand: %w", err)
	}
	if len(gs) > 0 {
		inv.HandIssued = gs
		held, err := p.st.ListHeldCredentials(ctx, aicred.HeldFilter{})
		if err != nil {
			return nil, fmt.Errorf("posture: held credentials: %w", err)
		}
		for _, h := range held {
			inv.Held[h.ID] = h.Fingerprint
		}
	}
	r := posture.EvaluateInventory(inv, p.cfg, now)
	s := &postureSnap{R: r, At: now, Took: time.Since(start), byFP: make(map[aicred.Fingerprint]int, len(r.Credentials))}
	for i := range r.Credentials {
		s.byFP[r.Credentials[i].Fingerprint] = i
	}
	p.mu.Lock()
	p.snap, p.stale = s, false
	p.mu.Unlock()
	return s, nil
}

// invalidate marks the report stale after an action: the next page
// starts its evaluation in the background.
func (p *postureCache) invalidate() {
	p.mu.Lock()
	p.stale = true
	p.kick()
	p.mu.Unlock()
}

// Alerts is the live alert feed: the detector's audit appender goes
// through Tap, which wakes every page listening as soon as an
// anomaly.detected record is written. Listeners read the alerts from the
// audit log, so alerts raised by other processes sharing the store
// arrive too, within the poll interval.
type Alerts struct {
	mu   sync.Mutex
	wake chan struct{}
}

// NewAlerts returns an empty feed.
func NewAlerts() *Alerts { return &Alerts{wake: make(chan struct{})} }

// notify wakes every listener.
func (a *Alerts) notify() {
	a.mu.Lock()
	close(a.wake)
	a.wake = make(chan struct{})
	a.mu.Unlock()
}

// woken returns a channel closed at the next alert.
func (a *Alerts) woken() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.wake
}

// Tap returns next, waking the feed after each anomaly.detected record
// it appends.
func (a *Alerts) Tap(next gateway.AuditAppender) gateway.AuditAppender {
	return tap{next: next, a: a}
}

type tap struct {
	next gateway.AuditAppender
	a    *Alerts
}

func (t tap) AppendAudit(ctx context.Context, e aicred.AuditEvent) (aicred.AuditEvent, error) {
	out, err := t.next.AppendAudit(ctx, e)
	if err == nil && e.Action == gateway.ActionAnomalyDetected {
		t.a.notify()
	}
	return out, err
}

// An alert is an anomaly.detected record, read back.
type alert struct {
	Seq       int64
	ID        string
	Time      time.Time
	Kind      string
	Subject   string
	Role      string
	Token     string
	Suspended bool
	Details   []kv
	Acked     bool
	AckBy     string
	AckNote   string
	AckAt     time.Time
}

type kv struct{ K, V string }

func alertOf(e *aicred.AuditEvent) alert {
	a := alert{Seq: e.Seq, ID: e.Data["alert"], Time: e.Time, Kind: e.Data["kind"], Subject: e.Subject,
		Role: e.Data["role"], Token: e.Data["token"], Suspended: e.Data["suspended"] == "true"}
	for _, k := range sortedKeys(e.Data) {
		switch k {
		case "alert", "kind", "role", "token", "suspended":
			continue
		}
		a.Details = append(a.Details, kv{k, e.Data[k]})
	}
	return a
}

// alertWindow is how far back the alerts pages look.
const alertWindow = 7 * 24 * time.Hour

// loadAlerts returns the alerts of the last week, newest first, with
// their acknowledgements.
func (c *Console) loadAlerts(ctx context.Context, limit int) ([]alert, error) {
	since := c.o.Now().Add(-alertWindow)
	evs, err := c.o.Store.SearchAudit(ctx, aicred.AuditQuery{Actions: []string{gateway.ActionAnomalyDetected}, Since: since, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	acks, err := c.o.Store.SearchAudit(ctx, aicred.AuditQuery{Actions: []string{ActionAlertAcknowledge}, Since: since, Limit: aicred.MaxAuditQuery})
	if err != nil {
		return nil, fmt.Errorf("alerts: acknowledgements: %w", err)
	}
	acked := make(map[string]*aicred.AuditEvent, len(acks))
	for i := range acks {
		if acked[acks[i].Subject] == nil {
			acked[acks[i].Subject] = &acks[i]
		}
	}
	out := make([]alert, 0, len(evs))
	for i := range evs {
		a := alertOf(&evs[i])
		if ack := acked[a.ID]; ack != nil && a.ID != "" {
			a.Acked, a.AckBy, a.AckNote, a.AckAt = true, ack.Actor, ack.Data["note"], ack.Time
		}
		out = append(out, a)
	}
	return out, nil
}
