package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/gateway"
	"github.com/aicred/aicred/grantcache"
	"github.com/aicred/aicred/httpapi"
	"github.com/aicred/aicred/seal"
	"github.com/aicred/aicred/sqlite"
)

// roleEnv, when set in the environment, makes the binary a child: it
// reads its childConfig from stdin, serves on loopback, prints a
// childHello and serves until stdin closes. Each server runs in its own
// process so that the gateway's peak RSS is its own, not the load
// generator's.
const roleEnv = "AICRED_BENCH_GATEWAY_CHILD"

// Roles of a child process.
const (
	roleUpstream = "upstream"
	roleBare     = "bare"
	roleGateway  = "gateway"
)

// childConfig is written by the parent to a child's stdin, so that no
// secret travels in argv or the environment.
type childConfig struct {
	Role     string `json:"role"`
	Upstream string `json:"upstream,omitempty"`
	// HeldKey is the real provider key: the upstream checks it, the
	// gateway holds it sealed in its store.
	HeldKey string `json:"held_key,omitempty"`
	// TokenHash is the hash of the workload's aicred token; the gateway
	// never sees the token itself.
	TokenHash  string        `json:"token_hash,omitempty"`
	StreamGap  time.Duration `json:"stream_gap,omitempty"`
	CPUProfile string        `json:"cpu_profile,omitempty"`
	// NoUsageStore leaves the StoreRecorder out of the gateway, to see
	// what writing usage to SQLite in-process costs.
	NoUsageStore bool `json:"no_usage_store,omitempty"`
}

type childHello struct {
	Addr  string `json:"addr,omitempty"`
	Error string `json:"error,omitempty"`
}

// childBye is the child's last line: what the gateway metered and
// wrote to its store.
type childBye struct {
	UsageRecords int64            `json:"usage_records"`
	Outcomes     map[string]int64 `json:"outcomes,omitempty"`
	StoreWritten uint64           `json:"store_written"`
	StoreLost    uint64           `json:"store_lost"`
	Error        string           `json:"error,omitempty"`
}

// runChild is the whole life of a child process.
func runChild(ctx context.Context, in io.Reader, out io.Writer) error {
	br := bufio.NewReader(in)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("child: read config: %w", err)
	}
	var cfg childConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fmt.Errorf("child: decode config: %w", err)
	}
	enc := json.NewEncoder(out)
	srv, finish, err := buildServer(ctx, cfg)
	if err != nil {
		_ = enc.Encode(childHello{Error: err.Error()})
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = enc.Encode(childHello{Error: err.Error()})
		finish(ctx)
		return fmt.Errorf("child %s: listen: %w", cfg.Role, err)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("child %s: cpu profile: %w", cfg.Role, err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("child %s: cpu profile: %w", cfg.Role, err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if err := enc.Encode(childHello{Addr: ln.Addr().String()}); err != nil {
		return fmt.Errorf("child %s: hello: %w", cfg.Role, err)
	}

	// The parent closes stdin to stop us (or dies, which closes it too).
	_, _ = io.Copy(io.Discard, br)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Shutdown waits 5s for a connection that was dialed but never
		// carried a request (the client's dial raced an idle
		// connection); every request has finished by now.
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("child %s: serve: %w", cfg.Role, err)
	}
	// The store recorder flushes what it queued.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer fcancel()
	return enc.Encode(finish(fctx))
}

// buildServer returns the child's server, wired as `aicred serve` wires
// its listener, and what to call once it has shut down.
func buildServer(ctx context.Context, cfg childConfig) (*http.Server, func(context.Context) childBye, error) {
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.DiscardHandler, slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return aicred.WithActor(context.Background(), "server") },
	}
	switch cfg.Role {
	case roleUpstream:
		if cfg.HeldKey == "" {
			return nil, nil, errors.New("upstream: no held key to expect")
		}
		srv.Handler = newUpstream(cfg.HeldKey, cfg.StreamGap)
		return srv, nothingToFinish, nil
	case roleBare:
		rp, err := bareProxy(cfg.Upstream)
		if err != nil {
			return nil, nil, err
		}
		srv.Handler = rp
		return srv, nothingToFinish, nil
	case roleGateway:
		h, finish, err := buildGateway(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		srv.Handler = h
		return srv, finish, nil
	}
	return nil, nil, fmt.Errorf("unknown child role %q", cfg.Role)
}

func nothingToFinish(context.Context) childBye { return childBye{} }

// proxyTransport is the gateway's default transport (gateway.New), so
// that the bare proxy and the gateway reach the upstream the same way.
func proxyTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 5 * time.Minute
	t.MaxIdleConnsPerHost = 256
	return t
}

