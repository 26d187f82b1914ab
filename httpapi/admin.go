package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/discover"
	"github.com/aicred/aicred/provider"
)

// AdminStore is what the admin API needs from the store.
type AdminStore interface {
	aicred.TokenService
	aicred.HeldCredentialService
	AppendAudit(ctx context.Context, e aicred.AuditEvent) (aicred.AuditEvent, error)
}

// Admin serves the admin API under /admin/v1/. Every request needs an
// admin token (Authorization: Bearer aica_...); reads need scope "read" or
// "write", writes need "write". Every write is audited by the store.
type Admin struct {
	Store  AdminStore
	Sealer aicred.Sealer
	// Roles and Policies describe the broker configuration (listed as is).
	Roles, Policies func() any
	// Role finds a configured role by name, for tokens issued by hand
	// (POST /admin/v1/tokens); nil: the server issues none.
	Role func(name string) (*broker.Role, bool)
	Log  *slog.Logger
	Now  func() time.Time
	// WorkloadHold is the hold a revocation by workload sets when the
	// request names none (zero: aicred.DefaultWorkloadHold).
	WorkloadHold time.Duration
}

const maxAdminBody = 1 << 20

// Handler returns the admin API mux.
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /admin/v1/tokens", a.auth("read", a.listTokens))
	mux.Handle("POST /admin/v1/tokens", a.auth("write", a.createToken))
	mux.Handle("POST /admin/v1/revocations", a.auth("write", a.revoke))
	mux.Handle("GET /admin/v1/revocations", a.auth("read", a.listRevocations))
	mux.Handle("GET /admin/v1/holds", a.auth("read", a.listHolds))
	mux.Handle("POST /admin/v1/holds", a.auth("write", a.hold))
	mux.Handle("POST /admin/v1/holds/lift", a.auth("write", a.liftHold))
	mux.Handle("GET /admin/v1/roles", a.auth("read", a.list(func() any { return a.Roles() })))
	mux.Handle("GET /admin/v1/policies", a.auth("read", a.list(func() any { return a.Policies() })))
	mux.Handle("GET /admin/v1/credentials", a.auth("read", a.listHeld))
	mux.Handle("POST /admin/v1/credentials", a.auth("write", a.addHeld))
	return mux
}

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

type adminFunc func(w http.ResponseWriter, r *http.Request, g *aicred.Grant)

// auth authenticates the admin token and checks its scope. It fails closed:
// a store that cannot be asked is a 503, never a pass.
func (a *Admin) auth(need string, next adminFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			adminError(w, http.StatusUnauthorized, "an admin token is required (Authorization: Bearer aica_...)")
			return
		}
		g, err := AuthenticateAdmin(r.Context(), a.Store, tok, a.now())
		switch {
		case aicred.KindOf(err) == aicred.ErrUnauthorized:
			adminError(w, http.StatusUnauthorized, err.Error())
			return
		case err != nil:
			a.Log.Warn("admin: token lookup failed", "err", err)
			adminError(w, http.StatusServiceUnavailable, "store unavailable")
			return
		}
		if !AdminCan(g, need) {
			adminError(w, http.StatusForbidden, fmt.Sprintf("admin token lacks scope %q", need))
			return
		}
		ctx := aicred.WithActor(r.Context(), "admin:"+g.ID)
		next(w, r.WithContext(ctx), g)
	})
}

