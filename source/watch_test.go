package source

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// sightings records where each marker was seen, by a handler that runs
// while Watch does.
type sightings struct {
	mu   sync.Mutex
	seen map[string]aicred.Location
	line map[string]int
	cond chan struct{}
}

func newSightings() *sightings {
	return &sightings{seen: map[string]aicred.Location{}, line: map[string]int{}, cond: make(chan struct{}, 1)}
}

func (s *sightings) handle(_ context.Context, c *Chunk) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range strings.FieldsFunc(string(c.Data), func(r rune) bool { return r == ' ' || r == '\n' || r == '=' }) {
		if strings.HasPrefix(f, "MARK") {
			off := bytes.Index(c.Data, []byte(f))
			if !c.Owns(off) {
				continue
			}
			s.seen[f] = c.Location
			s.line[f], _ = c.Position(off)
		}
	}
	select {
	case s.cond <- struct{}{}:
	default:
	}
	return nil
}

// wait waits for marker and returns where it was seen.
func (s *sightings) wait(t *testing.T, marker string) (aicred.Location, int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		loc, ok := s.seen[marker]
		line := s.line[marker]
		s.mu.Unlock()
		if ok {
			return loc, line
		}
		select {
		case <-s.cond:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s not seen within 5s", marker)
		}
	}
}

