package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"golang.org/x/net/netutil"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/gateway"
	"github.com/aicred/aicred/grantcache"
	"github.com/aicred/aicred/httpapi"
	"github.com/aicred/aicred/posture"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/respond"
	"github.com/aicred/aicred/s3fence"
	"github.com/aicred/aicred/seal"
	"github.com/aicred/aicred/web"
)

// DefaultListen is where `aicred serve` listens with no configuration:
// loopback only.
const DefaultListen = "127.0.0.1:8787"

// serverConfig is the YAML file given to `aicred serve --config`. The
// broker's part (issuers, roles, policies) is checked by the broker with
// line-numbered errors; the server's own keys are checked here.
type serverConfig struct {
	Listen string    `yaml:"listen"`
	TLS    tlsConfig `yaml:"tls"`
	Store  string    `yaml:"store"`
	Log    logConfig `yaml:"log"`
	// ShutdownTimeout bounds graceful shutdown on SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// WorkloadHold is how long a revocation by workload (an admin's, or
	// the gateway's anomaly suspension) keeps the workload from exchanging
	// for new tokens when it names no hold itself. Default
	// aicred.DefaultWorkloadHold (1h); at most aicred.MaxWorkloadHold.
	WorkloadHold time.Duration `yaml:"workload_hold"`
	// Server bounds every connection (see serverLimits).
	Server serverLimits `yaml:"server"`
	// Readiness, Audit and Retention: see their types.
	Readiness readinessConfig `yaml:"readiness"`
	Audit     auditConfig     `yaml:"audit"`
	Retention retentionConfig `yaml:"retention"`
	Broker    broker.Config   `yaml:"-"`
	Gateway   gatewayConfig   `yaml:"-"`
	Leaks     leaksConfig     `yaml:"-"`
	Respond   respondConfig   `yaml:"-"`
	Storage   storageConfig   `yaml:"-"`
	Console   consoleConfig   `yaml:"-"`
}

type tlsConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

type logConfig struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn, error
}

// serverLimits bound what one client can hold of the server. Zero fields
// take the defaults below; check refuses negative ones.
//
// Non-streaming routes (/oauth/token, /admin/v1, whoami, health, metrics)
// must have read their whole request within ReadTimeout of its first byte
// and written their answer within WriteTimeout of the handler's start.
// Gateway routes stream model answers for minutes, so no whole-response
// write deadline applies to them: their request body must arrive within
// GatewayBodyTimeout, and each write of the answer must complete within
// WriteTimeout (a client that stops reading is cut off; a long stream is
// not). net/http clears the read deadline once a body has been read, so a
// stream outlives ReadTimeout.
type serverLimits struct {
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included, on
	// non-streaming routes (default 30s; at least ReadHeaderTimeout).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing an answer on non-streaming routes, and
	// each write on gateway routes (default 30s).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection that sends no request
	// for this long (default 2m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// GatewayBodyTimeout bounds reading a gateway request's body, which
	// may be an upload of up to gateway.max_body_bytes (default 5m).
	GatewayBodyTimeout time.Duration `yaml:"gateway_body_timeout"`
	// MaxHeaderBytes bounds a request's headers (default 64 KiB).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxConnections bounds the connections served at once; further ones
	// wait in the listen queue (default 1024).
	MaxConnections int `yaml:"max_connections"`
}

// readinessConfig is when /readyz fails.
type readinessConfig struct {
	// MaxFeedAge: /readyz fails once the revocation feed has not been
	// read for this long (default 3s, the grant cache's fail-closed
	// window): revocations made by other servers may be unseen.
	MaxFeedAge time.Duration `yaml:"max_feed_age"`
}

// auditConfig is how often the audit chain's head is signed.
type auditConfig struct {
	// CheckpointEvery and CheckpointInterval: a signed checkpoint every
	// so many records or so long, whichever comes first (defaults 1000
	// and 1m).
	CheckpointEvery    int64         `yaml:"checkpoint_every"`
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
}

// retentionConfig is what the store prunes, and how often.
type retentionConfig struct {
	// ExpiredGrants: grants are deleted this long after they expire
	// (default 168h). Usage: usage records older than this are deleted
	// (default 0: kept). Budgets: budget rows untouched for this long,
	// with no lease out, are deleted (default 48h; at least 25h, so
	// that a daily budget outlives its day). Interval: how often
	// (default 1h).
	ExpiredGrants time.Duration `yaml:"expired_grants"`
	Usage         time.Duration `yaml:"usage"`
	Budgets       time.Duration `yaml:"budgets"`
	Interval      time.Duration `yaml:"interval"`
}

// Defaults of readiness, audit and retention.
const (
	defaultMaxFeedAge        = 3 * time.Second
	defaultExpiredGrants     = 7 * 24 * time.Hour
	defaultBudgetRetention   = 48 * time.Hour
	minBudgetRetention       = 25 * time.Hour
	defaultRetentionInterval = time.Hour
)

