package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/discover"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/seal"
)

// maxSecretInput bounds what is read for one secret: a GCP service-account
// file is a few KB; anything far larger is a mistake.
const maxSecretInput = 64 << 10

func newCredentialCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "credential",
		Short: "Upstream credentials aicred holds (sealed) to use on workloads' behalf",
	}
	cmd.AddCommand(newCredentialAddCmd(a), newCredentialListCmd(a),
		newCredentialRotateCmd(a), newCredentialRevokeCmd(a), newCredentialReplaceCmd(a),
		newCredentialSuspendCmd(a), newCredentialReinstateCmd(a))
	return cmd
}

func newCredentialAddCmd(a *app) *cobra.Command {
	var prov, kind, file, id, env, expires string
	var labels []string
	cmd := &cobra.Command{
		Use:   "add --provider P --kind K [--file F]",
		Short: "Hold an upstream credential: read it from stdin or a file (never from the command line) and store it sealed",
		Example: `  aicred credential add --provider openai --kind project-key < key.txt
  vault kv get -field=key secret/openai | aicred credential add --provider openai --kind project-key --env prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, ok := provider.LookupKind(prov, kind)
			if !ok {
				return usageErr(fmt.Sprintf("unknown credential kind %s/%s (see 'aicred catalog')", prov, kind))
			}
			var exp time.Time
			if expires != "" {
				t, err := parseDate(expires)
				if err != nil {
					return usageErr("--expires: " + err.Error())
				}
				exp = t
			}
			lbl := map[string]string{}
			for _, l := range labels {
				key, val, ok := strings.Cut(l, "=")
				if !ok || key == "" {
					return usageErr(fmt.Sprintf("--label %q: want KEY=VALUE", l))
				}
				lbl[key] = val
			}
			secret, err := readSecret(a.stdin, file)
			if err != nil {
				return errExit(err)
			}
			if !discover.MatchesKind(k, secret) {
				fmt.Fprintf(a.stderr, "aicred: warning: the secret does not look like a %s (%s); holding it anyway\n", k.Describe(), k.Rule.Description)
			}
			ring, err := seal.Default()
			if err != nil {
				return errExit(err)
			}
			if id == "" {
				id = aicred.NewHeldID()
			}
			h := &aicred.HeldCredential{
				ID: id, Provider: prov, Kind: kind, Fingerprint: secret.Fingerprint(), Redacted: secret.Redacted(),
				Environment: env, Labels: lbl, ExpiresAt: exp,
			}
			h.Sealed, h.KeyID, err = ring.Seal(secret, h.AAD())
			if err != nil {
				return errExit(err)
			}
			ctx := actorContext(cmd.Context())
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			if err := st.PutHeldCredential(ctx, h); err != nil {
				return errExit(err)
			}
			fmt.Fprintf(a.stdout, "holding %s: %s/%s %s (%s), sealed under master key %s\n",
				h.ID, prov, kind, h.Redacted, h.Fingerprint, h.KeyID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&prov, "provider", "", "provider id (required)")
	f.StringVar(&kind, "kind", "", "credential kind id (required)")
	f.StringVar(&file, "file", "", "read the secret from this file instead of stdin")
	f.StringVar(&id, "id", "", "id of the held credential (default: generated)")
	f.StringVar(&env, "env", "", "environment this credential serves (prod, staging...)")
	f.StringVar(&expires, "expires", "", "expiry date (YYYY-MM-DD or RFC 3339)")
	f.StringSliceVar(&labels, "label", nil, "KEY=VALUE label (repeatable)")
	_ = cmd.MarkFlagRequired("provider")
	_ = cmd.MarkFlagRequired("kind")
	return cmd
}

// readSecret reads one secret from a file or stdin, trimming the trailing
// newline that echo and editors add. Errors never include the content.
func readSecret(stdin io.Reader, file string) (aicred.Secret, error) {
	r := stdin
	if file != "" {
		fh, err := os.Open(file)
		if err != nil {
			return aicred.Secret{}, fmt.Errorf("secret file: %w", err)
		}
		defer fh.Close()
		r = fh
	}
	data, err := io.ReadAll(io.LimitReader(r, maxSecretInput+1))
	if err != nil {
		return aicred.Secret{}, fmt.Errorf("read secret: %w", err)
	}
	if len(data) > maxSecretInput {
		return aicred.Secret{}, aicred.Errorf(aicred.ErrInvalid, "secret input is larger than %d bytes", maxSecretInput)
	}
	data = bytes.TrimRight(data, "\r\n")
	if len(bytes.TrimSpace(data)) == 0 {
		return aicred.Secret{}, aicred.Errorf(aicred.ErrInvalid, "no secret on input: pipe it on stdin or give --file")
	}
	return aicred.NewSecret(string(data)), nil
}

func newCredentialListCmd(a *app) *cobra.Command {
	var format, prov string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List held credentials (secrets are never shown)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			hs, err := st.ListHeldCredentials(ctx, aicred.HeldFilter{Provider: prov})
			if err != nil {
				return errExit(err)
			}
			switch format {
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if hs == nil {
					hs = []aicred.HeldCredential{}
				}
				return enc.Encode(map[string]any{"held": hs})
			case "text":
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tPROVIDER/KIND\tREDACTED\tENV\tSTATUS\tCREATED\tROTATED\tMASTER KEY")
				for _, h := range hs {
					rot := "-"
					if !h.RotatedAt.IsZero() {
						rot = h.RotatedAt.Format("2006-01-02")
					}
					status := string(h.Status)
					if status == "" {
						status = string(aicred.HeldActive)
					}
					fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Provider, h.Kind, h.Redacted,
						h.Environment, status, h.CreatedAt.Format("2006-01-02"), rot, h.KeyID)
				}
				return tw.Flush()
			}
			return usageErr("--format must be text or json")
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	cmd.Flags().StringVar(&prov, "provider", "", "only this provider")
	return cmd
}

func newMasterKeyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "master-key",
		Short: "The master key that wraps the data key of every held credential",
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Add a new master key, re-wrap every data key under it, then retire the old keys",
		Long: `Rotation without downtime: a new key is added to the keyring and made primary
(old keys stay, so every process can still open every record), every held
credential's data key is re-wrapped under the new key in one transaction
(secrets are never decrypted), and only then are the old keys retired.
With AICRED_MASTER_KEY, set it to "NEW,OLD", run this, then set it to "NEW".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ring, err := seal.Default()
			if err != nil {
				return errExit(err)
			}
			ctx := actorContext(cmd.Context())
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			old := ring.IDs()
			newID := ring.Primary()
			if os.Getenv(seal.EnvKey) == "" {
				if newID, err = ring.Rotate(); err != nil {
					return errExit(err)
				}
			}
			n, err := st.RewrapHeld(ctx, func(h *aicred.HeldCredential) ([]byte, string, error) {
				return ring.Rewrap(h.Sealed, h.AAD())
			})
			if err != nil {
				return errExit(fmt.Errorf("re-wrap: %w (the new key stays in the keyring; run rotate again)", err))
			}
			retired := 0
			if os.Getenv(seal.EnvKey) == "" {
				for _, id := range old {
					if id != newID {
						if err := ring.Retire(id); err != nil {
							return errExit(err)
						}
						retired++
					}
				}
			}
			fmt.Fprintf(a.stdout, "master key rotated: new primary %s, %d held credential(s) re-wrapped, %d old key(s) retired\n", newID, n, retired)
			return nil
		},
	}
	cmd.AddCommand(rotate)
	return cmd
}
