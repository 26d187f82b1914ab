package main

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/discover"
	"github.com/aicred/aicred/source"
)

// A LeakHandler is told of every new finding of a credential that is not
// one of aicred's own tokens (those are revoked at once, see
// broker.RevokeLeaked). The response policy (notify, rotate, revoke,
// suspend: policyLeaks, configured by the respond: section) implements it;
// without a master key, auditLeaks only logs and audits each. HandleLeak runs on the watcher's
// goroutines and should not block for long; an error is logged and the
// watch goes on.
type LeakHandler interface {
	HandleLeak(ctx context.Context, f *aicred.Finding, origin string) error
}

// ActionLeakDetected is the audit action of a finding reported by watch.
const ActionLeakDetected = "leak.detected"

// auditLeaks is the default LeakHandler: a warning in the log and a
// leak.detected audit record (fingerprint, provider, kind, place; never
// the secret).
type auditLeaks struct {
	audit aicred.AuditLog
	log   *slog.Logger
}

func (a auditLeaks) HandleLeak(ctx context.Context, f *aicred.Finding, origin string) error {
	where := leakWhere(f)
	a.log.Warn("leak detected", "provider", f.Provider, "kind", f.Kind, "fingerprint", f.Fingerprint,
		"redacted", f.Redacted, "origin", origin, "where", where)
	_, err := a.audit.AppendAudit(ctx, aicred.AuditEvent{
		Action: ActionLeakDetected, Subject: string(f.Fingerprint),
		Data: map[string]string{"provider": f.Provider, "kind": f.Kind, "origin": origin, "where": where, "source": string(f.Source)},
	})
	return err
}

// leakWhere names a finding's place: path:line, and the commit for git.
func leakWhere(f *aicred.Finding) string {
	w := f.Path + ":" + strconv.Itoa(f.Line)
	if f.Commit != "" {
		w += "@" + f.Commit[:min(12, len(f.Commit))]
	}
	return w
}

// seenSet remembers the most recent findings (fingerprint, rule and
// place), so a file saved ten times or a line scanned twice is recorded
// and answered once; it is a bounded LRU, so memory stays flat over days.
type seenSet struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recent
	index map[string]*list.Element
}

func newSeenSet(n int) *seenSet {
	return &seenSet{max: max(n, 1), order: list.New(), index: make(map[string]*list.Element, n)}
}

// add reports whether key is new, and remembers it.
func (s *seenSet) add(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.index[key]; ok {
		s.order.MoveToFront(e)
		return false
	}
	s.index[key] = s.order.PushFront(key)
	if s.order.Len() > s.max {
		old := s.order.Back()
		s.order.Remove(old)
		delete(s.index, old.Value.(string))
	}
	return true
}

// forget drops key, so that the next sighting is handled again.
func (s *seenSet) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.index[key]; ok {
		s.order.Remove(e)
		delete(s.index, key)
	}
}

func (s *seenSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}

// leakPipeline handles what a watch finds: new findings are recorded as
// sightings, leaked aicred tokens revoked at once, and every other
// credential handed to the LeakHandler.
type leakPipeline struct {
	st    aicred.Store
	seen  *seenSet
	leaks LeakHandler
	log   *slog.Logger
	// recorded, when set, is called after each finding is recorded and
	// answered (benchmarks and tests measure with it).
	recorded func(f *aicred.Finding, res *broker.LeakResult)
}

func findingKey(f *aicred.Finding) string {
	return string(f.Fingerprint) + "|" + f.Rule + "|" + f.Path + "|" + f.Commit + "|" + string(f.Source)
}

// isAicredToken reports whether f is one of aicred's own tokens.
func isAicredToken(f *aicred.Finding) bool { return f.Provider == "aicred" }

