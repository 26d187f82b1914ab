package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/scan"
)

// ActionAnomalyDetected is the audit action of an abuse alert. A
// suspension it caused is recorded by the store as token.revoked.
const ActionAnomalyDetected = "anomaly.detected"

// AnomalyActor is the audit actor of the detector's records and
// revocations.
const AnomalyActor = "gateway:anomaly"

// An AlertKind names the rule that raised an alert. The names are the
// broker's (broker.AnomalyKinds), which a role's anomaly.suspend lists.
type AlertKind string

// Alert kinds.
const (
	AlertSpendSpike     AlertKind = broker.AnomalySpendSpike
	AlertExpensiveModel AlertKind = broker.AnomalyExpensiveModel
	AlertNewSource      AlertKind = broker.AnomalyNewSource
	AlertNewUserAgent   AlertKind = broker.AnomalyNewUserAgent
	AlertAuthFailures   AlertKind = broker.AnomalyAuthFailures
)

// alertKinds indexes the per-kind counters and cooldowns.
var alertKinds = [...]AlertKind{AlertSpendSpike, AlertExpensiveModel, AlertNewSource, AlertNewUserAgent, AlertAuthFailures}

func (k AlertKind) index() int {
	for i, v := range alertKinds {
		if v == k {
			return i
		}
	}
	return -1
}

