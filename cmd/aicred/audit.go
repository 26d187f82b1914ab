package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
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
not cut short or rewritten wholesale.`,
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
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return errExit(err)
				}
			} else if res.OK() {
				fmt.Fprintf(a.stdout, "audit log OK: %d record(s), head %d:%s\n", res.Records, res.Head.Seq, res.Head.Hash)
			} else {
				fmt.Fprintf(a.stdout, "audit log BROKEN at record %d: %s (%d record(s) verified before it)\n", res.BadSeq, res.Problem, res.Head.Seq)
			}
			if !res.OK() {
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
