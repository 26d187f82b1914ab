package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aicred/aicred/broker"
)

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// Kinds of request the load sends.
const (
	kindExchange = "exchange"
	kindJSON     = "chat"
	kindStream   = "chat-stream"
)

// result is one request's outcome, as the client saw it.
type result struct {
	start   time.Time
	lat     time.Duration
	kind    string
	backend int // -1: unknown
	status  int // 0: transport error or cut stream
	why     string
}

func (r result) served() bool  { return r.status >= 200 && r.status < 300 }
func (r result) refused() bool { return r.status >= 400 && r.status < 500 }
func (r result) failed() bool  { return r.status == 0 || r.status >= 500 }

// results collects outcomes.
type results struct {
	mu  sync.Mutex
	all []result
}

func (rs *results) add(r result) {
	rs.mu.Lock()
	rs.all = append(rs.all, r)
	rs.mu.Unlock()
}

// between returns the results that started in [from, to).
func (rs *results) between(from, to time.Time) []result {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []result
	for _, r := range rs.all {
		if !r.start.Before(from) && r.start.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

// session is one workload's client: it exchanges an identity token for
// an aicred token, spends it, and exchanges again when it is refused.
type session struct {
	sub    string
	role   string
	mu     sync.Mutex
	token  string
	label  string // the "user" the upstream bills; one per token
	tokens int
	busy   bool
	// refusals counts 429s on the current token: a token's budget is
	// leased to replicas in slices, so one replica may refuse while
	// another still holds allowance; the token is given up after 10.
	refusals int
}

// loader drives the load through the balancer.
type loader struct {
	c        *cluster
	client   *http.Client
	res      *results
	sessions []*session
	inflight atomic.Int64
	skipped  atomic.Int64
}

func newLoader(c *cluster, res *results) *loader {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 512
	return &loader{c: c, res: res, client: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

// newSessions gives the scenario its own workloads, so that each has
// fresh daily budgets.
func (l *loader) newSessions(scenario string) {
	var ss []*session
	for i := range 3 {
		ss = append(ss, &session{sub: fmt.Sprintf("tight-%s-%d", scenario, i), role: roleTight})
	}
	for i := range 2 {
		ss = append(ss, &session{sub: fmt.Sprintf("daily-%s-%d", scenario, i), role: roleDaily})
	}
	for i := range 3 {
		ss = append(ss, &session{sub: fmt.Sprintf("free-%s-%d", scenario, i), role: roleFree})
	}
	for i := range 2 {
		ss = append(ss, &session{sub: fmt.Sprintf("edge-%s-%d", scenario, i), role: roleEdge})
	}
	l.sessions = ss
}

// run sends rate requests a second until ctx ends, and waits for the
// requests in flight.
func (l *loader) run(ctx context.Context, rate int) {
	var wg sync.WaitGroup
	defer wg.Wait()
	interval := time.Second / time.Duration(rate)
	next := time.Now()
	for ctx.Err() == nil {
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		if l.inflight.Load() >= 400 {
			l.skipped.Add(1)
			continue
		}
		l.inflight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.inflight.Add(-1)
			l.one()
		}()
	}
}

// one sends one request: mostly gateway calls, some exchanges.
func (l *loader) one() {
	ss := l.sessions
	s := ss[rand.IntN(len(ss))]
	s.mu.Lock()
	tok, label := s.token, s.label
	// Tokens of budgeted roles are spent until refused; the others are
	// exchanged again now and then, so exchanges are part of the load.
	refresh := tok == "" || (s.role == roleFree && rand.IntN(10) == 0)
	if refresh && s.busy {
		refresh = false
	}
	if refresh {
		s.busy = true
	}
	s.mu.Unlock()
	if refresh || tok == "" {
		if !refresh {
			return // another request is exchanging for this session
		}
		t, err := l.exchange(l.c.lbURL, s.sub)
		s.mu.Lock()
		s.busy = false
		if err == nil {
			s.tokens++
			s.token, s.label = t, fmt.Sprintf("%s#%d", s.sub, s.tokens)
		}
		s.mu.Unlock()
		return
	}
	// The edge role's calls are JSON: the upstream bills them at the
	// bound of the body it receives, which a stream's added options
	// would lengthen.
	stream := rand.IntN(10) < 4 && s.role != roleEdge
	code := l.chat(l.c.lbURL, tok, label, stream)
	s.mu.Lock()
	if s.token == tok {
		if code == http.StatusTooManyRequests {
			s.refusals++
		}
		if code == http.StatusUnauthorized || ((s.role == roleTight || s.role == roleEdge) && s.refusals >= 10) {
			s.token, s.refusals = "", 0
		}
	}
	s.mu.Unlock()
}

// exchange trades an identity token for an aicred token at base.
func (l *loader) exchange(base, sub string) (string, error) {
	jwt, err := l.c.jwt(sub)
	if err != nil {
		return "", err
	}
	form := url.Values{
		"grant_type":         {broker.GrantTypeTokenExchange},
		"subject_token":      {jwt},
		"subject_token_type": {broker.TokenTypeJWT},
	}
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := l.client.Do(req)
	r := result{start: start, kind: kindExchange, backend: -1}
	if err != nil {
		r.why = shortErr(err)
		r.lat = time.Since(start)
		l.res.add(r)
		return "", err
	}
	defer resp.Body.Close()
	r.backend = backendOf(resp)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	r.lat = time.Since(start)
	r.status = resp.StatusCode
	switch {
	case resp.Header.Get(headerBackendError) != "":
		r.status, r.why = 0, "balancer: replica unreachable"
	case resp.StatusCode >= 500:
		r.why = strconv.Itoa(resp.StatusCode)
	}
	l.res.add(r)
	if resp.StatusCode != http.StatusOK || err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("exchange: %d", resp.StatusCode)
	}
	return out.AccessToken, nil
}

func backendOf(resp *http.Response) int {
	if b, err := strconv.Atoi(resp.Header.Get(headerBackend)); err == nil {
		return b
	}
	return -1
}

func chatBody(label string, stream bool) []byte {
	b := `{"model":"` + chatModel + `","messages":[{"role":"user","content":"Summarise this paragraph please."}],"max_tokens":64,"user":"` + label + `"`
	if stream {
		b += `,"stream":true`
	}
	return []byte(b + "}")
}

// chat makes one gateway call and records it; a stream counts as served
// only when it ended with [DONE].
func (l *loader) chat(base, tok, label string, stream bool) int {
	start := time.Now()
	kind := kindJSON
	if stream {
		kind = kindStream
	}
	r := result{start: start, kind: kind, backend: -1}
	defer func() {
		r.lat = time.Since(start)
		l.res.add(r)
	}()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(chatBody(label, stream)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		r.why = shortErr(err)
		return 0
	}
	defer resp.Body.Close()
	r.backend = backendOf(resp)
	if resp.Header.Get(headerBackendError) != "" {
		_, _ = io.Copy(io.Discard, resp.Body)
		r.why = "balancer: replica unreachable"
		return 0
	}
	if resp.StatusCode != http.StatusOK || !stream {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			r.why = "body: " + shortErr(err)
			return 0
		}
		if resp.StatusCode >= 500 {
			r.why = fmt.Sprintf("%d %s", resp.StatusCode, shortBody(b))
		}
		r.status = resp.StatusCode
		return resp.StatusCode
	}
	sc := bufio.NewScanner(resp.Body)
	done := false
	for sc.Scan() {
		if sc.Text() == "data: [DONE]" {
			done = true
		}
	}
	if done && sc.Err() == nil {
		r.status = resp.StatusCode
	} else {
		r.why = "stream cut"
	}
	return r.status
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func shortBody(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// whoami asks base whether tok is accepted.
func whoami(client *http.Client, base, tok string) (bool, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/aicred/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK, nil
}

// metricsOf scrapes a few numbers from a replica's /metrics.
func metricsOf(client *http.Client, base string) (map[string]float64, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %d", resp.StatusCode)
	}
	want := map[string]bool{
		"go_goroutines": true, "process_resident_memory_bytes": true,
		"aicred_gateway_usage_records_queued": true, "aicred_gateway_usage_records_written_total": true,
		"aicred_gateway_usage_records_lost_total": true, "aicred_revocation_feed_age_seconds": true,
		`aicred_http_connections{state="active"}`: true, `aicred_http_connections{state="idle"}`: true,
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok || !want[name] {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = f
		}
	}
	return out, sc.Err()
}
