package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/gateway"
	"github.com/aicred/aicred/postgres"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/seal"
)

// Names of what the cluster holds.
const (
	heldID    = "hc_chaos_openai"
	issuerURL = "https://chaos.aicred.invalid"
	chatModel = "gpt-4o-mini"
	roleTight = "chaos-tight" // a small budget per token
	roleDaily = "chaos-daily" // a small budget per workload and day
	roleFree  = "chaos-free"  // no budget: background load
	// roleEdge's calls cost exactly what the gateway reserves for them:
	// the upstream reports the input bound (body bytes + 1,024 tokens)
	// and the max_tokens asked, so its per-token budget is tested at its
	// edge, with no slack between reservation and charge.
	roleEdge   = "chaos-edge"
	roleCanary = "chaos-canary" // the tokens revoked during faults
)

// Budgets of the tight roles, in US dollars: a few dozen requests each.
const (
	tightTokenUSD = 0.002
	dailyUSD      = 0.004
	edgeTokenUSD  = 0.001 // about five calls at the bound
)

// options of a run.
type options struct {
	replicas   int
	rate       int
	pgRestart  bool // restart the real PostgreSQL (disruptive) instead of resetting the proxies
	short      bool
	soak       time.Duration
	baseDSN    string
	aicredBin  string // built when empty
	logDir     string
	scenarios  string // comma-separated names; empty: all
	faultLen   time.Duration
	blackLen   time.Duration
	verbose    bool
	checkpoint int // audit checkpoint interval in records, 0: serve's default
	soakMode   bool
}

// cluster is PostgreSQL, the fault proxies, the replicas, the upstream and
// the load balancer.
type cluster struct {
	o       options
	dir     string
	dbName  string
	dsn     string    // direct, for the harness's own reads and revocations
	admin   *pgx.Conn // to the base database: creates and drops ours
	db      *pgx.Conn // to ours, directly: counts rows
	store   *postgres.Store
	bin     string
	env     []string
	issuer  *rsa.PrivateKey
	up      *upstream
	upSrv   *http.Server
	upURL   string
	proxies []*faultProxy
	reps    []*replica
	lb      *balancer
	lbURL   string
	lbSrv   *http.Server

	mmu         sync.Mutex
	metrics     map[int]map[string]float64 // last scrape, by replica
	lostCarried float64
	maxFeedAge  float64 // seconds, the highest any replica reported
	notReady    int     // /readyz answers other than 200
}

// replica is one `aicred serve` child process.
type replica struct {
	i      int
	addr   string
	cfg    string
	logf   *os.File
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func (r *replica) url() string { return "http://" + r.addr }

func (r *replica) alive() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.exited == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// buildAicred builds cmd/aicred into dir.
func buildAicred(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "aicred")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/aicred")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build aicred: %w", err)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the aicred module")
	}
	return filepath.Dir(gomod), nil
}