// check fills the defaults of readiness, audit and retention and refuses
// values that make no sense.
func (c *serverConfig) checkHousekeeping() error {
	switch {
	case c.Readiness.MaxFeedAge < 0:
		return errors.New("readiness.max_feed_age: want a positive duration")
	case c.Readiness.MaxFeedAge == 0:
		c.Readiness.MaxFeedAge = defaultMaxFeedAge
	}
	switch {
	case c.Audit.CheckpointEvery < 0:
		return errors.New("audit.checkpoint_every: want a positive number of records")
	case c.Audit.CheckpointEvery == 0:
		c.Audit.CheckpointEvery = audit.DefaultCheckpointEvery
	}
	switch {
	case c.Audit.CheckpointInterval < 0:
		return errors.New("audit.checkpoint_interval: want a positive duration")
	case c.Audit.CheckpointInterval == 0:
		c.Audit.CheckpointInterval = audit.DefaultCheckpointInterval
	}
	r := &c.Retention
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"expired_grants", &r.ExpiredGrants, defaultExpiredGrants},
		{"usage", &r.Usage, 0},
		{"budgets", &r.Budgets, defaultBudgetRetention},
		{"interval", &r.Interval, defaultRetentionInterval},
	} {
		switch {
		case *d.v < 0:
			return fmt.Errorf("retention.%s: want a positive duration", d.name)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if r.Budgets < minBudgetRetention {
		return fmt.Errorf("retention.budgets %v: at least %v, or a daily budget could be reset within its day", r.Budgets, minBudgetRetention)
	}
	return nil
}

// Defaults of serverLimits.
const (
	defaultReadHeaderTimeout  = 10 * time.Second
	defaultReadTimeout        = 30 * time.Second
	defaultWriteTimeout       = 30 * time.Second
	defaultIdleTimeout        = 2 * time.Minute
	defaultGatewayBodyTimeout = 5 * time.Minute
	defaultMaxHeaderBytes     = 64 << 10
	defaultMaxConnections     = 1024
)

// check fills the defaults and refuses limits that make no sense.
func (l *serverLimits) check() error {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"read_header_timeout", &l.ReadHeaderTimeout, defaultReadHeaderTimeout},
		{"read_timeout", &l.ReadTimeout, defaultReadTimeout},
		{"write_timeout", &l.WriteTimeout, defaultWriteTimeout},
		{"idle_timeout", &l.IdleTimeout, defaultIdleTimeout},
		{"gateway_body_timeout", &l.GatewayBodyTimeout, defaultGatewayBodyTimeout},
	} {
		switch {
		case *d.v < 0:
			return fmt.Errorf("server.%s: want a positive duration", d.name)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if l.ReadHeaderTimeout > l.ReadTimeout {
		return fmt.Errorf("server.read_header_timeout (%v) is longer than server.read_timeout (%v)", l.ReadHeaderTimeout, l.ReadTimeout)
	}
	for _, n := range []struct {
		name     string
		v        *int
		def, min int
	}{
		{"max_header_bytes", &l.MaxHeaderBytes, defaultMaxHeaderBytes, 4 << 10},
		{"max_connections", &l.MaxConnections, defaultMaxConnections, 1},
	} {
		switch {
		case *n.v < 0:
			return fmt.Errorf("server.%s: want a positive integer", n.name)
		case *n.v == 0:
			*n.v = n.def
		case *n.v < n.min:
			return fmt.Errorf("server.%s: at least %d", n.name, n.min)
		}
	}
	return nil
}

var serverKeys = map[string]bool{"listen": true, "tls": true, "store": true, "log": true, "shutdown_timeout": true,
	"workload_hold": true, "server": true, "readiness": true, "audit": true, "retention": true}
var brokerKeys = map[string]bool{"issuers": true, "roles": true, "policies": true}

// parseServerConfig reads and checks a configuration; errors name the line.
func parseServerConfig(data []byte) (*serverConfig, error) {
	cfg := &serverConfig{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return cfg, cfg.check()
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the configuration must be a mapping", root.Line)
	}
	server := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: root.Line, Column: root.Column}
	brokerPart := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: root.Line, Column: root.Column}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		switch {
		case serverKeys[k.Value]:
			server.Content = append(server.Content, k, root.Content[i+1])
		case brokerKeys[k.Value]:
			brokerPart.Content = append(brokerPart.Content, k, root.Content[i+1])
		case k.Value == "gateway":
			g, err := parseGatewayConfig(root.Content[i+1])
			if err != nil {
				return nil, err
			}
			cfg.Gateway = *g
		case k.Value == "storage":
			st, err := parseStorageConfig(root.Content[i+1])
			if err != nil {
				return nil, err
			}
			cfg.Storage = *st
		case k.Value == "leaks":
			l, err := parseLeaksConfig(root.Content[i+1])
			if err != nil {
				return nil, err
			}
			cfg.Leaks = *l
		case k.Value == "respond":
			r, err := parseRespondConfig(root.Content[i+1])
			if err != nil {
				return nil, err
			}
			cfg.Respond = *r
		case k.Value == "console":
			c, err := parseConsoleConfig(root.Content[i+1])
			if err != nil {
				return nil, err
			}
			cfg.Console = *c
		default:
			return nil, fmt.Errorf("line %d: unknown key %q (want listen, tls, store, log, shutdown_timeout, workload_hold, server, readiness, audit, retention, gateway, leaks, respond, storage, console, issuers, roles, policies)", k.Line, k.Value)
		}
	}
	if err := decodeStrict(server, cfg); err != nil {
		return nil, err
	}
	if len(brokerPart.Content) > 0 {
		if err := brokerPart.Decode(&cfg.Broker); err != nil {
			return nil, err
		}
	}
	return cfg, cfg.check()
}