// bareProxy is the baseline: httputil.ReverseProxy and nothing else.
func bareProxy(upstream string) (http.Handler, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bare proxy: upstream %q: want an absolute URL", upstream)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		FlushInterval: -1,
		Transport:     proxyTransport(),
		ErrorLog:      slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Without full duplex, the server drains and closes the request
		// body when a streamed response's header is flushed, racing the
		// transport's final read of that body; the transport then drops
		// the upstream connection mid-stream (about 5% of streams here).
		// The gateway reads the body itself first, so it never races.
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	}), nil
}

// Names of what the gateway child holds.
const (
	benchHeldID    = "hc_bench_openai"
	benchRole      = "bench-chat"
	benchIssuer    = "https://bench.aicred.invalid"
	benchWorkload  = "bench-workload"
	benchModel     = "gpt-4o-mini"
	benchPolicy    = "bench-policy"
	benchGrantID   = "tok_bench0000000000000000000001"
	benchTokenLife = time.Hour
)

// benchRoleDef is the role the workload's grant comes from: scoped to one
// provider, model family and operation, with budgets and rate limits on
// but far above what a run can spend, so admission does its full work
// and never refuses.
func benchRoleDef() broker.Role {
	return broker.Role{
		Name:        benchRole,
		Providers:   []string{"openai"},
		Credentials: []string{benchHeldID},
		Models:      []string{"gpt-4o-mini*"},
		Operations:  []broker.Operation{broker.OpChat},
		Environment: "bench",
		TTL:         benchTokenLife,
		Budget:      broker.Budget{PerTokenUSD: 1e6, PerWorkloadDailyUSD: 1e6},
		Rate:        broker.RateLimits{RequestsPerMinute: 100_000_000, TokensPerMinute: 1 << 40, Concurrent: 1_000_000},
	}
}

// Notes on what the gateway child runs, printed with the table.
const (
	recorderNote        = "gateway.StoreRecorder into the SQLite store, gateway metrics and the abuse detector, as serve wires them, plus a counter"
	recorderNoStoreNote = "gateway metrics and the abuse detector plus a counter; the StoreRecorder was left out (-no-usage-store)"
	admissionNote       = "gateway.LeasedAdmission over the SQLite store (budgets spent from leased allowances, rates per process)"
)

