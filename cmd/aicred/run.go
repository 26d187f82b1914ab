package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred/agent"
)

// forwardedSignals pass from `aicred run` to the job.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

func newRunCmd(a *app) *cobra.Command {
	var server, role, identityFile, identityAudience, audience, scope, store, region string
	var refreshBefore time.Duration
	var credentialProcess bool
	cmd := &cobra.Command{
		Use:   "run [--role R] [--server URL] -- CMD [ARG...]",
		Short: "Run a job with short-lived aicred access: a loopback agent holds and refreshes the token",
		Long: `Obtains an aicred token from the workload's ambient identity (--identity-file,
$AICRED_JWT_FILE, GitHub Actions OIDC, $SPIFFE_JWT_SVID_FILE, or the Kubernetes
projected token at /var/run/secrets/tokens/aicred), starts a loopback agent that
holds it and exchanges again before it expires, and runs CMD with each SDK's
variables pointing at the agent: OPENAI_BASE_URL/OPENAI_API_KEY,
ANTHROPIC_BASE_URL/ANTHROPIC_API_KEY, HF_ENDPOINT/HF_TOKEN,
MLFLOW_TRACKING_URI/MLFLOW_TRACKING_TOKEN, WANDB_BASE_URL/WANDB_API_KEY and
AWS_ENDPOINT_URL_S3 with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. The keys CMD
sees are a per-run random secret the agent alone accepts, on loopback; the
agent forwards each call to the server with the current token, so a job longer
than the token's lifetime keeps working. Signals pass to CMD; the exit status
is CMD's. docs/run.md describes it.

--credential-process prints the token's S3 key pair in the AWS credential_process
JSON shape and exits, for an AWS config profile:
  [profile aicred]
  credential_process = aicred run --credential-process --server https://aicred.example`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if server == "" {
				server = os.Getenv("AICRED_SERVER")
			}
			if server == "" {
				return usageErr("--server (or AICRED_SERVER) is required")
			}
			if err := checkServerURL(server); err != nil {
				return usageErr(err.Error())
			}
			if !credentialProcess && len(args) == 0 {
				return usageErr("no command to run (aicred run [flags] -- CMD ...)")
			}
			id, err := agent.Ambient(identityFile, identityAudience, nil)
			if err != nil {
				return errExit(err)
			}
			ag, err := agent.New(agent.Config{Server: server, Identity: id, Audience: audience, Scope: scope,
				RefreshBefore: refreshBefore, ExpectRole: role,
				Log: slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				return usageErr(err.Error())
			}
			if credentialProcess {
				if err := ag.Exchange(cmd.Context()); err != nil {
					return errExit(err)
				}
				pc, ok := ag.ProcessCredentials()
				if !ok {
					return errExit(errors.New("the token's role reaches no object storage"))
				}
				return errExit(json.NewEncoder(a.stdout).Encode(pc))
			}
			return runJob(cmd.Context(), a, ag, store, region, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "aicred server base URL (default $AICRED_SERVER)")
	f.StringVar(&role, "role", "", "refuse to run unless the token's role is this one")
	f.StringVar(&identityFile, "identity-file", "", "the workload's JWT file (default: the ambient identity)")
	f.StringVar(&identityAudience, "identity-audience", "aicred", "audience asked of GitHub Actions OIDC")
	f.StringVar(&audience, "audience", "", "narrow the token to this audience")
	f.StringVar(&scope, "scope", "", "narrow the token's scope (space separated)")
	f.StringVar(&store, "s3-store", "main", "the server's object store AWS_ENDPOINT_URL_S3 points at")
	f.StringVar(&region, "s3-region", "", "AWS_REGION for the job's S3 client (default: inherited, else us-east-1)")
	f.DurationVar(&refreshBefore, "refresh-before", 0, "exchange again this long before the token expires (default: a third of its lifetime)")
	f.BoolVar(&credentialProcess, "credential-process", false, "print the token's S3 key pair as AWS credential_process JSON and exit")
	return cmd
}

// runJob starts the agent, runs the job with its variables and waits.
func runJob(ctx context.Context, a *app, ag *agent.Agent, store, region string, args []string) error {
	// The agent outlives a SIGTERM to aicred: the job gets the signal and
	// may still call out while it shuts down.
	actx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	if err := ag.Start(actx); err != nil {
		return errExit(err)
	}
	defer ag.Close()
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(agent.Scrubbed, k) {
			return true
		}
		for _, s := range agent.Surfaces {
			if k == s.URLVar || k == s.KeyVar {
				return true
			}
		}
		return k == "AWS_ENDPOINT_URL_S3" || k == "AWS_REGION"
	})
	env = append(env, ag.Env(store, region)...)
	c := exec.Command(args[0], args[1:]...)
	c.Env, c.Stdin, c.Stdout, c.Stderr = env, os.Stdin, a.stdout, a.stderr
	if f, ok := a.stdin.(*os.File); ok {
		c.Stdin = f
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return errExit(fmt.Errorf("run %s: %w", args[0], err))
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = c.Process.Signal(s)
		case err := <-done:
			var ee *exec.ExitError
			switch {
			case err == nil:
				return nil
			case errors.As(err, &ee):
				code := ee.ExitCode()
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					code = 128 + int(ws.Signal())
				}
				return &exitCode{code: code}
			}
			return errExit(err)
		}
	}
}
