package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/respond"
	"github.com/aicred/aicred/seal"
)

// respondLookup resolves kinds for rotate, revoke and replace; tests give
// it kinds whose admin API is a local server.
var respondLookup = provider.LookupKind

// respondFlags are what rotate, revoke and replace share.
type respondFlags struct {
	baseURLs []string
	reason   string
	format   string
}

func (f *respondFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.baseURLs, "base-url", nil, "PROVIDER=URL or PROVIDER/KIND=URL: the provider's API base for admin calls and liveness checks (repeatable)")
	fl.StringVar(&f.reason, "reason", "", "why (recorded in the audit log)")
	fl.StringVarP(&f.format, "format", "f", "text", "text or json")
}

// responder opens the store and keyring and returns a Responder over them;
// the caller closes the store.
func (a *app) responder(ctx context.Context, f *respondFlags) (*respond.Responder, aicred.Store, error) {
	if f.format != "text" && f.format != "json" {
		return nil, nil, usageErr("--format must be text or json")
	}
	rc, err := a.respondConfig()
	if err != nil {
		return nil, nil, errExit(err)
	}
	urls := map[string]string{}
	for k, v := range rc.BaseURLs { // respond.base_urls; --base-url wins
		urls[k] = v
	}
	for _, b := range f.baseURLs {
		k, v, ok := strings.Cut(b, "=")
		if !ok || k == "" || v == "" {
			return nil, nil, usageErr(fmt.Sprintf("--base-url %q: want PROVIDER=URL", b))
		}
		if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
			return nil, nil, usageErr(fmt.Sprintf("--base-url %q: the URL must start with https:// or http://", b))
		}
		urls[k] = v
	}
	ring, err := seal.Default()
	if err != nil {
		return nil, nil, errExit(err)
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, errExit(err)
	}
	x, err := respond.New(respond.Options{Store: st, Sealer: ring, BaseURLs: urls, Lookup: respondLookup, Log: a.log})
	if err != nil {
		st.Close()
		return nil, nil, errExit(err)
	}
	return x, st, nil
}

func newCredentialRotateCmd(a *app) *cobra.Command {
	var f respondFlags
	var admin string
	var resume, rollback bool
	cmd := &cobra.Command{
		Use:   "rotate ID [--admin HELD_ID] [--resume | --rollback]",
		Short: "Rotate a held credential through the provider's admin API: create, seal, verify, switch every gateway, revoke the old one, verify it is dead",
		Long: `Rotation is a state machine recorded in the store, each step in the audit log:
started, created, sealed, verified_new, switched, revoked_old, verified_old_dead, done.
If it stops (a crash, a provider error), run it again with --resume (ID: the
rotation id, or the held credential's id), or undo it with --rollback while the
old credential is not yet revoked (the old secret goes back, the new one is
revoked at the provider). Kinds without an admin API: see 'credential replace'.`,
		Example: `  aicred credential rotate hc_0123 --admin hc_openai_admin
  aicred credential rotate rot_4567 --resume`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if resume && rollback {
				return usageErr("--resume and --rollback exclude each other")
			}
			if (resume || rollback) && admin != "" {
				return usageErr("--admin is recorded when the rotation starts; --resume and --rollback take none")
			}
			ctx := actorContext(cmd.Context())
			x, st, err := a.responder(ctx, &f)
			if err != nil {
				return err
			}
			defer st.Close()
			id := args[0]
			var r *aicred.Rotation
			switch {
			case resume || rollback:
				if !strings.HasPrefix(id, "rot_") {
					act, err := x.Active(ctx, id)
					if err != nil {
						return errExit(err)
					}
					id = act.ID
				}
				if resume {
					r, err = x.Resume(ctx, id)
				} else {
					r, err = x.Rollback(ctx, id)
				}
			default:
				r, err = x.Rotate(ctx, id, admin)
			}
			if werr := writeRotation(a.stdout, f.format, r, err); werr != nil {
				return werr
			}
			return errExit(err)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&admin, "admin", "", "held credential that authenticates the provider's admin API (for kinds that cannot manage themselves)")
	cmd.Flags().BoolVar(&resume, "resume", false, "continue a rotation from its recorded state")
	cmd.Flags().BoolVar(&rollback, "rollback", false, "undo a rotation whose old credential is not revoked yet")
	return cmd
}

