package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/httpapi"
)

func newTokenCreateCmd(a *app) *cobra.Command {
	var role, workload, server, format string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create --role R --workload NAME [--ttl 15m]",
		Short: "Issue a short-lived workload token by hand, for local development or a caller with no workload identity",
		Long: `Issue a workload token for role R to the workload NAME, with no identity
provider: for local development, and for callers that have no workload
identity to exchange. The token is printed once (stdout); its id and expiry
go to stderr (or all of it to stdout as JSON with --format json).

The token's issuer is "` + broker.ManualIssuer + `" and its subject NAME, so
'aicred token list' and the posture report (check AIC-NHI10-MANUAL-TOKEN) show
it as issued by a person, and

  aicred token revoke --workload "` + broker.ManualIssuer + ` NAME"

withdraws every token issued to NAME. It lives --ttl (default: the role's
ttl; at least 1m, at most the role's ttl). Two records enter the audit log:
token.issued, and token.created naming who issued it.

Without --server, the token is issued directly on the store, with the roles
of the configuration 'aicred serve' reads (--config or $AICRED_CONFIG): run
it where the server's configuration and store are. With --server (or
$AICRED_SERVER), it asks that server's admin API, authenticated by an admin
token of scope write in $AICRED_ADMIN_TOKEN ('aicred admin-token create
--scope write').`,
		Example: `  aicred token create --config examples/local-dev.yaml --role dev-inference --workload laptop
  AICRED_ADMIN_TOKEN=aica_... aicred token create --server https://aicred.internal --role ci --workload nightly --ttl 30m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if role == "" || workload == "" {
				return usageErr("give --role and --workload")
			}
			if format != "text" && format != "json" {
				return usageErr("--format must be text or json")
			}
			if ttl < 0 {
				return usageErr("--ttl must be positive")
			}
			if server == "" {
				server = os.Getenv("AICRED_SERVER")
			}
			var it *httpapi.IssuedToken
			var err error
			if server != "" {
				it, err = createRemote(cmd.Context(), server, role, workload, ttl)
			} else {
				it, err = a.createLocal(cmd.Context(), role, workload, ttl)
			}
			if err != nil {
				return errExit(err)
			}
			return errExit(printIssued(a, format, it.Token, it.ID, it.ExpiresAt, it))
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "the role the token carries (required)")
	f.StringVar(&workload, "workload", "", "a name for who uses the token: letters, digits and . _ - @ : / + (required)")
	f.DurationVar(&ttl, "ttl", 0, "lifetime (default: the role's ttl)")
	f.StringVar(&server, "server", "", "issue through this aicred server's admin API (default $AICRED_SERVER; without it, on the store)")
	f.StringVarP(&format, "format", "f", "text", "text (the token on stdout) or json")
	return cmd
}

// printIssued prints a token once: in text, the token alone on stdout and
// its id and expiry on stderr, so $(aicred token ...) captures the token;
// in JSON, v on stdout.
func printIssued(a *app, format, token, id string, expires time.Time, v any) error {
	if format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	fmt.Fprintf(a.stderr, "aicred: token %s expires %s (in %s); it is shown once:\n", id, expires.Format(time.RFC3339),
		time.Until(expires).Round(time.Second))
	_, err := fmt.Fprintln(a.stdout, token)
	return err
}

// createLocal issues the token on the store, with the configuration's
// roles, as the admin running the command.
func (a *app) createLocal(ctx context.Context, role, workload string, ttl time.Duration) (*httpapi.IssuedToken, error) {
	cfg, err := a.serverConfig()
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("token create needs the roles of the server configuration: give --config (or $%s), or --server", envConfig)
	}
	x, err := cfg.Broker.Build(broker.BuildOptions{})
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", a.configPath(), err)
	}
	r, ok := x.Role(role)
	if !ok {
		return nil, fmt.Errorf("role %q: not in %s (roles: %s)", role, a.configPath(), roleNames(cfg.Broker.Roles))
	}
	ctx = actorContext(ctx)
	st, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return httpapi.IssueManualToken(ctx, st, r, workload, ttl, time.Now())
}

func roleNames(rs []broker.Role) string {
	if len(rs) == 0 {
		return "none"
	}
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}

// createRemote asks a server's admin API for the token.
func createRemote(ctx context.Context, server, role, workload string, ttl time.Duration) (*httpapi.IssuedToken, error) {
	if err := checkServerURL(server); err != nil {
		return nil, err
	}
	admin := strings.TrimSpace(os.Getenv("AICRED_ADMIN_TOKEN"))
	if admin == "" {
		return nil, fmt.Errorf("--server needs an admin token of scope write in $AICRED_ADMIN_TOKEN")
	}
	body := map[string]string{"role": role, "workload": workload}
	if ttl > 0 {
		body["ttl"] = ttl.String()
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(server, "/")+"/admin/v1/tokens", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+admin)
	// Redirects are not followed: they would resend the admin token.
	client := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token create: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return nil, fmt.Errorf("token create refused: HTTP %d %s", resp.StatusCode, e.Error.Message)
	}
	var it httpapi.IssuedToken
	if err := json.Unmarshal(raw, &it); err != nil || it.Token == "" {
		return nil, fmt.Errorf("token create: unreadable answer from %s", server)
	}
	return &it, nil
}