func (c *serverConfig) check() error {
	if !c.Console.set {
		c.Console.Enabled = true
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q: %v", c.Listen, err)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("tls: give both cert and key")
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		return fmt.Errorf("log.format %q: want text or json", c.Log.Format)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return err
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	switch {
	case c.WorkloadHold == 0:
		c.WorkloadHold = aicred.DefaultWorkloadHold
	case c.WorkloadHold < 0 || c.WorkloadHold > aicred.MaxWorkloadHold:
		return fmt.Errorf("workload_hold %v: want a positive duration of at most %v", c.WorkloadHold, aicred.MaxWorkloadHold)
	}
	if err := c.checkHousekeeping(); err != nil {
		return err
	}
	return c.Server.check()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log.level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(w io.Writer, c logConfig) *slog.Logger {
	lvl, _ := parseLevel(c.Level)
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func newServeCmd(a *app) *cobra.Command {
	var listen, logFormat string
	var checkOnly bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the token endpoint (RFC 8693), the provider gateway, the admin API, health and metrics",
		Long: `With no configuration, listens on 127.0.0.1:8787 with the embedded SQLite store
and a generated master key. --config (or $AICRED_CONFIG) names a YAML file for
listeners, TLS, the store, logging, the gateway, identity issuers, trust
policies and roles; it is checked at start and a bad file is refused with the
line and the reason. Every other command given the same --config uses the same
store. docs/configuration.md describes every key.
SIGTERM or SIGINT shut the server down gracefully.

Routes: POST /oauth/token, GET /aicred/v1/whoami, POST /aicred/v1/leaks, /admin/v1/..., /ui/ (the console), GET /healthz,
/readyz, /metrics; every other path is the gateway (/v1/..., /openai/...,
/anthropic/... and each further provider prefix it serves), where a workload
calls the provider's API with an aicred token in place of a key.

The gateway section (every key optional):

  gateway:
    upstreams:                 # provider id -> base URL, over the defaults
      openai: https://openai-proxy.internal.example
      anthropic: off           # "off": the provider is not served (404)
    prices: /etc/aicred/prices.json  # the gateway/prices.json format or LiteLLM's
                               # model_prices_and_context_window.json; its entries
                               # override or extend the shipped table ('aicred
                               # prices --check FILE' validates it)
    unpriced: refuse           # default; or {input: 5, output: 15, context_window:
                               # 200000} (USD per million tokens, positive) for
                               # unknown models; without context_window, requests
                               # with images, files or URLs to them are refused
    max_body_bytes: 33554432   # request body limit (default 32 MB, 413 beyond)
    upstream_timeout: 5m       # wait for the response headers (504 beyond)
    stream_idle_timeout: 2m    # longest pause inside a response body
    drain_timeout: 30s         # after a client leaves, how long its answer is
                               # read on for the usage it reports ("off": cut)
    key_ttl: 5m                # how long a decrypted held key stays in memory
    reservation_ttl: 10m       # how long an unsettled budget reservation lasts
    default_max_output: 4096   # output tokens assumed when a request sets none
    bedrock_region: eu-west-1  # region Bedrock requests are signed for (default:
                               # the one in the aws upstream's host, else us-east-1)
    anomaly:                   # the abuse detector: spike_factor, warmup_minutes,
      webhook: {url: https://hooks.example/aicred, secret_file: /etc/aicred/whsec}
                               # cost_floor_usd, auth_failures, cooldown ...

Server limits and workload holds (every key optional; defaults shown):

  workload_hold: 1h            # a revocation by workload (admin API, anomaly
                               # suspension) refuses the workload new tokens
                               # this long, unless it names its own hold
  server:
    read_header_timeout: 10s   # headers of a request
    read_timeout: 30s          # a whole request, body included (non-gateway)
    write_timeout: 30s         # an answer (non-gateway); each write (gateway)
    idle_timeout: 2m           # a keep-alive connection between requests
    gateway_body_timeout: 5m   # a gateway request body (uploads)
    max_header_bytes: 65536
    max_connections: 1024      # served at once; more wait to be accepted

Leak reports (POST /aicred/v1/leaks) revoke the aicred tokens they carry at
once. An admin token with scope write may post {"tokens": [...], "where": "..."};
GitHub's secret-scanning partner alerts (signed with ECDSA P-256) are accepted
once the keys URL is set (every key optional):

  leaks:
    github_keys_url: https://api.github.com/meta/public_keys/secret_scanning
    github_token_file: /etc/aicred/github-token  # optional bearer token for the
                               # keys fetch (GitHub's anonymous rate limit)
    keys_ttl: 1h               # keys older than this are fetched again
    keys_refetch: 1m           # an unknown key id refetches at most this often
    max_body_bytes: 1048576    # a larger report is refused (413)

The console (/ui/: log in with an admin token, or OIDC when configured;
every key optional, docs/console.md):

  console:
    enabled: true              # false: no /ui/
    idle_timeout: 30m          # a session unused this long ends
    max_age: 12h               # any session ends this long after login
    oidc:                      # people log in with an identity provider
      issuer: https://login.example.com
      client_id: aicred-console
      client_secret_file: /etc/aicred/console-oidc-secret  # optional (PKCE)
      redirect_url: https://aicred.example.com/ui/oidc/callback
      allowed_emails: [alice@example.com]   # and/or allowed_groups
      groups_claim: groups
      write: false             # true: OIDC sessions may act

Gateway answers stream for as long as the provider streams: no deadline
bounds a whole gateway answer, only each write of it.

Provider ids are the catalog's ('aicred catalog'); an unknown id is refused.
Usage records go to the store ('aicred usage'), /metrics and the abuse
detector; role budgets are shared by every server on the same store.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			configPath := a.configPath()
			cfg, err := a.serverConfig()
			if err != nil {
				return errExit(err)
			}
			if cfg == nil {
				cfg = &serverConfig{}
				if err := cfg.check(); err != nil {
					return errExit(err)
				}
			}
			if listen != "" {
				cfg.Listen = listen
			}
			if logFormat != "" {
				cfg.Log.Format = logFormat
			}
			if checkOnly {
				if err := cfg.Broker.Validate(); err != nil {
					return errExit(fmt.Errorf("config %s: %w", configPath, err))
				}
				// Reads the webhook secret file, as a start would.
				if _, err := gateway.NewDetector(cfg.Gateway.Anomaly); err != nil {
					return errExit(fmt.Errorf("config %s: gateway.anomaly: %w", configPath, err))
				}
				fmt.Fprintln(a.stdout, "configuration OK")
				return nil
			}
			return errExit(serve(cmd.Context(), a, cfg))
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "", "address to listen on (default "+DefaultListen+")")
	f.StringVar(&logFormat, "log-format", "", "text or json")
	f.BoolVar(&checkOnly, "check", false, "check the configuration and exit")
	return cmd
}

// serve runs the server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, a *app, cfg *serverConfig) error {
	// The log and the listening line share stderr from several goroutines.
	stderr := &lockedWriter{w: a.stderr}
	log := newLogger(stderr, cfg.Log)
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	ring, err := seal.Default()
	if err != nil {
		return err
	}
	tokens := grantcache.New(st, log)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if err := tokens.Start(watchCtx); err != nil {
		return fmt.Errorf("watch revocations: %w", err)
	}
	// Replay refusal and workload holds live in the store, so they hold
	// across every process sharing it; the exchange audits refusals of
	// held workloads there too.
	x, err := cfg.Broker.Build(broker.BuildOptions{
		Tokens: tokens, Logger: log,
		Replay: broker.NewStoreReplayCache(st),
		Holds:  tokens, Audit: st,
	})
	if err != nil {
		return err
	}
	warnUnusable(ctx, log, cfg, st)
	metrics := httpapi.NewMetrics()
	admin := &httpapi.Admin{
		Store: st, Sealer: ring, Log: log, WorkloadHold: cfg.WorkloadHold,
		Roles:    func() any { return map[string]any{"roles": cfg.Broker.Roles} },
		Policies: func() any { return map[string]any{"policies": cfg.Broker.Policies} },
		Role:     x.Role, // tokens issued by hand (POST /admin/v1/tokens)
	}
	mux := http.NewServeMux()
	lim := cfg.Server
	bounded := func(h http.Handler) http.Handler { return boundedHandler(h, lim.WriteTimeout) }
	mux.Handle("/oauth/token", bounded(metrics.Instrument("token", log, x)))
	mux.Handle("/admin/v1/", bounded(metrics.Instrument("admin", log, admin.Handler())))
	leaks := &httpapi.Leaks{Tokens: tokens, Admin: admin, GitHub: cfg.Leaks.github(), Log: log, MaxBody: cfg.Leaks.MaxBody}
	mux.Handle("POST /aicred/v1/leaks", bounded(metrics.Instrument("leaks", log, leaks)))
	mux.Handle("GET /aicred/v1/whoami", bounded(metrics.Instrument("whoami", log, httpapi.WhoAmI(tokens, log))))
	mux.Handle("GET /healthz", bounded(httpapi.Health()))
	mux.Handle("GET /readyz", bounded(httpapi.Ready(func(ctx context.Context) error {
		// Not ready while revocations made elsewhere may be unseen.
		if tokens.FeedAge() > cfg.Readiness.MaxFeedAge {
			return errors.New("revocation feed is stale")
		}
		_, err := st.ListAudit(ctx, 1, 1)
		return err
	})))
	if err := metrics.RegisterFeedAge(tokens.FeedAge); err != nil {
		return err
	}
	startHousekeeping(watchCtx, log, cfg, st, ring)
	mux.Handle("GET /metrics", bounded(metrics.Handler()))
	var alerts *web.Alerts
	if cfg.Console.Enabled {
		// The console (/ui/): its actions call the responder and the
		// grant cache, as the CLI and the admin API do. The alert
		// stream outlives the write timeout: it sets its own per write.
		rx, err := respond.New(respond.Options{Store: st, Sealer: ring, BaseURLs: cfg.Respond.BaseURLs, Lookup: respondLookup, Log: log})
		if err != nil {
			return err
		}
		con, err := web.New(web.Options{
			Store: st, Tokens: tokens, Responder: rx, Broker: &cfg.Broker, Posture: posture.DefaultConfig(),
			OIDC: cfg.Console.OIDC, IdleTimeout: cfg.Console.IdleTimeout, MaxAge: cfg.Console.MaxAge,
			Secure: cfg.TLS.Cert != "", WorkloadHold: cfg.WorkloadHold, Log: log,
		})
		if err != nil {
			return err
		}
		alerts = con.Alerts()
		ui := metrics.Instrument("console", log, con.Handler())
		mux.Handle("/ui/", bounded(ui))
		mux.Handle("GET /ui/alerts/stream", ui)
	}

	// Gateway: workloads call the provider APIs here with an aicred token
	// (package gateway). Each usage record goes to the store (in batches,
	// off the request path), the metrics and the abuse detector; each
	// refusal to the metrics and the detector. Budgets are spent from
	// allowances leased from the store, so several servers on one store
	// share them.
	gc := &cfg.Gateway
	prices := gc.prices()
	gm, err := gateway.NewMetrics(metrics.Registry, prices)
	if err != nil {
		return err
	}
	dc := gc.Anomaly
	// A suspension is a revocation by workload: it holds the workload for
	// workload_hold, in the same transaction (holdingRevoker).
	dc.Audit, dc.Revoker, dc.Roles, dc.Prices, dc.Log = st, holdingRevoker{tokens, cfg.WorkloadHold}, x.Role, prices, log
	if alerts != nil {
		dc.Audit = alerts.Tap(st) // the console's live alerts hear each one at once
	}
	detector, err := gateway.NewDetector(dc)
	if err != nil {
		return err
	}
	// The detector, the recorder and the leases outlive a cancelled ctx:
	// they are closed after the server has drained, in closeGateway.
	if err := detector.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	usage := gateway.NewStoreRecorder(st, gateway.StoreRecorderConfig{Log: log})
	admission := gateway.NewLeasedAdmission(st, gateway.LeaseConfig{ReservationTTL: gc.ReservationTTL, Log: log})
	defer closeGateway(log, cfg.ShutdownTimeout, usage, admission, detector)
	if err := gateway.RegisterStoreRecorder(metrics.Registry, usage); err != nil {
		return err
	}
	if err := gateway.RegisterDetector(metrics.Registry, detector); err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Config{
		Tokens: tokens, Held: st, Opener: ring, Upstreams: gc.upstreams(),
		Usage:     gateway.Recorders{usage, gm, detector},
		Refusals:  gateway.RefusalObservers{gm, detector},
		Admission: admission,
		Log:       log,
		Roles:     x.Role, // budgets and rate limits of the token's role
		Prices:    prices, Unpriced: gc.Unpriced, MaxBodyBytes: gc.MaxBodyBytes,
		UpstreamTimeout: gc.UpstreamTimeout, StreamIdleTimeout: gc.StreamIdleTimeout,
		KeyTTL: gc.KeyTTL, ReservationTTL: gc.ReservationTTL, DefaultMaxOutput: gc.DefaultMaxOutput,
		BedrockRegion: gc.BedrockRegion, DrainTimeout: gc.DrainTimeout,
		Objects: st, // files and batches are owned across every server on the store
		MLStack: gc.MLStack,
	})
	if err != nil {
		return err
	}
	// A rotated held credential's cached key is dropped on every server.
	if err := gw.WatchHeldKeys(watchCtx, st); err != nil {
		return fmt.Errorf("watch held keys: %w", err)
	}
	// The S3 fence (storage.stores): /s3/STORE/BUCKET/KEY, path-style,
	// signed with each token's derived key pair; its bodies stream.
	fence, err := cfg.Storage.newFence(s3fence.Config{
		Tokens: tokens, Roles: x.Role, Held: st, Opener: ring, Usage: gateway.Recorders{usage, gm, detector},
		UpstreamTimeout: gc.UpstreamTimeout, KeyTTL: gc.KeyTTL,
	}, cfg.Broker.Roles, log)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if fence != nil {
		// A rotated, suspended or revoked held key is dropped on every server.
		if err := fence.WatchHeldKeys(watchCtx, st); err != nil {
			return fmt.Errorf("watch held keys (s3 fence): %w", err)
		}
		mux.Handle("/s3/", streamingHandler(metrics.Instrument("s3", log, fence), lim.GatewayBodyTimeout, lim.ReadTimeout, lim.WriteTimeout))
		mux.Handle("POST /aicred/v1/s3/credentials", bounded(metrics.Instrument("s3_credentials", log, fence.Credentials())))
		mux.Handle("POST /aicred/v1/s3/vend", bounded(metrics.Instrument("s3_vend", log, fence.Vend())))
	}
	// Every path the routes above do not claim goes to the gateway, so
	// each provider prefix it serves (/v1/, /openai/, /anthropic/ ...)
	// is reachable without listing them here.
	mux.Handle("/", streamingHandler(metrics.Instrument("gateway", log, gw), lim.GatewayBodyTimeout, lim.ReadTimeout, lim.WriteTimeout))

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	ln = netutil.LimitListener(ln, lim.MaxConnections)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		// ReadTimeout bounds every request, body included; the gateway's
		// routes give their body GatewayBodyTimeout instead
		// (streamingHandler). No server-wide WriteTimeout: it would cut
		// model streams; each route sets its own (boundedHandler,
		// streamingHandler).
		ReadTimeout:    lim.ReadTimeout,
		IdleTimeout:    lim.IdleTimeout,
		MaxHeaderBytes: lim.MaxHeaderBytes,
		ConnState:      metrics.ConnState,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return aicred.WithActor(context.Background(), "server") },
	}
	scheme := "http"
	errc := make(chan error, 1)
	go func() {
		if cfg.TLS.Cert != "" {
			scheme = "https"
			errc <- srv.ServeTLS(ln, cfg.TLS.Cert, cfg.TLS.Key)
			return
		}
		errc <- srv.Serve(ln)
	}()
	log.Info("aicred serving", "addr", ln.Addr().String(), "tls", cfg.TLS.Cert != "",
		"issuers", len(cfg.Broker.Issuers), "roles", len(cfg.Broker.Roles), "policies", len(cfg.Broker.Policies))
	fmt.Fprintf(stderr, "aicred: listening on %s://%s\n", scheme, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// warnUnusable logs, at start, what keeps this server from issuing a
// token that works: no role (nothing to issue), no issuer (no exchange;
// 'aicred token create' still issues), or roles whose held credentials
// are not in the store (the gateway would have no key to inject).
func warnUnusable(ctx context.Context, log *slog.Logger, cfg *serverConfig, st aicred.HeldCredentialService) {
	roles := cfg.Broker.Roles
	if len(roles) == 0 {
		log.Warn("no usable token is possible: the configuration has no roles, so neither an exchange nor 'aicred token create' can issue one (see docs/configuration.md, roles:)")
		return
	}
	if len(cfg.Broker.Issuers) == 0 {
		log.Warn("no identity issuer is configured: workloads cannot exchange identity tokens; an admin can still issue tokens with 'aicred token create'")
	}
	held, err := st.ListHeldCredentials(ctx, aicred.HeldFilter{})
	if err != nil {
		log.Warn("cannot list held credentials to check the roles", "err", err)
		return
	}
	have := make(map[string]bool, len(held))
	for _, h := range held {
		have[h.ID] = true
	}
	usable := 0
	for _, r := range roles {
		var missing []string
		for _, id := range r.Credentials {
			if !have[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) < len(r.Credentials) {
			usable++
		}
		if len(missing) > 0 {
			log.Warn("a role names held credentials the store does not hold; add them with 'aicred credential add --id ID'",
				"role", r.Name, "missing", strings.Join(missing, ","))
		}
	}
	if usable == 0 {
		log.Warn("no usable token is possible: no role's held credential is in the store, so the gateway has no key to call a provider with")
	}
}

// closeGateway flushes the usage records still queued, returns the
// budget allowances this process holds with their spend, and lets the
// detector finish its queued alerts, within timeout in all.
func closeGateway(log *slog.Logger, timeout time.Duration, usage *gateway.StoreRecorder, adm *gateway.LeasedAdmission, det *gateway.Detector) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := usage.Close(ctx); err != nil {
		log.Error("usage records not written at shutdown", "err", err)
	}
	if err := adm.Close(ctx); err != nil {
		log.Error("budget allowances not returned at shutdown", "err", err)
	}
	if err := det.Close(); err != nil {
		log.Error("anomaly detector", "err", err)
	}
}

// nestedKeys are the keys allowed inside the server's own mappings.
var nestedKeys = map[string]map[string]bool{
	"tls": {"cert": true, "key": true},
	"log": {"format": true, "level": true},
	"server": {"read_header_timeout": true, "read_timeout": true, "write_timeout": true, "idle_timeout": true,
		"gateway_body_timeout": true, "max_header_bytes": true, "max_connections": true},
	"readiness": {"max_feed_age": true},
	"audit":     {"checkpoint_every": true, "checkpoint_interval": true},
	"retention": {"expired_grants": true, "usage": true, "budgets": true, "interval": true},
}

// decodeStrict decodes the server's part of the configuration into v,
// refusing unknown keys; errors name the line.
func decodeStrict(n *yaml.Node, v any) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		allowed, nested := nestedKeys[k.Value]
		if !nested {
			continue
		}
		if val.Kind != yaml.MappingNode {
			return fmt.Errorf("line %d: %s must be a mapping", val.Line, k.Value)
		}
		for j := 0; j+1 < len(val.Content); j += 2 {
			if kk := val.Content[j]; !allowed[kk.Value] {
				return fmt.Errorf("line %d: unknown key %q in %s", kk.Line, kk.Value, k.Value)
			}
		}
	}
	return n.Decode(v)
}

// leaksConfig is the `leaks:` section: how leak reports are taken.
type leaksConfig struct {
	// GitHubKeysURL, when set, accepts GitHub's secret-scanning partner
	// alerts, verified with the keys published there.
	GitHubKeysURL string
	// GitHubToken is sent with the keys fetch (read from
	// github_token_file); never logged.
	GitHubToken string
	KeysTTL     time.Duration
	KeysRefetch time.Duration
	MaxBody     int64
}

// github returns the alert verifier, or nil when alerts are off.
func (l *leaksConfig) github() *httpapi.GitHubKeys {
	if l.GitHubKeysURL == "" {
		return nil
	}
	return &httpapi.GitHubKeys{URL: l.GitHubKeysURL, Token: l.GitHubToken, TTL: l.KeysTTL, MinRefetch: l.KeysRefetch}
}

// parseLeaksConfig reads the leaks section; errors name the line.
func parseLeaksConfig(n *yaml.Node) (*leaksConfig, error) {
	l := &leaksConfig{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return l, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, "leaks", "must be a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := "leaks." + k.Value
		var err error
		switch k.Value {
		case "github_keys_url":
			var s string
			if s, err = scalar(v, key); err == nil {
				u, perr := url.Parse(s)
				switch {
				case perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
					err = configError(v, key, "want an absolute http(s) URL")
				case u.User != nil:
					err = configError(v, key, "the URL must not carry user information (use github_token_file)")
				default:
					l.GitHubKeysURL = s
				}
			}
		case "github_token_file":
			l.GitHubToken, err = secretFile(v, key)
		case "keys_ttl":
			l.KeysTTL, err = positiveDuration(v, key)
		case "keys_refetch":
			l.KeysRefetch, err = positiveDuration(v, key)
		case "max_body_bytes":
			l.MaxBody, err = positiveInt(v, key)
		default:
			err = aicred.Errorf(aicred.ErrInvalid, "line %d: unknown key %q in leaks (want github_keys_url, github_token_file, keys_ttl, keys_refetch, max_body_bytes)", k.Line, k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if l.GitHubToken != "" && l.GitHubKeysURL == "" {
		return nil, configError(n, "leaks", "github_token_file without github_keys_url")
	}
	return l, nil
}

// upstreamOff in gateway.upstreams turns a provider off: the gateway
// answers its routes 404 and never calls it.
const upstreamOff = "off"

// gatewayConfig is the `gateway:` section of the server configuration.
// Zero values mean the gateway's defaults.
type gatewayConfig struct {
	// Upstreams override gateway.DefaultUpstreams by provider id; the
	// empty string (written "off") removes the provider.
	Upstreams map[string]string
	// Prices, when set, is the table read from the prices file.
	Prices *gateway.PriceTable
	// Unpriced is the rate for models with no price; nil refuses them.
	Unpriced          *gateway.Price
	MaxBodyBytes      int64
	UpstreamTimeout   time.Duration
	StreamIdleTimeout time.Duration
	// DrainTimeout bounds reading an answer on after its client left
	// (gateway.Config.DrainTimeout); "off" (-1) cancels at once.
	DrainTimeout     time.Duration
	KeyTTL           time.Duration
	ReservationTTL   time.Duration
	DefaultMaxOutput int64
	// BedrockRegion is the region Bedrock requests are signed for when
	// the aws upstream's host does not name one (a VPC endpoint).
	BedrockRegion string
	// Anomaly tunes the abuse detector (gateway.anomaly).
	Anomaly gateway.DetectorConfig
	// MLStack: the credentials, Pinecone hosts and http upstreams of the
	// ML stack surfaces (docs/mlstack.md).
	MLStack gateway.MLStack
}

// configError is an invalid configuration value, naming its line.
func configError(n *yaml.Node, key, format string, args ...any) error {
	return aicred.Errorf(aicred.ErrInvalid, "line %d: %s: %s", n.Line, key, fmt.Sprintf(format, args...))
}

// scalar returns n's text, refusing a mapping or a list.
func scalar(n *yaml.Node, key string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", configError(n, key, "want a single value")
	}
	return n.Value, nil
}

// parseGatewayConfig reads the gateway section; errors name the line.
func parseGatewayConfig(n *yaml.Node) (*gatewayConfig, error) {
	g := &gatewayConfig{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return g, nil // "gateway:" with nothing under it
	}
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, "gateway", "must be a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := "gateway." + k.Value
		var err error
		switch k.Value {
		case "upstreams":
			g.Upstreams, err = parseUpstreams(v)
		case "prices":
			g.Prices, err = readPrices(v, key)
		case "unpriced":
			g.Unpriced, err = parseUnpriced(v, key)
		case "max_body_bytes":
			g.MaxBodyBytes, err = positiveInt(v, key)
		case "default_max_output":
			g.DefaultMaxOutput, err = positiveInt(v, key)
		case "upstream_timeout":
			g.UpstreamTimeout, err = positiveDuration(v, key)
		case "stream_idle_timeout":
			g.StreamIdleTimeout, err = positiveDuration(v, key)
		case "drain_timeout":
			if v.Kind == yaml.ScalarNode && v.Value == upstreamOff {
				g.DrainTimeout = -1
			} else {
				g.DrainTimeout, err = positiveDuration(v, key)
			}
		case "key_ttl":
			g.KeyTTL, err = positiveDuration(v, key)
		case "reservation_ttl":
			g.ReservationTTL, err = positiveDuration(v, key)
		case "bedrock_region":
			g.BedrockRegion, err = scalar(v, key)
			if err == nil && !awsRegion(g.BedrockRegion) {
				err = configError(v, key, "want an AWS region such as us-east-1")
			}
		case "anomaly":
			err = v.Decode(&g.Anomaly) // its own keys, checked with their lines
		case "mlflow_credential":
			g.MLStack.MLflowCredential, err = catalogProvider(v, key)
		case "qdrant_credential":
			g.MLStack.QdrantCredential, err = catalogProvider(v, key)
		case "pinecone_hosts":
			g.MLStack.PineconeHosts, err = parsePineconeHosts(v, key)
		case "http_upstreams":
			g.MLStack.HTTP, err = parseHTTPUpstreams(v, key)
		default:
			err = aicred.Errorf(aicred.ErrInvalid, "line %d: unknown key %q in gateway (want upstreams, prices, unpriced, max_body_bytes, "+
				"upstream_timeout, stream_idle_timeout, drain_timeout, key_ttl, reservation_ttl, default_max_output, bedrock_region, anomaly, "+
				"mlflow_credential, qdrant_credential, pinecone_hosts, http_upstreams)", k.Line, k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	return g, nil
}

// parseUpstreams reads provider id -> base URL or "off". A provider the
// catalog does not know is refused: a typo would otherwise be ignored.
func parseUpstreams(n *yaml.Node) (map[string]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, "gateway.upstreams", "must be a mapping of provider id to base URL")
	}
	ups := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := "gateway.upstreams." + k.Value
		if _, ok := provider.Lookup(k.Value); !ok && !slices.Contains(gateway.MLUpstreamIDs(), k.Value) {
			return nil, configError(k, key, "unknown provider id (see 'aicred catalog'; or one of %s)", strings.Join(gateway.MLUpstreamIDs(), ", "))
		}
		s, err := scalar(v, key)
		if err != nil {
			return nil, err
		}
		if s == upstreamOff {
			ups[k.Value] = ""
			continue
		}
		u, err := url.Parse(s)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return nil, configError(v, key, "want an absolute http(s) URL or %q", upstreamOff)
		case u.User != nil:
			// Credentials belong in the store, sealed, not in a URL.
			return nil, configError(v, key, "the URL must not carry user information")
		case u.RawQuery != "" || u.Fragment != "":
			return nil, configError(v, key, "the URL must not carry a query or a fragment")
		}
		ups[k.Value] = s
	}
	return ups, nil
}

// catalogProvider reads a catalog provider id (the provider a held
// credential is filed under).
func catalogProvider(n *yaml.Node, key string) (string, error) {
	s, err := scalar(n, key)
	if err != nil {
		return "", err
	}
	if _, ok := provider.Lookup(s); !ok {
		return "", configError(n, key, "unknown provider id %q (see 'aicred catalog')", s)
	}
	return s, nil
}

// parsePineconeHosts reads index name -> data-plane host.
func parsePineconeHosts(n *yaml.Node, key string) (map[string]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, key, "must be a mapping of index name to data-plane host")
	}
	hosts := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		h, err := scalar(v, key+"."+k.Value)
		if err != nil {
			return nil, err
		}
		if !gateway.ValidPineconeHost(k.Value, h) {
			return nil, configError(v, key+"."+k.Value, "want the index's host, {index}-{project}.svc.{environment}.pinecone.io")
		}
		hosts[k.Value] = h
	}
	return hosts, nil
}

// parseHTTPUpstreams reads the upstreams of kind http: a list of
// {name, base_url, credential, inject: {bearer: true | header: NAME |
// basic: USER | query: NAME}, query: [NAME...]}.
func parseHTTPUpstreams(n *yaml.Node, key string) ([]gateway.HTTPUpstream, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, configError(n, key, "must be a list of upstreams")
	}
	var out []gateway.HTTPUpstream
	for _, e := range n.Content {
		if e.Kind != yaml.MappingNode {
			return nil, configError(e, key, "each upstream is a mapping")
		}
		var u gateway.HTTPUpstream
		for i := 0; i+1 < len(e.Content); i += 2 {
			k, v := e.Content[i], e.Content[i+1]
			var err error
			switch k.Value {
			case "name":
				u.Name, err = scalar(v, key+".name")
			case "base_url":
				u.BaseURL, err = scalar(v, key+".base_url")
			case "credential":
				u.Credential, err = catalogProvider(v, key+".credential")
			case "query":
				err = v.Decode(&u.Query)
			case "inject":
				err = v.Decode(&struct {
					Bearer *bool   `yaml:"bearer"`
					Header *string `yaml:"header"`
					Basic  *string `yaml:"basic"`
					Query  *string `yaml:"query"`
				}{&u.Inject.Bearer, &u.Inject.Header, &u.Inject.Basic, &u.Inject.Query})
			default:
				err = configError(k, key, "unknown key %q (want name, base_url, credential, inject, query)", k.Value)
			}
			if err != nil {
				return nil, err
			}
		}
		if err := u.Validate(); err != nil {
			return nil, configError(e, key, "%v", err)
		}
		out = append(out, u)
	}
	return out, nil
}

// readPrices reads a price file: the gateway/prices.json format or
// LiteLLM's model_prices_and_context_window.json, told apart by
// gateway.ParsePrices.
func readPrices(n *yaml.Node, key string) (*gateway.PriceTable, error) {
	path, err := scalar(n, key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, configError(n, key, "%v", err)
	}
	t, err := gateway.ParsePrices(data)
	if err != nil {
		return nil, configError(n, key, "%s: %v", path, err)
	}
	return t, nil
}

// parseUnpriced reads "refuse" or {input: X, output: Y}, in US dollars per
// million tokens. Never $0: an unmetered model would slip every budget.
func parseUnpriced(n *yaml.Node, key string) (*gateway.Price, error) {
	if n.Kind == yaml.ScalarNode && n.Value == "refuse" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, key, `want "refuse" or {input: X, output: Y} (US dollars per million tokens)`)
	}
	p := &gateway.Price{Provider: "*", Model: "unpriced", Source: "server configuration"}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst *float64
		switch k.Value {
		case "input":
			dst = &p.Input
		case "output":
			dst = &p.Output
		case "context_window":
			cw, err := positiveInt(v, key+"."+k.Value)
			if err != nil {
				return nil, err
			}
			p.ContextWindow = cw
			continue
		default:
			return nil, configError(k, key, "unknown key %q (want input, output and context_window)", k.Value)
		}
		s, err := scalar(v, key+"."+k.Value)
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f > 0) || math.IsInf(f, 0) {
			return nil, configError(v, key+"."+k.Value, "want a positive rate in US dollars per million tokens, not %q", s)
		}
		*dst = f
	}
	if p.Input == 0 || p.Output == 0 {
		return nil, configError(n, key, "give both input and output")
	}
	return p, nil
}

// secretFile reads the file a key names and returns its content, trimmed;
// a missing or empty file is refused with the key's line.
func secretFile(n *yaml.Node, key string) (string, error) {
	path, err := scalar(n, key)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", configError(n, key, "%v", err)
	}
	if strings.TrimSpace(string(data)) == "" {
		return "", configError(n, key, "%s is empty", path)
	}
	return strings.TrimSpace(string(data)), nil
}

func positiveInt(n *yaml.Node, key string) (int64, error) {
	s, err := scalar(n, key)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, configError(n, key, "want a positive integer, not %q", s)
	}
	return v, nil
}

func positiveDuration(n *yaml.Node, key string) (time.Duration, error) {
	s, err := scalar(n, key)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, configError(n, key, "want a positive duration such as 30s or 5m, not %q", s)
	}
	return d, nil
}

// upstreams merges the configured upstreams over the defaults.
func (g *gatewayConfig) upstreams() map[string]string {
	ups := gateway.DefaultUpstreams()
	maps.Copy(ups, gateway.MLDefaultUpstreams())
	for p, u := range g.Upstreams {
		if u == "" {
			delete(ups, p)
			continue
		}
		ups[p] = u
	}
	return ups
}

// prices is the table the gateway meters with and the metrics label by:
// the shipped table with a configured file's entries over it.
func (g *gatewayConfig) prices() *gateway.PriceTable {
	if g.Prices != nil {
		return gateway.DefaultPrices().Over(g.Prices)
	}
	return gateway.DefaultPrices()
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// awsRegion reports whether s has the shape of an AWS region name
// (us-east-1, eu-central-2, us-gov-west-1).
func awsRegion(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || len(s) > 32 {
		return false
	}
	for i, p := range parts {
		if p == "" {
			return false
		}
		for j := 0; j < len(p); j++ {
			c := p[j]
			last := i == len(parts)-1 // the number: digits only
			if last != ('0' <= c && c <= '9') || (!last && (c < 'a' || c > 'z')) {
				return false
			}
		}
	}
	return true
}

// consoleConfig is the console: section.
type consoleConfig struct {
	Enabled bool
	set     bool // enabled was given
	// IdleTimeout and MaxAge bound sessions (zero: web's defaults).
	IdleTimeout, MaxAge time.Duration
	OIDC                *web.OIDCConfig
}

// parseConsoleConfig reads the console section; errors name the line.
func parseConsoleConfig(n *yaml.Node) (*consoleConfig, error) {
	c := &consoleConfig{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return c, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, "console", "must be a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := "console." + k.Value
		var err error
		switch k.Value {
		case "enabled":
			c.set = true
			c.Enabled, err = boolValue(v, key)
		case "idle_timeout":
			c.IdleTimeout, err = positiveDuration(v, key)
		case "max_age":
			c.MaxAge, err = positiveDuration(v, key)
		case "oidc":
			c.OIDC, err = parseConsoleOIDC(v)
		default:
			err = aicred.Errorf(aicred.ErrInvalid, "line %d: unknown key %q in console (want enabled, idle_timeout, max_age, oidc)", k.Line, k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if c.IdleTimeout > 0 && c.MaxAge > 0 && c.IdleTimeout > c.MaxAge {
		return nil, configError(n, "console", "idle_timeout (%v) is longer than max_age (%v)", c.IdleTimeout, c.MaxAge)
	}
	return c, nil
}

func boolValue(n *yaml.Node, key string) (bool, error) {
	s, err := scalar(n, key)
	if err != nil {
		return false, err
	}
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, configError(n, key, "want true or false, not %q", s)
}

func stringList(n *yaml.Node, key string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, configError(n, key, "want a list")
	}
	var out []string
	for _, e := range n.Content {
		s, err := scalar(e, key)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(s) == "" {
			return nil, configError(e, key, "empty entry")
		}
		out = append(out, s)
	}
	return out, nil
}

// parseConsoleOIDC reads console.oidc; errors name the line.
func parseConsoleOIDC(n *yaml.Node) (*web.OIDCConfig, error) {
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, "console.oidc", "must be a mapping")
	}
	o := &web.OIDCConfig{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := "console.oidc." + k.Value
		var err error
		switch k.Value {
		case "issuer":
			o.Issuer, err = scalar(v, key)
		case "client_id":
			o.ClientID, err = scalar(v, key)
		case "client_secret_file":
			o.ClientSecret, err = secretFile(v, key)
		case "redirect_url":
			o.RedirectURL, err = scalar(v, key)
		case "allowed_emails":
			o.AllowedEmails, err = stringList(v, key)
		case "allowed_groups":
			o.AllowedGroups, err = stringList(v, key)
		case "groups_claim":
			o.GroupsClaim, err = scalar(v, key)
		case "write":
			o.Write, err = boolValue(v, key)
		case "allow_insecure_http":
			o.AllowInsecureHTTP, err = boolValue(v, key)
		default:
			err = aicred.Errorf(aicred.ErrInvalid, "line %d: unknown key %q in console.oidc (want issuer, client_id, client_secret_file, "+
				"redirect_url, allowed_emails, allowed_groups, groups_claim, write, allow_insecure_http)", k.Line, k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if _, err := web.CheckOIDC(*o); err != nil {
		return nil, configError(n, "console.oidc", "%v", err)
	}
	return o, nil
}