func (p *leakPipeline) handle(ctx context.Context, origin string, fs []*aicred.Finding) error {
	var fresh []*aicred.Finding
	for _, f := range fs {
		if p.seen.add(findingKey(f)) {
			fresh = append(fresh, f)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	// Tokens first: a leaked aicred token is dead before anything else
	// is written.
	results := make([]*broker.LeakResult, len(fresh))
	for i, f := range fresh {
		if !isAicredToken(f) {
			continue
		}
		res, err := retry(ctx, func() (broker.LeakResult, error) {
			return broker.RevokeLeaked(ctx, p.st, f.Secret.Reveal(), leakWhere(f), time.Now())
		})
		if err != nil {
			p.log.Error("watch: leaked aicred token NOT revoked; it will be tried again when seen again", "where", leakWhere(f), "err", err)
			p.seen.forget(findingKey(f))
			continue
		}
		results[i] = &res
		switch res.Status {
		case broker.LeakRevoked:
			p.log.Warn("watch: leaked aicred token revoked", "grant", res.GrantID, "class", res.Class, "where", leakWhere(f))
		case broker.LeakUnknown:
			p.log.Info("watch: aicred token not issued by this store; ignored", "where", leakWhere(f), "fingerprint", f.Fingerprint)
		}
	}
	if _, err := retry(ctx, func() (aicred.RecordSummary, error) { return record(ctx, p.st, fresh, origin) }); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		p.log.Error("watch: findings not recorded; they will be tried again when seen again", "findings", len(fresh), "err", err)
		for _, f := range fresh {
			p.seen.forget(findingKey(f))
		}
		return nil
	}
	for i, f := range fresh {
		if !isAicredToken(f) {
			if err := p.leaks.HandleLeak(ctx, f, origin); err != nil && ctx.Err() == nil {
				p.log.Error("watch: leak handler", "fingerprint", f.Fingerprint, "err", err)
			}
		}
		if p.recorded != nil {
			p.recorded(f, results[i])
		}
	}
	return nil
}

// retry runs fn up to three times while the store is unavailable.
func retry[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for i := range 3 {
		if v, err = fn(); err == nil || aicred.KindOf(err) != aicred.ErrUnavailable {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(time.Duration(i+1) * 200 * time.Millisecond):
		}
	}
	return v, err
}

type watchFlags struct {
	git      bool
	logs     []string
	exclude  []string
	config   string
	initial  bool
	rescan   time.Duration
	logPoll  time.Duration
	gitPoll  time.Duration
	memory   int
	quiet    bool
	workers  int
	debounce time.Duration
}

func newWatchCmd(a *app) *cobra.Command {
	var fl watchFlags
	cmd := &cobra.Command{
		Use:   "watch [PATH... | -] [--git] [--log FILE...]",
		Short: "Watch trees, git refs, logs and stdin; record each new credential, revoke leaked aicred tokens at once",
		Long: `Continuous discovery. Each PATH is a tree (or a file) whose files are scanned
as they are created or saved (file events, with a rescan of changed files every
--rescan and whenever events are lost); with --git each PATH is also a
repository whose refs are polled, and only the blobs of new commits are scanned.
--log follows a log file like tail -F (appended lines; truncation and rotation
are followed). "-" reads a stream on stdin, line by line.

Every new finding is recorded in the inventory (as 'scan --record' does). A
leaked aicred token (aicw_, aica_) that this store issued is revoked at once
(reason "leaked: <where>"), so every gateway on the store refuses it; one the
store does not know is reported and ignored. Every other credential is handed
to the response policy (the respond: section of the configuration named by
$AICRED_CONFIG or 'aicred --config FILE watch'): a live leak of a credential
aicred holds is notified, rotated, revoked or suspended as its rule says
(default: notify); every leak is logged and audited (leak.detected).
Findings are de-duplicated in a bounded memory (--memory entries), so a watch
can run for days. SIGINT or SIGTERM stop it.

Without --initial only what changes after the start is scanned: run
'aicred scan --record' first, or pass --initial.`,
		Example: `  aicred watch --git ~/src/api --log /var/log/app/app.log
  kubectl logs -f deploy/api | aicred watch -`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWatch(cmd.Context(), a, args, &fl)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&fl.git, "git", false, "also poll each PATH's git refs and scan the blobs of new commits")
	f.StringSliceVar(&fl.logs, "log", nil, "follow this log file (repeatable)")
	f.StringSliceVar(&fl.exclude, "exclude", nil, "skip paths matching this glob (repeatable)")
	f.StringVar(&fl.config, "config", "", "configuration file (default: the first PATH's "+discover.ConfigFile+" when present)")
	f.BoolVar(&fl.initial, "initial", false, "also scan what exists at the start (trees, whole git history, logs from their start)")
	f.DurationVar(&fl.rescan, "rescan", source.DefaultWatchRescan, "walk trees for changed files this often (catches lost events)")
	f.DurationVar(&fl.logPoll, "log-poll", source.DefaultWatchLogPoll, "check logs for new lines this often")
	f.DurationVar(&fl.gitPoll, "git-poll", source.DefaultWatchGitPoll, "read git refs this often")
	f.DurationVar(&fl.debounce, "debounce", source.DefaultWatchDebounce, "wait this long after a file's last write before scanning it")
	f.IntVar(&fl.memory, "memory", 100000, "findings remembered for de-duplication (a bounded LRU)")
	f.IntVar(&fl.workers, "workers", 2, "concurrent scanners per watched source")
	f.BoolVarP(&fl.quiet, "quiet", "q", false, "log only errors")
	return cmd
}

// watchTarget is one thing watched, with the origin its sightings are
// recorded under.
type watchTarget struct {
	origin string
	opts   source.WatchOptions
}

func runWatch(ctx context.Context, a *app, args []string, fl *watchFlags) error {
	var targets []watchTarget
	base := source.WatchOptions{Initial: fl.initial, Rescan: fl.rescan, LogPoll: fl.logPoll, GitPoll: fl.gitPoll, Debounce: fl.debounce}
	stdin := false
	for _, p := range args {
		if p == "-" {
			if stdin {
				return usageErr("stdin (-) given twice")
			}
			stdin = true
			t := watchTarget{origin: "stdin", opts: base}
			t.opts.Stdin = a.stdin
			targets = append(targets, t)
			continue
		}
		t := watchTarget{origin: originOf(p), opts: base}
		t.opts.Trees = []string{p}
		targets = append(targets, t)
		if fl.git {
			g := watchTarget{origin: originOf(p), opts: base}
			g.opts.Repos = []string{p}
			targets = append(targets, g)
		}
	}
	for _, l := range fl.logs {
		abs := originOf(l)
		t := watchTarget{origin: filepath.Dir(abs), opts: base}
		t.opts.Logs = []string{abs}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return usageErr("nothing to watch: give a PATH, - (stdin) or --log FILE")
	}
	if fl.memory < 1 {
		return usageErr("--memory must be at least 1")
	}
	cfgDir := "."
	if len(args) > 0 && args[0] != "-" {
		cfgDir = args[0]
	}
	cfg, err := loadScanConfig(cfgDir, fl.config)
	if err != nil {
		return errExit(err)
	}
	level := slog.LevelInfo
	if fl.quiet {
		level = slog.LevelError
	}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: a.stderr}, &slog.HandlerOptions{Level: level}))
	sc, err := discover.New(discover.Options{Config: cfg, Source: source.Options{
		Exclude: fl.exclude, Workers: fl.workers,
		Warn: func(path string, err error) { log.Warn("watch: skipped", "path", path, "reason", warnText(path, err)) },
	}})
	if err != nil {
		return errExit(err)
	}
	ctx = actorContext(ctx)
	st, err := a.openStore(ctx)
	if err != nil {
		return errExit(fmt.Errorf("watch: %w", err))
	}
	defer st.Close()
	var leaks LeakHandler = auditLeaks{audit: st, log: log}
	policy, err := a.leakPolicy(st, log)
	switch {
	case err != nil:
		return errExit(fmt.Errorf("watch: response policy: %w", err))
	case policy != nil:
		leaks = policyLeaks{audit: leaks.(auditLeaks), policy: policy}
	default:
		log.Warn("watch: no master key: held credentials cannot be checked or acted on; leaks are only logged and audited")
	}
	p := &leakPipeline{st: st, seen: newSeenSet(fl.memory), leaks: leaks, log: log}
	log.Info("watching", "targets", len(targets), "git", fl.git, "logs", len(fl.logs), "stdin", stdin)
	return errExit(watchAll(ctx, sc, p, targets))
}

// watchAll runs one source.Watch per target until ctx ends or one fails.
func watchAll(ctx context.Context, sc *discover.Scanner, p *leakPipeline, targets []watchTarget) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, t := range targets {
		h := sc.Handler(func(ctx context.Context, fs []*aicred.Finding) error { return p.handle(ctx, t.origin, fs) })
		wg.Go(func() {
			if err := source.Watch(ctx, t.opts, sc.SourceOptions(), h); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
