package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// newRandomToken mints a token of the given class: prefix, 30 base62
// characters from crypto/rand (178 bits) and the checksum.
func newRandomToken(prefix string) (string, error) {
	const base62 = provider.Digits + provider.Upper + provider.Lower
	b := make([]byte, provider.TokenRandomLen)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(base62))))
		if err != nil {
			return "", err
		}
		b[i] = base62[n.Int64()]
	}
	return provider.FormatToken(prefix, string(b)), nil
}

func newGrantID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "tok_" + hex.EncodeToString(b[:])
}

func newAdminTokenCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "admin-token", Short: "Tokens that protect the admin API"}
	var scope string
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create --scope read|write",
		Short: "Mint an admin token; it is printed once and stored only as a hash",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if scope != "read" && scope != "write" {
				return usageErr("--scope must be read or write")
			}
			if ttl <= 0 || ttl > 90*24*time.Hour {
				return usageErr("--ttl must be positive and at most 2160h (90 days)")
			}
			tok, err := newRandomToken(provider.TokenPrefixAdmin)
			if err != nil {
				return errExit(err)
			}
			ctx := actorContext(cmd.Context())
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			now := time.Now()
			g := &aicred.Grant{
				ID: newGrantID(), TokenHash: aicred.HashToken(tok), Class: aicred.TokenAdmin,
				Issuer: "aicred-cli", Subject: aicred.ActorFrom(ctx), Scope: []string{scope},
				IssuedAt: now, ExpiresAt: now.Add(ttl),
			}
			if err := st.IssueGrant(ctx, g); err != nil {
				return errExit(err)
			}
			fmt.Fprintf(a.stderr, "aicred: admin token %s (scope %s) expires %s; it is shown once:\n", g.ID, scope, g.ExpiresAt.Format(time.RFC3339))
			fmt.Fprintln(a.stdout, tok)
			return nil
		},
	}
	create.Flags().StringVar(&scope, "scope", "", "read or write (required)")
	create.Flags().DurationVar(&ttl, "ttl", 30*24*time.Hour, "lifetime of the token")
	cmd.AddCommand(create)
	return cmd
}

func newTokenCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Short-lived workload tokens: exchange, list, revoke, workload holds"}
	cmd.AddCommand(newTokenCreateCmd(a), newTokenExchangeCmd(a), newTokenListCmd(a), newTokenRevokeCmd(a),
		newTokenHoldsCmd(a), newTokenHoldCmd(a), newTokenUnholdCmd(a))
	return cmd
}

