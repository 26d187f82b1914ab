// Command aicred takes AI/ML credentials out of the places they leak.
// This package only parses flags and wires packages together: one file per
// command.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
)

// Exit codes shared by every command.
const (
	exitOK       = 0
	exitFindings = 1 // scan found credentials; audit verify found tampering
	exitError    = 2 // usage or runtime error
)

// exitError carries a process exit code through cobra.
type exitCode struct {
	code int
	err  error
}

func (e *exitCode) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit %d", e.code)
}

// app holds what every command shares: standard streams and the logger.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
	store          string // --store: a SQLite file or a postgres:// URL
	config         string // --config: serve's YAML configuration (default $AICRED_CONFIG)

	// loaded caches the configuration read by serverConfig.
	loaded    *serverConfig
	loadedErr error
	didLoad   bool
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "aicred",
		Short:         "Find, inventory, fence and revoke AI/ML credentials",
		Long:          "aicred finds AI/ML credentials wherever they sprawl, keeps an inventory of what each one unlocks,\ntrades workload identities for short-lived scoped tokens, and revokes in one command.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       aicred.BuildInfo().String(),
	}
	root.SetVersionTemplate("aicred {{.Version}}\n")
	root.PersistentFlags().StringVar(&a.store, "store", "",
		"inventory store: a SQLite file or a postgres:// URL (default: the config's store:, else $AICRED_STORE, else ~/.local/share/aicred/aicred.db)")
	root.PersistentFlags().StringVar(&a.config, "config", "",
		"the server configuration (YAML) 'aicred serve' reads; every command takes its store: from it (default $"+envConfig+")")
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.AddCommand(
		newVersionCmd(a),
		newScanCmd(a),
		newWatchCmd(a),
		newCatalogCmd(a),
		newInventoryCmd(a),
		newCredentialCmd(a),
		newMasterKeyCmd(a),
		newAuditCmd(a),
		newReportCmd(a),
		newServeCmd(a),
		newTokenCmd(a),
		newAdminTokenCmd(a),
		newUsageCmd(a),
		newPricesCmd(a),
		newTraceCmd(a),
		newRunCmd(a),
	)
	return root
}

func main() {
	ctx, stop := signalContext()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// signalContext ends on SIGINT or SIGTERM, for graceful shutdown.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{
		stdin: stdin, stdout: stdout, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ec *exitCode
	if errors.As(err, &ec) {
		if ec.err != nil {
			fmt.Fprintln(stderr, "aicred:", ec.err)
		}
		return ec.code
	}
	fmt.Fprintln(stderr, "aicred:", err)
	return exitError
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the aicred version and the commit it was built from",
		Long: `Print the module version (a release tag, or the version go install resolved),
the VCS commit the binary was built from with "modified" when the work tree had
uncommitted changes, the commit's time, and the Go version. --version prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(a.stdout, "aicred", aicred.BuildInfo())
			return nil
		},
	}
}
