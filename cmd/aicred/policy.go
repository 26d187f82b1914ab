package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/respond"
	"github.com/aicred/aicred/seal"
)

// respondConfig is the `respond:` section: what happens when a live leak
// of a held credential is found (by watch or scan --record), and where the
// providers' admin APIs are.
type respondConfig struct {
	Policy respond.Policy
	// BaseURLs override providers' API bases ("openai" or "openai/admin-key"
	// to URL) for rotate, revoke, replace, liveness checks and the policy.
	BaseURLs map[string]string
	// Webhook, when set, receives every policy event.
	Webhook *respond.WebhookConfig
}

// parseRespondConfig reads the respond section; errors name the line.
func parseRespondConfig(n *yaml.Node) (*respondConfig, error) {
	rc := &respondConfig{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return rc, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, "respond", "must be a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := "respond." + k.Value
		var err error
		switch k.Value {
		case "base_urls":
			rc.BaseURLs, err = parseBaseURLs(v, key)
		case "webhook":
			rc.Webhook, err = parseRespondWebhook(v)
		case "rules":
			if v.Kind != yaml.SequenceNode {
				err = configError(v, key, "want a list of rules")
				break
			}
			for _, item := range v.Content {
				r, rerr := parseRespondRule(item)
				if rerr != nil {
					err = rerr
					break
				}
				rc.Policy.Rules = append(rc.Policy.Rules, *r)
			}
		default:
			err = aicred.Errorf(aicred.ErrInvalid, "line %d: unknown key %q in respond (want base_urls, webhook, rules)", k.Line, k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := rc.Policy.Check(); err != nil {
		return nil, configError(n, "respond.rules", "%v", err)
	}
	return rc, nil
}

func parseBaseURLs(n *yaml.Node, key string) (map[string]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, key, "want a mapping of provider (or provider/kind) to URL")
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		s, err := scalar(v, key+"."+k.Value)
		if err != nil {
			return nil, err
		}
		u, perr := url.Parse(s)
		if k.Value == "" || perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, configError(v, key+"."+k.Value, "want an absolute http(s) URL without credentials")
		}
		out[k.Value] = s
	}
	return out, nil
}

// parseRespondWebhook reads respond.webhook; errors name the line.
func parseRespondWebhook(n *yaml.Node) (*respond.WebhookConfig, error) {
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, "respond.webhook", "must be a mapping")
	}
	w := &respond.WebhookConfig{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := "respond.webhook." + k.Value
		var err error
		switch k.Value {
		case "url":
			w.URL, err = scalar(v, key)
		case "secret_file":
			w.SecretFile, err = scalar(v, key)
		case "timeout":
			w.Timeout, err = positiveDuration(v, key)
		case "backoff":
			w.Backoff, err = positiveDuration(v, key)
		case "retries":
			var r int64
			r, err = positiveInt(v, key)
			w.Retries = int(r)
		default:
			err = aicred.Errorf(aicred.ErrInvalid, "line %d: unknown key %q in respond.webhook (want url, secret_file, timeout, retries, backoff)", k.Line, k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if _, err := respond.NewWebhook(*w); err != nil {
		return nil, configError(n, "respond.webhook", "%v", err)
	}
	return w, nil
}

// parseRespondRule reads one entry of respond.rules; errors name the line.
func parseRespondRule(n *yaml.Node) (*respond.Rule, error) {
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, "respond.rules", "each rule must be a mapping")
	}
	r := &respond.Rule{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := "respond.rules." + k.Value
		s, err := scalar(v, key)
		if err != nil {
			return nil, err
		}
		switch k.Value {
		case "provider":
			r.Provider = s
		case "kind":
			r.Kind = s
		case "environment":
			r.Environment = s
		case "action":
			r.Action = respond.Action(s)
		case "admin":
			r.Admin = s
		case "name":
			r.Name = s
		default:
			return nil, aicred.Errorf(aicred.ErrInvalid, "line %d: unknown key %q in a respond rule (want provider, kind, environment, action, admin, name)", k.Line, k.Value)
		}
	}
	if err := r.Check(); err != nil {
		return nil, configError(n, "respond.rules", "%v", err)
	}
	return r, nil
}

// respondConfig returns the configuration's respond section (empty when
// there is no configuration).
func (a *app) respondConfig() (*respondConfig, error) {
	cfg, err := a.serverConfig()
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return &respondConfig{}, nil
	}
	return &cfg.Respond, nil
}

// existingKeyring returns the master keyring without creating one: nil
// when there is none (then nothing is held that could be opened).
func existingKeyring() (*seal.Keyring, error) {
	if v := os.Getenv(seal.EnvKey); v != "" {
		return seal.ParseEnv(v)
	}
	path, err := seal.DefaultKeyFile()
	if err != nil {
		return nil, err
	}
	k, err := seal.LoadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return k, err
}

// leakPolicy returns the response policy over st as configured (default:
// notify, logged and audited), or nil when no master key exists (nothing
// held can be checked or acted on).
func (a *app) leakPolicy(st aicred.Store, log *slog.Logger) (*respond.PolicyHandler, error) {
	rc, err := a.respondConfig()
	if err != nil {
		return nil, err
	}
	ring, err := existingKeyring()
	if err != nil || ring == nil {
		return nil, err
	}
	x, err := respond.New(respond.Options{Store: st, Sealer: ring, BaseURLs: rc.BaseURLs, Lookup: respondLookup, Log: log})
	if err != nil {
		return nil, err
	}
	o := respond.PolicyOptions{Policy: rc.Policy, Responder: x}
	if rc.Webhook != nil {
		wh, err := respond.NewWebhook(*rc.Webhook)
		if err != nil {
			return nil, err
		}
		o.Notifier = wh
	}
	return respond.NewPolicy(o)
}

// policyLeaks is watch's LeakHandler with a response policy: the leak is
// audited (leak.detected), then the policy applies to it.
type policyLeaks struct {
	audit  auditLeaks
	policy *respond.PolicyHandler
}

func (p policyLeaks) HandleLeak(ctx context.Context, f *aicred.Finding, origin string) error {
	err := p.audit.HandleLeak(ctx, f, origin)
	return errors.Join(err, p.policy.HandleLeak(ctx, f, origin))
}

// respondToFindings applies the policy to what scan --record found, and
// says what it did on stderr. A failed action is reported, not fatal: the
// scan's report is still written.
func respondToFindings(ctx context.Context, a *app, st aicred.Store, findings []*aicred.Finding, origin string, quiet bool) error {
	log := slog.New(slog.DiscardHandler)
	p, err := a.leakPolicy(st, log)
	if err != nil || p == nil {
		return err
	}
	for _, f := range findings {
		if isAicredToken(f) {
			continue
		}
		evs, err := p.Respond(ctx, f, origin)
		for _, e := range evs {
			if !quiet || e.Outcome == respond.OutcomeFailed {
				fmt.Fprintf(a.stderr, "aicred: held credential %s leaked at %s (%s): %s %s%s\n",
					e.Held, e.Where, strings.ReplaceAll(string(e.Liveness), "-", " "), e.Action, e.Outcome, detail(e.Detail))
			}
		}
		if err != nil && len(evs) == 0 {
			fmt.Fprintf(a.stderr, "aicred: response policy: %v\n", err)
		}
	}
	return nil
}
