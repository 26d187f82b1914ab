package respond

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/aicred/aicred"
)

// An Action is what the response policy does about a live leak of a held
// credential.
type Action string

// Actions of the response policy.
const (
	// ActNotify posts a signed webhook (and logs and audits); nothing
	// else changes. The default.
	ActNotify Action = "notify"
	// ActRotate rotates the credential through its provider's admin API
	// (Responder.Rotate): gateways serve the new secret, the old is dead.
	ActRotate Action = "rotate"
	// ActRevoke revokes it at the provider and in aicred (Responder.Revoke).
	ActRevoke Action = "revoke"
	// ActSuspend stops every gateway from injecting it (its status becomes
	// suspended); the provider is not called.
	ActSuspend Action = "suspend"
)

// Valid reports whether a is a known action.
func (a Action) Valid() bool {
	return a == ActNotify || a == ActRotate || a == ActRevoke || a == ActSuspend
}

// A Rule says what happens to a live leak of a held credential whose
// provider, kind and environment match its globs (path.Match syntax; an
// empty glob matches everything).
type Rule struct {
	Provider    string `json:"provider,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Environment string `json:"environment,omitempty"`
	Action      Action `json:"action"`
	// Admin is the held credential that authenticates the provider's
	// admin API for rotate and revoke (kinds that cannot manage
	// themselves).
	Admin string `json:"admin,omitempty"`
	// Name identifies the rule in audit records; default "rule N".
	Name string `json:"name,omitempty"`
}

// Check validates r's globs, action and admin.
func (r *Rule) Check() error {
	for _, g := range []struct{ name, v string }{{"provider", r.Provider}, {"kind", r.Kind}, {"environment", r.Environment}} {
		if _, err := path.Match(g.v, ""); err != nil {
			return aicred.Errorf(aicred.ErrInvalid, "%s %q: not a glob: %v", g.name, g.v, err)
		}
	}
	switch {
	case !r.Action.Valid():
		return aicred.Errorf(aicred.ErrInvalid, "action %q: want notify, rotate, revoke or suspend", r.Action)
	case r.Admin != "" && r.Action != ActRotate && r.Action != ActRevoke:
		return aicred.Errorf(aicred.ErrInvalid, "admin is only for rotate and revoke")
	}
	return nil
}

func (r *Rule) matches(providerID, kind, env string) bool {
	m := func(glob, v string) bool {
		if glob == "" {
			return true
		}
		ok, _ := path.Match(glob, v)
		return ok
	}
	return m(r.Provider, providerID) && m(r.Kind, kind) && m(r.Environment, env)
}

// A Policy is an ordered list of rules: the first that matches decides;
// when none does, the default rule (notify) applies.
type Policy struct {
	Rules []Rule `json:"rules,omitempty"`
}

// DefaultRule applies when no rule matches.
var DefaultRule = Rule{Action: ActNotify, Name: "default"}

// Check validates every rule and names the unnamed ones.
func (p *Policy) Check() error {
	for i := range p.Rules {
		if err := p.Rules[i].Check(); err != nil {
			return fmt.Errorf("rule %d: %w", i+1, err)
		}
		if p.Rules[i].Name == "" {
			p.Rules[i].Name = "rule " + strconv.Itoa(i+1)
		}
	}
	return nil
}

// Match returns the first rule matching a credential of providerID, kind
// and environment env, else DefaultRule.
func (p *Policy) Match(providerID, kind, env string) Rule {
	if p != nil {
		for _, r := range p.Rules {
			if r.matches(providerID, kind, env) {
				return r
			}
		}
	}
	return DefaultRule
}

// ActionRespond is the audit action of every response policy action.
const ActionRespond = "respond.action"

// Outcomes of an action.
const (
	OutcomeDone    = "done"
	OutcomeFailed  = "failed"
	OutcomeSkipped = "skipped"
)

// An Event is what the policy did about one leak of one held credential;
// it is the webhook's payload and the audit record's content. It never
// holds a secret.
type Event struct {
	ID          string              `json:"id"`
	Time        time.Time           `json:"time"`
	Rule        string              `json:"rule"`
	Action      Action              `json:"action"`
	Outcome     string              `json:"outcome"`
	Detail      string              `json:"detail,omitempty"`
	Held        string              `json:"held"`
	Fingerprint aicred.Fingerprint  `json:"fingerprint"`
	Provider    string              `json:"provider"`
	Kind        string              `json:"kind"`
	Environment string              `json:"environment,omitempty"`
	Where       string              `json:"where"`
	Origin      string              `json:"origin,omitempty"`
	Source      string              `json:"source,omitempty"`
	Liveness    aicred.Verification `json:"liveness"`
	Rotation    string              `json:"rotation,omitempty"`
}

func (e *Event) audit() aicred.AuditEvent {
	d := map[string]string{
		"rule": e.Rule, "action": string(e.Action), "outcome": e.Outcome, "held": e.Held,
		"fingerprint": string(e.Fingerprint), "provider": e.Provider, "kind": e.Kind, "environment": e.Environment,
		"where": e.Where, "origin": e.Origin, "source": e.Source, "liveness": string(e.Liveness), "event": e.ID,
	}
	if e.Detail != "" {
		d["detail"] = e.Detail
	}
	if e.Rotation != "" {
		d["rotation"] = e.Rotation
	}
	return aicred.AuditEvent{Action: ActionRespond, Subject: e.Held, Data: d}
}

// A Notifier tells people what the policy did (a signed webhook).
type Notifier interface {
	Notify(ctx context.Context, e *Event) error
}

// Where names a finding's place: path:line, and the commit for git.
func Where(f *aicred.Finding) string {
	w := f.Path + ":" + strconv.Itoa(f.Line)
	if f.Commit != "" {
		w += "@" + f.Commit[:min(12, len(f.Commit))]
	}
	return w
}

// PolicyOptions configures a PolicyHandler.
type PolicyOptions struct {
	Policy    Policy
	Responder *Responder
	// Notifier, when set, receives every event (the notify action's, and
	// the outcome of every other action); without one, notify only logs
	// and audits.
	Notifier Notifier
	// Timeout bounds one response (a rotation with its checks), default
	// 2 minutes.
	Timeout time.Duration
}

// A PolicyHandler applies the response policy to leaks.
type PolicyHandler struct {
	o   PolicyOptions
	mu  sync.Mutex
	per map[string]*sync.Mutex // one response at a time per held credential
}

// NewPolicy returns a PolicyHandler; the policy is checked.
func NewPolicy(o PolicyOptions) (*PolicyHandler, error) {
	if o.Responder == nil {
		return nil, errors.New("respond: policy needs a Responder")
	}
	if err := o.Policy.Check(); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	return &PolicyHandler{o: o, per: map[string]*sync.Mutex{}}, nil
}

// HandleLeak applies the policy to finding f, found under origin. It
// implements aicred watch's LeakHandler. A credential aicred does not hold
// is not its business (nil, nothing recorded).
func (p *PolicyHandler) HandleLeak(ctx context.Context, f *aicred.Finding, origin string) error {
	_, err := p.Respond(ctx, f, origin)
	return err
}

// Respond applies the policy to finding f and returns what was done, one
// event per held credential with f's fingerprint (none when aicred holds
// no such credential). Each event is audited (respond.action) and, with a
// Notifier, sent. The error joins the failures.
func (p *PolicyHandler) Respond(ctx context.Context, f *aicred.Finding, origin string) ([]*Event, error) {
	st := p.o.Responder.o.Store
	all, err := st.ListHeldCredentials(ctx, aicred.HeldFilter{})
	if err != nil {
		return nil, fmt.Errorf("response policy: list held credentials: %w", err)
	}
	var events []*Event
	var errs []error
	for i := range all {
		if all[i].Fingerprint != f.Fingerprint {
			continue
		}
		e, err := p.respondHeld(ctx, &all[i], f, origin)
		if e != nil {
			events = append(events, e)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return events, errors.Join(errs...)
}

func (p *PolicyHandler) lock(id string) func() {
	p.mu.Lock()
	m := p.per[id]
	if m == nil {
		m = &sync.Mutex{}
		p.per[id] = m
	}
	p.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (p *PolicyHandler) respondHeld(ctx context.Context, h *aicred.HeldCredential, f *aicred.Finding, origin string) (*Event, error) {
	defer p.lock(h.ID)()
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	x := p.o.Responder
	log := x.o.Log
	rule := p.o.Policy.Match(h.Provider, h.Kind, h.Environment)
	e := &Event{ID: newEventID(), Time: time.Now().UTC(), Rule: rule.Name, Action: rule.Action, Held: h.ID,
		Fingerprint: f.Fingerprint, Provider: h.Provider, Kind: h.Kind, Environment: h.Environment,
		Where: Where(f), Origin: origin, Source: string(f.Source)}
	// Read it again under the lock: a response to another sighting may
	// have rotated or revoked it meanwhile.
	cur, err := x.o.Store.GetHeldCredential(ctx, h.ID)
	if err != nil {
		return nil, fmt.Errorf("response policy: %w", err)
	}
	switch {
	case cur.Fingerprint != f.Fingerprint:
		e.Outcome, e.Detail = OutcomeSkipped, "the held credential no longer holds this secret (rotated or replaced)"
		return e, p.record(ctx, e, false)
	case cur.Status == aicred.HeldRevoked:
		e.Outcome, e.Detail = OutcomeSkipped, "already revoked"
		return e, p.record(ctx, e, false)
	}
	// Live leaks only: a kind with no liveness check, or a check that
	// cannot tell, counts as live (fail closed).
	s, err := x.open(cur)
	if err != nil {
		return nil, fmt.Errorf("response policy: %w", err)
	}
	c := x.check(ctx, cur, s, aicred.Live, 1)
	e.Liveness = c.State
	if c.State == aicred.Dead {
		e.Outcome, e.Detail = OutcomeSkipped, "not live"
		return e, p.record(ctx, e, false)
	}
	cause := "leak at " + e.Where + " (" + string(f.Source) + "), response policy " + rule.Name
	var actErr error
	switch rule.Action {
	case ActNotify:
		if p.o.Notifier == nil {
			e.Outcome, e.Detail = OutcomeDone, "no webhook configured: logged and audited"
		} else if actErr = p.o.Notifier.Notify(ctx, e); actErr == nil {
			e.Outcome, e.Detail = OutcomeDone, "webhook sent"
		}
	case ActSuspend:
		if cur.Status == aicred.HeldSuspended {
			e.Outcome, e.Detail = OutcomeSkipped, "already suspended"
			break
		}
		if _, actErr = x.o.Store.SetHeldStatus(ctx, cur.ID, aicred.HeldSuspended, cause); actErr == nil {
			e.Outcome, e.Detail = OutcomeDone, "gateways stopped using it"
		}
	case ActRevoke:
		var res *RevokeResult
		if res, actErr = x.Revoke(ctx, cur.ID, rule.Admin, cause); actErr == nil {
			e.Outcome = OutcomeDone
			e.Detail = fmt.Sprintf("at provider %v, %d token(s) revoked, liveness %s", res.AtProvider, res.Grants, res.Liveness.State)
			if !res.AtProvider {
				e.Detail += "; revoke it at " + res.RevokeURL
			}
		}
	case ActRotate:
		var r *aicred.Rotation
		r, actErr = x.Rotate(ctx, cur.ID, rule.Admin)
		if r != nil {
			e.Rotation = r.ID
		}
		if actErr == nil {
			e.Outcome, e.Detail = OutcomeDone, "rotated: new "+string(r.NewFingerprint)
		}
	}
	if actErr != nil {
		e.Outcome, e.Detail = OutcomeFailed, scrub(actErr, s).Error()
		log.Error("response policy: action failed", "held", cur.ID, "action", rule.Action, "rule", rule.Name, "err", e.Detail)
	} else {
		log.Warn("response policy", "held", cur.ID, "action", rule.Action, "rule", rule.Name, "outcome", e.Outcome, "detail", e.Detail)
	}
	err = p.record(ctx, e, rule.Action != ActNotify)
	if actErr != nil {
		return e, errors.Join(fmt.Errorf("response policy %s: %s %s: %s", rule.Name, rule.Action, cur.ID, e.Detail), err)
	}
	return e, err
}

// record audits e and, when notify is set and a Notifier is configured,
// sends it; the notification is audited as an action of its own.
func (p *PolicyHandler) record(ctx context.Context, e *Event, notify bool) error {
	st := p.o.Responder.o.Store
	// The audit record is written even when the response ran out of time.
	actx := context.WithoutCancel(ctx)
	if _, err := st.AppendAudit(actx, e.audit()); err != nil {
		return fmt.Errorf("response policy: audit: %w", err)
	}
	if !notify || p.o.Notifier == nil {
		return nil
	}
	n := *e
	n.ID, n.Action, n.Time = newEventID(), ActNotify, time.Now().UTC()
	n.Detail = "of " + string(e.Action) + " " + e.Outcome + ": webhook sent"
	n.Outcome = OutcomeDone
	err := p.o.Notifier.Notify(ctx, e)
	if err != nil {
		n.Outcome, n.Detail = OutcomeFailed, "of "+string(e.Action)+" "+e.Outcome+": "+err.Error()
	}
	if _, aerr := st.AppendAudit(actx, n.audit()); aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
}