func writeRotation(w io.Writer, format string, r *aicred.Rotation, err error) error {
	if format == "json" {
		out := map[string]any{"rotation": r}
		if err != nil {
			out["error"] = err.Error()
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if r == nil {
		return nil
	}
	fmt.Fprintf(w, "rotation %s of %s (%s/%s): %s\n", r.ID, r.HeldID, r.Provider, r.Kind, r.State)
	fmt.Fprintf(w, "  old: %s %s", r.OldRedacted, r.OldFingerprint)
	if r.OldProviderID != "" {
		fmt.Fprintf(w, " (provider id %s)", r.OldProviderID)
	}
	fmt.Fprintln(w)
	if r.NewFingerprint != "" {
		fmt.Fprintf(w, "  new: %s %s", r.NewRedacted, r.NewFingerprint)
		if r.NewProviderID != "" {
			fmt.Fprintf(w, " (provider id %s)", r.NewProviderID)
		}
		fmt.Fprintln(w)
	}
	if err != nil && !r.State.Terminal() {
		fmt.Fprintf(w, "  stopped: resume with 'aicred credential rotate %s --resume'", r.ID)
		if r.State.CanRollBack() {
			fmt.Fprintf(w, " or undo with 'aicred credential rotate %s --rollback'", r.ID)
		}
		fmt.Fprintln(w)
	}
	return nil
}

func newCredentialRevokeCmd(a *app) *cobra.Command {
	var f respondFlags
	var admin string
	cmd := &cobra.Command{
		Use:   "revoke ID [--admin HELD_ID]",
		Short: "Revoke a held credential: at the provider where its admin API allows, and every aicred token that may use it; then check it is dead",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := actorContext(cmd.Context())
			x, st, err := a.responder(ctx, &f)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := x.Revoke(ctx, args[0], admin, cause(f.reason, "aicred credential revoke"))
			if err != nil {
				return errExit(err)
			}
			if f.format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			if res.AtProvider {
				fmt.Fprintf(a.stdout, "revoked %s (%s) at the provider\n", res.HeldID, res.Fingerprint)
			} else {
				fmt.Fprintf(a.stdout, "%s (%s): the provider has no admin API for this kind; revoke it at %s\n", res.HeldID, res.Fingerprint, res.RevokeURL)
			}
			fmt.Fprintf(a.stdout, "revoked %d aicred token(s) using it\n", res.Grants)
			fmt.Fprintf(a.stdout, "liveness: %s%s\n", res.Liveness.State, detail(res.Liveness.Detail))
			if res.Liveness.State == aicred.Live || res.Liveness.State == aicred.LiveNoPermission {
				fmt.Fprintf(a.stdout, "STILL LIVE: revoke it at %s\n", res.RevokeURL)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&admin, "admin", "", "held credential that authenticates the provider's admin API")
	return cmd
}

func newCredentialReplaceCmd(a *app) *cobra.Command {
	var f respondFlags
	cmd := &cobra.Command{
		Use:   "replace ID < new-secret",
		Short: "Guided rotation: hold a new secret made at the provider's console (read from stdin), after checking it works; then check the old one is dead",
		Example: `  # create a new key at the provider's console, then:
  pbpaste | aicred credential replace hc_0123`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			secret, err := readSecret(a.stdin, "")
			if err != nil {
				return errExit(err)
			}
			ctx := actorContext(cmd.Context())
			x, st, err := a.responder(ctx, &f)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := x.Replace(ctx, args[0], secret, cause(f.reason, "aicred credential replace"))
			if err != nil {
				return errExit(err)
			}
			if f.format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprintf(a.stdout, "%s now holds %s (new key liveness: %s%s); every gateway drops the old key\n",
				res.HeldID, res.NewFingerprint, res.New.State, detail(res.New.Detail))
			switch {
			case res.OldLive:
				fmt.Fprintf(a.stdout, "the old key %s is STILL LIVE: revoke it at %s\n",
					res.OldFingerprint, res.RevokeURL)
			case res.Old.State == aicred.Dead:
				fmt.Fprintf(a.stdout, "the old key %s is dead\n", res.OldFingerprint)
			default:
				fmt.Fprintf(a.stdout, "the old key %s could not be checked (%s%s): make sure it is revoked at %s\n",
					res.OldFingerprint, res.Old.State, detail(res.Old.Detail), res.RevokeURL)
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func cause(reason, def string) string {
	if reason != "" {
		return reason
	}
	return def
}

func detail(d string) string {
	if d == "" {
		return ""
	}
	return " (" + d + ")"
}