// AuthenticateAdmin returns the grant of admin token tok when it is a
// well-formed admin token, known, active and of class admin: the check
// of the admin API and of the console's login. Errors: ErrUnauthorized
// (its message says why, never quoting the token), or the store's (fail
// closed: a store that cannot be asked is never a pass).
func AuthenticateAdmin(ctx context.Context, st aicred.TokenService, tok string, now time.Time) (*aicred.Grant, error) {
	if !provider.ValidToken(tok) || !strings.HasPrefix(tok, provider.TokenPrefixAdmin) {
		return nil, aicred.Errorf(aicred.ErrUnauthorized, "an admin token is required (Authorization: Bearer aica_...)")
	}
	g, err := st.LookupGrant(ctx, aicred.HashToken(tok))
	switch {
	case aicred.KindOf(err) == aicred.ErrNotFound:
		return nil, aicred.Errorf(aicred.ErrUnauthorized, "unknown admin token")
	case err != nil:
		return nil, err
	case g.Class != aicred.TokenAdmin || !g.Active(now):
		return nil, aicred.Errorf(aicred.ErrUnauthorized, "admin token expired or revoked")
	}
	return g, nil
}

// AdminCan reports whether admin grant g carries scope need ("read" is
// also granted by "write").
func AdminCan(g *aicred.Grant, need string) bool {
	return contains(g.Scope, "write") || need == "read" && contains(g.Scope, "read")
}

