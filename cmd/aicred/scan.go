package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/discover"
	"github.com/aicred/aicred/report"
	"github.com/aicred/aicred/source"
	"github.com/aicred/aicred/verify"
)

type scanFlags struct {
	git, staged      bool
	format, output   string
	exclude          []string
	maxArchiveDepth  int
	baseline, config string
	quiet            bool
	scanBinary       bool
	followSymlinks   bool
	noDecode         bool
	workers          int
	record           bool
	origin           string

	verify            bool
	verifyTimeout     time.Duration
	verifyConcurrency int
	verifyEndpoints   []string
}

func newScanCmd(a *app) *cobra.Command {
	var fl scanFlags
	cmd := &cobra.Command{
		Use:   "scan [PATH | -]",
		Short: "Find AI/ML credentials in a tree, a file, stdin or git history",
		Long: `Scan a directory tree, a single file, stdin ("-") or a repository's git history
for AI/ML credentials: model API keys, cloud ML keys, MLOps, vector database and
LLM observability tokens. Notebooks, archives, Slack exports and base64, URL or
JSON-escaped values are decoded. Output never contains a raw secret.

Exit codes: 0 nothing found, 1 credentials found, 2 usage or runtime error.`,
		Example: `  aicred scan .
  aicred scan --git --format sarif -o aicred.sarif .
  aicred scan --staged            # pre-commit hook
  kubectl get secrets -o yaml | aicred scan -
  aicred scan --baseline old.json --format json . > new.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := "."
			if len(args) == 1 {
				target = args[0]
			}
			return runScan(cmd.Context(), a, target, &fl)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&fl.git, "git", false, "scan every unique blob reachable from any ref of the repository at PATH")
	f.BoolVar(&fl.staged, "staged", false, "scan only lines added in staged changes (for a pre-commit hook)")
	f.StringVarP(&fl.format, "format", "f", "text", "output format: "+strings.Join(report.Formats(), ", "))
	f.StringVarP(&fl.output, "output", "o", "", "write the report to this file instead of stdout")
	f.StringSliceVar(&fl.exclude, "exclude", nil, "skip paths matching this glob (repeatable; ** matches any depth)")
	f.IntVar(&fl.maxArchiveDepth, "max-archive-depth", 2, "how deep to expand nested archives; 0 turns expansion off")
	f.StringVar(&fl.baseline, "baseline", "", "a previous JSON report: report only findings not in it")
	f.StringVar(&fl.config, "config", "", "configuration file (default: PATH/"+discover.ConfigFile+" when present)")
	f.BoolVarP(&fl.quiet, "quiet", "q", false, "no progress, warnings or summary on stderr (a count of warnings remains)")
	f.BoolVar(&fl.scanBinary, "scan-binary", false, "scan binary files too")
	f.BoolVar(&fl.followSymlinks, "follow-symlinks", false, "follow symbolic links (loops are detected)")
	f.BoolVar(&fl.noDecode, "no-decode", false, "do not decode base64, URL-encoded or JSON-escaped values")
	f.IntVar(&fl.workers, "workers", 0, "concurrent readers (default: number of CPUs)")
	f.BoolVar(&fl.record, "record", false, "record each finding as a sighting in the inventory store (see --store)")
	f.StringVar(&fl.origin, "origin", "", "name of what is scanned, for recorded sightings (default: the absolute path, or stdin)")
	f.BoolVar(&fl.verify, "verify", false, "check each credential's liveness with the provider's cheapest non-billable request")
	f.DurationVar(&fl.verifyTimeout, "verify-timeout", 10*time.Second, "timeout of one liveness request")
	f.IntVar(&fl.verifyConcurrency, "verify-concurrency", 8, "liveness requests in flight at once")
	f.StringSliceVar(&fl.verifyEndpoints, "verify-endpoint", nil, "override a provider's base URL: PROVIDER=URL (repeatable)")
	return cmd
}

func runScan(ctx context.Context, a *app, target string, fl *scanFlags) error {
	if fl.git && fl.staged {
		return usageErr("--git and --staged cannot be combined")
	}
	if target == "-" && (fl.git || fl.staged) {
		return usageErr("stdin cannot be combined with --git or --staged")
	}
	if fl.maxArchiveDepth < 0 {
		return usageErr("--max-archive-depth must be 0 or more")
	}
	if _, err := report.FormatOK(fl.format); err != nil {
		return usageErr(err.Error())
	}
	endpoints, err := parseEndpoints(fl.verifyEndpoints)
	if err != nil {
		return usageErr(err.Error())
	}
	cfg, err := loadScanConfig(target, fl.config)
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	var baseline []*aicred.Finding
	if fl.baseline != "" {
		fh, err := os.Open(fl.baseline)
		if err != nil {
			return &exitCode{code: exitError, err: fmt.Errorf("baseline: %w", err)}
		}
		baseline, err = report.ReadJSON(fh)
		fh.Close()
		if err != nil {
			return &exitCode{code: exitError, err: fmt.Errorf("baseline %s: %w", fl.baseline, err)}
		}
	}

	var warnMu sync.Mutex
	warnings := 0
	prog := newProgress(a.stderr, fl.quiet)
	opts := discover.Options{
		Config:   cfg,
		Baseline: baseline,
		Source: source.Options{
			Exclude:         fl.exclude,
			MaxArchiveDepth: source.ArchiveDepth(fl.maxArchiveDepth),
			ScanBinary:      fl.scanBinary,
			FollowSymlinks:  fl.followSymlinks,
			Workers:         fl.workers,
			Warn: func(path string, err error) {
				warnMu.Lock()
				defer warnMu.Unlock()
				warnings++
				if fl.quiet {
					return
				}
				prog.clear()
				fmt.Fprintf(a.stderr, "aicred: warning: %s\n", warnText(path, err))
			},
		},
	}
	if fl.noDecode {
		opts.DecodeDepth = -1
	}
	sc, err := discover.New(opts)
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	prog.start(sc.Stats)

	var findings []*aicred.Finding
	info := report.ScanInfo{Roots: []string{target}, Start: time.Now().UTC()}
	switch {
	case target == "-":
		info.Mode = "stdin"
		findings, err = sc.Reader(ctx, a.stdin, aicred.Location{Path: "-", Source: aicred.SourceStdin})
	case fl.git:
		info.Mode = "git"
		findings, err = sc.Git(ctx, target)
	case fl.staged:
		info.Mode = "staged"
		findings, err = sc.Staged(ctx, target)
	default:
		info.Mode = "files"
		findings, err = sc.Dir(ctx, target)
	}
	prog.stop()
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	if fl.verify && len(findings) > 0 {
		v := verify.New(verify.Options{
			Timeout: fl.verifyTimeout, Concurrency: fl.verifyConcurrency, BaseURLs: endpoints,
			UserAgent: "aicred/" + aicred.Version,
		})
		v.VerifyAll(ctx, findings)
	}

	if fl.record {
		if err := recordScan(ctx, a, findings, target, fl.origin, fl.quiet); err != nil {
			return &exitCode{code: exitError, err: err}
		}
	}
	st := sc.Stats()
	info.DurationMS, info.Files, info.Bytes = st.Elapsed.Milliseconds(), int(st.Files), st.Bytes
	rep := &report.Report{Tool: report.ThisTool(), Scan: info, Findings: findings,
		Color: fl.output == "" && colorOK(a.stdout)}
	if err := writeOutput(a.stdout, fl.output, func(w io.Writer) error { return rep.Write(w, fl.format) }); err != nil {
		return &exitCode{code: exitError, err: err}
	}
	switch {
	case !fl.quiet:
		fmt.Fprintf(a.stderr, "aicred: scanned %s, %s in %s (%s/s): %s",
			scannedWhat(info.Mode, int(st.Files)), humanBytes(st.Bytes), st.Elapsed.Round(time.Millisecond),
			humanBytes(int64(float64(st.Bytes)/max(st.Elapsed.Seconds(), 1e-9))), report.Plural(len(findings), "finding", "findings"))
		if len(baseline) > 0 {
			fmt.Fprintf(a.stderr, " not in the baseline")
		}
		if warnings > 0 {
			fmt.Fprintf(a.stderr, ", %s", report.Plural(warnings, "warning", "warnings"))
		}
		if kb := peakRSSKB(); kb > 0 {
			fmt.Fprintf(a.stderr, ", peak memory %d MB", kb/1024)
		}
		fmt.Fprintln(a.stderr)
	case warnings > 0:
		fmt.Fprintf(a.stderr, "aicred: %s (run without -q to see them)\n", report.Plural(warnings, "warning", "warnings"))
	}
	if len(findings) > 0 {
		return &exitCode{code: exitFindings}
	}
	return nil
}

func usageErr(msg string) error { return &exitCode{code: exitError, err: fmt.Errorf("%s", msg)} }

func loadScanConfig(target, path string) (*discover.Config, error) {
	if path != "" {
		return discover.LoadConfig(path, false)
	}
	dir := target
	if target == "-" {
		dir = "."
	} else if fi, err := os.Stat(target); err == nil && !fi.IsDir() {
		dir = filepath.Dir(target)
	}
	return discover.LoadConfig(filepath.Join(dir, discover.ConfigFile), true)
}

func parseEndpoints(specs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" || !strings.HasPrefix(v, "http") {
			return nil, fmt.Errorf("--verify-endpoint %q: want PROVIDER=http(s)://host[:port]", s)
		}
		out[k] = v
	}
	return out, nil
}

// scannedWhat names what a scan read: "12 files", "1 staged file",
// "40 blobs".
func scannedWhat(mode string, n int) string {
	switch mode {
	case "git":
		return report.Plural(n, "blob", "blobs")
	case "staged":
		return report.Plural(n, "staged file", "staged files")
	case "stdin":
		return "stdin"
	}
	return report.Plural(n, "file", "files")
}

// colorOK reports whether text output to w may use ANSI colours: w is a
// terminal, NO_COLOR (https://no-color.org) is unset or empty, and TERM is
// not "dumb".
func colorOK(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// warnText renders a source warning in one line, naming what could not be
// read: "unreadable directory data/private: permission denied". The path
// inside the wrapped error is dropped: it repeats the one already given.
func warnText(path string, err error) string {
	msg := strings.TrimPrefix(err.Error(), "source: ")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = strings.Replace(msg, ": "+pe.Error(), ": "+pe.Err.Error(), 1)
	}
	for _, r := range [...]struct{ op, what string }{
		{"read directory ", "unreadable directory "}, {"open ", "unreadable file "}, {"stat ", "unreadable path "},
	} {
		if rest, ok := strings.CutPrefix(msg, r.op); ok {
			return r.what + rest
		}
	}
	if path != "" && !strings.Contains(msg, path) {
		return path + ": " + msg
	}
	return msg
}

// writeOutput runs write against stdout, or against the file output
// (created 0600: reports name where secrets live) when one is given.
func writeOutput(stdout io.Writer, output string, write func(io.Writer) error) error {
	if output == "" {
		return write(stdout)
	}
	fh, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err := write(fh); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progress draws a live status line on a terminal's stderr, and nothing
// when stderr is piped or --quiet is set.
type progress struct {
	w    io.Writer
	on   bool
	mu   sync.Mutex
	done chan struct{}
	wg   sync.WaitGroup
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && !quiet && term.IsTerminal(int(f.Fd())) {
		p.on = true
	}
	return p
}

func (p *progress) start(stats func() discover.Stats) {
	if !p.on {
		return
	}
	p.done = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				st := stats()
				rate := float64(st.Bytes) / max(st.Elapsed.Seconds(), 1e-9)
				p.mu.Lock()
				fmt.Fprintf(p.w, "\r\033[Kscanning: %s, %s, %s, %s/s, %s",
					report.Plural(int(st.Files), "file", "files"), humanBytes(st.Bytes), report.Plural(int(st.Findings), "finding", "findings"),
					humanBytes(int64(rate)), st.Elapsed.Round(time.Second))
				p.mu.Unlock()
			}
		}
	}()
}

func (p *progress) clear() {
	if !p.on {
		return
	}
	p.mu.Lock()
	fmt.Fprint(p.w, "\r\033[K")
	p.mu.Unlock()
}

func (p *progress) stop() {
	if !p.on || p.done == nil {
		return
	}
	close(p.done)
	p.wg.Wait()
	p.clear()
}

// peakRSSKB returns this process's peak resident set in KiB from
// /proc/self/status (VmHWM), or 0 where that is not available. Unlike
// getrusage, VmHWM does not count the image the process was forked from.
func peakRSSKB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}

// recordScan stores a scan's findings in the inventory. It runs before the
// report is written so that a store that is down fails the scan loudly.
func recordScan(ctx context.Context, a *app, findings []*aicred.Finding, target, origin string, quiet bool) error {
	ctx = actorContext(ctx)
	st, err := a.openStore(ctx)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	defer st.Close()
	if origin == "" {
		origin = originOf(target)
	}
	// A leaked aicred token is revoked before anything else is written.
	if err := revokeLeakedTokens(ctx, a, st, findings, quiet); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	sum, err := record(ctx, st, findings, origin)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	// A live leak of a held credential: the response policy.
	if err := respondToFindings(ctx, a, st, findings, origin, quiet); err != nil {
		return fmt.Errorf("record: response policy: %w", err)
	}
	if !quiet {
		fmt.Fprintf(a.stderr, "aicred: recorded %s, %s, %d refreshed\n",
			report.Plural(sum.NewCredentials, "new credential", "new credentials"),
			report.Plural(sum.NewSightings, "new sighting", "new sightings"), sum.Refreshed)
	}
	return nil
}

// revokeLeakedTokens revokes, at once, every aicred token among findings
// that the store issued (broker.RevokeLeaked: by grant id, reason
// "leaked: <where>", audited); tokens the store does not know are reported
// and ignored.
func revokeLeakedTokens(ctx context.Context, a *app, st aicred.Store, findings []*aicred.Finding, quiet bool) error {
	for _, f := range findings {
		if !isAicredToken(f) {
			continue
		}
		res, err := broker.RevokeLeaked(ctx, st, f.Secret.Reveal(), leakWhere(f), time.Now())
		if err != nil {
			return fmt.Errorf("revoke the leaked aicred token at %s: %w", leakWhere(f), err)
		}
		if quiet {
			continue
		}
		switch res.Status {
		case broker.LeakRevoked:
			fmt.Fprintf(a.stderr, "aicred: leaked %s token %s at %s: revoked\n", res.Class, res.GrantID, leakWhere(f))
		case broker.LeakAlreadyDead:
			fmt.Fprintf(a.stderr, "aicred: leaked %s token %s at %s: already revoked or expired\n", res.Class, res.GrantID, leakWhere(f))
		case broker.LeakUnknown:
			fmt.Fprintf(a.stderr, "aicred: aicred token at %s was not issued by this store: ignored\n", leakWhere(f))
		}
	}
	return nil
}