// startCluster creates the database and starts everything.
func startCluster(ctx context.Context, o options) (_ *cluster, err error) {
	c := &cluster{o: o}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	if c.dir, err = os.MkdirTemp("", "aicred-chaos-"); err != nil {
		return nil, err
	}
	if o.aicredBin != "" {
		c.bin = o.aicredBin
	} else if c.bin, err = buildAicred(ctx, c.dir); err != nil {
		return nil, err
	}
	// A database of its own, dropped at the end.
	c.dbName = "chaos_" + randHex(6)
	if c.admin, err = pgx.Connect(ctx, o.baseDSN); err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if _, err = c.admin.Exec(ctx, "CREATE DATABASE "+c.dbName); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(o.baseDSN)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + c.dbName
	c.dsn = u.String()
	if c.db, err = pgx.Connect(ctx, c.dsn); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.dbName, err)
	}
	if c.store, err = postgres.Open(ctx, c.dsn); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}

	// Master key, held provider key, identity issuer.
	master := seal.NewKey()
	ring, err := seal.NewKeyring(master)
	if err != nil {
		return nil, err
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	g := provider.NewGen(binary.LittleEndian.Uint64(seed[:]))
	k, ok := provider.LookupKind("openai", "project-key")
	if !ok || k.Rule.Examples == nil {
		return nil, errors.New("the catalog has no OpenAI project-key examples")
	}
	ex := k.Rule.Examples(g)
	if len(ex) == 0 {
		return nil, errors.New("no OpenAI key example")
	}
	heldKey := ex[0].Secret
	secret := aicred.NewSecret(heldKey)
	held := &aicred.HeldCredential{ID: heldID, Provider: "openai", Kind: "project-key",
		Fingerprint: secret.Fingerprint(), Redacted: secret.Redacted(), Environment: "chaos"}
	if held.Sealed, held.KeyID, err = ring.Seal(secret, held.AAD()); err != nil {
		return nil, err
	}
	if err := c.store.PutHeldCredential(aicred.WithActor(ctx, "chaos"), held); err != nil {
		return nil, fmt.Errorf("hold the key: %w", err)
	}
	if c.issuer, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &c.issuer.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	jwks, _ := json.Marshal(set)
	jwksFile := filepath.Join(c.dir, "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		return nil, err
	}
	c.env = append(os.Environ(),
		seal.EnvKey+"="+base64.StdEncoding.EncodeToString(master),
		"XDG_CONFIG_HOME="+filepath.Join(c.dir, "config"),
		"AICRED_STORE="+c.dsn,
	)

	// The upstream.
	c.up = newUpstream(heldKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.upSrv = &http.Server{Handler: c.up, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.upSrv.Serve(ln) }()
	c.upURL = "http://" + ln.Addr().String()

	pgAddr := u.Host
	if !strings.Contains(pgAddr, ":") {
		pgAddr += ":5432"
	}
	for i := range o.replicas {
		p, err := newFaultProxy(pgAddr)
		if err != nil {
			return nil, err
		}
		c.proxies = append(c.proxies, p)
		pu := *u
		pu.Host = p.addr()
		q := pu.Query()
		q.Set("application_name", fmt.Sprintf("aicred-chaos-%d", i))
		pu.RawQuery = q.Encode()
		r := &replica{i: i, addr: freeAddr()}
		r.cfg = filepath.Join(c.dir, fmt.Sprintf("replica%d.yaml", i))
		if err := os.WriteFile(r.cfg, []byte(c.config(r.addr, pu.String(), jwksFile)), 0o600); err != nil {
			return nil, err
		}
		logPath := filepath.Join(c.dir, fmt.Sprintf("replica%d.log", i))
		if o.logDir != "" {
			logPath = filepath.Join(o.logDir, fmt.Sprintf("replica%d.log", i))
		}
		if r.logf, err = os.Create(logPath); err != nil {
			return nil, err
		}
		c.reps = append(c.reps, r)
	}
	for _, r := range c.reps {
		if err := c.startReplica(r); err != nil {
			return nil, err
		}
	}
	for _, r := range c.reps {
		if err := waitReady(ctx, r.url(), 30*time.Second); err != nil {
			return nil, fmt.Errorf("replica %d: %w", r.i, err)
		}
	}
	c.lb = newBalancer(c.reps)
	lbl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.lbSrv = &http.Server{Handler: c.lb, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.lbSrv.Serve(lbl) }()
	c.lbURL = "http://" + lbl.Addr().String()
	return c, nil
}

// config is a replica's serve configuration.
func (c *cluster) config(listen, store, jwksFile string) string {
	// Checkpoints often, so that every scenario's audit verify checks
	// signatures; the soak prunes its expired grants within the run.
	every := c.o.checkpoint
	if every <= 0 {
		every = 200
	}
	checkpoint := fmt.Sprintf("audit:\n  checkpoint_every: %d\n  checkpoint_interval: 2s\n", every)
	if c.o.soakMode {
		checkpoint += "retention:\n  expired_grants: 1m\n  interval: 30s\n"
	}
	// The soak's tokens expire within the run, so that pruning shows.
	ttl := "30m"
	if c.o.soakMode {
		ttl = "1m"
	}
	role := func(name, budget string) string {
		return fmt.Sprintf(`  - name: %s
    providers: [openai]
    credentials: [%s]
    models: ["gpt-4o-mini*"]
    operations: [chat]
    environment: chaos
    ttl: %s
%s`, name, heldID, ttl, budget)
	}
	policy := func(role, glob string) string {
		return fmt.Sprintf("  - name: %s\n    issuer: chaos\n    role: %s\n    claims:\n      sub: {glob: %q}\n", role, role, glob)
	}
	return fmt.Sprintf(`listen: %s
store: %q
log:
  format: json
  level: warn
shutdown_timeout: 5s
%sgateway:
  upstreams:
    openai: %s
  drain_timeout: 5s
issuers:
  - name: chaos
    type: oidc
    issuer: %s
    audiences: [aicred]
    jwks_file: %s
roles:
%s%s%s%s%spolicies:
%s%s%s%s%s`, listen, store, checkpoint, c.upURL, issuerURL, jwksFile,
		role(roleTight, fmt.Sprintf("    budget: {per_token_usd: %g}\n", tightTokenUSD)),
		role(roleDaily, fmt.Sprintf("    budget: {per_workload_daily_usd: %g}\n", dailyUSD)),
		role(roleFree, ""), role(roleCanary, ""), role(roleEdge, fmt.Sprintf("    budget: {per_token_usd: %g}\n", edgeTokenUSD)),
		policy(roleTight, "tight-*"), policy(roleDaily, "daily-*"), policy(roleFree, "free-*"), policy(roleCanary, "canary-*"),
		policy(roleEdge, "edge-*"))
}

func (c *cluster) startReplica(r *replica) error {
	cmd := exec.Command(c.bin, "serve", "--config", r.cfg)
	cmd.Env = c.env
	cmd.Stdout = r.logf
	cmd.Stderr = r.logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start replica %d: %w", r.i, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r.mu.Lock()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()
	return nil
}

// kill9 kills a replica with SIGKILL and waits for it to be gone.
func (c *cluster) kill9(r *replica) {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

func (r *replica) pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

func (c *cluster) stop() {
	if c.lbSrv != nil {
		_ = c.lbSrv.Close()
	}
	for _, r := range c.reps {
		r.mu.Lock()
		cmd, exited := r.cmd, r.exited
		r.mu.Unlock()
		if cmd != nil && cmd.Process != nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		if r.logf != nil {
			_ = r.logf.Close()
		}
	}
	for _, p := range c.proxies {
		p.close()
	}
	if c.upSrv != nil {
		_ = c.upSrv.Close()
	}
	if c.store != nil {
		_ = c.store.Close()
	}
	if c.db != nil {
		_ = c.db.Close(context.Background())
	}
	if c.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if c.dbName != "" {
			_, _ = c.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+c.dbName+" WITH (FORCE)")
		}
		_ = c.admin.Close(ctx)
		cancel()
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(ctx context.Context, base string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %v", base, within)
}

// jwt signs a workload identity token for sub.
func (c *cluster) jwt(sub string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: c.issuer, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"iss": issuerURL, "sub": sub, "aud": "aicred", "jti": randHex(12),
		"iat": now.Unix(), "nbf": now.Unix() - 5, "exp": now.Add(5 * time.Minute).Unix()})
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// balancer sends each request to the next live replica, round robin; a
// replica it cannot connect to is skipped for that request.
type balancer struct {
	reps  []*replica
	next  atomic.Uint64
	proxy []*httputil.ReverseProxy
}

func newBalancer(reps []*replica) *balancer {
	b := &balancer{reps: reps}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	tr.ResponseHeaderTimeout = 30 * time.Second
	for _, r := range reps {
		u, _ := url.Parse(r.url())
		rp := &httputil.ReverseProxy{
			Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
			Transport:     tr,
			FlushInterval: -1,
			ErrorLog:      nil,
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				w.Header().Set(headerBackendError, "1")
				w.WriteHeader(http.StatusBadGateway)
			},
		}
		rp.ErrorLog = discardLogger()
		b.proxy = append(b.proxy, rp)
	}
	return b
}