// buildGateway wires the gateway as cmd/aicred/serve.go does: a SQLite
// store in a temp dir holding the provider key sealed under a generated
// master key, grants cached by grantcache over the store, roles from the
// broker, admission in memory, usage metered and recorded, and the
// access log and metrics of httpapi around it.
func buildGateway(ctx context.Context, cfg childConfig) (http.Handler, func(context.Context) childBye, error) {
	if cfg.HeldKey == "" || cfg.TokenHash == "" || cfg.Upstream == "" {
		return nil, nil, errors.New("gateway child: held key, token hash and upstream are required")
	}
	dir, err := os.MkdirTemp("", "aicred-bench-gw-")
	if err != nil {
		return nil, nil, fmt.Errorf("gateway child: %w", err)
	}
	ctx = aicred.WithActor(ctx, "bench")
	st, err := sqlite.Open(ctx, filepath.Join(dir, "aicred.db"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("gateway child: open store: %w", err)
	}
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	cleanup := func() {
		stopWatch()
		st.Close()
		os.RemoveAll(dir)
	}
	fail := func(what string, err error) (http.Handler, func(context.Context) childBye, error) {
		cleanup()
		return nil, nil, fmt.Errorf("gateway child: %s: %w", what, err)
	}

	ring, err := seal.NewKeyring(seal.NewKey())
	if err != nil {
		return fail("keyring", err)
	}
	secret := aicred.NewSecret(cfg.HeldKey)
	held := &aicred.HeldCredential{ID: benchHeldID, Provider: "openai", Kind: "project-key",
		Fingerprint: secret.Fingerprint(), Redacted: secret.Redacted(), Environment: "bench"}
	if held.Sealed, held.KeyID, err = ring.Seal(secret, held.AAD()); err != nil {
		return fail("seal the held key", err)
	}
	if err := st.PutHeldCredential(ctx, held); err != nil {
		return fail("hold the key", err)
	}

	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	tokens := grantcache.New(st, log)
	if err := tokens.Start(watchCtx); err != nil {
		return fail("watch revocations", err)
	}
	bc := broker.Config{Roles: []broker.Role{benchRoleDef()}}
	x, err := bc.Build(broker.BuildOptions{Tokens: tokens, Logger: log})
	if err != nil {
		return fail("broker", err)
	}
	role, ok := x.Role(benchRole)
	if !ok {
		return fail("broker", errors.New("the bench role was not built"))
	}
	// The scope the broker would grant for a request that asks for no
	// narrowing: the role's whole scope.
	scope, err := role.Narrow("", nil, nil)
	if err != nil {
		return fail("scope", err)
	}
	now := time.Now()
	grant := &aicred.Grant{
		ID: benchGrantID, TokenHash: cfg.TokenHash, Class: aicred.TokenWorkload,
		Issuer: benchIssuer, Subject: benchWorkload, Policy: benchPolicy, Role: role.Name,
		Scope: scope.Values(), Environment: role.Environment, Credentials: role.Credentials,
		IssuedAt: now, ExpiresAt: now.Add(role.TTL),
	}
	if err := tokens.IssueGrant(ctx, grant); err != nil {
		return fail("issue the grant", err)
	}

	metrics := httpapi.NewMetrics()
	prices := gateway.DefaultPrices()
	gm, err := gateway.NewMetrics(metrics.Registry, prices)
	if err != nil {
		return fail("metrics", err)
	}
	// The abuse detector hears every record and refusal; this run's
	// token volume crosses its no-baseline ceiling, so it also audits
	// an alert, as it would in production.
	detector, err := gateway.NewDetector(gateway.DetectorConfig{Audit: st, Revoker: tokens, Roles: x.Role, Prices: prices, Log: log})
	if err != nil {
		return fail("detector", err)
	}
	if err := detector.Start(watchCtx); err != nil {
		return fail("detector", err)
	}
	if err := gateway.RegisterDetector(metrics.Registry, detector); err != nil {
		return fail("detector", err)
	}
	counter := &usageCounter{}
	recorders := gateway.Recorders{gm, detector, counter}
	var stored *gateway.StoreRecorder
	if !cfg.NoUsageStore {
		stored = gateway.NewStoreRecorder(st, gateway.StoreRecorderConfig{Log: log})
		if err := gateway.RegisterStoreRecorder(metrics.Registry, stored); err != nil {
			return fail("store recorder", err)
		}
		recorders = append(gateway.Recorders{stored}, recorders...)
	}
	admission := gateway.NewLeasedAdmission(st, gateway.LeaseConfig{Log: log})
	closeAll := func(ctx context.Context) error {
		err := admission.Close(ctx)
		if stored != nil {
			err = errors.Join(err, stored.Close(ctx))
		}
		return errors.Join(err, detector.Close())
	}
	upstreams := gateway.DefaultUpstreams()
	upstreams["openai"] = cfg.Upstream
	gw, err := gateway.New(gateway.Config{
		Tokens: tokens, Held: st, Opener: ring, Upstreams: upstreams,
		Usage:     recorders,
		Refusals:  gateway.RefusalObservers{gm, detector},
		Log:       log,
		Roles:     x.Role,
		Prices:    prices,
		Admission: admission,
	})
	if err != nil {
		_ = closeAll(ctx)
		return fail("gateway", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", metrics.Instrument("gateway", log, gw))
	finish := func(ctx context.Context) childBye {
		var bye childBye
		if err := closeAll(ctx); err != nil {
			bye.Error = err.Error()
		}
		if stored != nil {
			st := stored.Stats()
			bye.StoreWritten, bye.StoreLost = st.Written, st.Lost
		}
		bye.UsageRecords, bye.Outcomes = counter.snapshot()
		cleanup()
		return bye
	}
	return mux, finish, nil
}

// usageCounter counts usage records by outcome, so the parent can check
// that every request was metered.
type usageCounter struct {
	n        atomic.Int64
	mu       sync.Mutex
	outcomes map[string]int64
}

func (c *usageCounter) RecordUsage(_ context.Context, r gateway.UsageRecord) error {
	c.n.Add(1)
	c.mu.Lock()
	if c.outcomes == nil {
		c.outcomes = map[string]int64{}
	}
	c.outcomes[r.Outcome]++
	c.mu.Unlock()
	return nil
}

func (c *usageCounter) snapshot() (int64, map[string]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int64, len(c.outcomes))
	for k, v := range c.outcomes {
		m[k] = v
	}
	return c.n.Load(), m
}

// child is a running child process, seen from the parent.
type child struct {
	role  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	addr  string
}

// startChild re-executes this binary as a child and waits for its
// address.
func startChild(ctx context.Context, cfg childConfig) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Role, err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), roleEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Role, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Role, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Role, err)
	}
	c := &child{role: cfg.Role, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	b, _ := json.Marshal(cfg)
	if _, err := stdin.Write(append(b, '\n')); err != nil {
		c.kill()
		return nil, fmt.Errorf("start %s: send config: %w", cfg.Role, err)
	}
	line, err := c.out.ReadBytes('\n')
	if err != nil {
		c.kill()
		return nil, fmt.Errorf("start %s: no hello: %w", cfg.Role, err)
	}
	var h childHello
	if err := json.Unmarshal(line, &h); err != nil || h.Addr == "" {
		c.kill()
		if h.Error != "" {
			return nil, fmt.Errorf("start %s: %s", cfg.Role, h.Error)
		}
		return nil, fmt.Errorf("start %s: malformed hello", cfg.Role)
	}
	c.addr = h.Addr
	return c, nil
}

