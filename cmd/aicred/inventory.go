package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/posture"
	"github.com/aicred/aicred/report"
)

// recordBatch is how many observations go to the store per transaction.
const recordBatch = 1000

// record stores findings as sightings (and their liveness results) and
// returns what changed. origin names what was scanned.
func record(ctx context.Context, st aicred.Store, findings []*aicred.Finding, origin string) (aicred.RecordSummary, error) {
	var total aicred.RecordSummary
	scanID := newScanID()
	now := time.Now()
	var checks []aicred.LivenessCheck
	for start := 0; start < len(findings); start += recordBatch {
		batch := findings[start:min(start+recordBatch, len(findings))]
		obs := make([]aicred.Observation, 0, len(batch))
		for _, f := range batch {
			obs = append(obs, aicred.ObservationOf(f, origin, scanID, now))
			switch f.Verification {
			case aicred.Live, aicred.Dead, aicred.Unknown, aicred.LiveNoPermission:
				checks = append(checks, aicred.LivenessCheck{Fingerprint: f.Fingerprint, At: now, Result: f.Verification, Detail: f.VerifyDetail})
			}
		}
		sum, err := st.RecordSightings(ctx, obs)
		if err != nil {
			return total, fmt.Errorf("record sightings: %w", err)
		}
		total.NewCredentials += sum.NewCredentials
		total.NewSightings += sum.NewSightings
		total.Refreshed += sum.Refreshed
	}
	if len(checks) > 0 {
		if err := st.RecordLiveness(ctx, dedupChecks(checks)); err != nil {
			return total, fmt.Errorf("record liveness: %w", err)
		}
	}
	return total, nil
}

// dedupChecks keeps one check per fingerprint: the same key found in ten
// places was probed once.
func dedupChecks(cs []aicred.LivenessCheck) []aicred.LivenessCheck {
	seen := map[aicred.Fingerprint]bool{}
	out := cs[:0]
	for _, c := range cs {
		if !seen[c.Fingerprint] {
			seen[c.Fingerprint] = true
			out = append(out, c)
		}
	}
	return out
}

func newScanID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "scan_" + time.Now().UTC().Format("20060102T150405Z") + "_" + hex.EncodeToString(b[:])
}

// originOf names a scanned target for sightings: an absolute path, or
// "stdin".
func originOf(target string) string {
	if target == "-" {
		return "stdin"
	}
	if abs, err := filepath.Abs(target); err == nil {
		return abs
	}
	return target
}

func newInventoryCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "The credentials aicred has seen: where, what they unlock, their history",
	}
	cmd.AddCommand(newInventoryImportCmd(a), newInventoryListCmd(a), newInventoryShowCmd(a), newInventorySetCmd(a))
	return cmd
}

func newInventoryImportCmd(a *app) *cobra.Command {
	var origin string
	cmd := &cobra.Command{
		Use:   "import REPORT.json",
		Short: "Record the findings of a saved JSON scan report as sightings",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fh, err := os.Open(args[0])
			if err != nil {
				return errExit(err)
			}
			defer fh.Close()
			findings, err := report.ReadJSON(fh)
			if err != nil {
				return errExit(fmt.Errorf("%s: %w", args[0], err))
			}
			ctx := actorContext(cmd.Context())
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			if origin == "" {
				origin = "report:" + filepath.Base(args[0])
			}
			sum, err := record(ctx, st, findings, origin)
			if err != nil {
				return errExit(err)
			}
			fmt.Fprintf(a.stdout, "imported %d findings: %d new credentials, %d new sightings, %d refreshed\n",
				len(findings), sum.NewCredentials, sum.NewSightings, sum.Refreshed)
			return nil
		},
	}
	cmd.Flags().StringVar(&origin, "origin", "", "what the report scanned (default: report:<file name>)")
	return cmd
}

type listFlags struct {
	provider, kind, env, owner, risk, format, verification string
	policy                                                 string
}

