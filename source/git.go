package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aicred/aicred"
)

// gitArgs are the options every git command runs with: configuration that
// would change the output we parse is pinned.
var gitArgs = [...]string{
	"-c", "core.quotePath=false",
	"-c", "log.showRoot=true",
	"-c", "log.showSignature=false",
	"-c", "diff.noprefix=false",
	"-c", "diff.mnemonicPrefix=false",
	"-c", "color.ui=false",
}

// gitCmd prepares "git -C repo args...". Stderr is kept (bounded) for the
// error message.
func gitCmd(ctx context.Context, repo string, stderr *tailBuffer, args ...string) *exec.Cmd {
	full := append([]string{"-C", repo}, gitArgs[:]...)
	cmd := exec.CommandContext(ctx, "git", append(full, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C")
	cmd.Stderr = stderr
	return cmd
}

func gitErr(op, repo string, err error, stderr *tailBuffer) error {
	kind := aicred.ErrInvalid
	if errors.Is(err, exec.ErrNotFound) {
		kind = aicred.ErrUnavailable
	}
	if msg := strings.TrimSpace(stderr.String()); msg != "" {
		return aicred.Errorf(kind, "source: git %s in %s: %w: %s", op, repo, err, msg)
	}
	return aicred.Errorf(kind, "source: git %s in %s: %w", op, repo, err)
}

// tailBuffer keeps the first 4 KiB written to it: enough for git's error.
type tailBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := 4<<10 - t.b.Len(); room > 0 {
		t.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

type gitCommit struct {
	hash, author string
	date         *time.Time
}

// A gitBlob is a blob and where it first appeared.
type gitBlob struct {
	sha, path string
	commit    *gitCommit
}

// GitHistory scans every blob reachable from any ref of the repository at
// repo, once each, attributed to the oldest commit that introduced it and
// the path it had there. It runs the git command: git log to attribute
// blobs, then one git cat-file --batch to stream their content. Binary
// blobs are skipped like binary files; notebooks, archives and chat exports
// are decoded by path. The handler is called concurrently.
func GitHistory(ctx context.Context, repo string, opts Options, h Handler) error {
	s, err := newRun(opts, h)
	if err != nil {
		return err
	}
	blobs, err := s.gitBlobs(ctx, repo)
	if err != nil {
		return err
	}
	if len(blobs) == 0 {
		return nil
	}
	return s.catBlobs(ctx, repo, blobs)
}

// gitBlobs lists the blobs of all commits, oldest first, each with the
// first commit and path it appeared at.
func (s *run) gitBlobs(ctx context.Context, repo string) ([]gitBlob, error) {
	var stderr tailBuffer
	cmd := gitCmd(ctx, repo, &stderr, "log", "--all", "--reverse", "--date-order", "-m", "--raw",
		"--no-abbrev", "--no-renames", "--no-color", "-z", "--format=%x01%H%x00%an <%ae>%x00%aI")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, gitErr("log", repo, err, &stderr)
	}
	if err := cmd.Start(); err != nil {
		return nil, gitErr("log", repo, err, &stderr)
	}
	blobs, perr := s.parseGitLog(bufio.NewReaderSize(out, 64<<10))
	if perr != nil {
		_ = cmd.Process.Kill()
	}
	werr := cmd.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if perr != nil {
		return nil, aicred.Errorf(aicred.ErrInternal, "source: git log in %s: %w", repo, perr)
	}
	if werr != nil {
		return nil, gitErr("log", repo, werr, &stderr)
	}
	return blobs, nil
}

// parseGitLog reads the NUL-separated output of git log -z --raw: a commit
// header ("\x01hash", "author", "date") and then, for each changed path, a
// raw record (":oldmode newmode oldsha newsha status") and the path.
func (s *run) parseGitLog(br *bufio.Reader) ([]gitBlob, error) {
	var (
		blobs []gitBlob
		seen  = map[string]struct{}{}
		cur   *gitCommit
	)
	next := func() (string, error) {
		tok, err := br.ReadString(0)
		if err != nil && (err != io.EOF || tok == "") {
			return "", err
		}
		return strings.TrimLeft(strings.TrimSuffix(tok, "\x00"), "\n"), nil
	}
	for {
		tok, err := next()
		if err == io.EOF {
			return blobs, nil
		}
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasPrefix(tok, "\x01"):
			hash := tok[1:]
			author, err1 := next()
			date, err2 := next()
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("truncated commit header: %w", err)
			}
			if cur != nil && cur.hash == hash {
				continue // the same merge again, against another parent (-m)
			}
			cur = &gitCommit{hash: hash, author: author}
			if t, err := time.Parse(time.RFC3339, date); err == nil {
				cur.date = &t
			}
		case strings.HasPrefix(tok, ":"):
			f := strings.Fields(tok[1:])
			path, err := next()
			if err != nil {
				return nil, fmt.Errorf("truncated raw record: %w", err)
			}
			if len(f) < 5 || cur == nil {
				return nil, errors.New("unexpected raw record")
			}
			if st := f[4]; st[0] == 'R' || st[0] == 'C' { // two paths; not expected with --no-renames
				if path, err = next(); err != nil {
					return nil, fmt.Errorf("truncated raw record: %w", err)
				}
			}
			mode, sha := f[1], f[3]
			// Regular files only: not deletions (zero id), symlinks or submodules.
			if !strings.HasPrefix(mode, "100") || strings.Trim(sha, "0") == "" || s.excluded(path) {
				continue
			}
			if _, ok := seen[sha]; ok {
				continue
			}
			seen[sha] = struct{}{}
			blobs = append(blobs, gitBlob{sha: sha, path: path, commit: cur})
		}
	}
}

