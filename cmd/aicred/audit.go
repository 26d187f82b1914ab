package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
	"github.com/aicred/aicred/seal"
)

func newAuditCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "The tamper-evident, hash-chained audit log",
	}
	var head, format string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Walk the hash chain; name the first modified, deleted, inserted or reordered record",
		Long: `Walk the whole audit chain. Exit 0 when it holds, 1 when a record breaks it
(its position is printed), 2 when the log cannot be read. --head SEQ:HASH, a
head printed by an earlier verify and kept elsewhere, also proves the log was
not cut short or rewritten wholesale.

Then check every signed checkpoint (written by 'aicred serve' every
audit.checkpoint_every records or audit.checkpoint_interval): its Ed25519
signature, with the key derived from the master key (old master keys'
public halves are kept in the key file when retired), and that the chain
passes through the head it signed. A rewrite of the whole log that also
recomputes every hash and the head fails here, for every record up to the
last checkpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var want *aicred.AuditHead
			if head != "" {
				seqStr, hash, ok := strings.Cut(head, ":")
				seq, err := strconv.ParseInt(seqStr, 10, 64)
				if !ok || err != nil || hash == "" {
					return usageErr("--head wants SEQ:HASH as printed by 'aicred audit verify'")
				}
				want = &aicred.AuditHead{Seq: seq, Hash: hash}
			}
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			res, err := st.VerifyAudit(ctx)
			if err != nil {
				return errExit(err)
			}
			if res.OK() && want != nil {
				// The chain holds; it must also still contain the kept head.
				evs, err := st.ListAudit(ctx, want.Seq, 1)
				if err != nil {
					return errExit(err)
				}
				if len(evs) == 0 || evs[0].Hash != want.Hash {
					res.BadSeq, res.Problem = want.Seq, "the kept head is no longer in the log: it was cut short or rewritten"
				}
			}
			var cps *audit.CheckpointVerification
			if cs, ok := st.(audit.CheckpointStore); ok && res.OK() {
				cv, err := verifyCheckpoints(ctx, st, cs)
				if err != nil {
					return errExit(err)
				}
				cps = &cv
			}
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				out := struct {
					aicred.AuditVerification
					Checkpoints *audit.CheckpointVerification `json:"checkpoints,omitempty"`
				}{res, cps}
				if err := enc.Encode(out); err != nil {
					return errExit(err)
				}
			} else {
				if res.OK() {
					fmt.Fprintf(a.stdout, "audit log OK: %d record(s), head %d:%s\n", res.Records, res.Head.Seq, res.Head.Hash)
				} else {
					fmt.Fprintf(a.stdout, "audit log BROKEN at record %d: %s (%d record(s) verified before it)\n", res.BadSeq, res.Problem, res.Head.Seq)
				}
				switch {
				case cps == nil:
				case !cps.OK():
					fmt.Fprintf(a.stdout, "audit checkpoints BROKEN at record %d: %s\n", cps.BadSeq, cps.Problem)
				case cps.Checkpoints == 0:
					fmt.Fprintln(a.stdout, "audit checkpoints: none yet (aicred serve signs the head periodically)")
				default:
					fmt.Fprintf(a.stdout, "audit checkpoints OK: %d signed, the last at record %d; records after it are covered by the chain only\n", cps.Checkpoints, cps.Last)
				}
			}
			if !res.OK() || (cps != nil && !cps.OK()) {
				return &exitCode{code: exitFindings}
			}
			return nil
		},
	}
	verify.Flags().StringVar(&head, "head", "", "a head SEQ:HASH kept from an earlier verify")
	verify.Flags().StringVarP(&format, "format", "f", "text", "text or json")

	var output string
	var from int64
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the audit log as JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			var n int64
			err = writeOutput(a.stdout, output, func(w io.Writer) error {
				var err error
				n, err = audit.Export(ctx, w, st, from)
				return err
			})
			if err != nil {
				return errExit(err)
			}
			fmt.Fprintf(a.stderr, "aicred: exported %d audit record(s)\n", n)
			return nil
		},
	}
	export.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	export.Flags().Int64Var(&from, "from", 1, "first sequence number to export")
	cmd.AddCommand(verify, export)
	return cmd
}

// verifyCheckpoints checks the store's checkpoints with the master
// keyring named by the environment (never created here: without it the
// checkpoints cannot be verified, and that is a failure).
func verifyCheckpoints(ctx context.Context, log aicred.AuditLog, cs audit.CheckpointStore) (audit.CheckpointVerification, error) {
	cps, err := cs.ListCheckpoints(ctx)
	if err != nil || len(cps) == 0 {
		return audit.CheckpointVerification{}, err
	}
	var ring *seal.Keyring
	if v := os.Getenv(seal.EnvKey); v != "" {
		ring, err = seal.ParseEnv(v)
	} else {
		var path string
		if path, err = seal.DefaultKeyFile(); err == nil {
			ring, err = seal.LoadFile(path)
		}
	}
	if err != nil {
		return audit.CheckpointVerification{Checkpoints: len(cps), BadSeq: cps[0].Seq,
			Problem: fmt.Sprintf("%d checkpoint(s), but no master key to verify them: %v", len(cps), err)}, nil
	}
	keys, err := ring.CheckpointPublicKeys()
	if err != nil {
		return audit.CheckpointVerification{}, err
	}
	return audit.VerifyStoreCheckpoints(ctx, log, cs, keys)
}