func newInventoryListCmd(a *app) *cobra.Command {
	var fl listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List credentials with what they unlock, sprawl, liveness and risk",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fl.format != "text" && fl.format != "json" {
				return usageErr("--format must be text or json")
			}
			minRisk := posture.None
			if fl.risk != "" {
				s, err := posture.ParseSeverity(fl.risk)
				if err != nil {
					return usageErr(err.Error())
				}
				minRisk = s
			}
			cfg, err := loadPolicy(fl.policy)
			if err != nil {
				return errExit(err)
			}
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			details, err := loadDetails(ctx, st, aicred.CredentialFilter{
				Provider: fl.provider, Kind: fl.kind, Environment: fl.env, Owner: fl.owner,
				Verification: aicred.Verification(fl.verification),
			})
			if err != nil {
				return errExit(err)
			}
			inv, err := postureInventory(ctx, st, details)
			if err != nil {
				return errExit(err)
			}
			rep := posture.EvaluateInventory(inv, cfg, time.Now())
			var rows []posture.CredentialPosture
			for _, cp := range rep.Credentials {
				if cp.Worst >= minRisk {
					rows = append(rows, cp)
				}
			}
			if fl.format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"credentials": rows})
			}
			return writeInventoryTable(a.stdout, rows)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.provider, "provider", "", "only this provider")
	f.StringVar(&fl.kind, "kind", "", "only this kind")
	f.StringVar(&fl.env, "environment", "", "only credentials used in this environment")
	f.StringVar(&fl.owner, "owner", "", "only credentials with this owner")
	f.StringVar(&fl.verification, "verification", "", "only this latest liveness result (live, dead, unknown, live-no-permission, not-checked)")
	f.StringVar(&fl.risk, "risk", "", "only credentials at or above this severity (critical, high, medium, low, info)")
	f.StringVar(&fl.policy, "policy", "", "posture thresholds (YAML); default built-in")
	f.StringVarP(&fl.format, "format", "f", "text", "text or json")
	return cmd
}

func writeInventoryTable(w io.Writer, rows []posture.CredentialPosture) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FINGERPRINT\tPROVIDER/KIND\tREDACTED\tRISK\tSEVERITY\tLIVENESS\tSPRAWL\tAGE\tUNLOCKS")
	for _, r := range rows {
		age := "-"
		if r.AgeDays >= 0 {
			age = fmt.Sprintf("%dd", r.AgeDays)
		}
		caps := make([]string, len(r.Capabilities))
		for i, cp := range r.Capabilities {
			caps[i] = string(cp)
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", r.Fingerprint.Short(), r.Provider, r.Kind, r.Redacted,
			r.Risk, r.Worst, r.Verification, r.Sprawl, age, strings.Join(caps, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d credential(s)\n", len(rows))
	return err
}

func newInventoryShowCmd(a *app) *cobra.Command {
	var format, policy string
	cmd := &cobra.Command{
		Use:   "show FINGERPRINT",
		Short: "Show one credential: sightings, liveness history, posture findings",
		Long:  "FINGERPRINT is sha256:<64 hex>, or a unique prefix of the hex as printed by 'inventory list'.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return usageErr("--format must be text or json")
			}
			cfg, err := loadPolicy(policy)
			if err != nil {
				return errExit(err)
			}
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			fp, err := resolveFingerprint(ctx, st, args[0])
			if err != nil {
				return errExit(err)
			}
			d, err := st.GetCredential(ctx, fp)
			if err != nil {
				return errExit(err)
			}
			rep := posture.Evaluate([]aicred.CredentialDetail{*d}, cfg, time.Now())
			var cp *posture.CredentialPosture
			if len(rep.Credentials) == 1 {
				cp = &rep.Credentials[0]
			}
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"credential": d, "posture": cp})
			}
			return writeCredentialText(a.stdout, d, cp)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	cmd.Flags().StringVar(&policy, "policy", "", "posture thresholds (YAML); default built-in")
	return cmd
}