type blobJob struct {
	buf *[]byte
	n   int
	e   entry
}

// catBlobs streams the blobs' content from one git cat-file --batch: small
// blobs are read whole and scanned by the workers, large ones streamed by
// the reading goroutine itself.
func (s *run) catBlobs(ctx context.Context, repo string, blobs []gitBlob) error {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var stderr tailBuffer
	cmd := gitCmd(wctx, repo, &stderr, "cat-file", "--batch", "--buffer")
	in, err := cmd.StdinPipe()
	if err != nil {
		return gitErr("cat-file", repo, err, &stderr)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return gitErr("cat-file", repo, err, &stderr)
	}
	if err := cmd.Start(); err != nil {
		return gitErr("cat-file", repo, err, &stderr)
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		bw := bufio.NewWriterSize(in, 64<<10)
		for _, b := range blobs {
			if _, err := bw.WriteString(b.sha + "\n"); err != nil {
				break // cat-file ended; the reader reports why
			}
		}
		_ = bw.Flush()
		_ = in.Close()
	})
	jobs := make(chan blobJob, 2*s.Workers)
	for range s.Workers {
		wg.Go(func() {
			for j := range jobs {
				if wctx.Err() == nil {
					if err := s.dispatch(wctx, &j.e, *j.buf, j.n, true); err != nil {
						cancel(err)
					}
					s.progress(int64(j.n))
				}
				s.putBuf(j.buf)
			}
		})
	}

	rerr := s.readBlobs(wctx, bufio.NewReaderSize(out, 64<<10), blobs, jobs)
	close(jobs)
	if rerr != nil {
		cancel(rerr)
	}
	if wctx.Err() != nil {
		_ = cmd.Process.Kill()
	}
	_, _ = io.Copy(io.Discard, out)
	wg.Wait()
	werr := cmd.Wait()
	if err := context.Cause(wctx); err != nil {
		return err
	}
	if werr != nil {
		return gitErr("cat-file", repo, werr, &stderr)
	}
	return nil
}

