package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/posture"
	"github.com/aicred/aicred/report"
)

func newReportCmd(a *app) *cobra.Command {
	var format, output, policy string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Posture report over the inventory, mapped to the OWASP NHI Top 10 and NIST CSF 2.0",
		Example: `  aicred report --format html -o posture.html
  aicred report --format sarif -o posture.sarif
  aicred report --format md --policy policy.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !contains(report.PostureFormats(), format) {
				return usageErr(fmt.Sprintf("unknown format %q (want %s)", format, strings.Join(report.PostureFormats(), ", ")))
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
			details, err := loadDetails(ctx, st, aicred.CredentialFilter{})
			if err != nil {
				return errExit(err)
			}
			inv, err := postureInventory(ctx, st, details)
			if err != nil {
				return errExit(err)
			}
			rep := posture.EvaluateInventory(inv, cfg, time.Now())
			return errExit(writeOutput(a.stdout, output, func(w io.Writer) error { return report.WritePosture(w, format, rep) }))
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "md", "md, json, html or sarif")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	cmd.Flags().StringVar(&policy, "policy", "", "posture thresholds (YAML); default built-in")
	return cmd
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