func (a *Admin) listTokens(w http.ResponseWriter, r *http.Request, _ *aicred.Grant) {
	q := r.URL.Query()
	gs, err := a.Store.ListGrants(r.Context(), aicred.TokenFilter{
		Class: q.Get("class"), Role: q.Get("role"), Issuer: q.Get("issuer"), Subject: q.Get("subject"),
		IncludeExpired: q.Get("all") == "true",
	})
	if err != nil {
		a.fail(w, err)
		return
	}
	if gs == nil {
		gs = []aicred.Grant{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": gs})
}

// revokeRequest is the body of POST /admin/v1/revocations.
type revokeRequest struct {
	By     string `json:"by"`
	Value  string `json:"value"`
	Reason string `json:"reason,omitempty"`
	// Hold, for a revocation by workload: how long the workload is kept
	// from new tokens, as a Go duration ("2h"), or "none". Empty: the
	// server's workload_hold.
	Hold string `json:"hold,omitempty"`
}

// parseHold reads a hold duration: "" is def, "none" aicred.NoHold.
func parseHold(s string, def time.Duration) (time.Duration, error) {
	switch s {
	case "":
		return def, nil
	case "none":
		return aicred.NoHold, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("hold %q: want a positive duration such as 2h, or none", s)
	}
	return d, nil
}

func (a *Admin) revoke(w http.ResponseWriter, r *http.Request, _ *aicred.Grant) {
	var req revokeRequest
	if err := decodeBody(r, &req); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	rv := aicred.Revocation{By: req.By, Value: req.Value, Reason: req.Reason}
	var err error
	if rv.Hold, err = parseHold(req.Hold, a.WorkloadHold); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := a.Store.Revoke(r.Context(), &rv); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rv)
}

func (a *Admin) listHolds(w http.ResponseWriter, r *http.Request, _ *aicred.Grant) {
	hs, err := a.Store.ListWorkloadHolds(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	if hs == nil {
		hs = []aicred.WorkloadHold{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"holds": hs})
}

// holdRequest is the body of POST /admin/v1/holds and /holds/lift.
type holdRequest struct {
	Workload string `json:"workload"`
	Reason   string `json:"reason,omitempty"`
	// For is how long to hold (a Go duration; empty: the server's
	// workload_hold). Lifting ignores it.
	For string `json:"for,omitempty"`
}

func (a *Admin) hold(w http.ResponseWriter, r *http.Request, _ *aicred.Grant) {
	var req holdRequest
	if err := decodeBody(r, &req); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	def := a.WorkloadHold
	if def <= 0 {
		def = aicred.DefaultWorkloadHold
	}
	d, err := parseHold(req.For, def)
	if err != nil || d == aicred.NoHold {
		adminError(w, http.StatusBadRequest, fmt.Sprintf("for %q: want a positive duration such as 2h", req.For))
		return
	}
	h := aicred.WorkloadHold{Workload: req.Workload, Reason: req.Reason, Until: a.now().Add(d)}
	if err := a.Store.HoldWorkload(r.Context(), &h); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (a *Admin) liftHold(w http.ResponseWriter, r *http.Request, _ *aicred.Grant) {
	var req holdRequest
	if err := decodeBody(r, &req); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := a.Store.LiftWorkloadHold(r.Context(), req.Workload, req.Reason); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"lifted": req.Workload})
}

func (a *Admin) listRevocations(w http.ResponseWriter, r *http.Request, _ *aicred.Grant) {
	rs, err := a.Store.RevocationsSince(r.Context(), 0)
	if err != nil {
		a.fail(w, err)
		return
	}
	if rs == nil {
		rs = []aicred.Revocation{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"revocations": rs})
}

func (a *Admin) list(get func() any) adminFunc {
	return func(w http.ResponseWriter, _ *http.Request, _ *aicred.Grant) {
		writeJSON(w, http.StatusOK, get())
	}
}

func (a *Admin) listHeld(w http.ResponseWriter, r *http.Request, _ *aicred.Grant) {
	hs, err := a.Store.ListHeldCredentials(r.Context(), aicred.HeldFilter{Provider: r.URL.Query().Get("provider")})
	if err != nil {
		a.fail(w, err)
		return
	}
	if hs == nil {
		hs = []aicred.HeldCredential{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"credentials": hs})
}

// heldRequest adds a held credential. The secret travels in the body only;
// it is sealed at once and never returned or logged.
type heldRequest struct {
	ID          string            `json:"id"`
	Provider    string            `json:"provider"`
	Kind        string            `json:"kind"`
	Secret      string            `json:"secret"`
	Environment string            `json:"environment"`
	Labels      map[string]string `json:"labels"`
	ExpiresAt   time.Time         `json:"expires_at"`
}

func (a *Admin) addHeld(w http.ResponseWriter, r *http.Request, _ *aicred.Grant) {
	var req heldRequest
	if err := decodeBody(r, &req); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	k, ok := provider.LookupKind(req.Provider, req.Kind)
	if !ok {
		adminError(w, http.StatusBadRequest, fmt.Sprintf("unknown credential kind %s/%s", req.Provider, req.Kind))
		return
	}
	if strings.TrimSpace(req.Secret) == "" {
		adminError(w, http.StatusBadRequest, "secret is required")
		return
	}
	secret := aicred.NewSecret(req.Secret)
	req.Secret = ""
	if !discover.MatchesKind(k, secret) {
		adminError(w, http.StatusBadRequest, fmt.Sprintf("the secret does not look like a %s (%s)", k.Describe(), k.Rule.Description))
		return
	}
	if req.ID == "" {
		req.ID = aicred.NewHeldID()
	}
	h := &aicred.HeldCredential{
		ID: req.ID, Provider: req.Provider, Kind: req.Kind, Fingerprint: secret.Fingerprint(), Redacted: secret.Redacted(),
		Environment: req.Environment, Labels: req.Labels, ExpiresAt: req.ExpiresAt,
	}
	var err error
	if h.Sealed, h.KeyID, err = a.Sealer.Seal(secret, h.AAD()); err != nil {
		a.fail(w, err)
		return
	}
	if err := a.Store.PutHeldCredential(r.Context(), h); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, h)
}

func (a *Admin) fail(w http.ResponseWriter, err error) {
	code := statusOf(err)
	if code >= 500 {
		a.Log.Warn("admin: request failed", "err", err)
		adminError(w, code, http.StatusText(code))
		return
	}
	adminError(w, code, err.Error())
}

func adminError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON body: %v", err)
	}
	return nil
}

// bearer extracts a bearer token from Authorization (or x-api-key).
func bearer(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && tok != "" {
			return strings.TrimSpace(tok), true
		}
		return "", false
	}
	if k := r.Header.Get("x-api-key"); k != "" {
		return k, true
	}
	return "", false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
