package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
)

// Leaks answers POST /aicred/v1/leaks: reports of aicred tokens seen where
// they must not be. Every token it recognises as one of this store's is
// revoked at once (broker.RevokeLeaked: by grant id, reason "leaked:
// <where>", audited token.revoked). Two formats are accepted:
//
//   - aicred's own, for an admin token with scope "write":
//     {"tokens": ["aicw_...", ...], "where": "ci log of job 4411"}, answered
//     {"results": [{"status": "revoked", "grant_id": "tok_..."}, ...]}, one
//     result per token in order, never echoing a token;
//   - GitHub's secret-scanning partner-program alert, recognised by its
//     Github-Public-Key-Signature header: a JSON array of {"token", "type",
//     "url", "source"} signed by one of the keys published at
//     GitHub.URL (see GitHubKeys). It is answered with the documented
//     feedback array, one entry per token: {"token_hash", "token_type",
//     "label"}, label "true_positive" for a token this store issued and
//     "false_positive" otherwise. The token is given back hashed
//     (SHA-256, the documented alternative to token_raw), so no token is
//     ever written back, logged or stored.
//
// It fails closed: a request that is not authenticated or not signed by a
// published key revokes nothing; a store or key server that cannot answer
// is a 503, which GitHub retries (revocation is idempotent).
type Leaks struct {
	// Tokens is where grants are looked up and revoked (the grant cache
	// in front of the store, or the store).
	Tokens broker.TokenStore
	// Admin authenticates reports in aicred's format.
	Admin *Admin
	// GitHub verifies partner-program alerts; nil refuses them (403).
	GitHub *GitHubKeys
	Log    *slog.Logger
	Now    func() time.Time
	// MaxBody bounds a request body (default 1 MiB; 413 beyond).
	MaxBody int64
	// MaxTokens bounds the tokens in one report (default 1000).
	MaxTokens int
}

// Bounds of a leak report.
const (
	defaultLeaksBody   = 1 << 20
	defaultLeaksTokens = 1000
)

// Labels of GitHub's partner feedback.
const (
	LabelTruePositive  = "true_positive"
	LabelFalsePositive = "false_positive"
)

// leakReport is aicred's format.
type leakReport struct {
	Tokens []string `json:"tokens"`
	Where  string   `json:"where,omitempty"`
}

// githubAlert is one match of GitHub's partner-program alert.
type githubAlert struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// githubFeedback is one entry of the answer to GitHub.
type githubFeedback struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

func (l *Leaks) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Leaks) log() *slog.Logger {
	if l.Log != nil {
		return l.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (l *Leaks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		adminError(w, http.StatusMethodNotAllowed, "POST a leak report")
		return
	}
	if r.Header.Get(GitHubSignatureHeader) != "" || r.Header.Get(GitHubKeyIDHeader) != "" {
		l.github(w, r)
		return
	}
	if l.Admin == nil {
		adminError(w, http.StatusUnauthorized, "an admin token is required")
		return
	}
	l.Admin.auth("write", l.aicred).ServeHTTP(w, r)
}

// body reads the whole request body, refusing one over MaxBody.
func (l *Leaks) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	limit := l.MaxBody
	if limit <= 0 {
		limit = defaultLeaksBody
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		adminError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the report exceeds %d bytes", limit))
		return nil, false
	case err != nil:
		adminError(w, http.StatusBadRequest, "cannot read the request body")
		return nil, false
	}
	return data, true
}

func (l *Leaks) maxTokens() int {
	if l.MaxTokens > 0 {
		return l.MaxTokens
	}
	return defaultLeaksTokens
}

// aicred serves aicred's format, for an authenticated admin.
func (l *Leaks) aicred(w http.ResponseWriter, r *http.Request, g *aicred.Grant) {
	data, ok := l.body(w, r)
	if !ok {
		return
	}
	var rep leakReport
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil || dec.More() {
		adminError(w, http.StatusBadRequest, `malformed report: want {"tokens": ["aicw_..."], "where": "..."}`)
		return
	}
	switch {
	case len(rep.Tokens) == 0:
		adminError(w, http.StatusBadRequest, "no tokens in the report")
		return
	case len(rep.Tokens) > l.maxTokens():
		adminError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("at most %d tokens per report", l.maxTokens()))
		return
	}
	where := strings.TrimSpace(rep.Where)
	if where == "" {
		where = "reported by " + g.ID
	}
	results := make([]broker.LeakResult, len(rep.Tokens))
	for i, tok := range rep.Tokens {
		res, err := broker.RevokeLeaked(r.Context(), l.Tokens, strings.TrimSpace(tok), where, l.now())
		if err != nil {
			l.fail(w, err)
			return
		}
		results[i] = res
	}
	l.logResults("aicred", results)
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

