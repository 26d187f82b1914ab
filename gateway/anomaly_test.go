package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sqlite"
)

// anomalyT0 is the start of every test's clock: the top of a minute.
var anomalyT0 = time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)

const testWorkload = "https://issuer.test ci-job"

func newTestDetector(t testing.TB, mod func(*DetectorConfig)) *Detector {
	t.Helper()
	c := DetectorConfig{Now: func() time.Time { return anomalyT0 }}
	if mod != nil {
		mod(&c)
	}
	d, err := NewDetector(c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// raised takes the alerts queued so far (Run is not running).
func raised(d *Detector) []Alert {
	var out []Alert
	for {
		select {
		case a := <-d.queue:
			out = append(out, a)
		default:
			return out
		}
	}
}

func kinds(as []Alert) []AlertKind {
	k := make([]AlertKind, len(as))
	for i, a := range as {
		k[i] = a.Kind
	}
	return k
}

// usage is a record of workload w at t.
func usage(w string, t time.Time, cost float64, tokens int64) UsageRecord {
	return UsageRecord{
		Time: t, TokenID: "tok_1", Workload: w, Role: "chat-role", Provider: "openai", Model: "gpt-4o-mini",
		Usage: Usage{InputTokens: tokens / 2, OutputTokens: tokens - tokens/2}, CostUSD: cost, Status: 200, Outcome: OutcomeOK,
		SourceIP: "10.1.2.3", UserAgent: "OpenAI/Python 1.54.0",
	}
}

// warm feeds minutes of steady use (one record a minute) and returns the
// start of the next minute.
func warm(d *Detector, w string, minutes int, cost float64, tokens int64) time.Time {
	t := anomalyT0
	for range minutes {
		_ = d.RecordUsage(context.Background(), usage(w, t.Add(10*time.Second), cost, tokens))
		t = t.Add(time.Minute)
	}
	return t
}

func TestDetectorSpendSpike(t *testing.T) {
	cases := []struct {
		name        string
		warmMinutes int
		baseCost    float64
		baseTokens  int64
		// burst: records in the next minute
		burstCost   float64
		burstTokens int64
		records     int
		want        bool
		over        string
	}{
		{"cost spike over floor", 6, 0.5, 1000, 3, 1000, 10, true, "cost"},
		{"below factor", 6, 0.5, 1000, 2.4, 1000, 10, false, ""},
		{"over factor, below floor", 6, 0.05, 1000, 0.9, 1000, 10, false, ""},
		{"token spike", 6, 0.001, 40_000, 0.002, 250_000, 5, true, "tokens"},
		{"tokens below floor", 6, 0.001, 10_000, 0.002, 190_000, 5, false, ""},
		{"both", 6, 0.2, 40_000, 5, 1_000_000, 5, true, "cost,tokens"},
		{"no baseline: under ceiling", 0, 0, 0, 19, 1000, 10, false, ""},
		{"no baseline: over ceiling", 0, 0, 0, 21, 1000, 10, true, "cost"},
		{"warming up: ceiling only", 3, 0.01, 100, 15, 1000, 10, false, ""},
		{"no baseline: token ceiling", 2, 0.01, 100, 0.5, 6_000_000, 3, true, "tokens"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newTestDetector(t, nil)
			start := warm(d, testWorkload, c.warmMinutes, c.baseCost, c.baseTokens)
			if a := raised(d); len(a) != 0 {
				t.Fatalf("alerts while warming: %v", kinds(a))
			}
			for i := range c.records {
				_ = d.RecordUsage(context.Background(), usage(testWorkload, start.Add(time.Duration(i)*time.Second), c.burstCost/float64(c.records), c.burstTokens/int64(c.records)))
			}
			got := raised(d)
			if !c.want {
				if len(got) != 0 {
					t.Fatalf("alerts %v, want none: %v", kinds(got), got[0].Details)
				}
				return
			}
			if len(got) != 1 || got[0].Kind != AlertSpendSpike {
				t.Fatalf("alerts %v, want one spend_spike", kinds(got))
			}
			a := got[0]
			if a.Workload != testWorkload || a.Role != "chat-role" || a.TokenID != "tok_1" || a.SourceIP != "10.1.2.3" {
				t.Errorf("alert names %+v", a)
			}
			if a.Details["over"] != c.over {
				t.Errorf("over %q, want %q (%v)", a.Details["over"], c.over, a.Details)
			}
			if _, err := strconv.ParseFloat(a.Details["minute_cost_usd"], 64); err != nil {
				t.Errorf("minute_cost_usd %q: %v", a.Details["minute_cost_usd"], err)
			}
			if st := d.Stats(); st.Alerts[AlertSpendSpike] != 1 || st.Records == 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestDetectorBaselineLearnsSlowly: idle minutes leave the baseline
// alone; a spiking minute moves it by at most the threshold, so a
// sustained abuse is not learned at once, but a lasting change is learned
// in the end.
func TestDetectorBaselineLearnsSlowly(t *testing.T) {
	d := newTestDetector(t, func(c *DetectorConfig) { c.Cooldown = 10 * time.Minute })
	now := warm(d, testWorkload, 6, 0.5, 1000)
	now = now.Add(2 * time.Hour) // idle
	ws, _ := d.workloads.get(testWorkload)
	var alerts []time.Time
	var bases []float64
	for m := range 40 {
		_ = d.RecordUsage(context.Background(), usage(testWorkload, now.Add(time.Duration(m)*time.Minute), 10, 1000))
		for _, a := range raised(d) {
			alerts = append(alerts, a.Time)
		}
		bases = append(bases, ws.baseCost)
	}
	// Before the spike the baseline is the warm-up's $0.50 (the sixth
	// minute closes when the spike starts); the spiking minute is folded
	// in as the threshold, $2.50: 0.2*2.5 + 0.8*0.5.
	if bases[0] != 0.5 || bases[1] != 0.9 {
		t.Fatalf("baselines %v", bases[:2])
	}
	if len(alerts) != 1 || !alerts[0].Equal(now) {
		t.Fatalf("alerts at %v, want one at %v", alerts, now)
	}
	if last := bases[len(bases)-1]; last < 9.9 || last > 10 {
		t.Fatalf("after 40 minutes the baseline is %v, want about 10", last)
	}
}

func TestDetectorCooldown(t *testing.T) {
	cases := []struct {
		name     string
		cooldown time.Duration
		gap      time.Duration
		want     int
	}{
		{"within cooldown", 15 * time.Minute, 5 * time.Minute, 1},
		{"after cooldown", 15 * time.Minute, 16 * time.Minute, 2},
		{"short cooldown", 2 * time.Minute, 2 * time.Minute, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newTestDetector(t, func(dc *DetectorConfig) { dc.Cooldown = c.cooldown })
			now := warm(d, testWorkload, 0, 0, 0)
			_ = d.RecordUsage(context.Background(), usage(testWorkload, now, 30, 1000))
			_ = d.RecordUsage(context.Background(), usage(testWorkload, now.Add(c.gap), 30, 1000))
			if got := raised(d); len(got) != c.want {
				t.Fatalf("%d alerts, want %d", len(got), c.want)
			}
		})
	}
}

func TestDetectorExpensiveModel(t *testing.T) {
	cases := []struct {
		name      string
		warm      int
		first     string // model of the warm-up
		next      []string
		wantModel string // "" means no alert
	}{
		{"mini to gpt-4o", 6, "gpt-4o-mini", []string{"gpt-4o"}, "gpt-4o"},
		{"mini to sonnet", 6, "gpt-4o-mini", []string{"claude-sonnet-4-5"}, "claude-sonnet-4-5"},
		{"haiku to sonnet is 3x", 6, "claude-haiku-4-5", []string{"claude-sonnet-4-5"}, ""},
		{"haiku to gpt-4o is 2x", 6, "claude-haiku-4-5", []string{"gpt-4o"}, ""},
		{"stepping up raises the bar", 6, "gpt-4o-mini", []string{"claude-haiku-4-5", "claude-sonnet-4-5"}, "claude-haiku-4-5"},
		{"dated snapshot priced as its model", 6, "gpt-4o-mini", []string{"gpt-4o-2024-08-06"}, "gpt-4o-2024-08-06"},
		{"unpriced model not compared", 6, "gpt-4o-mini", []string{"o9-ultra"}, ""},
		{"cheaper model", 6, "gpt-4o", []string{"gpt-4o-mini"}, ""},
		{"not warm", 2, "gpt-4o-mini", []string{"gpt-4o"}, ""},
	}
	provOf := func(m string) string {
		if strings.HasPrefix(m, "claude") {
			return "anthropic"
		}
		return "openai"
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newTestDetector(t, nil)
			now := anomalyT0
			for range c.warm {
				r := usage(testWorkload, now, 0.01, 100)
				r.Provider, r.Model = provOf(c.first), c.first
				_ = d.RecordUsage(context.Background(), r)
				now = now.Add(time.Minute)
			}
			for _, m := range c.next {
				r := usage(testWorkload, now, 0.01, 100)
				r.Provider, r.Model = provOf(m), m
				_ = d.RecordUsage(context.Background(), r)
				_ = d.RecordUsage(context.Background(), r) // a second use is not news
				now = now.Add(time.Second)
			}
			got := raised(d)
			if c.wantModel == "" {
				if len(got) != 0 {
					t.Fatalf("alerts %v: %v", kinds(got), got[0].Details)
				}
				return
			}
			if len(got) != 1 || got[0].Kind != AlertExpensiveModel || got[0].Details["model"] != c.wantModel || got[0].Details["previous_model"] != c.first {
				t.Fatalf("alerts %+v, want one expensive_model for %s", got, c.wantModel)
			}
		})
	}
}

func TestDetectorNewSourceAndUserAgent(t *testing.T) {
	cases := []struct {
		name string
		warm int
		ip   string
		ua   string
		want []AlertKind
	}{
		{"same address", 6, "10.1.2.3", "OpenAI/Python 1.54.0", nil},
		{"same /24", 6, "10.1.2.200", "OpenAI/Python 1.54.0", nil},
		{"SDK upgrade", 6, "10.1.2.3", "OpenAI/Python 1.61.1", nil},
		{"new network", 6, "203.0.113.9", "OpenAI/Python 1.54.0", []AlertKind{AlertNewSource}},
		{"new client", 6, "10.1.2.3", "curl/8.5.0", []AlertKind{AlertNewUserAgent}},
		{"both", 6, "2001:db8::1", "python-requests/2.32.3", []AlertKind{AlertNewSource, AlertNewUserAgent}},
		{"no user agent", 6, "10.1.2.3", "", []AlertKind{AlertNewUserAgent}},
		{"first requests are learned", 3, "203.0.113.9", "curl/8.5.0", nil},
		{"unparsable address ignored", 6, "@", "OpenAI/Python 1.54.0", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newTestDetector(t, nil)
			now := warm(d, testWorkload, c.warm, 0.01, 100)
			r := usage(testWorkload, now, 0.01, 100)
			r.SourceIP, r.UserAgent = c.ip, c.ua
			_ = d.RecordUsage(context.Background(), r)
			_ = d.RecordUsage(context.Background(), r) // known now
			got := raised(d)
			if fmt.Sprint(kinds(got)) != fmt.Sprint(c.want) {
				t.Fatalf("alerts %v, want %v", kinds(got), c.want)
			}
			for _, a := range got {
				if a.SourceIP != c.ip {
					t.Errorf("source %q", a.SourceIP)
				}
				if a.Kind == AlertNewSource && a.Details["network"] == "" {
					t.Errorf("details %v", a.Details)
				}
			}
		})
	}
}

// TestDetectorNoUserAgentLearned: a workload that never sends a user
// agent has that learned like any other client.
func TestDetectorNoUserAgentLearned(t *testing.T) {
	d := newTestDetector(t, nil)
	now := anomalyT0
	for m := range 8 {
		r := usage(testWorkload, now.Add(time.Duration(m)*time.Minute), 0.01, 100)
		r.UserAgent = ""
		_ = d.RecordUsage(context.Background(), r)
	}
	if got := raised(d); len(got) != 0 {
		t.Fatalf("alerts %v", kinds(got))
	}
	r := usage(testWorkload, now.Add(9*time.Minute), 0.01, 100)
	_ = d.RecordUsage(context.Background(), r)
	if got := raised(d); len(got) != 1 || got[0].Details["user_agent"] != "OpenAI/Python" {
		t.Fatalf("alerts %+v, want one new_user_agent", got)
	}
}

// TestDetectorSourcesBounded: a workload seen from many networks keeps at
// most MaxSources of them, and only the first unknown network in a
// cooldown alerts.
func TestDetectorSourcesBounded(t *testing.T) {
	d := newTestDetector(t, func(c *DetectorConfig) { c.MaxSources = 4 })
	now := warm(d, testWorkload, 6, 0.01, 100)
	for i := range 50 {
		r := usage(testWorkload, now, 0.01, 100)
		r.SourceIP = fmt.Sprintf("198.51.%d.7", i)
		r.UserAgent = fmt.Sprintf("client-%d", i)
		_ = d.RecordUsage(context.Background(), r)
	}
	if got := raised(d); len(got) != 2 {
		t.Fatalf("alerts %v, want one per kind", kinds(got))
	}
	ws, _ := d.workloads.get(testWorkload)
	if len(ws.sources) != 4 || len(ws.agents) != 4 {
		t.Fatalf("kept %d networks and %d agents, want 4", len(ws.sources), len(ws.agents))
	}
	if ws.sources[0].String() != "198.51.49.0/24" {
		t.Errorf("most recent network %s", ws.sources[0])
	}
}

func TestDetectorAuthFailures(t *testing.T) {
	cases := []struct {
		name     string
		n        int
		every    time.Duration
		status   int
		workload string
		want     []string // scopes of the alerts
	}{
		{"20 in a minute is fine", 20, time.Second, 401, "", nil},
		{"21 in a minute", 21, time.Second, 401, "", []string{"source"}},
		{"21 spread over 80s", 21, 4 * time.Second, 401, "", nil},
		{"403 counts", 30, 100 * time.Millisecond, 403, "", []string{"source"}},
		{"429 does not", 100, 10 * time.Millisecond, 429, "", nil},
		{"per workload too", 25, time.Second, 403, testWorkload, []string{"source", "workload"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newTestDetector(t, nil)
			var got []Alert
			for i := range c.n {
				d.ObserveRefusal(context.Background(), Refusal{
					Time: anomalyT0.Add(time.Duration(i) * c.every), Status: c.status, Code: "invalid_token",
					SourceIP: "192.0.2.66", Workload: c.workload, Role: "chat-role", TokenID: "tok_1",
				})
				got = append(got, raised(d)...)
			}
			var scopes []string
			for _, a := range got {
				if a.Kind != AlertAuthFailures {
					t.Fatalf("kind %s", a.Kind)
				}
				scopes = append(scopes, a.Details["scope"])
				if a.Details["scope"] == "source" && a.Workload != "" {
					t.Errorf("a source alert names workload %q", a.Workload)
				}
			}
			if fmt.Sprint(scopes) != fmt.Sprint(c.want) {
				t.Fatalf("alert scopes %v, want %v", scopes, c.want)
			}
		})
	}
}

// TestDetectorEvictionBound: past MaxWorkloads (and MaxAddresses) the
// least recently seen is forgotten, and a workload kept busy is kept.
func TestDetectorEvictionBound(t *testing.T) {
	d := newTestDetector(t, func(c *DetectorConfig) { c.MaxWorkloads, c.MaxAddresses = 100, 50 })
	ctx := context.Background()
	now := warm(d, testWorkload, 6, 0.01, 100)
	for i := range 1000 {
		_ = d.RecordUsage(ctx, usage(fmt.Sprintf("https://issuer.test w%d", i), now, 0.01, 100))
		d.ObserveRefusal(ctx, Refusal{Time: now, Status: 401, SourceIP: fmt.Sprintf("192.0.2.%d", i%256) + strconv.Itoa(i/256)})
		if i%50 == 0 {
			_ = d.RecordUsage(ctx, usage(testWorkload, now, 0.01, 100))
		}
	}
	st := d.Stats()
	if st.Workloads != 100 || len(d.addrs.m) != 50 {
		t.Fatalf("tracking %d workloads and %d addresses, want 100 and 50", st.Workloads, len(d.addrs.m))
	}
	if st.Evicted != 1001-100 {
		t.Errorf("evicted %d, want %d", st.Evicted, 1001-100)
	}
	if _, ok := d.workloads.m[testWorkload]; !ok {
		t.Fatal("the busy workload was evicted")
	}
	if ws, _ := d.workloads.get(testWorkload); ws.active != 6 {
		t.Errorf("the busy workload lost its history: %d active minutes", ws.active)
	}
	// The list and the map agree.
	n := 0
	for e := d.workloads.head.next; e != &d.workloads.head; e = e.next {
		if d.workloads.m[e.key] != e {
			t.Fatalf("list entry %q not in the map", e.key)
		}
		n++
	}
	if n != 100 {
		t.Fatalf("list holds %d", n)
	}
}

// TestDetectorQueueFullDrops: the hot path never waits; a full queue
// drops and counts.
func TestDetectorQueueFullDrops(t *testing.T) {
	d := newTestDetector(t, func(c *DetectorConfig) { c.QueueSize = 3 })
	for i := range 10 {
		_ = d.RecordUsage(context.Background(), usage(fmt.Sprintf("https://issuer.test w%d", i), anomalyT0, 50, 100))
	}
	st := d.Stats()
	if st.Alerts[AlertSpendSpike] != 10 || st.Dropped != 7 || len(raised(d)) != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDetectorConfigChecks(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "secret")
	if err := os.WriteFile(good, []byte("whsec_"+base64.StdEncoding.EncodeToString([]byte(provider.NewGen(3).Alnum(32)))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		mod  func(*DetectorConfig)
		want string
	}{
		{"defaults", func(*DetectorConfig) {}, ""},
		{"negative factor", func(c *DetectorConfig) { c.SpikeFactor = -1 }, "spike_factor"},
		{"factor 1", func(c *DetectorConfig) { c.SpikeFactor = 1 }, "above 1"},
		{"smoothing above 1", func(c *DetectorConfig) { c.Smoothing = 1.5 }, "smoothing"},
		{"negative cooldown", func(c *DetectorConfig) { c.Cooldown = -time.Second }, "cooldown"},
		{"prefix too long", func(c *DetectorConfig) { c.SourcePrefixV4 = 33 }, "source_prefix_v4 is above 32"},
		{"webhook with secret file", func(c *DetectorConfig) {
			c.Webhook = WebhookConfig{URL: "https://hooks.example/aicred", SecretFile: good}
		}, ""},
		{"webhook without secret", func(c *DetectorConfig) { c.Webhook = WebhookConfig{URL: "https://hooks.example/aicred"} }, "signing secret"},
		{"webhook short secret", func(c *DetectorConfig) {
			c.Webhook = WebhookConfig{URL: "https://hooks.example/aicred", Secret: []byte("short")}
		}, "signing secret"},
		{"webhook bad whsec", func(c *DetectorConfig) {
			c.Webhook = WebhookConfig{URL: "https://hooks.example/aicred", Secret: []byte("whsec_!!")}
		}, "not base64"},
		{"webhook missing file", func(c *DetectorConfig) {
			c.Webhook = WebhookConfig{URL: "https://hooks.example/aicred", SecretFile: filepath.Join(dir, "none")}
		}, "secret file"},
		{"webhook relative URL", func(c *DetectorConfig) {
			c.Webhook = WebhookConfig{URL: "/hook", Secret: []byte(provider.NewGen(4).Alnum(32))}
		}, "absolute"},
		{"webhook URL with credentials", func(c *DetectorConfig) {
			c.Webhook = WebhookConfig{URL: "https://u:p@hooks.example/", Secret: []byte(provider.NewGen(4).Alnum(32))}
		}, "without credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var dc DetectorConfig
			c.mod(&dc)
			_, err := NewDetector(dc)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if kind := aicred.KindOf(err); kind != aicred.ErrInvalid && kind != aicred.ErrUnavailable {
				t.Errorf("kind %v", kind)
			}
		})
	}
}

func TestClientName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"OpenAI/Python 1.54.0", "OpenAI/Python"},
		{"Anthropic/Python 0.40.0", "Anthropic/Python"},
		{"python-requests/2.32.3", "python-requests"},
		{"curl/8.5.0", "curl"},
		{"Mozilla/5.0 (X11; Linux x86_64)", "Mozilla (X11; Linux x86_64)"},
		{"my-agent v2 build/v3.1", "my-agent build"},
		{"", "(none)"},
		{"   ", "(none)"},
		{"langchain", "langchain"},
	}
	for _, c := range cases {
		if got := clientName(c.in); got != c.want {
			t.Errorf("clientName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzClientName(f *testing.F) {
	for _, s := range []string{"OpenAI/Python 1.54.0", "curl/8.5.0", "", "a/ b/1 /2 v", "x/y/1.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		got := clientName(ua)
		if got == "" {
			t.Fatal("empty name")
		}
		if again := clientName(got); again != got && got != "(none)" {
			t.Fatalf("not stable: %q -> %q -> %q", ua, got, again)
		}
		if len(got) > len(ua) && got != "(none)" {
			t.Fatalf("grew: %q -> %q", ua, got)
		}
	})
}

func FuzzDetectorRecords(f *testing.F) {
	f.Add("10.0.0.1", "curl/8", "gpt-4o", 1.5, int64(1000), int64(30))
	f.Add("::ffff:10.0.0.1", "", "claude-sonnet-4-5", -1.0, int64(-5), int64(-90))
	f.Add("fe80::1%eth0", "x/1 y", "", 1e300, int64(1)<<62, int64(1)<<40)
	f.Fuzz(func(t *testing.T, ip, ua, model string, cost float64, tokens, sec int64) {
		d := newTestDetector(t, func(c *DetectorConfig) { c.QueueSize = 1 })
		at := anomalyT0.Add(time.Duration(sec%(1<<20)) * time.Second)
		for i := range 8 {
			r := usage(testWorkload, at.Add(time.Duration(i)*time.Minute), cost, tokens)
			r.SourceIP, r.UserAgent, r.Model = ip, ua, model
			if err := d.RecordUsage(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			d.ObserveRefusal(context.Background(), Refusal{Time: r.Time, Status: 401, SourceIP: ip, Workload: testWorkload})
		}
		_ = raised(d)
	})
}

// hookReceiver is a webhook endpoint that verifies signatures the way a
// Standard Webhooks library does, written here independently of the
// signer: HMAC-SHA256 over "id.timestamp.body", base64, "v1," prefix.
type hookReceiver struct {
	t       *testing.T
	key     []byte
	failN   int32 // answer 503 to the first failN attempts
	tries   atomic.Int32
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if h.tries.Add(1) <= h.failN {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, h.key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	ok := false
	for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
		ok = ok || hmac.Equal([]byte(sig), []byte(want))
	}
	if !ok || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || id == "" {
		h.t.Errorf("webhook: bad request (signature ok %v, method %s, type %q, id %q)", ok, r.Method, r.Header.Get("Content-Type"), id)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		h.t.Errorf("webhook-timestamp %q", ts)
	}
	h.mu.Lock()
	h.bodies = append(h.bodies, body)
	h.headers = append(h.headers, r.Header.Clone())
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) received() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

// canaries are secret-shaped strings a hostile or careless client put in
// the fields an alert repeats.
func canaries() (token, key string) {
	g := provider.NewGen(77)
	return provider.FormatToken(provider.TokenPrefixWorkload, g.Alnum(provider.TokenRandomLen)),
		"sk-proj-" + g.Alnum(74) + "T3BlbkFJ" + g.Alnum(74)
}

// TestDetectorWebhook: alerts reach a local receiver, signed, after a
// retry, and carry no secret text.
func TestDetectorWebhook(t *testing.T) {
	rawKey := []byte(provider.NewGen(5).Alnum(32))
	h := &hookReceiver{t: t, key: rawKey, failN: 2}
	srv := httptest.NewServer(h)
	defer srv.Close()
	tok, key := canaries()
	d := newTestDetector(t, func(c *DetectorConfig) {
		c.Webhook = WebhookConfig{URL: srv.URL + "/hook", Secret: []byte("whsec_" + base64.StdEncoding.EncodeToString(rawKey)), Backoff: time.Millisecond}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}

	now := warm(d, testWorkload, 6, 0.01, 100)
	for i, ua := range []string{"agent " + tok, key + "/1.0", "curl/8.5.0"} {
		r := usage(testWorkload, now.Add(time.Duration(i)*16*time.Minute), 0.01, 100)
		r.UserAgent = ua
		_ = d.RecordUsage(ctx, r)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	bodies := h.received()
	if len(bodies) != 3 || h.tries.Load() != 5 {
		t.Fatalf("received %d webhooks in %d attempts, want 3 in 5", len(bodies), h.tries.Load())
	}
	for i, b := range bodies {
		if strings.Contains(string(b), tok) || strings.Contains(string(b), key) || strings.Contains(string(b), "aicw_") {
			t.Fatalf("webhook %d carries a secret: %s", i, b)
		}
		var p struct {
			Type      string    `json:"type"`
			Timestamp time.Time `json:"timestamp"`
			Data      Alert     `json:"data"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if p.Type != "aicred.anomaly" || p.Data.Kind != AlertNewUserAgent || p.Data.Workload != testWorkload || p.Data.ID == "" || p.Data.ID != h.headers[i].Get("webhook-id") {
			t.Errorf("payload %+v", p)
		}
		wantUA := "[withheld: looks like a credential]"
		if i == 2 {
			wantUA = "curl"
		}
		if got := p.Data.Details["user_agent"]; got != wantUA {
			t.Errorf("webhook %d user_agent %q, want %q", i, got, wantUA)
		}
	}
	if st := d.Stats(); st.WebhooksSent != 3 || st.WebhookErrors != 0 || st.Alerts[AlertNewUserAgent] != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestDetectorWebhookGivesUp: a receiver that refuses (4xx) is not
// retried; one that keeps failing is retried Retries times, then counted.
func TestDetectorWebhookGivesUp(t *testing.T) {
	cases := []struct {
		name   string
		status int
		tries  int32
	}{
		{"bad request not retried", http.StatusBadRequest, 1},
		{"server error retried", http.StatusBadGateway, 3},
		{"too many requests retried", http.StatusTooManyRequests, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tries atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				tries.Add(1)
				w.WriteHeader(c.status)
			}))
			defer srv.Close()
			d := newTestDetector(t, func(dc *DetectorConfig) {
				dc.Webhook = WebhookConfig{URL: srv.URL, Secret: []byte(provider.NewGen(6).Alnum(24)), Retries: 2, Backoff: time.Millisecond}
			})
			if err := d.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			_ = d.RecordUsage(context.Background(), usage(testWorkload, anomalyT0, 50, 100))
			_ = d.Close()
			if tries.Load() != c.tries {
				t.Errorf("%d attempts, want %d", tries.Load(), c.tries)
			}
			if st := d.Stats(); st.WebhookErrors != 1 || st.WebhooksSent != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestDetectorSQLite: against a real store, an alert appends an audit
// record (the chain still verifies) and, with the role's suspend list,
// revokes the workload's grants; nothing secret reaches the log.
func TestDetectorSQLite(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "aicred.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := provider.NewGen(9)
	tok, key := canaries()
	issue := func(subject, role string) *aicred.Grant {
		token := provider.FormatToken(provider.TokenPrefixWorkload, g.Alnum(provider.TokenRandomLen))
		gr := &aicred.Grant{
			ID: "tok_" + g.Hex(24), TokenHash: aicred.HashToken(token), Class: aicred.TokenWorkload,
			Issuer: "https://issuer.test", Subject: subject, Role: role, Scope: []string{"chat"},
			Credentials: []string{"hc_openai"}, ExpiresAt: time.Now().Add(time.Hour),
		}
		if err := st.IssueGrant(ctx, gr); err != nil {
			t.Fatal(err)
		}
		return gr
	}
	spender, spender2 := issue("ci-job", "strict"), issue("ci-job", "strict")
	bystander := issue("other-job", "strict")
	lenient := issue("lenient-job", "lenient")
	roles := map[string]*broker.Role{
		"strict":  {Name: "strict", Anomaly: broker.AnomalyPolicy{Suspend: []string{broker.AnomalySpendSpike}}},
		"lenient": {Name: "lenient"},
	}
	d := newTestDetector(t, func(c *DetectorConfig) {
		c.Audit, c.Revoker = st, st
		c.Roles = func(n string) (*broker.Role, bool) { r, ok := roles[n]; return r, ok }
	})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := d.Start(runCtx); err != nil {
		t.Fatal(err)
	}

	over := func(gr *aicred.Grant, ua string) {
		r := usage(gr.Issuer+" "+gr.Subject, anomalyT0, 40, 1000)
		r.TokenID, r.Role, r.UserAgent, r.Model = gr.ID, gr.Role, ua, "gpt-4o-mini"
		_ = d.RecordUsage(ctx, r)
	}
	over(spender, "agent "+tok)
	over(lenient, key)
	_ = d.Close()

	for _, c := range []struct {
		g       *aicred.Grant
		revoked bool
	}{{spender, true}, {spender2, true}, {bystander, false}, {lenient, false}} {
		got, err := st.LookupGrant(ctx, c.g.TokenHash)
		if err != nil {
			t.Fatal(err)
		}
		if revoked := !got.RevokedAt.IsZero(); revoked != c.revoked {
			t.Errorf("grant %s of %s: revoked %v, want %v", got.ID, got.Subject, revoked, c.revoked)
		}
		if c.revoked && !strings.Contains(got.RevokeReason, "spend_spike") {
			t.Errorf("revoke reason %q", got.RevokeReason)
		}
	}
	events, err := st.ListAudit(ctx, 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[string]aicred.AuditEvent{}
	for _, e := range events {
		text, _ := json.Marshal(e)
		if strings.Contains(string(text), tok) || strings.Contains(string(text), key) {
			t.Fatalf("audit record %d carries a secret", e.Seq)
		}
		if e.Action == ActionAnomalyDetected {
			alerts[e.Subject] = e
		}
	}
	a := alerts[testWorkload]
	if a.Data["kind"] != "spend_spike" || a.Data["suspended"] != "true" || a.Data["token"] != spender.ID || a.Actor != AnomalyActor || a.Data["alert"] == "" {
		t.Errorf("audit of the suspended workload: %+v", a)
	}
	if l := alerts["https://issuer.test lenient-job"]; l.Data["suspended"] != "false" || l.Data["kind"] != "spend_spike" {
		t.Errorf("audit of the lenient workload: %+v", l)
	}
	v, err := st.VerifyAudit(ctx)
	if err != nil || !v.OK() {
		t.Fatalf("audit chain: %+v %v", v, err)
	}
	if s := d.Stats(); s.Suspensions != 1 || s.AuditErrors != 0 || s.SuspendErrors != 0 {
		t.Errorf("stats %+v", s)
	}
}

func BenchmarkDetectorRecordUsage(b *testing.B) {
	for _, bc := range []struct {
		name      string
		workloads int
	}{{"1 workload", 1}, {"10k workloads", 10000}} {
		b.Run(bc.name, func(b *testing.B) {
			d := newTestDetector(b, nil)
			recs := make([]UsageRecord, bc.workloads)
			for i := range recs {
				recs[i] = usage("https://issuer.test w"+strconv.Itoa(i), anomalyT0, 0.001, 500)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				r := recs[i%len(recs)]
				r.Time = anomalyT0.Add(time.Duration(i) * time.Millisecond)
				_ = d.RecordUsage(ctx, r)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		d := newTestDetector(b, nil)
		ctx := context.Background()
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := "https://issuer.test w" + strconv.FormatInt(next.Add(1), 10)
			r := usage(w, anomalyT0, 0.001, 500)
			for pb.Next() {
				_ = d.RecordUsage(ctx, r)
			}
		})
	})
}

func BenchmarkDetectorObserveRefusal(b *testing.B) {
	d := newTestDetector(b, nil)
	ctx := context.Background()
	addrs := make([]string, 1000)
	for i := range addrs {
		addrs[i] = "198.51.100." + strconv.Itoa(i%256) + strconv.Itoa(i/256)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.ObserveRefusal(ctx, Refusal{Time: anomalyT0.Add(time.Duration(i) * time.Millisecond), Status: 401, Code: "invalid_token", SourceIP: addrs[i%len(addrs)]})
	}
}

func TestDetectorConfigYAML(t *testing.T) {
	full := `anomaly:
  warmup_minutes: 10
  smoothing: 0.3
  spike_factor: 8
  cost_floor_usd: 2.5
  tokens_floor: 300000
  cost_ceiling_usd: 50
  tokens_ceiling: 9000000
  model_ratio: 4
  auth_failures: 30
  cooldown: 30m
  source_prefix_v4: 32
  source_prefix_v6: 128
  max_workloads: 500
  max_addresses: 700
  max_sources: 8
  queue_size: 64
  webhook:
    url: https://hooks.example/aicred
    secret_file: /etc/aicred/webhook-secret
    timeout: 2s
    retries: 2
    backoff: 500ms
`
	var doc struct {
		Anomaly DetectorConfig `yaml:"anomaly"`
	}
	if err := yaml.Unmarshal([]byte(full), &doc); err != nil {
		t.Fatal(err)
	}
	got := doc.Anomaly
	want := DetectorConfig{
		Warmup: 10, Smoothing: 0.3, SpikeFactor: 8, CostFloorUSD: 2.5, TokensFloor: 300000, CostCeilingUSD: 50,
		TokensCeiling: 9000000, ModelRatio: 4, AuthFailures: 30, Cooldown: 30 * time.Minute, SourcePrefixV4: 32,
		SourcePrefixV6: 128, MaxWorkloads: 500, MaxAddresses: 700, MaxSources: 8, QueueSize: 64,
		Webhook: WebhookConfig{URL: "https://hooks.example/aicred", SecretFile: "/etc/aicred/webhook-secret", Timeout: 2 * time.Second, Retries: 2, Backoff: 500 * time.Millisecond},
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}

	cases := []struct {
		name, doc, want string
		line            int
	}{
		{"empty section", "anomaly:\n", "", 0},
		{"unknown key", "anomaly:\n  cooldown: 1m\n  spike_factr: 3\n", `unknown key "spike_factr"`, 3},
		{"unknown webhook key", "anomaly:\n  webhook:\n    url: https://h.example/\n    secret: x\n", `unknown key "secret" in anomaly.webhook`, 4},
		{"factor not above 1", "anomaly:\n  cooldown: 1m\n  spike_factor: 0.5\n", "spike_factor must be above 1", 3},
		{"negative floor", "anomaly:\n  cost_floor_usd: -1\n", "cost_floor_usd must not be negative", 2},
		{"bad duration", "anomaly:\n  cooldown: soon\n", "soon", 2},
		{"webhook without secret", "anomaly:\n  webhook:\n    url: https://h.example/\n", "signing secret", 3},
		{"webhook bad url", "anomaly:\n  webhook:\n    url: ftp://h.example/\n    secret_file: /x\n", "http(s)", 3},
		{"not a mapping", "anomaly: [1]\n", "must be a mapping", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var doc struct {
				Anomaly DetectorConfig `yaml:"anomaly"`
			}
			err := yaml.Unmarshal([]byte(c.doc), &doc)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "line "+strconv.Itoa(c.line)) {
				t.Errorf("error %q does not name line %d", err, c.line)
			}
		})
	}
}