func (s *run) readBlobs(ctx context.Context, br *bufio.Reader, blobs []gitBlob, jobs chan<- blobJob) error {
	for _, b := range blobs {
		if ctx.Err() != nil {
			return nil
		}
		hdr, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("source: git cat-file: read header: %w", err)
		}
		f := strings.Fields(hdr)
		if len(f) == 2 && f[1] == "missing" {
			s.warn(b.path, fmt.Errorf("source: git blob %s (%s) missing", b.sha, b.path))
			continue
		}
		if len(f) != 3 {
			return fmt.Errorf("source: git cat-file: unexpected header for %s", b.sha)
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("source: git cat-file: bad size for %s", b.sha)
		}
		e := entry{
			loc: aicred.Location{
				Path: b.path, Source: aicred.SourceGit,
				Commit: b.commit.hash, Author: b.commit.author, Date: b.commit.date,
			},
			name: b.path, r: eofReader{},
		}
		switch {
		case f[1] != "blob":
			if _, err := br.Discard(int(size)); err != nil {
				return fmt.Errorf("source: git cat-file: read %s: %w", b.sha, err)
			}
		case size <= int64(s.headSize()):
			bp := s.getBuf()
			if _, err := io.ReadFull(br, (*bp)[:size]); err != nil {
				s.putBuf(bp)
				return fmt.Errorf("source: git cat-file: read %s: %w", b.sha, err)
			}
			select {
			case jobs <- blobJob{buf: bp, n: int(size), e: e}:
			case <-ctx.Done():
				s.putBuf(bp)
				return nil
			}
		default:
			lr := &io.LimitedReader{R: br, N: size}
			e.r = lr
			if err := s.scan(ctx, &e); err != nil {
				return err
			}
			s.progress(size)
			if _, err := io.Copy(io.Discard, lr); err != nil {
				return fmt.Errorf("source: git cat-file: read %s: %w", b.sha, err)
			}
		}
		if _, err := br.Discard(1); err != nil { // the newline after the content
			return fmt.Errorf("source: git cat-file: read %s: %w", b.sha, err)
		}
	}
	return nil
}

// GitStaged scans what a commit of the staged changes would add: the added
// lines of git diff --cached, each run of lines with its line number in the
// new file. Deleted files, removed lines and binary changes are not scanned.
// The handler is called from one goroutine.
func GitStaged(ctx context.Context, repo string, opts Options, h Handler) error {
	s, err := newRun(opts, h)
	if err != nil {
		return err
	}
	if err := checkWorkTree(ctx, repo); err != nil {
		return err
	}
	var stderr tailBuffer
	cmd := gitCmd(ctx, repo, &stderr, "diff", "--cached", "-U0", "--no-color", "--no-ext-diff",
		"--no-textconv", "--src-prefix=a/", "--dst-prefix=b/", "--diff-filter=ACMR")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return gitErr("diff", repo, err, &stderr)
	}
	if err := cmd.Start(); err != nil {
		return gitErr("diff", repo, err, &stderr)
	}
	perr := s.parseDiff(ctx, bufio.NewReaderSize(out, 64<<10))
	if perr != nil {
		_ = cmd.Process.Kill()
	}
	_, _ = io.Copy(io.Discard, out)
	werr := cmd.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	if werr != nil {
		return gitErr("diff", repo, werr, &stderr)
	}
	return nil
}

// checkWorkTree refuses a directory outside a git work tree in one line:
// git diff --cached there prints the usage of git diff --no-index instead.
func checkWorkTree(ctx context.Context, repo string) error {
	var stderr tailBuffer
	out, err := gitCmd(ctx, repo, &stderr, "rev-parse", "--is-inside-work-tree").Output()
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return gitErr("rev-parse", repo, err, &stderr)
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil || strings.TrimSpace(string(out)) != "true":
		if fi, serr := os.Stat(repo); serr != nil {
			return aicred.Errorf(aicred.ErrNotFound, "source: %w", serr)
		} else if !fi.IsDir() {
			return aicred.Errorf(aicred.ErrInvalid, "source: %s is not a directory: --staged scans a git work tree", repo)
		}
		return aicred.Errorf(aicred.ErrInvalid, "source: %s is not in a git work tree: --staged scans the changes git add staged", repo)
	}
	return nil
}

