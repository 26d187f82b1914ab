package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
)

// newCredentialSuspendCmd and newCredentialReinstateCmd set a held
// credential's status by hand: a suspended credential is kept (sealed,
// traceable, rotatable) but no gateway sharing the store injects it
// until it is reinstated. The change reaches every gateway at once (the
// store publishes it as a held-key revocation) and is an audit record
// (held.status) naming who made it and why.
func newCredentialSuspendCmd(a *app) *cobra.Command {
	return heldStatusCmd(a, "suspend", aicred.HeldSuspended,
		"Suspend a held credential: every gateway stops injecting it at once, nothing is revoked at the provider",
		"  aicred credential suspend hc_0123 --reason \"seen in a CI log; checking\"")
}

func newCredentialReinstateCmd(a *app) *cobra.Command {
	return heldStatusCmd(a, "reinstate", aicred.HeldActive,
		"Reinstate a suspended held credential: gateways inject it again (a revoked one stays revoked)",
		"  aicred credential reinstate hc_0123 --reason \"false alarm: the log held a test key\"")
}

func heldStatusCmd(a *app, verb string, to aicred.HeldStatus, short, example string) *cobra.Command {
	var reason, format string
	cmd := &cobra.Command{
		Use:     verb + " ID --reason TEXT",
		Short:   short,
		Example: example,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return usageErr("--reason is required: it is kept in the audit log")
			}
			if format != "text" && format != "json" {
				return usageErr("--format must be text or json")
			}
			ctx := actorContext(cmd.Context())
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			h, err := st.GetHeldCredential(ctx, args[0])
			if err != nil {
				return errExit(err)
			}
			from := h.Status
			if from == "" {
				from = aicred.HeldActive
			}
			if from == aicred.HeldRevoked {
				return errExit(aicred.Errorf(aicred.ErrConflict,
					"held credential %s is revoked and stays revoked: hold a new secret with 'aicred credential replace %s'", h.ID, h.ID))
			}
			if from != to {
				if h, err = st.SetHeldStatus(ctx, h.ID, to, reason); err != nil {
					return errExit(err)
				}
			}
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"id": h.ID, "from": from, "status": h.Status, "changed": from != to})
			}
			if from == to {
				fmt.Fprintf(a.stdout, "%s is %s already: nothing changed\n", h.ID, to)
				return nil
			}
			fmt.Fprintf(a.stdout, "%s (%s/%s, %s): %s -> %s\n", h.ID, h.Provider, h.Kind, h.Fingerprint, from, h.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit log; required)")
	cmd.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	return cmd
}
