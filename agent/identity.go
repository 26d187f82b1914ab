// Package agent is the workload's side of aicred: it proves the
// workload's ambient identity (a Kubernetes projected service-account
// token, GitHub Actions OIDC, a SPIFFE JWT-SVID file, a JWT file) to the
// aicred server, holds the short-lived aicred token it gets back,
// exchanges again before it expires, and serves a loopback endpoint that
// forwards a job's SDK calls to the server with the current token. The
// job itself holds only a per-run random secret, good for this loopback
// endpoint alone.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// An Identity yields a fresh identity token (JWT) of the workload.
type Identity interface {
	// Token returns the JWT; called at each exchange, so a platform's
	// rotated token is read again.
	Token(ctx context.Context) (string, error)
	// Name says where the token comes from, for messages.
	Name() string
}

// File reads the JWT from a file at each exchange (Kubernetes projected
// tokens and SPIFFE helpers rewrite it in place).
type File struct{ Path string }

// Token implements Identity.
func (f File) Token(context.Context) (string, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return "", fmt.Errorf("identity token file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("identity token file %s is empty", f.Path)
	}
	return s, nil
}

// Name implements Identity.
func (f File) Name() string { return "file " + f.Path }

// GitHubActions requests an OIDC token from the Actions runtime
// (ACTIONS_ID_TOKEN_REQUEST_URL with ACTIONS_ID_TOKEN_REQUEST_TOKEN; the
// job needs permissions: id-token: write).
type GitHubActions struct {
	URL, RequestToken, Audience string
	Client                      *http.Client
}

// Token implements Identity.
func (g GitHubActions) Token(ctx context.Context) (string, error) {
	u, err := url.Parse(g.URL)
	if err != nil {
		return "", errors.New("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL")
	}
	if g.Audience != "" {
		q := u.Query()
		q.Set("audience", g.Audience)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+g.RequestToken)
	req.Header.Set("Accept", "application/json")
	c := g.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("GitHub Actions OIDC: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Value == "" {
		return "", fmt.Errorf("GitHub Actions OIDC: HTTP %d, no token", resp.StatusCode)
	}
	return out.Value, nil
}

// Name implements Identity.
func (GitHubActions) Name() string { return "GitHub Actions OIDC" }

// Well-known places of a workload's identity token.
const (
	// EnvJWTFile names a JWT file explicitly.
	EnvJWTFile = "AICRED_JWT_FILE"
	// EnvSPIFFEJWTFile names a JWT-SVID file written by a SPIFFE helper.
	EnvSPIFFEJWTFile = "SPIFFE_JWT_SVID_FILE"
	// KubernetesTokenFile is the projected service-account token path
	// aicred's deployment examples mount (audience "aicred").
	KubernetesTokenFile = "/var/run/secrets/tokens/aicred"
)

// Ambient finds the workload's identity: an explicit file, then
// $AICRED_JWT_FILE, GitHub Actions' OIDC variables, $SPIFFE_JWT_SVID_FILE,
// then the Kubernetes projected token. audience is asked of GitHub.
func Ambient(file, audience string, getenv func(string) string) (Identity, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	switch {
	case file != "":
		return File{Path: file}, nil
	case getenv(EnvJWTFile) != "":
		return File{Path: getenv(EnvJWTFile)}, nil
	case getenv("ACTIONS_ID_TOKEN_REQUEST_URL") != "" && getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN") != "":
		return GitHubActions{URL: getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), RequestToken: getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"), Audience: audience}, nil
	case getenv(EnvSPIFFEJWTFile) != "":
		return File{Path: getenv(EnvSPIFFEJWTFile)}, nil
	}
	if _, err := os.Stat(KubernetesTokenFile); err == nil {
		return File{Path: KubernetesTokenFile}, nil
	}
	return nil, errors.New("no workload identity found: give --identity-file, or set AICRED_JWT_FILE, run in GitHub Actions with id-token: write, set SPIFFE_JWT_SVID_FILE, or mount a projected token at " + KubernetesTokenFile)
}