func (s *sightings) has(marker string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.seen[marker]
	return ok
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// TestWatch follows a tree, a log, a repository and a stream at once and
// sees every kind of change: new files, new directories, editor saves,
// appended lines, truncation, rotation, commits and streamed lines.
func TestWatch(t *testing.T) {
	repo := newTestRepo(t)
	repo.write(map[string]string{"old.txt": "MARK-old-commit\n"})
	repo.commit("Ann 2024-01-01", "old")
	tree := t.TempDir()
	write(t, filepath.Join(tree, "existing.txt"), "MARK-existing\n")
	write(t, filepath.Join(tree, "skip.log"), "MARK-excluded\n")
	logs := t.TempDir()
	logPath := filepath.Join(logs, "app.log")
	write(t, logPath, "line 1 MARK-log-old\nline 2\n")
	pr, pw := io.Pipe()
	defer pw.Close()

	s := newSightings()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, WatchOptions{
			Trees: []string{tree}, Repos: []string{repo.dir}, Logs: []string{logPath}, Stdin: pr,
			LogPoll: 10 * time.Millisecond, GitPoll: 50 * time.Millisecond, Rescan: time.Hour,
			FlushPartial: 100 * time.Millisecond,
		}, Options{Exclude: []string{"*.log"}, Warn: func(string, error) {}}, s.handle)
	}()
	time.Sleep(200 * time.Millisecond) // watches in place

	t.Run("new file", func(t *testing.T) {
		write(t, filepath.Join(tree, "new.env"), "KEY=MARK-new\n")
		if loc, _ := s.wait(t, "MARK-new"); loc.Path != "new.env" || loc.Source != aicred.SourceFile {
			t.Fatalf("seen at %+v", loc)
		}
	})
	t.Run("new directory", func(t *testing.T) {
		dir := filepath.Join(tree, "a", "b")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, "c.txt"), "MARK-deep\n")
		if loc, _ := s.wait(t, "MARK-deep"); loc.Path != "a/b/c.txt" {
			t.Fatalf("seen at %+v", loc)
		}
	})
	t.Run("editor save", func(t *testing.T) {
		tmp := filepath.Join(tree, ".config.yaml.swp")
		write(t, tmp, "x\ny: MARK-saved\n")
		if err := os.Rename(tmp, filepath.Join(tree, "config.yaml")); err != nil {
			t.Fatal(err)
		}
		if loc, line := s.wait(t, "MARK-saved"); line != 2 || !(loc.Path == "config.yaml" || loc.Path == ".config.yaml.swp") {
			t.Fatalf("seen at %+v line %d", loc, line)
		}
	})
	t.Run("directory moved in", func(t *testing.T) {
		outside := filepath.Join(t.TempDir(), "moved")
		if err := os.MkdirAll(outside, 0o700); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(outside, "m.txt"), "MARK-moved\n")
		if err := os.Rename(outside, filepath.Join(tree, "moved")); err != nil {
			t.Skip("cannot rename across file systems")
		}
		if loc, _ := s.wait(t, "MARK-moved"); loc.Path != "moved/m.txt" {
			t.Fatalf("seen at %+v", loc)
		}
	})
	t.Run("log append", func(t *testing.T) {
		appendTo(t, logPath, "line 3 MARK-appended\n")
		if loc, line := s.wait(t, "MARK-appended"); loc.Path != logPath || line != 3 {
			t.Fatalf("seen at %+v line %d", loc, line)
		}
		if s.has("MARK-log-old") {
			t.Error("without Initial, the log's old lines were scanned")
		}
	})
	t.Run("log unfinished line", func(t *testing.T) {
		appendTo(t, logPath, "line 4 MARK-partial")
		if _, line := s.wait(t, "MARK-partial"); line != 4 {
			t.Fatalf("line %d", line)
		}
		appendTo(t, logPath, " end\n")
	})
	t.Run("log truncated", func(t *testing.T) {
		write(t, logPath, "MARK-truncated\n")
		if _, line := s.wait(t, "MARK-truncated"); line != 1 {
			t.Fatalf("line %d", line)
		}
	})
	t.Run("log rotated", func(t *testing.T) {
		appendTo(t, logPath, "MARK-before-rotation\n")
		if err := os.Rename(logPath, logPath+".1"); err != nil {
			t.Fatal(err)
		}
		write(t, logPath, "fresh\nMARK-rotated\n")
		if _, line := s.wait(t, "MARK-rotated"); line != 2 {
			t.Fatalf("line %d", line)
		}
		s.wait(t, "MARK-before-rotation")
	})
	t.Run("commit", func(t *testing.T) {
		repo.write(map[string]string{"cfg/new.txt": "MARK-commit\n"})
		id := repo.commit("Bob 2024-02-01", "new")
		loc, _ := s.wait(t, "MARK-commit")
		if loc.Source != aicred.SourceGit || loc.Commit != id || loc.Path != "cfg/new.txt" {
			t.Fatalf("seen at %+v", loc)
		}
		if s.has("MARK-old-commit") {
			t.Error("without Initial, an old commit was scanned")
		}
	})
	t.Run("stdin", func(t *testing.T) {
		if _, err := pw.Write([]byte("a\nb MARK-stdin\n")); err != nil {
			t.Fatal(err)
		}
		if loc, line := s.wait(t, "MARK-stdin"); loc.Source != aicred.SourceStdin || line != 2 {
			t.Fatalf("seen at %+v line %d", loc, line)
		}
	})
	if s.has("MARK-excluded") || s.has("MARK-existing") {
		t.Error("an excluded or pre-existing file was scanned")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

// TestWatchInitial scans what exists at the start.
func TestWatchInitial(t *testing.T) {
	repo := newTestRepo(t)
	repo.write(map[string]string{"old.txt": "MARK-old-commit\n"})
	repo.commit("Ann 2024-01-01", "old")
	tree := t.TempDir()
	write(t, filepath.Join(tree, "existing.txt"), "MARK-existing\n")
	logPath := filepath.Join(t.TempDir(), "app.log")
	write(t, logPath, "MARK-log-old\n")
	s := newSightings()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Watch(ctx, WatchOptions{Trees: []string{tree}, Repos: []string{repo.dir}, Logs: []string{logPath}, Initial: true},
		Options{Warn: func(string, error) {}}, s.handle)
	for _, m := range []string{"MARK-old-commit", "MARK-existing", "MARK-log-old"} {
		s.wait(t, m)
	}
}

func TestWatchErrors(t *testing.T) {
	ctx := context.Background()
	if err := Watch(ctx, WatchOptions{}, Options{}, func(context.Context, *Chunk) error { return nil }); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Errorf("nothing to watch: %v", err)
	}
	if err := Watch(ctx, WatchOptions{Trees: []string{filepath.Join(t.TempDir(), "nope")}}, Options{}, func(context.Context, *Chunk) error { return nil }); err == nil {
		t.Error("a missing tree was accepted")
	}
	if err := Watch(ctx, WatchOptions{Repos: []string{t.TempDir()}}, Options{}, func(context.Context, *Chunk) error { return nil }); err == nil {
		t.Error("a directory that is not a repository was accepted")
	}
}