func writeCredentialText(w io.Writer, d *aicred.CredentialDetail, cp *posture.CredentialPosture) error {
	ew := &errWriter{w: w}
	c := d.Credential
	ew.printf("%s/%s  %s\n", c.Provider, c.Kind, c.Redacted)
	ew.printf("  fingerprint:  %s\n", c.Fingerprint)
	caps := make([]string, len(c.Capabilities))
	for i, cp := range c.Capabilities {
		caps[i] = string(cp)
	}
	ew.printf("  unlocks:      %s\n", strings.Join(caps, ", "))
	ew.printf("  liveness:     %s", c.Verification)
	if !c.VerifiedAt.IsZero() {
		ew.printf(" (%s)", c.VerifiedAt.Format(time.RFC3339))
	}
	ew.printf("\n  held:         %v\n", c.Held)
	ew.printf("  seen:         %d sighting(s) in %d place(s)", c.SightingCount, c.Sprawl)
	if !c.FirstSeen.IsZero() {
		ew.printf(", first %s, last %s", c.FirstSeen.Format("2006-01-02"), c.LastSeen.Format("2006-01-02"))
	}
	ew.printf("\n")
	if c.Owner != "" {
		ew.printf("  owner:        %s\n", c.Owner)
	}
	if len(c.Environments) > 0 {
		ew.printf("  environments: %s\n", strings.Join(c.Environments, ", "))
	}
	if len(c.Workloads) > 0 {
		ew.printf("  workloads:    %s\n", strings.Join(c.Workloads, ", "))
	}
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"created", c.CreatedAt}, {"rotated", c.RotatedAt}, {"expires", c.ExpiresAt}} {
		if !t.at.IsZero() {
			ew.printf("  %-13s %s\n", t.name+":", t.at.Format(time.RFC3339))
		}
	}
	if len(d.Sightings) > 0 {
		ew.printf("\nSightings:\n")
		for _, s := range d.Sightings {
			ew.printf("  %s %s:%d:%d", s.Source, s.Path, s.Line, s.Column)
			if s.Commit != "" {
				ew.printf(" commit %.12s", s.Commit)
			}
			if s.Locator != "" {
				ew.printf(" (%s)", s.Locator)
			}
			if s.Origin != "" {
				ew.printf(" in %s", s.Origin)
			}
			ew.printf("  seen %s\n", s.SeenAt.Format("2006-01-02"))
		}
	}
	if len(d.Liveness) > 0 {
		ew.printf("\nLiveness history:\n")
		for _, l := range d.Liveness {
			ew.printf("  %s  %s  %s\n", l.At.Format(time.RFC3339), l.Result, l.Detail)
		}
	}
	if cp != nil && len(cp.Findings) > 0 {
		ew.printf("\nPosture (risk %d, worst %s):\n", cp.Risk, cp.Worst)
		for _, e := range cp.Findings {
			ew.printf("  [%s] %s %s: %s\n", e.Severity, e.NHI.Ref(), e.Check, e.Reason)
		}
	}
	return ew.err
}

// resolveFingerprint accepts a full fingerprint or a unique hex prefix.
func resolveFingerprint(ctx context.Context, st aicred.Store, arg string) (aicred.Fingerprint, error) {
	if fp := aicred.Fingerprint(arg); fp.Valid() {
		return fp, nil
	}
	prefix := strings.ToLower(strings.TrimPrefix(arg, "sha256:"))
	if len(prefix) < 6 {
		return "", aicred.Errorf(aicred.ErrInvalid, "fingerprint %q: give sha256:<64 hex> or at least 6 hex digits", arg)
	}
	creds, err := st.ListCredentials(ctx, aicred.CredentialFilter{})
	if err != nil {
		return "", err
	}
	var found []aicred.Fingerprint
	for _, c := range creds {
		if strings.HasPrefix(strings.TrimPrefix(string(c.Fingerprint), "sha256:"), prefix) {
			found = append(found, c.Fingerprint)
		}
	}
	switch len(found) {
	case 0:
		return "", aicred.Errorf(aicred.ErrNotFound, "no credential with fingerprint %s", arg)
	case 1:
		return found[0], nil
	}
	return "", aicred.Errorf(aicred.ErrInvalid, "fingerprint prefix %s matches %d credentials", arg, len(found))
}

