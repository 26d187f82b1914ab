package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/gateway"
	"github.com/aicred/aicred/grantcache"
	"github.com/aicred/aicred/httpapi"
	"github.com/aicred/aicred/seal"
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
	Broker          broker.Config `yaml:"-"`
}

type tlsConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

type logConfig struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn, error
}

var serverKeys = map[string]bool{"listen": true, "tls": true, "store": true, "log": true, "shutdown_timeout": true}
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
		default:
			return nil, fmt.Errorf("line %d: unknown key %q (want listen, tls, store, log, shutdown_timeout, issuers, roles, policies)", k.Line, k.Value)
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
	return nil
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
	var configPath, listen, logFormat string
	var checkOnly bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the token endpoint (RFC 8693), the admin API, health and metrics",
		Long: `With no configuration, listens on 127.0.0.1:8787 with the embedded SQLite store
and a generated master key. --config names a YAML file for listeners, TLS, the
store, logging, identity issuers, trust policies and roles; it is checked at
start and a bad file is refused with the line and the reason. SIGTERM or
SIGINT shut the server down gracefully.

Routes: POST /oauth/token, GET /aicred/v1/whoami, /admin/v1/..., GET /healthz,
/readyz, /metrics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := &serverConfig{}
			if configPath != "" {
				data, err := os.ReadFile(configPath)
				if err != nil {
					return errExit(err)
				}
				if cfg, err = parseServerConfig(data); err != nil {
					return errExit(fmt.Errorf("config %s: %w", configPath, err))
				}
			} else if err := cfg.check(); err != nil {
				return errExit(err)
			}
			if listen != "" {
				cfg.Listen = listen
			}
			if logFormat != "" {
				cfg.Log.Format = logFormat
			}
			if cfg.Store != "" && a.store == "" {
				a.store = cfg.Store
			}
			if checkOnly {
				if err := cfg.Broker.Validate(); err != nil {
					return errExit(fmt.Errorf("config %s: %w", configPath, err))
				}
				fmt.Fprintln(a.stdout, "configuration OK")
				return nil
			}
			return errExit(serve(cmd.Context(), a, cfg))
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "YAML configuration file")
	f.StringVar(&listen, "listen", "", "address to listen on (default "+DefaultListen+")")
	f.StringVar(&logFormat, "log-format", "", "text or json")
	f.BoolVar(&checkOnly, "check", false, "check the configuration and exit")
	return cmd
}

// serve runs the server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, a *app, cfg *serverConfig) error {
	log := newLogger(a.stderr, cfg.Log)
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
	x, err := cfg.Broker.Build(broker.BuildOptions{Tokens: tokens, Logger: log})
	if err != nil {
		return err
	}
	metrics := httpapi.NewMetrics()
	admin := &httpapi.Admin{
		Store: st, Sealer: ring, Log: log,
		Roles:    func() any { return map[string]any{"roles": cfg.Broker.Roles} },
		Policies: func() any { return map[string]any{"policies": cfg.Broker.Policies} },
	}
	mux := http.NewServeMux()
	mux.Handle("/oauth/token", metrics.Instrument("token", log, x))
	mux.Handle("/admin/v1/", metrics.Instrument("admin", log, admin.Handler()))
	mux.Handle("GET /aicred/v1/whoami", metrics.Instrument("whoami", log, httpapi.WhoAmI(tokens, log)))
	mux.Handle("GET /healthz", httpapi.Health())
	mux.Handle("GET /readyz", httpapi.Ready(func(ctx context.Context) error {
		// Not ready while revocations made elsewhere may be unseen.
		if time.Since(tokens.Synced()) > 3*time.Second {
			return errors.New("revocation feed is stale")
		}
		_, err := st.ListAudit(ctx, 1, 1)
		return err
	}))
	mux.Handle("GET /metrics", metrics.Handler())

	// Gateway: workloads call the provider APIs here with an aicred token
	// (package gateway). Usage goes to the log until it has a store.
	gw, err := gateway.New(gateway.Config{
		Tokens: tokens, Held: st, Opener: ring, Upstreams: gateway.DefaultUpstreams(),
		Usage: gateway.LogRecorder{Log: log}, Log: log,
		Roles: x.Role, // budgets and rate limits of the token's role
	})
	if err != nil {
		return err
	}
	for _, prefix := range []string{"/v1/", "/openai/", "/anthropic/"} {
		mux.Handle(prefix, metrics.Instrument("gateway", log, gw))
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return aicred.WithActor(context.Background(), "server") },
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
	fmt.Fprintf(a.stderr, "aicred: listening on %s://%s\n", scheme, ln.Addr())
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

// nestedKeys are the keys allowed inside the server's own mappings.
var nestedKeys = map[string]map[string]bool{
	"tls": {"cert": true, "key": true},
	"log": {"format": true, "level": true},
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