func newTokenRevokeCmd(a *app) *cobra.Command {
	var id, workload, role, policy, credential, reason string
	var hold time.Duration
	var noHold bool
	cmd := &cobra.Command{
		Use:   "revoke (--id ID | --workload 'ISSUER SUBJECT' | --role R | --policy P | --credential HELD_ID)",
		Short: "Revoke tokens; every aicred process sharing the store refuses them within a second",
		Long: `Revoke tokens; every aicred process sharing the store refuses them within a second.

A revocation by --workload also holds the workload: its next exchanges are
refused (invalid_grant) for --hold (default 1h), or until 'aicred token unhold'.
--no-hold revokes without holding. Other revocations hold nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r aicred.Revocation
			n := 0
			for _, c := range []struct{ by, val string }{
				{aicred.RevokeToken, id}, {aicred.RevokeWorkload, workload}, {aicred.RevokeRole, role},
				{aicred.RevokePolicy, policy}, {aicred.RevokeCredential, credential},
			} {
				if c.val != "" {
					r.By, r.Value = c.by, c.val
					n++
				}
			}
			if n != 1 {
				return usageErr("give exactly one of --id, --workload, --role, --policy, --credential")
			}
			r.Reason = reason
			switch {
			case (noHold || hold != 0) && r.By != aicred.RevokeWorkload:
				return usageErr("--hold and --no-hold apply to --workload only")
			case noHold && hold != 0:
				return usageErr("give --hold or --no-hold, not both")
			case hold < 0:
				return usageErr("--hold must be positive")
			case noHold:
				r.Hold = aicred.NoHold
			default:
				r.Hold = hold // 0: aicred.DefaultWorkloadHold
			}
			ctx := actorContext(cmd.Context())
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			if err := st.Revoke(ctx, &r); err != nil {
				return errExit(err)
			}
			fmt.Fprintf(a.stdout, "revoked %d token(s) by %s %q (revocation %d)\n", r.Grants, r.By, r.Value, r.Seq)
			if r.By == aicred.RevokeWorkload && r.Hold != aicred.NoHold {
				h, err := st.WorkloadHold(ctx, r.Value)
				if err != nil {
					return errExit(err)
				}
				fmt.Fprintf(a.stdout, "workload held from new tokens until %s\n", h.Until.Format(time.RFC3339))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "a token id (tok_...)")
	f.StringVar(&workload, "workload", "", "a workload: issuer and subject separated by a space")
	f.StringVar(&role, "role", "", "every token of this role")
	f.StringVar(&policy, "policy", "", "every token issued under this trust policy")
	f.StringVar(&credential, "credential", "", "every token that may use this held credential")
	f.StringVar(&reason, "reason", "", "why (recorded in the audit log)")
	f.DurationVar(&hold, "hold", 0, "with --workload: refuse the workload new tokens this long (default 1h)")
	f.BoolVar(&noHold, "no-hold", false, "with --workload: revoke without holding the workload")
	return cmd
}

func newTokenHoldsCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "holds",
		Short: "List the workloads held from new tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			hs, err := st.ListWorkloadHolds(ctx)
			if err != nil {
				return errExit(err)
			}
			if format == "json" {
				if hs == nil {
					hs = []aicred.WorkloadHold{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"holds": hs})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKLOAD\tUNTIL\tBY\tREASON")
			for _, h := range hs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Workload, h.Until.Format(time.RFC3339), h.CreatedBy, h.Reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	return cmd
}

func newTokenHoldCmd(a *app) *cobra.Command {
	var workload, reason string
	var d time.Duration
	cmd := &cobra.Command{
		Use:   "hold --workload 'ISSUER SUBJECT' [--for 1h]",
		Short: "Refuse a workload new tokens for a while, without revoking the ones it has",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workload == "" || d <= 0 {
				return usageErr("give --workload and a positive --for")
			}
			ctx := actorContext(cmd.Context())
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			h := aicred.WorkloadHold{Workload: workload, Reason: reason, Until: time.Now().Add(d)}
			if err := st.HoldWorkload(ctx, &h); err != nil {
				return errExit(err)
			}
			fmt.Fprintf(a.stdout, "workload %q held from new tokens until %s\n", h.Workload, h.Until.Format(time.RFC3339))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&workload, "workload", "", "a workload: issuer and subject separated by a space")
	f.DurationVar(&d, "for", aicred.DefaultWorkloadHold, "how long")
	f.StringVar(&reason, "reason", "", "why (recorded in the audit log)")
	return cmd
}

func newTokenUnholdCmd(a *app) *cobra.Command {
	var workload, reason string
	cmd := &cobra.Command{
		Use:   "unhold --workload 'ISSUER SUBJECT'",
		Short: "Lift a workload's hold: it may exchange for new tokens again at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workload == "" {
				return usageErr("give --workload")
			}
			ctx := actorContext(cmd.Context())
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			if err := st.LiftWorkloadHold(ctx, workload, reason); err != nil {
				return errExit(err)
			}
			fmt.Fprintf(a.stdout, "hold on workload %q lifted\n", workload)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&workload, "workload", "", "a workload: issuer and subject separated by a space")
	f.StringVar(&reason, "reason", "", "why (recorded in the audit log)")
	return cmd
}

func newTokenListCmd(a *app) *cobra.Command {
	var format, role string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List issued tokens (ids and grants; tokens themselves are never stored)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			gs, err := st.ListGrants(ctx, aicred.TokenFilter{Role: role, IncludeExpired: all})
			if err != nil {
				return errExit(err)
			}
			if format == "json" {
				if gs == nil {
					gs = []aicred.Grant{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"tokens": gs})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCLASS\tWORKLOAD\tROLE\tEXPIRES\tSTATE")
			now := time.Now()
			for _, g := range gs {
				state := "active"
				switch {
				case !g.RevokedAt.IsZero():
					state = "revoked"
				case !now.Before(g.ExpiresAt):
					state = "expired"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\n", g.ID, g.Class, g.Issuer, g.Subject, g.Role, g.ExpiresAt.Format(time.RFC3339), state)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	cmd.Flags().StringVar(&role, "role", "", "only this role")
	cmd.Flags().BoolVar(&all, "all", false, "include expired and revoked tokens")
	return cmd
}

func newTokenExchangeCmd(a *app) *cobra.Command {
	var server, file, tokenType, audience, scope, format string
	cmd := &cobra.Command{
		Use:   "exchange --server URL [--subject-token-file F]",
		Short: "Trade this workload's identity token (JWT) for a short-lived aicred token (RFC 8693)",
		Long: `Reads the workload's JWT from --subject-token-file, or stdin, and calls the
aicred server's /oauth/token. Prints the access token on stdout and its id
and expiry on stderr (or the whole response, with token_id and expires_at,
as JSON with --format json). In GitHub Actions, Kubernetes or SPIFFE the JWT comes from
the platform: a projected service-account token file, the Actions OIDC
endpoint, or the SPIFFE workload API.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" {
				server = os.Getenv("AICRED_SERVER")
			}
			if server == "" {
				return usageErr("--server (or AICRED_SERVER) is required")
			}
			if err := checkServerURL(server); err != nil {
				return usageErr(err.Error())
			}
			var r io.Reader = a.stdin
			if file != "" {
				fh, err := os.Open(file)
				if err != nil {
					return errExit(err)
				}
				defer fh.Close()
				r = fh
			}
			raw, err := io.ReadAll(io.LimitReader(r, 64<<10))
			if err != nil {
				return errExit(err)
			}
			subject := strings.TrimSpace(string(raw))
			if subject == "" {
				return usageErr("no subject token on input")
			}
			form := url.Values{
				"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
				"subject_token":      {subject},
				"subject_token_type": {tokenType},
			}
			if audience != "" {
				form.Set("audience", audience)
			}
			if scope != "" {
				form.Set("scope", scope)
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, strings.TrimRight(server, "/")+"/oauth/token", strings.NewReader(form.Encode()))
			if err != nil {
				return errExit(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			// Redirects are not followed: a redirect would resend the
			// workload's identity token to wherever it points.
			client := &http.Client{Timeout: 30 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Do(req)
			if err != nil {
				return errExit(fmt.Errorf("token exchange: %w", err))
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			var out struct {
				AccessToken string `json:"access_token"`
				ExpiresIn   int64  `json:"expires_in"`
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			_ = json.Unmarshal(body, &out)
			if resp.StatusCode != http.StatusOK || out.AccessToken == "" {
				return errExit(fmt.Errorf("token exchange refused: HTTP %d %s %s", resp.StatusCode, out.Error, out.Description))
			}
			// The response (RFC 8693) names no grant: whoami does.
			id, expires := "", time.Now().Add(time.Duration(out.ExpiresIn)*time.Second).UTC().Truncate(time.Second)
			if g, err := whoami(cmd.Context(), client, server, out.AccessToken); err != nil {
				fmt.Fprintf(a.stderr, "aicred: warning: the token's id is unknown: %v\n", err)
			} else {
				id, expires = g.ID, g.ExpiresAt
			}
			var full map[string]any
			if err := json.Unmarshal(body, &full); err != nil {
				return errExit(fmt.Errorf("token exchange: unreadable answer: %w", err))
			}
			full["token_id"], full["expires_at"] = id, expires
			return errExit(printIssued(a, format, out.AccessToken, id, expires, full))
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "aicred server base URL (default $AICRED_SERVER)")
	f.StringVar(&file, "subject-token-file", "", "file holding the workload's JWT (default stdin)")
	f.StringVar(&tokenType, "subject-token-type", "urn:ietf:params:oauth:token-type:jwt", "jwt or id_token token type URN")
	f.StringVar(&audience, "audience", "", "narrow the token to this audience")
	f.StringVar(&scope, "scope", "", "narrow the token's scope (space separated)")
	f.StringVarP(&format, "format", "f", "text", "text (the token on stdout) or json (the whole response, token_id and expires_at)")
	return cmd
}

// checkServerURL refuses to send an identity token in clear text to
// anything but this machine.
func checkServerURL(server string) error {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--server %q: want http(s)://host[:port]", server)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("--server %q: plain http only to a loopback address; use https", server)
	}
	return fmt.Errorf("--server %q: want http(s)://host[:port]", server)
}

// whoami asks the server which grant a workload token stands for.
func whoami(ctx context.Context, client *http.Client, server, token string) (*aicred.Grant, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(server, "/")+"/aicred/v1/whoami", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("whoami: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Grant *aicred.Grant `json:"grant"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Grant == nil {
		return nil, fmt.Errorf("whoami: HTTP %d", resp.StatusCode)
	}
	return out.Grant, nil
}