// parseDiff reads a unified diff with no context and emits its added lines.
// Each file with added lines counts once in the progress totals, with the
// bytes of its added lines.
func (s *run) parseDiff(ctx context.Context, br *bufio.Reader) error {
	var (
		path   string
		inHunk bool
		line   int   // line number in the new file of the next added line
		added  int64 // bytes added to path so far; -1 before any
	)
	added = -1
	flush := func() {
		if added >= 0 {
			s.progress(added)
		}
		added = -1
	}
	defer flush()
	for {
		b, err := br.Peek(1)
		if err != nil {
			return nil // end of the diff
		}
		if inHunk && b[0] == '+' && path != "" {
			hr := &hunkReader{br: br, atStart: true}
			loc := aicred.Location{Path: path, Source: aicred.SourceStaged}
			bp := s.getBuf()
			err := s.stream(ctx, loc, *bp, 0, false, hr, line, 1)
			s.putBuf(bp)
			if err != nil {
				return err
			}
			line += hr.lines
			added = max(added, 0) + hr.n
			continue
		}
		text, err := readLine(br)
		if err != nil {
			return nil
		}
		switch {
		case strings.HasPrefix(text, "diff --git "):
			flush()
			path, inHunk = "", false
		case strings.HasPrefix(text, "@@ "):
			inHunk = true
			line = hunkStart(text)
		case inHunk && strings.HasPrefix(text, " "):
			line++
		case !inHunk && strings.HasPrefix(text, "+++ "):
			path = diffPath(strings.TrimPrefix(text, "+++ "))
		}
	}
}

// readLine reads one line without its newline; only the first 4 KiB of a
// longer line are kept (header lines are short, content is not read here).
func readLine(br *bufio.Reader) (string, error) {
	var keep []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(keep) < 4<<10 {
			keep = append(keep, frag[:min(len(frag), 4<<10-len(keep))]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && len(keep) == 0 {
			return "", err
		}
		return strings.TrimSuffix(string(keep), "\n"), nil
	}
}

// hunkStart returns the new-file start line of a hunk header
// "@@ -a,b +c,d @@".
func hunkStart(h string) int {
	i := strings.Index(h, " +")
	if i < 0 {
		return 1
	}
	f := h[i+2:]
	if j := strings.IndexAny(f, ", "); j >= 0 {
		f = f[:j]
	}
	n, err := strconv.Atoi(f)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// diffPath returns the path of a "+++ b/path" header: "" for /dev/null;
// git quotes unusual paths C-style.
func diffPath(p string) string {
	p = strings.TrimSuffix(p, "\t")
	if strings.HasPrefix(p, `"`) {
		if u, err := strconv.Unquote(p); err == nil {
			p = u
		}
	}
	if p == "/dev/null" {
		return ""
	}
	return strings.TrimPrefix(p, "b/")
}

// hunkReader reads the content of consecutive added lines ("+..."), without
// the '+', and ends at the first line that is not one.
type hunkReader struct {
	br      *bufio.Reader
	atStart bool
	lines   int
	n       int64 // bytes of content read
}

func (h *hunkReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if h.atStart {
		b, err := h.br.Peek(1)
		if err != nil || b[0] != '+' {
			return 0, io.EOF
		}
		_, _ = h.br.Discard(1)
		h.atStart = false
	}
	if h.br.Buffered() == 0 {
		if _, err := h.br.Peek(1); err != nil {
			return 0, io.EOF
		}
	}
	b, _ := h.br.Peek(min(h.br.Buffered(), len(p)))
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
		h.atStart = true
		h.lines++
	}
	n := copy(p, b)
	_, _ = h.br.Discard(n)
	h.n += int64(n)
	return n, nil
}