func (c *child) url() string { return "http://" + c.addr }

// stop closes the child's stdin and collects its last line.
func (c *child) stop() (childBye, error) {
	_ = c.stdin.Close()
	var bye childBye
	done := make(chan error, 1)
	go func() {
		line, err := c.out.ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &bye)
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		err = errors.New("no answer within 20s")
		c.kill()
	}
	if werr := c.cmd.Wait(); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return bye, fmt.Errorf("stop %s: %w", c.role, err)
	}
	return bye, nil
}

func (c *child) kill() {
	_ = c.stdin.Close()
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
	}
	_ = c.cmd.Wait()
}

// memory reads the child's peak and current resident set (VmHWM, VmRSS)
// in bytes.
func (c *child) memory() (peak, now int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("%s memory: %w", c.role, err)
	}
	return parseStatusKB(string(b), "VmHWM") * 1024, parseStatusKB(string(b), "VmRSS") * 1024, nil
}

// cpu returns the CPU time (user and system, all threads) the child has
// used so far.
func (c *child) cpu() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("%s cpu: %w", c.role, err)
	}
	d, ok := parseStatCPU(string(b))
	if !ok {
		return 0, fmt.Errorf("%s cpu: malformed /proc stat", c.role)
	}
	return d, nil
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times; Linux fixes
// it at 100 on every architecture Go supports.
const clockTick = 10 * time.Millisecond

// parseStatCPU returns utime + stime from a /proc/<pid>/stat line. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * clockTick, true
}

// parseStatusKB returns the value in kB of a /proc/<pid>/status field
// ("VmHWM:	  12345 kB"), or 0.
func parseStatusKB(status, field string) int64 {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		return n
	}
	return 0
}

// upstream answers OpenAI chat completions at once, from bytes prepared
// in advance, after checking the held key arrived.
type upstream struct {
	want   []byte // "Bearer <held key>"
	gap    time.Duration
	json   []byte
	stream [][]byte // events before the usage chunk
	usage  []byte
	done   []byte
}

func newUpstream(heldKey string, gap time.Duration) *upstream {
	const head = `{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench",`
	chunk := func(delta, finish string) []byte {
		return []byte("data: " + head + `"choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + finish + `}]}` + "\n\n")
	}
	return &upstream{
		want: []byte("Bearer " + heldKey),
		gap:  gap,
		json: []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18",` +
			`"choices":[{"index":0,"message":{"role":"assistant","content":"The paragraph asks for a summary; here it is, in one sentence.","refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
			`"usage":{"prompt_tokens":312,"completion_tokens":17,"total_tokens":329,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_bench"}`),
		stream: [][]byte{
			chunk(`{"role":"assistant","content":"","refusal":null}`, "null"),
			chunk(`{"content":"The paragraph asks"}`, "null"),
			chunk(`{"content":" for a summary."}`, "null"),
			chunk(`{}`, `"stop"`),
		},
		usage: []byte("data: " + head + `"choices":[],"usage":{"prompt_tokens":312,"completion_tokens":9,"total_tokens":321,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n"),
		done:  []byte("data: [DONE]\n\n"),
	}
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), u.want) != 1 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}`)
		return
	}
	w.Header().Set("X-Request-Id", "req_bench")
	if !strings.Contains(string(body), `"stream":true`) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(u.json)))
		_, _ = w.Write(u.json)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	send := func(b []byte, pause bool) {
		if pause && u.gap > 0 {
			time.Sleep(u.gap)
		}
		_, _ = w.Write(b)
		if fl != nil {
			fl.Flush()
		}
	}
	for i, ev := range u.stream {
		send(ev, i > 0)
	}
	// Like OpenAI: usage only when the request asked for it.
	if strings.Contains(string(body), `"include_usage":true`) {
		send(u.usage, true)
	}
	send(u.done, false)
}
