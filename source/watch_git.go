package source

import (
	"bufio"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aicred/aicred"
)

// gitWatch polls a repository's refs and scans the blobs that new commits
// bring: git log over the new tips, minus everything reachable from the
// tips seen before.
type gitWatch struct {
	repo string
	w    *WatchOptions
	opts Options
	h    Handler
	tips []string // sorted object ids of the refs at the last poll
}

func newGitWatch(ctx context.Context, repo string, w *WatchOptions, opts Options, h Handler) (*gitWatch, error) {
	g := &gitWatch{repo: repo, w: w, opts: opts, h: h}
	if _, err := opts.settings(); err != nil {
		return nil, err
	}
	tips, err := g.refs(ctx)
	if err != nil {
		return nil, err
	}
	g.tips = tips
	return g, nil
}

// refs returns the sorted, distinct object ids of every ref and HEAD.
func (g *gitWatch) refs(ctx context.Context) ([]string, error) {
	var stderr tailBuffer
	out, err := gitCmd(ctx, g.repo, &stderr, "for-each-ref", "--format=%(objectname)").Output()
	if err != nil {
		return nil, gitErr("for-each-ref", g.repo, err, &stderr)
	}
	tips := strings.Fields(string(out))
	if head, err := gitCmd(ctx, g.repo, &stderr, "rev-parse", "--verify", "-q", "HEAD").Output(); err == nil {
		tips = append(tips, strings.TrimSpace(string(head)))
	}
	slices.Sort(tips)
	return slices.Compact(tips), nil
}

func (g *gitWatch) run(ctx context.Context) error {
	if g.w.Initial {
		if err := GitHistory(ctx, g.repo, g.opts, g.h); err != nil {
			return err
		}
	}
	t := time.NewTicker(g.w.GitPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		tips, err := g.refs(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			warn(g.opts, g.repo, err) // the repository is being rewritten, say; try again
			continue
		}
		if slices.Equal(tips, g.tips) {
			continue
		}
		if err := g.scanNew(ctx, tips); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if aicred.KindOf(err) == aicred.ErrInvalid {
				warn(g.opts, g.repo, err)
				continue // the old tips stay: the same commits are tried again
			}
			return err
		}
		g.tips = tips
	}
}

// scanNew scans the blobs of the commits reachable from tips and not from
// the previous tips. Old tips that are gone (a branch deleted and its
// objects pruned) are ignored.
func (g *gitWatch) scanNew(ctx context.Context, tips []string) error {
	var fresh []string
	for _, t := range tips {
		if _, ok := slices.BinarySearch(g.tips, t); !ok {
			fresh = append(fresh, t)
		}
	}
	if len(fresh) == 0 {
		return nil // a ref deleted or moved back: nothing new
	}
	s, err := newRun(g.opts, g.h)
	if err != nil {
		return err
	}
	args := []string{"log", "--ignore-missing", "--reverse", "--date-order", "-m", "--raw",
		"--no-abbrev", "--no-renames", "--no-color", "-z", "--format=%x01%H%x00%an <%ae>%x00%aI"}
	args = append(args, fresh...)
	if len(g.tips) > 0 {
		args = append(append(args, "--not"), g.tips...)
	}
	var stderr tailBuffer
	cmd := gitCmd(ctx, g.repo, &stderr, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return gitErr("log", g.repo, err, &stderr)
	}
	if err := cmd.Start(); err != nil {
		return gitErr("log", g.repo, err, &stderr)
	}
	blobs, perr := s.parseGitLog(bufio.NewReaderSize(out, 64<<10))
	if perr != nil {
		_ = cmd.Process.Kill()
	}
	werr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case perr != nil:
		return aicred.Errorf(aicred.ErrInternal, "source: git log in %s: %w", g.repo, perr)
	case werr != nil:
		return gitErr("log", g.repo, werr, &stderr)
	case len(blobs) == 0:
		return nil
	}
	return s.catBlobs(ctx, g.repo, blobs)
}

// warn reports a problem through opts.Warn (or its default).
func warn(opts Options, path string, err error) {
	if s, serr := opts.settings(); serr == nil {
		s.Warn(path, err)
	}
}