// An Alert is one suspicion about a workload or a source address. It
// names tokens by grant id only; Details hold numbers as strings.
type Alert struct {
	ID       string            `json:"id"`
	Time     time.Time         `json:"time"`
	Kind     AlertKind         `json:"kind"`
	Workload string            `json:"workload,omitempty"` // empty for an address's auth failures
	Role     string            `json:"role,omitempty"`
	TokenID  string            `json:"token_id,omitempty"`
	SourceIP string            `json:"source_ip,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
	// Suspended: the role asked for it and the workload's tokens were
	// revoked.
	Suspended bool `json:"suspended"`
}

// AuditAppender appends audit records; aicred.Store satisfies it.
type AuditAppender interface {
	AppendAudit(ctx context.Context, e aicred.AuditEvent) (aicred.AuditEvent, error)
}

// Revoker revokes grants; aicred.TokenService, broker.TokenStore and
// grantcache.Cache satisfy it.
type Revoker interface {
	Revoke(ctx context.Context, r *aicred.Revocation) error
}

// DetectorConfig tunes the abuse detector. Zero fields take the defaults
// named on each; negative numbers are refused. The YAML keys are those of
// the server configuration's gateway.anomaly section.
type DetectorConfig struct {
	// Warmup is how many active minutes (minutes with at least one
	// request) a workload needs before its baseline counts and before a
	// new address, user agent or model tier is news (default 5). Until
	// then only the absolute ceilings apply.
	Warmup int `yaml:"warmup_minutes"`
	// Smoothing is the weight of the latest minute in the baseline, an
	// exponentially weighted moving average of active minutes (default
	// 0.2). Idle minutes are left out so that bursty batch workloads
	// keep the rate they spend at when they do run.
	Smoothing float64 `yaml:"smoothing"`
	// SpikeFactor: a minute spending more than SpikeFactor times the
	// baseline (cost or tokens) and more than the floor is a spike
	// (default 5).
	SpikeFactor float64 `yaml:"spike_factor"`
	// CostFloorUSD and TokensFloor per minute keep small workloads quiet
	// (defaults $1 and 200,000 tokens).
	CostFloorUSD float64 `yaml:"cost_floor_usd"`
	TokensFloor  int64   `yaml:"tokens_floor"`
	// CostCeilingUSD and TokensCeiling per minute alert for a workload
	// with no baseline yet (defaults $20 and 5,000,000 tokens).
	CostCeilingUSD float64 `yaml:"cost_ceiling_usd"`
	TokensCeiling  int64   `yaml:"tokens_ceiling"`
	// ModelRatio: a model priced (input + output per million tokens) more
	// than ModelRatio times the dearest one the workload used before is
	// news (default 5). Models without a price are not compared.
	ModelRatio float64 `yaml:"model_ratio"`
	// AuthFailures: more than this many 401 and 403 refusals in a sliding
	// minute, from one address or for one workload, is a burst (default
	// 20).
	AuthFailures int `yaml:"auth_failures"`
	// Cooldown: one alert per workload (or address) and kind per
	// Cooldown (default 15 minutes).
	Cooldown time.Duration `yaml:"cooldown"`
	// SourcePrefixV4 and SourcePrefixV6 are the prefix lengths by which
	// source addresses are compared (defaults 24 and 64), so that pods
	// moving within a subnet are not new sources. 32 and 128 compare
	// exact addresses.
	SourcePrefixV4 int `yaml:"source_prefix_v4"`
	SourcePrefixV6 int `yaml:"source_prefix_v6"`
	// MaxWorkloads bounds the workloads tracked (default 10,000); the
	// least recently seen is forgotten first.
	MaxWorkloads int `yaml:"max_workloads"`
	// MaxAddresses bounds the addresses whose auth failures are counted
	// (default 10,000), least recently seen forgotten first.
	MaxAddresses int `yaml:"max_addresses"`
	// MaxSources bounds the networks and the user agents remembered per
	// workload (default 16 each); the least recently seen makes room.
	MaxSources int `yaml:"max_sources"`
	// QueueSize bounds the alerts waiting for the audit log, the
	// suspension and the webhook (default 1024); beyond it alerts are
	// dropped and counted, never waited for.
	QueueSize int           `yaml:"queue_size"`
	Webhook   WebhookConfig `yaml:"webhook"`

	// Audit receives one anomaly.detected record per alert (nil: none).
	Audit AuditAppender `yaml:"-"`
	// Revoker suspends workloads (nil: no suspension).
	Revoker Revoker `yaml:"-"`
	// Roles finds a role by name for its anomaly policy, as
	// Config.Roles (nil: no suspension).
	Roles func(name string) (*broker.Role, bool) `yaml:"-"`
	// Prices defaults to DefaultPrices.
	Prices *PriceTable `yaml:"-"`
	// HTTPClient posts webhooks (default: a client with no redirects).
	HTTPClient *http.Client     `yaml:"-"`
	Log        *slog.Logger     `yaml:"-"`
	Now        func() time.Time `yaml:"-"`
}

// withDefaults fills zero fields and checks the rest.
func (c DetectorConfig) withDefaults() (DetectorConfig, error) {
	bad := func(name string) error {
		return configKeyError(name, "must not be negative")
	}
	ints := []struct {
		name string
		p    *int
		def  int
	}{
		{"warmup_minutes", &c.Warmup, 5}, {"auth_failures", &c.AuthFailures, 20},
		{"source_prefix_v4", &c.SourcePrefixV4, 24}, {"source_prefix_v6", &c.SourcePrefixV6, 64},
		{"max_workloads", &c.MaxWorkloads, 10000}, {"max_addresses", &c.MaxAddresses, 10000},
		{"max_sources", &c.MaxSources, 16}, {"queue_size", &c.QueueSize, 1024},
	}
	for _, f := range ints {
		if *f.p < 0 {
			return c, bad(f.name)
		}
		if *f.p == 0 {
			*f.p = f.def
		}
	}
	floats := []struct {
		name string
		p    *float64
		def  float64
	}{
		{"smoothing", &c.Smoothing, 0.2}, {"spike_factor", &c.SpikeFactor, 5},
		{"cost_floor_usd", &c.CostFloorUSD, 1}, {"cost_ceiling_usd", &c.CostCeilingUSD, 20},
		{"model_ratio", &c.ModelRatio, 5},
	}
	for _, f := range floats {
		if *f.p < 0 || math.IsNaN(*f.p) || math.IsInf(*f.p, 0) {
			return c, bad(f.name)
		}
		if *f.p == 0 {
			*f.p = f.def
		}
	}
	for _, f := range []struct {
		name string
		p    *int64
		def  int64
	}{{"tokens_floor", &c.TokensFloor, 200_000}, {"tokens_ceiling", &c.TokensCeiling, 5_000_000}} {
		if *f.p < 0 {
			return c, bad(f.name)
		}
		if *f.p == 0 {
			*f.p = f.def
		}
	}
	if c.Cooldown < 0 {
		return c, bad("cooldown")
	}
	if c.Cooldown == 0 {
		c.Cooldown = 15 * time.Minute
	}
	switch {
	case c.Smoothing > 1:
		return c, configKeyError("smoothing", "%g is above 1", c.Smoothing)
	case c.SpikeFactor <= 1:
		return c, configKeyError("spike_factor", "must be above 1")
	case c.ModelRatio <= 1:
		return c, configKeyError("model_ratio", "must be above 1")
	case c.SourcePrefixV4 > 32:
		return c, configKeyError("source_prefix_v4", "is above 32 bits")
	case c.SourcePrefixV6 > 128:
		return c, configKeyError("source_prefix_v6", "is above 128 bits")
	case c.AuthFailures > 10000:
		return c, configKeyError("auth_failures", "%d is above 10000", c.AuthFailures)
	}
	if c.Prices == nil {
		c.Prices = DefaultPrices()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// detectorKeyError is an invalid setting, naming its YAML key so that
// UnmarshalYAML can name its line.
type detectorKeyError struct {
	key string
	err error
}

func (e *detectorKeyError) Error() string { return e.err.Error() }
func (e *detectorKeyError) Unwrap() error { return e.err }

func configKeyError(key, format string, args ...any) error {
	return &detectorKeyError{key: key, err: aicred.Errorf(aicred.ErrInvalid, "anomaly: %s %s", key, fmt.Sprintf(format, args...))}
}

// UnmarshalYAML decodes and checks the gateway.anomaly section of the
// server configuration. Unknown keys and invalid values are ErrInvalid
// errors naming their line. The webhook secret file is read by
// NewDetector, not here.
func (c *DetectorConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*c = DetectorConfig{}
		return nil
	}
	if err := yamlKnownKeys(n, "anomaly", reflect.TypeFor[DetectorConfig]()); err != nil {
		return err
	}
	if wh := yamlValue(n, "webhook"); wh != nil {
		if err := yamlKnownKeys(wh, "anomaly.webhook", reflect.TypeFor[WebhookConfig]()); err != nil {
			return err
		}
	}
	type plain DetectorConfig
	var p plain
	if err := n.Decode(&p); err != nil {
		return aicred.Errorf(aicred.ErrInvalid, "anomaly: %w", err)
	}
	dc := DetectorConfig(p)
	if _, err := dc.withDefaults(); err != nil {
		line := n.Line
		var ke *detectorKeyError
		if errors.As(err, &ke) {
			if v := yamlValue(n, ke.key); v != nil {
				line = v.Line
			}
		}
		return aicred.Errorf(aicred.ErrInvalid, "line %d: %s", line, err.Error())
	}
	if err := dc.Webhook.check(); err != nil {
		line := n.Line
		if v := yamlValue(n, "webhook"); v != nil {
			line = v.Line
		}
		return aicred.Errorf(aicred.ErrInvalid, "line %d: %s", line, err.Error())
	}
	*c = dc
	return nil
}

// yamlKnownKeys refuses keys of mapping n that name no field of t.
func yamlKnownKeys(n *yaml.Node, section string, t reflect.Type) error {
	if n.Kind != yaml.MappingNode {
		return aicred.Errorf(aicred.ErrInvalid, "line %d: %s must be a mapping", n.Line, section)
	}
	var names []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(names, k.Value) {
			return aicred.Errorf(aicred.ErrInvalid, "line %d: unknown key %q in %s (want %s)", k.Line, k.Value, section, strings.Join(names, ", "))
		}
	}
	return nil
}

// yamlValue is the value of key in mapping n, or nil.
func yamlValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// A Detector watches usage records and refusals for signs that a
// workload's token is being abused (LLMjacking): spend spikes, a jump to
// a much dearer model, a new source network or client, bursts of
// authorization failures. It is a UsageRecorder and a RefusalObserver.
//
// Both hooks run on the request's goroutine: they update in-memory state
// under one short lock and hand alerts to a buffered queue. Run drains the
// queue: it suspends the workload when its role asks, appends the audit
// record and passes the alert to the webhook poster.
type Detector struct {
	c    DetectorConfig
	hook *alertHook

	mu        sync.Mutex
	workloads anomalyLRU[anomalyWorkload]
	addrs     anomalyLRU[anomalyAddr]

	queue chan Alert
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	run   atomic.Bool

	// redact is built on first use, off the hot path: the scan engine
	// that keeps key-shaped text out of alerts.
	redact func() *scan.Engine

	raised                                  [len(alertKinds)]atomic.Uint64
	dropped, evicted                        atomic.Uint64
	suspensions, suspendErrs, auditErrs     atomic.Uint64
	hooksSent, hookErrs, hooksDropped, seen atomic.Uint64
}

// anomalyWorkload is what the detector knows of one workload.
type anomalyWorkload struct {
	role, token string // as last seen

	// The open minute (unix minutes) and what it has spent so far.
	minute int64
	cost   float64
	tokens int64
	// Baselines per active minute and how many minutes they hold.
	baseCost, baseTokens float64
	active               int

	lastModel, lastProvider string
	maxPrice                float64
	maxModel                string

	lastIP    string // raw, so an unchanged address costs one compare
	lastIPNet netip.Prefix
	sources   []netip.Prefix // most recently seen first
	lastUA    string
	agents    []string // normalised, most recently seen first

	fails   failWindow
	alerted [len(alertKinds)]time.Time
}

// anomalyAddr counts one address's authorization failures.
type anomalyAddr struct {
	fails   failWindow
	alerted time.Time
}

// NewDetector returns a detector; call Run to process its alerts.
// Errors: ErrInvalid (a bad setting or webhook), ErrUnavailable (the
// webhook secret file cannot be read).
func NewDetector(c DetectorConfig) (*Detector, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Detector{
		c:     c,
		queue: make(chan Alert, c.QueueSize),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		redact: sync.OnceValue(func() *scan.Engine {
			e, err := scan.New(scan.Options{})
			if err != nil {
				// The catalog is checked by its own tests; without an
				// engine every free-text detail is withheld instead.
				c.Log.Error("anomaly: scan engine", "err", err)
				return nil
			}
			return e
		}),
	}
	if err := c.Webhook.check(); err != nil {
		return nil, err
	}
	d.workloads.init(c.MaxWorkloads)
	d.addrs.init(c.MaxAddresses)
	if c.Webhook.URL != "" {
		if d.hook, err = newAlertHook(c.Webhook, c.HTTPClient, c.Log); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// RecordUsage implements UsageRecorder. It never fails and never blocks.
func (d *Detector) RecordUsage(_ context.Context, r UsageRecord) error {
	if r.Workload == "" {
		return nil
	}
	d.seen.Add(1)
	now := r.Time
	if now.IsZero() {
		now = d.c.Now()
	}
	var out [4]Alert
	n := 0
	// due checks the cooldown before any detail is built: a workload
	// spiking for a whole minute costs nothing more per request.
	due := func(ws *anomalyWorkload, kind AlertKind) bool {
		last := ws.alerted[kind.index()]
		return last.IsZero() || now.Sub(last) >= d.c.Cooldown
	}
	raise := func(ws *anomalyWorkload, kind AlertKind, details map[string]string) {
		ws.alerted[kind.index()] = now
		out[n] = Alert{Time: now, Kind: kind, Workload: r.Workload, Role: r.Role, TokenID: r.TokenID, SourceIP: r.SourceIP, Details: details}
		n++
	}

	d.mu.Lock()
	ws, _ := d.workload(r.Workload)
	ws.role, ws.token = r.Role, r.TokenID
	d.roll(ws, now.Unix()/60)
	if r.CostUSD > 0 { // NaN and refunds are not spend
		ws.cost += r.CostUSD
	}
	if t := r.Usage.Total(); t > 0 {
		ws.tokens += t
	}
	warm := ws.active >= d.c.Warmup

	if d.spiking(ws, warm) && due(ws, AlertSpendSpike) {
		raise(ws, AlertSpendSpike, d.spikeDetails(ws, warm))
	}
	if r.Model != "" && (r.Model != ws.lastModel || r.Provider != ws.lastProvider) {
		ws.lastModel, ws.lastProvider = r.Model, r.Provider
		if p, ok := d.c.Prices.Lookup(r.Provider, r.Model); ok {
			price := p.Input + p.Output
			if warm && ws.maxPrice > 0 && price > d.c.ModelRatio*ws.maxPrice && due(ws, AlertExpensiveModel) {
				raise(ws, AlertExpensiveModel, map[string]string{
					"provider": r.Provider, "model": r.Model, "price_per_mtok": anomalyNum(price),
					"previous_model": ws.maxModel, "previous_price_per_mtok": anomalyNum(ws.maxPrice),
					"ratio": anomalyNum(price / ws.maxPrice),
				})
			}
			if price > ws.maxPrice {
				ws.maxPrice, ws.maxModel = price, r.Model
			}
		}
	}
	if r.SourceIP != "" && r.SourceIP != ws.lastIP {
		if net, ok := d.sourceNet(r.SourceIP); ok && net != ws.lastIPNet {
			ws.lastIP, ws.lastIPNet = r.SourceIP, net
			if !touchRecent(&ws.sources, net, d.c.MaxSources) && warm && due(ws, AlertNewSource) {
				raise(ws, AlertNewSource, map[string]string{"network": net.String(), "known_networks": strconv.Itoa(len(ws.sources) - 1)})
			}
		} else {
			ws.lastIP = r.SourceIP
		}
	}
	// A workload's first request may carry no user agent: that is
	// learned too.
	if r.UserAgent != ws.lastUA || len(ws.agents) == 0 {
		ws.lastUA = r.UserAgent
		if ua := clientName(r.UserAgent); !touchRecent(&ws.agents, ua, d.c.MaxSources) && warm && due(ws, AlertNewUserAgent) {
			raise(ws, AlertNewUserAgent, map[string]string{"user_agent": ua, "known_user_agents": strconv.Itoa(len(ws.agents) - 1)})
		}
	}
	d.mu.Unlock()

	for _, a := range out[:n] {
		d.enqueue(a)
	}
	return nil
}

// ObserveRefusal implements RefusalObserver: 401 and 403 refusals are
// counted per source address and, when the token was valid, per workload.
func (d *Detector) ObserveRefusal(_ context.Context, r Refusal) {
	if r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
		return
	}
	now := r.Time
	if now.IsZero() {
		now = d.c.Now()
	}
	span := int64(time.Minute)
	details := func(scope string) map[string]string {
		return map[string]string{"scope": scope, "failures": strconv.Itoa(d.c.AuthFailures + 1), "window": "1m", "last_code": r.Code, "last_status": strconv.Itoa(r.Status)}
	}
	var out [2]Alert
	n := 0
	d.mu.Lock()
	if r.SourceIP != "" {
		a, _ := d.addrs.get(r.SourceIP)
		if a.fails.add(now.UnixNano(), span, d.c.AuthFailures) && (a.alerted.IsZero() || now.Sub(a.alerted) >= d.c.Cooldown) {
			a.alerted = now
			out[n] = Alert{Time: now, Kind: AlertAuthFailures, SourceIP: r.SourceIP, Details: details("source")}
			n++
		}
	}
	if r.Workload != "" {
		ws, _ := d.workload(r.Workload)
		i := AlertAuthFailures.index()
		if ws.fails.add(now.UnixNano(), span, d.c.AuthFailures) && (ws.alerted[i].IsZero() || now.Sub(ws.alerted[i]) >= d.c.Cooldown) {
			ws.alerted[i] = now
			out[n] = Alert{Time: now, Kind: AlertAuthFailures, Workload: r.Workload, Role: r.Role, TokenID: r.TokenID, SourceIP: r.SourceIP, Details: details("workload")}
			n++
		}
	}
	d.mu.Unlock()
	for _, a := range out[:n] {
		d.enqueue(a)
	}
}

// workload returns the state of key, creating it (and forgetting the
// least recently seen workload past MaxWorkloads). d.mu is held.
func (d *Detector) workload(key string) (*anomalyWorkload, bool) {
	ws, created := d.workloads.get(key)
	if d.workloads.evictions > 0 {
		d.evicted.Add(uint64(d.workloads.evictions))
		d.workloads.evictions = 0
	}
	return ws, created
}

// roll closes the open minute into the baseline when minute m begins. A
// record of an earlier minute (a long stream ending late) counts in the
// open one.
func (d *Detector) roll(ws *anomalyWorkload, m int64) {
	if m <= ws.minute {
		return
	}
	if ws.minute != 0 {
		cost, tokens := ws.cost, float64(ws.tokens)
		if ws.active < d.c.Warmup {
			// A plain mean while warming up, so the first minute does not
			// weigh more than the others.
			k := float64(ws.active + 1)
			ws.baseCost += (cost - ws.baseCost) / k
			ws.baseTokens += (tokens - ws.baseTokens) / k
		} else {
			// A spiking minute moves the baseline by at most the
			// threshold, so a sustained abuse is not learned at once.
			cost = min(cost, max(d.c.SpikeFactor*ws.baseCost, d.c.CostFloorUSD))
			tokens = min(tokens, max(d.c.SpikeFactor*ws.baseTokens, float64(d.c.TokensFloor)))
			a := d.c.Smoothing
			ws.baseCost = a*cost + (1-a)*ws.baseCost
			ws.baseTokens = a*tokens + (1-a)*ws.baseTokens
		}
		ws.active++
	}
	ws.minute, ws.cost, ws.tokens = m, 0, 0
}

// spiking reports whether the open minute crosses the threshold: Factor
// times the baseline and the floor once warm, the ceiling before.
func (d *Detector) spiking(ws *anomalyWorkload, warm bool) bool {
	c := d.c
	if !warm {
		return ws.cost > c.CostCeilingUSD || ws.tokens > c.TokensCeiling
	}
	return ws.cost > c.CostFloorUSD && ws.cost > c.SpikeFactor*ws.baseCost ||
		ws.tokens > c.TokensFloor && float64(ws.tokens) > c.SpikeFactor*ws.baseTokens
}

// spikeDetails says what crossed which threshold.
func (d *Detector) spikeDetails(ws *anomalyWorkload, warm bool) map[string]string {
	c := d.c
	det := map[string]string{
		"minute_cost_usd": anomalyNum(ws.cost), "minute_tokens": strconv.FormatInt(ws.tokens, 10),
		"active_minutes": strconv.Itoa(ws.active),
	}
	var costHit, tokHit bool
	if warm {
		costHit = ws.cost > c.CostFloorUSD && ws.cost > c.SpikeFactor*ws.baseCost
		tokHit = ws.tokens > c.TokensFloor && float64(ws.tokens) > c.SpikeFactor*ws.baseTokens
		det["baseline_cost_usd"], det["baseline_tokens"] = anomalyNum(ws.baseCost), anomalyNum(ws.baseTokens)
		det["factor"] = anomalyNum(c.SpikeFactor)
	} else {
		costHit, tokHit = ws.cost > c.CostCeilingUSD, ws.tokens > c.TokensCeiling
		det["baseline"] = "none"
		det["ceiling_cost_usd"], det["ceiling_tokens"] = anomalyNum(c.CostCeilingUSD), strconv.FormatInt(c.TokensCeiling, 10)
	}
	switch {
	case costHit && tokHit:
		det["over"] = "cost,tokens"
	case costHit:
		det["over"] = "cost"
	default:
		det["over"] = "tokens"
	}
	return det
}

// sourceNet is the network of addr by which sources are compared.
func (d *Detector) sourceNet(addr string) (netip.Prefix, bool) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap().WithZone("")
	bits := d.c.SourcePrefixV6
	if ip.Is4() {
		bits = d.c.SourcePrefixV4
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// touchRecent moves v to the front of set, adding it (and dropping the last
// past limit) when absent; it reports whether v was known.
func touchRecent[T comparable](set *[]T, v T, limit int) bool {
	s := *set
	for i, x := range s {
		if x == v {
			copy(s[1:i+1], s[:i])
			s[0] = v
			return true
		}
	}
	if len(s) < limit {
		s = append(s, v)
	}
	copy(s[1:], s[:len(s)-1])
	s[0] = v
	*set = s
	return false
}

// clientName is a user agent without versions ("OpenAI/Python 1.54.0"
// becomes "OpenAI/Python"), so an SDK upgrade is not a new client. Only
// called when a workload's user agent changes.
func clientName(ua string) string {
	var b strings.Builder
	for _, f := range strings.Fields(ua) {
		if isVersion(f) {
			continue
		}
		for j := strings.LastIndexByte(f, '/'); j > 0 && isVersion(f[j+1:]); j = strings.LastIndexByte(f, '/') {
			f = f[:j]
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f)
	}
	if b.Len() == 0 {
		return "(none)"
	}
	return b.String()
}

// isVersion reports whether s looks like "1.54.0", "v2", "3.12.1-rc1".
func isVersion(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V")
	return s != "" && s[0] >= '0' && s[0] <= '9'
}

// enqueue hands a to Run without waiting.
func (d *Detector) enqueue(a Alert) {
	d.raised[a.Kind.index()].Add(1)
	select {
	case d.queue <- a:
	default:
		d.dropped.Add(1)
	}
}

// Run processes alerts until ctx ends or Close is called; after Close it
// finishes the alerts already queued. The webhook is posted from a
// goroutine of its own, so a slow receiver never delays a suspension.
func (d *Detector) Run(ctx context.Context) error {
	if !d.run.CompareAndSwap(false, true) {
		return aicred.Errorf(aicred.ErrConflict, "anomaly: the detector is already running")
	}
	d.loop(ctx)
	return nil
}

// Start runs Run on a goroutine of its own; Close stops it.
func (d *Detector) Start(ctx context.Context) error {
	if !d.run.CompareAndSwap(false, true) {
		return aicred.Errorf(aicred.ErrConflict, "anomaly: the detector is already running")
	}
	go d.loop(ctx)
	return nil
}

func (d *Detector) loop(ctx context.Context) {
	defer close(d.done)
	var hooks chan Alert
	var wg sync.WaitGroup
	if d.hook != nil {
		hooks = make(chan Alert, d.c.QueueSize)
		wg.Go(func() { d.postLoop(ctx, hooks) })
		defer wg.Wait()
		defer close(hooks)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.stop:
			for {
				select {
				case a := <-d.queue:
					d.handle(ctx, a, hooks)
				default:
					return
				}
			}
		case a := <-d.queue:
			d.handle(ctx, a, hooks)
		}
	}
}

// Close stops Run (or Start) once the queued alerts are handled and the
// webhooks posted, and waits for it.
func (d *Detector) Close() error {
	d.once.Do(func() { close(d.stop) })
	if d.run.Load() {
		<-d.done
	}
	return nil
}

// handle suspends, audits and forwards one alert.
func (d *Detector) handle(ctx context.Context, a Alert, hooks chan<- Alert) {
	ctx = aicred.WithActor(ctx, AnomalyActor)
	a.ID = newAlertID()
	d.scrub(&a)
	log := d.c.Log.With("alert", a.ID, "kind", string(a.Kind), "workload", a.Workload, "role", a.Role, "token", a.TokenID, "source", a.SourceIP)

	if d.suspends(a) {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := d.c.Revoker.Revoke(rctx, &aicred.Revocation{
			By: aicred.RevokeWorkload, Value: a.Workload,
			Reason: "anomaly " + string(a.Kind) + " (alert " + a.ID + ")",
		})
		cancel()
		if err != nil {
			d.suspendErrs.Add(1)
			log.Error("anomaly: suspending the workload failed", "err", err)
			a.Details["suspend_error"] = aicred.StorableText(err.Error())
		} else {
			d.suspensions.Add(1)
			a.Suspended = true
		}
	}
	log.Warn("anomaly: alert", "suspended", a.Suspended)

	if d.c.Audit != nil {
		data := make(map[string]string, len(a.Details)+6)
		for k, v := range a.Details {
			data[k] = v
		}
		data["alert"], data["kind"], data["suspended"] = a.ID, string(a.Kind), strconv.FormatBool(a.Suspended)
		for k, v := range map[string]string{"role": a.Role, "token": a.TokenID, "source_ip": a.SourceIP} {
			if v != "" {
				data[k] = v
			}
		}
		subject := a.Workload
		if subject == "" {
			subject = "address " + a.SourceIP
		}
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := d.c.Audit.AppendAudit(actx, aicred.AuditEvent{Action: ActionAnomalyDetected, Subject: subject, Data: data})
		cancel()
		if err != nil {
			d.auditErrs.Add(1)
			log.Error("anomaly: audit record failed", "err", err)
		}
	}
	if hooks != nil {
		select {
		case hooks <- a:
		default:
			d.hooksDropped.Add(1)
		}
	}
}

// suspends reports whether a's role asks for its workload's suspension.
func (d *Detector) suspends(a Alert) bool {
	if d.c.Revoker == nil || d.c.Roles == nil || a.Workload == "" || a.Role == "" {
		return false
	}
	r, ok := d.c.Roles(a.Role)
	return ok && r.Anomaly.Suspends(string(a.Kind))
}

// scrub withholds any detail that holds key-shaped text: user agents and
// model names come from the client, which may paste anything there.
func (d *Detector) scrub(a *Alert) {
	if a.Details == nil {
		a.Details = map[string]string{}
	}
	e := d.redact()
	for k, v := range a.Details {
		v = aicred.StorableText(v)
		if len(v) > 200 {
			v = strings.ToValidUTF8(v[:200], "")
		}
		if e == nil || looksSecret(e, v) {
			v = "[withheld: looks like a credential]"
		}
		a.Details[k] = v
	}
}

func looksSecret(e *scan.Engine, v string) bool {
	if strings.Contains(v, "aicw_") || strings.Contains(v, "aica_") {
		return true
	}
	found := false
	e.Scan([]byte(v), func(scan.Match) { found = true })
	return found
}

func (d *Detector) postLoop(ctx context.Context, hooks <-chan Alert) {
	for a := range hooks {
		if err := d.hook.send(ctx, a); err != nil {
			d.hookErrs.Add(1)
			d.c.Log.Error("anomaly: webhook failed", "alert", a.ID, "err", err)
			continue
		}
		d.hooksSent.Add(1)
	}
}

// DetectorStats are the detector's counters since it was made.
type DetectorStats struct {
	// Alerts raised, by kind (including those dropped).
	Alerts map[AlertKind]uint64 `json:"alerts"`
	// Dropped: alerts lost because the queue was full.
	Dropped uint64 `json:"dropped"`
	// Records is how many usage records with a workload were seen.
	Records uint64 `json:"records"`
	// Workloads is how many are tracked now; Evicted how many were
	// forgotten to stay within MaxWorkloads.
	Workloads int    `json:"workloads"`
	Evicted   uint64 `json:"evicted"`
	// Suspensions made and failed; audit records that failed.
	Suspensions   uint64 `json:"suspensions"`
	SuspendErrors uint64 `json:"suspend_errors"`
	AuditErrors   uint64 `json:"audit_errors"`
	// Webhooks delivered, failed after every retry, and dropped because
	// the poster was behind.
	WebhooksSent    uint64 `json:"webhooks_sent"`
	WebhookErrors   uint64 `json:"webhook_errors"`
	WebhooksDropped uint64 `json:"webhooks_dropped"`
}

// Stats returns the counters, for metrics.
func (d *Detector) Stats() DetectorStats {
	s := DetectorStats{
		Alerts: make(map[AlertKind]uint64, len(alertKinds)), Dropped: d.dropped.Load(), Records: d.seen.Load(),
		Evicted: d.evicted.Load(), Suspensions: d.suspensions.Load(), SuspendErrors: d.suspendErrs.Load(),
		AuditErrors: d.auditErrs.Load(), WebhooksSent: d.hooksSent.Load(), WebhookErrors: d.hookErrs.Load(),
		WebhooksDropped: d.hooksDropped.Load(),
	}
	for i, k := range alertKinds {
		s.Alerts[k] = d.raised[i].Load()
	}
	d.mu.Lock()
	s.Workloads = len(d.workloads.m)
	d.mu.Unlock()
	return s
}

func newAlertID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "alert_" + hex.EncodeToString(b[:])
}

func anomalyNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// failWindow counts events in a sliding span: a ring of the last n+1 event
// times, allocated on the first event.
type failWindow struct {
	t []int64
	i int
}

// add records an event at now and reports whether more than n events fell
// within span up to now.
func (w *failWindow) add(now, span int64, n int) bool {
	if w.t == nil {
		w.t = make([]int64, n+1)
	}
	w.t[w.i] = now
	w.i = (w.i + 1) % len(w.t)
	oldest := w.t[w.i] // the (n+1)th most recent event
	return oldest != 0 && now-oldest < span
}

// anomalyLRU is a map bounded by evicting the least recently used entry.
type anomalyLRU[V any] struct {
	m         map[string]*anomalyNode[V]
	head      anomalyNode[V] // sentinel: head.next is the most recent
	max       int
	evictions int
}

type anomalyNode[V any] struct {
	key        string
	prev, next *anomalyNode[V]
	v          V
}

func (l *anomalyLRU[V]) init(max int) {
	l.m = make(map[string]*anomalyNode[V])
	l.head.prev, l.head.next = &l.head, &l.head
	l.max = max
}

// get returns key's value, creating it, and marks it most recent.
func (l *anomalyLRU[V]) get(key string) (*V, bool) {
	if n, ok := l.m[key]; ok {
		if l.head.next != n {
			n.prev.next, n.next.prev = n.next, n.prev
			n.prev, n.next = &l.head, l.head.next
			l.head.next.prev, l.head.next = n, n
		}
		return &n.v, false
	}
	var n *anomalyNode[V]
	if len(l.m) >= l.max {
		// Reuse the oldest node: no allocation once full.
		n = l.head.prev
		n.prev.next, n.next.prev = n.next, n.prev
		delete(l.m, n.key)
		l.evictions++
		var zero V
		n.v = zero
	} else {
		n = &anomalyNode[V]{}
	}
	n.key = key
	n.prev, n.next = &l.head, l.head.next
	l.head.next.prev, l.head.next = n, n
	l.m[key] = n
	return &n.v, true
}
