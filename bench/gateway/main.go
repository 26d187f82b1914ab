// Command gateway measures what aicred's gateway adds to a request. It
// sends constant-rate load with vegeta over keep-alive connections to a
// loopback upstream that answers OpenAI chat completions at once,
// straight, through a bare httputil.ReverseProxy and through the gateway
// (authentication, scope, budgets, rate limits and metering on), all in
// one run, then drives the bare proxy and the gateway to saturation.
// Upstream, bare proxy and gateway each run in a child process (this
// binary re-executed), so the gateway's peak RSS is its own.
//
//	go run ./bench/gateway                         # 2,000 rps, 10 s per cell
//	go run ./bench/gateway -rate 1000 -duration 5s -format json
//	go run ./bench/gateway -cpuprofile gw.pprof    # profile the gateway child
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv(roleEnv) != "" {
		if err := runChild(ctx, os.Stdin, os.Stdout); err != nil {
			slog.Error("bench child failed", "err", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.IntVar(&o.rate, "rate", 2000, "constant request rate of the latency cells (requests per second)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per cell")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each cell, on the same connections")
	flag.IntVar(&o.rounds, "rounds", 50, "interleaved slices each cell's measured time is split into")
	flag.IntVar(&o.satWorkers, "sat-workers", 32, "requests in flight in the saturation cells")
	flag.DurationVar(&o.streamGap, "stream-gap", time.Millisecond, "pause between the upstream's stream events after the first")
	flag.StringVar(&o.format, "format", "md", "output: md or json")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the gateway child to this file")
	flag.BoolVar(&o.noUsageStore, "no-usage-store", false, "diagnosis: leave the SQLite usage store recorder out of the gateway")
	render := flag.String("render", "", "print a report saved with -format json in -format, without measuring")
	flag.Parse()
	if *render != "" {
		if err := renderSaved(*render, o.format, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench/gateway:", err)
			os.Exit(1)
		}
		return
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway:", err)
		os.Exit(2)
	}
	rep, err := run(ctx, o, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway:", err)
		os.Exit(1)
	}
	if err := rep.write(os.Stdout, o.format); err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway:", err)
		os.Exit(1)
	}
}

type options struct {
	rate             int
	duration, warmup time.Duration
	satWorkers       int
	rounds           int
	streamGap        time.Duration
	format           string
	cpuProfile       string
	noUsageStore     bool
}

func (o *options) check() error {
	switch {
	case o.rate <= 0:
		return errors.New("-rate must be positive")
	case o.duration <= 0:
		return errors.New("-duration must be positive")
	case o.warmup < 0 || o.streamGap < 0:
		return errors.New("-warmup and -stream-gap cannot be negative")
	case o.satWorkers <= 0:
		return errors.New("-sat-workers must be positive")
	case o.rounds <= 0 || o.duration/time.Duration(o.rounds) < 100*time.Millisecond:
		return errors.New("-rounds must be positive and leave at least 100ms per slice")
	case o.format != "md" && o.format != "json":
		return fmt.Errorf("-format %q: want md or json", o.format)
	}
	if o.cpuProfile != "" {
		abs, err := filepath.Abs(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		o.cpuProfile = abs
	}
	return nil
}

// Paths a request can take.
const (
	pathDirect  = "direct"
	pathBare    = "bare ReverseProxy"
	pathGateway = "gateway"
)

// Kinds of traffic.
const (
	trafficJSON   = "chat, JSON"
	trafficStream = "chat, stream"
	trafficSat    = "saturation"
)

// A cell is one kind of traffic over one path.
type cell struct {
	Traffic string `json:"traffic"`
	Path    string `json:"path"`
	// Warmup counts the unmeasured requests sent first.
	Warmup int `json:"warmup_requests"`
	sample
}

// credentials are made fresh for each run: a provider key of the
// catalog's OpenAI project-key shape and a workload token, so that no
// key-shaped literal lives in the repository.
type credentials struct {
	heldKey string
	token   string
}

func newCredentials() (credentials, error) {
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return credentials{}, fmt.Errorf("seed: %w", err)
	}
	g := provider.NewGen(binary.LittleEndian.Uint64(seed[:]))
	k, ok := provider.LookupKind("openai", "project-key")
	if !ok || k.Rule.Examples == nil {
		return credentials{}, errors.New("the catalog has no OpenAI project-key examples")
	}
	ex := k.Rule.Examples(g)
	if len(ex) == 0 || ex[0].Secret == "" {
		return credentials{}, errors.New("the catalog's OpenAI project-key example is empty")
	}
	return credentials{
		heldKey: ex[0].Secret,
		token:   provider.FormatToken(provider.TokenPrefixWorkload, g.Alnum(provider.TokenRandomLen)),
	}, nil
}

// requestBody is a typical small chat request (about 1 KB).
func requestBody(stream bool) []byte {
	b := `{"model":"` + benchModel + `","messages":[{"role":"system","content":"` + strings.Repeat("You are a helpful assistant. ", 20) +
		`"},{"role":"user","content":"` + strings.Repeat("Summarise this paragraph please. ", 15) + `"}],"temperature":0.2,"max_tokens":256`
	if stream {
		// As most clients send it: without stream_options, so the gateway
		// asks for usage itself and hides the extra chunk.
		b += `,"stream":true`
	}
	return []byte(b + "}")
}

func target(base, secret string, stream bool) vegeta.Target {
	return vegeta.Target{
		Method: http.MethodPost,
		URL:    base + "/v1/chat/completions",
		Body:   requestBody(stream),
		Header: http.Header{"Authorization": {"Bearer " + secret}, "Content-Type": {"application/json"}},
	}
}

// run starts the children, measures every cell and stops the children.
func run(ctx context.Context, o options, progress io.Writer) (*report, error) {
	creds, err := newCredentials()
	if err != nil {
		return nil, err
	}
	var children []*child
	defer func() {
		for _, c := range children {
			c.kill()
		}
	}()
	start := func(cfg childConfig) (*child, error) {
		c, err := startChild(ctx, cfg)
		if err == nil {
			children = append(children, c)
		}
		return c, err
	}
	up, err := start(childConfig{Role: roleUpstream, HeldKey: creds.heldKey, StreamGap: o.streamGap})
	if err != nil {
		return nil, err
	}
	bare, err := start(childConfig{Role: roleBare, Upstream: up.url()})
	if err != nil {
		return nil, err
	}
	gw, err := start(childConfig{Role: roleGateway, Upstream: up.url(), HeldKey: creds.heldKey,
		TokenHash: aicred.HashToken(creds.token), CPUProfile: o.cpuProfile, NoUsageStore: o.noUsageStore})
	if err != nil {
		return nil, err
	}

	// server is the process a path's client talks to, whose CPU time
	// is charged to the path.
	type path struct {
		name, base, secret string
		server             *child
	}
	paths := []path{{pathDirect, up.url(), creds.heldKey, up}, {pathBare, bare.url(), creds.heldKey, bare}, {pathGateway, gw.url(), creds.token, gw}}
	rep := &report{Rate: o.rate, Duration: o.duration, Warmup: o.warmup, SatWorkers: o.satWorkers, StreamGap: o.streamGap,
		Rounds: o.rounds, Machine: machine(), Recorder: recorderNote, Admission: admissionNote, LoadBefore: loadAvg(),
		NoUsageStore: o.noUsageStore}
	if o.noUsageStore {
		rep.Recorder = recorderNoStoreNote
	}
	// Each kind of traffic warms every path, then measures the paths in
	// interleaved slices, so that a burst of load from elsewhere on the
	// machine falls on all of them rather than on one.
	measure := func(traffic string, ps []path, mk func(p path) load) error {
		loads := make([]load, len(ps))
		clients := make([]*http.Client, len(ps))
		accs := make([]accumulator, len(ps))
		warmed := make([]int, len(ps))
		for i, p := range ps {
			loads[i], clients[i] = mk(p), newClient()
			warmed[i] = loads[i].warm(clients[i], o.warmup)
		}
		slice := o.duration / time.Duration(o.rounds)
		for round := range o.rounds {
			for k := range ps {
				i := (round + k) % len(ps)
				if err := ctx.Err(); err != nil {
					return err
				}
				before, err := ps[i].server.cpu()
				if err != nil {
					return err
				}
				loads[i].measure(clients[i], slice, &accs[i])
				after, err := ps[i].server.cpu()
				if err != nil {
					return err
				}
				accs[i].cpu += after - before
			}
		}
		for i, p := range ps {
			s := accs[i].sample()
			fmt.Fprintf(progress, "bench/gateway: %-13s %-17s %6d requests, %5.1f%% ok, p50 %s, p99 %s, server CPU %s/request\n",
				traffic, p.name, s.Requests, 100*s.SuccessRate(), fmtDur(s.Latency.P50), fmtDur(s.Latency.P99), fmtDur(s.ServerCPU))
			rep.Cells = append(rep.Cells, cell{Traffic: traffic, Path: p.name, Warmup: warmed[i], sample: s})
			clients[i].CloseIdleConnections()
		}
		return nil
	}
	for _, stream := range []bool{false, true} {
		traffic := trafficJSON
		if stream {
			traffic = trafficStream
		}
		err := measure(traffic, paths, func(p path) load {
			return load{target: target(p.base, p.secret, stream), stream: stream, rate: o.rate}
		})
		if err != nil {
			return nil, err
		}
	}
	err = measure(trafficSat, paths[1:], func(p path) load {
		return load{target: target(p.base, p.secret, false), workers: uint64(o.satWorkers)}
	})
	if err != nil {
		return nil, err
	}
	rep.LoadAfter = loadAvg()

	rep.Memory = map[string]memory{}
	for _, c := range []*child{up, bare, gw} {
		peak, now, err := c.memory()
		if err != nil {
			return nil, err
		}
		rep.Memory[c.role] = memory{PeakBytes: peak, RSSBytes: now}
	}
	children = nil
	for _, c := range []*child{up, bare} {
		if _, err := c.stop(); err != nil {
			return nil, err
		}
	}
	bye, err := gw.stop()
	if err != nil {
		return nil, err
	}
	if bye.Error != "" {
		return nil, fmt.Errorf("gateway child: %s", bye.Error)
	}
	rep.UsageRecords, rep.Outcomes, rep.StoreWritten, rep.StoreLost = bye.UsageRecords, bye.Outcomes, bye.StoreWritten, bye.StoreLost
	rep.evaluate()
	return rep, nil
}

// machine describes where the run happened.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d CPU (%s), %s", numCPU(), cpu, goVersion())
}

// renderSaved prints a saved JSON report again.
func renderSaved(path, format string, w io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return r.write(w, format)
}

// loadAvg is the machine's 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