// Headers the balancer adds to answers.
const (
	headerBackend      = "X-Chaos-Backend"
	headerBackendError = "X-Chaos-Backend-Error"
)

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The bodies are small: read each whole first, so that nothing reads
	// the client's connection while the answer streams (a streamed
	// answer's flush otherwise races the transport's last body read).
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	n := len(b.reps)
	start := int(b.next.Add(1) % uint64(n))
	for k := range n {
		i := (start + k) % n
		if !b.reps[i].alive() {
			continue
		}
		w.Header().Set(headerBackend, strconv.Itoa(i))
		b.proxy[i].ServeHTTP(w, r)
		return
	}
	w.Header().Set(headerBackendError, "1")
	w.WriteHeader(http.StatusServiceUnavailable)
}

// upstream answers OpenAI chat completions as OpenAI documents them, JSON
// or a stream ending with the usage chunk when asked, and bills each
// answer to the "user" the request names.
type upstream struct {
	want       string
	mu         sync.Mutex
	billed     map[string]float64 // by user label, USD
	count      map[string]int64   // answers by user label
	calls      atomic.Int64
	costJSON   float64
	costStream float64
	price      gateway.Price
	maxAnswer  float64 // the dearest answer billed so far
}

// What the upstream reports, and what it costs at the shipped prices.
const (
	upInput        = 312
	upOutputJSON   = 17
	upOutputStream = 9
)