// github serves a partner-program alert: verified first, parsed after.
func (l *Leaks) github(w http.ResponseWriter, r *http.Request) {
	if l.GitHub == nil {
		adminError(w, http.StatusForbidden, "GitHub secret-scanning alerts are not configured (leaks.github_keys_url)")
		return
	}
	data, ok := l.body(w, r)
	if !ok {
		return
	}
	if err := l.GitHub.Verify(r.Context(), r.Header.Get(GitHubKeyIDHeader), r.Header.Get(GitHubSignatureHeader), data); err != nil {
		if aicred.KindOf(err) == aicred.ErrUnavailable {
			l.log().Warn("leaks: cannot verify a GitHub alert", "err", err)
			adminError(w, http.StatusServiceUnavailable, "signing keys unavailable")
			return
		}
		l.log().Warn("leaks: GitHub alert refused", "err", err)
		adminError(w, http.StatusUnauthorized, "signature not verified")
		return
	}
	alerts, err := ParseGitHubAlert(data, l.maxTokens())
	if err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := make([]githubFeedback, len(alerts))
	results := make([]broker.LeakResult, len(alerts))
	for i, a := range alerts {
		where := "github " + a.Source
		if a.URL != "" {
			where += " " + a.URL
		}
		res, err := broker.RevokeLeaked(r.Context(), l.Tokens, a.Token, where, l.now())
		if err != nil {
			l.fail(w, err)
			return
		}
		results[i] = res
		label := LabelFalsePositive
		if res.Ours() {
			label = LabelTruePositive
		}
		out[i] = githubFeedback{TokenHash: aicred.HashToken(a.Token), TokenType: a.Type, Label: label}
	}
	l.logResults("github", results)
	writeJSON(w, http.StatusOK, out)
}

// ParseGitHubAlert reads the body of a partner-program alert: a JSON array
// of 1 to max matches, each with a token. Errors never quote the body.
func ParseGitHubAlert(data []byte, max int) ([]githubAlert, error) {
	var alerts []githubAlert
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&alerts); err != nil || dec.More() {
		return nil, errors.New(`malformed alert: want a JSON array of {"token", "type", "url", "source"}`)
	}
	switch {
	case len(alerts) == 0:
		return nil, errors.New("the alert holds no match")
	case len(alerts) > max:
		return nil, fmt.Errorf("the alert holds more than %d matches", max)
	}
	for i := range alerts {
		alerts[i].Token = strings.TrimSpace(alerts[i].Token)
		if alerts[i].Token == "" {
			return nil, fmt.Errorf("match %d has no token", i)
		}
		alerts[i].Type = aicred.StorableText(alerts[i].Type)
		alerts[i].URL = aicred.StorableText(alerts[i].URL)
		alerts[i].Source = aicred.StorableText(alerts[i].Source)
	}
	return alerts, nil
}

// logResults logs what a report did: counts and grant ids, never a token.
func (l *Leaks) logResults(format string, results []broker.LeakResult) {
	counts := map[string]int{}
	var revoked []string
	for _, res := range results {
		counts[res.Status]++
		if res.Status == broker.LeakRevoked {
			revoked = append(revoked, res.GrantID)
		}
	}
	l.log().Info("leaks: report handled", "format", format, "tokens", len(results),
		"revoked", counts[broker.LeakRevoked], "already_dead", counts[broker.LeakAlreadyDead],
		"unknown", counts[broker.LeakUnknown], "not_tokens", counts[broker.LeakNotToken], "grants", revoked)
}

func (l *Leaks) fail(w http.ResponseWriter, err error) {
	code := statusOf(err)
	if code < 500 {
		code = http.StatusServiceUnavailable
	}
	l.log().Warn("leaks: revocation failed; the report can be sent again", "err", err)
	adminError(w, code, http.StatusText(code))
}