func newInventorySetCmd(a *app) *cobra.Command {
	var owner string
	var envs, workloads []string
	var created, rotated, expires string
	cmd := &cobra.Command{
		Use:   "set FINGERPRINT",
		Short: "Record what people know about a credential: owner, environments, workloads, lifecycle dates",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u aicred.CredentialUpdate
			f := cmd.Flags()
			if f.Changed("owner") {
				u.Owner = &owner
			}
			if f.Changed("environment") {
				u.Environments = &envs
			}
			if f.Changed("workload") {
				u.Workloads = &workloads
			}
			for _, d := range []struct {
				flag string
				val  string
				dst  **time.Time
			}{{"created", created, &u.CreatedAt}, {"rotated", rotated, &u.RotatedAt}, {"expires", expires, &u.ExpiresAt}} {
				if !f.Changed(d.flag) {
					continue
				}
				t, err := parseDate(d.val)
				if err != nil {
					return usageErr(fmt.Sprintf("--%s: %v", d.flag, err))
				}
				*d.dst = &t
			}
			if len(u.Changed()) == 0 {
				return usageErr("nothing to set: give --owner, --environment, --workload, --created, --rotated or --expires")
			}
			ctx := actorContext(cmd.Context())
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			fp, err := resolveFingerprint(ctx, st, args[0])
			if err != nil {
				return errExit(err)
			}
			c, err := st.SetCredentialMeta(ctx, fp, u)
			if err != nil {
				return errExit(err)
			}
			fmt.Fprintf(a.stdout, "updated %s (%s)\n", c.Fingerprint.Short(), strings.Join(u.Changed(), ", "))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&owner, "owner", "", "owning team or person (empty clears)")
	f.StringSliceVar(&envs, "environment", nil, "environments that use it (repeatable; replaces the set)")
	f.StringSliceVar(&workloads, "workload", nil, "workloads that use it (repeatable; replaces the set)")
	f.StringVar(&created, "created", "", "creation date (YYYY-MM-DD or RFC 3339; empty clears)")
	f.StringVar(&rotated, "rotated", "", "last rotation date")
	f.StringVar(&expires, "expires", "", "expiry date")
	return cmd
}

func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

// loadDetails returns every credential matching f with its sightings and
// liveness history, in a few queries whatever the size of the inventory.
func loadDetails(ctx context.Context, st aicred.Store, f aicred.CredentialFilter) ([]aicred.CredentialDetail, error) {
	return st.ListCredentialDetails(ctx, f)
}

// postureInventory lays beside the credentials the tokens issued by hand
// in the posture check's window, and the held credentials they may use.
func postureInventory(ctx context.Context, st aicred.Store, details []aicred.CredentialDetail) (posture.Inventory, error) {
	inv := posture.Inventory{Credentials: details, Held: map[string]aicred.Fingerprint{}}
	gs, err := st.ListGrants(ctx, aicred.TokenFilter{Class: aicred.TokenWorkload, Issuer: broker.ManualIssuer, IncludeExpired: true})
	if err != nil {
		return inv, fmt.Errorf("tokens issued by hand: %w", err)
	}
	if len(gs) == 0 {
		return inv, nil
	}
	inv.HandIssued = gs
	held, err := st.ListHeldCredentials(ctx, aicred.HeldFilter{})
	if err != nil {
		return inv, fmt.Errorf("held credentials: %w", err)
	}
	for _, h := range held {
		inv.Held[h.ID] = h.Fingerprint
	}
	return inv, nil
}

func loadPolicy(path string) (posture.Config, error) {
	if path == "" {
		return posture.DefaultConfig(), nil
	}
	return posture.LoadConfig(path)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