func newUpstream(heldKey string) *upstream {
	p, ok := gateway.DefaultPrices().Lookup("openai", chatModel)
	if !ok {
		panic("no price for " + chatModel)
	}
	cost := func(out int) float64 { return (float64(upInput)*p.Input + float64(out)*p.Output) / 1e6 }
	return &upstream{want: "Bearer " + heldKey, billed: map[string]float64{}, count: map[string]int64{},
		costJSON: cost(upOutputJSON), costStream: cost(upOutputStream), price: p}
}

// maxCost is the dearest answer the upstream gives or gave: the edge
// role's calls cost their whole reservation.
func (u *upstream) maxCost() float64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return max(u.costJSON, u.costStream, u.maxAnswer, edgeCallUSD(u.price))
}

// edgeCallUSD is what one of the edge role's calls costs: chatBody's
// bytes for an edge label plus 1,024 tokens in, 64 out.
func edgeCallUSD(p gateway.Price) float64 {
	in := len(chatBody(edgeLabelExample, false)) + 1024
	return (float64(in)*p.Input + 64*p.Output) / 1e6
}

// edgeLabelExample is as long as the edge sessions' labels get.
const edgeLabelExample = "edge-black-hole-kill-latency-9#9999"

// maxRequestCost is the dearest answer the upstream gives.
func maxRequestCost() float64 { return newUpstream("").maxCost() }

func (u *upstream) bill(user string, usd float64) {
	u.calls.Add(1)
	u.mu.Lock()
	u.billed[user] += usd
	u.count[user]++
	u.maxAnswer = max(u.maxAnswer, usd)
	u.mu.Unlock()
}

// billedBy sums what was billed to labels with prefix.
func (u *upstream) billedBy(prefix string) float64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	var sum float64
	for k, v := range u.billed {
		if strings.HasPrefix(k, prefix) {
			sum += v
		}
	}
	return sum
}

// callsWith counts the answers billed to labels holding part.
func (u *upstream) callsWith(part string) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	var n int64
	for k, v := range u.count {
		if strings.Contains(k, part) {
			n += v
		}
	}
	return n
}

// billedEach returns what each label with prefix was billed.
func (u *upstream) billedEach(prefix string) map[string]float64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]float64{}
	for k, v := range u.billed {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != u.want {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}`)
		return
	}
	var req struct {
		User          string `json:"user"`
		Stream        bool   `json:"stream"`
		MaxTokens     int    `json:"max_tokens"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if strings.HasPrefix(req.User, "edge-") && !req.Stream {
		// The dearest answer the request allows: as many input tokens as
		// the gateway's bound (bytes + 1,024), all of max_tokens out.
		in, out := len(body)+1024, req.MaxTokens
		u.bill(req.User, (float64(in)*u.price.Input+float64(out)*u.price.Output)/1e6)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-chaos","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Here is a summary.","refusal":null},"logprobs":null,"finish_reason":"length"}],`+
			`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d},"system_fingerprint":"fp_chaos"}`, in, out, in+out)
		return
	}
	const head = `{"id":"chatcmpl-chaos","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_chaos",`
	if !req.Stream {
		u.bill(req.User, u.costJSON)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-chaos","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Here is a summary.","refusal":null},"logprobs":null,"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d},"system_fingerprint":"fp_chaos"}`, upInput, upOutputJSON, upInput+upOutputJSON)
		return
	}
	u.bill(req.User, u.costStream)
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	bw := bufio.NewWriter(w)
	send := func(s string) {
		_, _ = bw.WriteString("data: " + s + "\n\n")
		_ = bw.Flush()
		if fl != nil {
			fl.Flush()
		}
	}
	send(head + `"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`)
	send(head + `"choices":[{"index":0,"delta":{"content":"Here is"},"logprobs":null,"finish_reason":null}]}`)
	send(head + `"choices":[{"index":0,"delta":{"content":" a summary."},"logprobs":null,"finish_reason":null}]}`)
	send(head + `"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`)
	if req.StreamOptions.IncludeUsage {
		send(head + fmt.Sprintf(`"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, upInput, upOutputStream, upInput+upOutputStream))
	}
	send("[DONE]")
}
