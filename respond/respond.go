// Package respond acts on a leaked or exposed credential held by aicred:
// it rotates it through the provider's admin API as a resumable state
// machine recorded in the store (Rotate, Resume, Rollback), revokes it
// (Revoke), or swaps in a replacement made by hand at the provider's
// console (Replace). It never knows a provider by name: what to call is
// the catalog kind's provider.Rotation and provider.Liveness.
//
// Secrets are only ever held in memory while a call runs, and sealed in
// the store; errors, audit records and results carry fingerprints and
// redacted forms only.
package respond

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/verify"
)

// Defaults for Options.
const (
	DefaultChecks  = 6
	DefaultBackoff = 500 * time.Millisecond
	maxBackoff     = 8 * time.Second
)

// Options configures a Responder.
type Options struct {
	Store  aicred.Store
	Sealer aicred.Sealer
	// Client makes the provider calls (admin API and liveness checks).
	// Default: a client with a 30s timeout that does not follow redirects
	// (a redirect would carry a key to wherever it points).
	Client *http.Client
	// BaseURLs overrides the admin API and liveness base URLs, keyed by
	// "provider/kind" or provider id; the more specific key wins.
	BaseURLs map[string]string
	// Lookup resolves a kind; default provider.LookupKind.
	Lookup func(providerID, kindID string) (*provider.Kind, bool)
	Log    *slog.Logger
	// Checks is how many liveness checks a verification makes at most
	// (a new key may take a while to work everywhere, an old one to die),
	// default DefaultChecks; Backoff the first wait between them, doubling
	// up to 8s, default DefaultBackoff.
	Checks  int
	Backoff time.Duration
}

// A Responder rotates, revokes and replaces held credentials.
type Responder struct {
	o Options
	// afterStep, when set (tests), runs after each recorded step; an
	// error stops the rotation there, as a crash would.
	afterStep func(aicred.RotationState) error
}

// New returns a Responder. Store and Sealer are required.
func New(o Options) (*Responder, error) {
	if o.Store == nil || o.Sealer == nil {
		return nil, errors.New("respond: Store and Sealer are required")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Lookup == nil {
		o.Lookup = provider.LookupKind
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Checks <= 0 {
		o.Checks = DefaultChecks
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	return &Responder{o: o}, nil
}

// kind resolves the catalog kind of a held credential.
func (x *Responder) kind(h *aicred.HeldCredential) (*provider.Kind, error) {
	k, ok := x.o.Lookup(h.Provider, h.Kind)
	if !ok || k == nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "held credential %s: kind %s/%s is not in the catalog", h.ID, h.Provider, h.Kind)
	}
	return k, nil
}

// base returns the configured base URL for a kind, else def.
func (x *Responder) base(providerID, kindID, def string) string {
	if b, ok := x.o.BaseURLs[providerID+"/"+kindID]; ok {
		return strings.TrimRight(b, "/")
	}
	if b, ok := x.o.BaseURLs[providerID]; ok {
		return strings.TrimRight(b, "/")
	}
	return strings.TrimRight(def, "/")
}

// open decrypts a held credential's secret.
func (x *Responder) open(h *aicred.HeldCredential) (aicred.Secret, error) {
	s, err := x.o.Sealer.Open(h.Sealed, h.AAD())
	if err != nil {
		return aicred.Secret{}, fmt.Errorf("open held credential %s: %w", h.ID, err)
	}
	return s, nil
}

// A Check is the outcome of a liveness verification.
type Check struct {
	State  aicred.Verification `json:"state"`
	Detail string              `json:"detail,omitempty"`
	Checks int                 `json:"checks"`
}

// check runs the kind's liveness check on s until want holds or Checks
// attempts are spent, waiting Backoff (doubling) between attempts. A kind
// without a liveness check answers NotChecked at once.
func (x *Responder) check(ctx context.Context, h *aicred.HeldCredential, s aicred.Secret, want aicred.Verification, attempts int) Check {
	f := &aicred.Finding{Provider: h.Provider, Kind: h.Kind, Secret: s, Fingerprint: s.Fingerprint(), Redacted: s.Redacted()}
	wait := x.o.Backoff
	var c Check
	for i := 1; i <= attempts; i++ {
		// A new Verifier per attempt: a Verifier caches its answers.
		v := verify.New(verify.Options{Client: x.o.Client, BaseURLs: x.o.BaseURLs, Lookup: x.o.Lookup})
		c.State, c.Detail = v.Verify(ctx, f)
		c.Checks = i
		if c.State == aicred.NotChecked || matches(c.State, want) || ctx.Err() != nil {
			return c
		}
		if i < attempts {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return c
			}
			wait = min(2*wait, maxBackoff)
		}
	}
	return c
}

func matches(got, want aicred.Verification) bool {
	if want == aicred.Live {
		return got == aicred.Live || got == aicred.LiveNoPermission
	}
	return got == want
}

func replaceAll(s, old, new string) string { return strings.ReplaceAll(s, old, new) }
