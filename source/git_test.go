package source

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aicred/aicred"
)

// testRepo is a git repository built by the test, independent of the
// machine's git configuration.
type testRepo struct {
	t   *testing.T
	dir string
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	// GitHistory and GitStaged run git with the process environment.
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	r := &testRepo{t: t, dir: t.TempDir()}
	r.git("", "init", "-q", "-b", "main")
	return r
}

// git runs a git command; who ("Name 2024-01-02") sets author, committer
// and date.
func (r *testRepo) git(who string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir, "-c", "user.name=Test", "-c", "user.email=test@example.test",
		"-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
	if who != "" {
		name, date, _ := strings.Cut(who, " ")
		email := strings.ToLower(name) + "@example.test"
		date += "T12:00:00Z"
		cmd.Env = append(cmd.Env,
			"GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email, "GIT_AUTHOR_DATE="+date,
			"GIT_COMMITTER_NAME="+name, "GIT_COMMITTER_EMAIL="+email, "GIT_COMMITTER_DATE="+date)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *testRepo) write(files map[string]string) { writeTree(r.t, r.dir, files) }

func (r *testRepo) remove(name string) {
	if err := os.Remove(filepath.Join(r.dir, filepath.FromSlash(name))); err != nil {
		r.t.Fatal(err)
	}
}

// commit stages everything and commits; it returns the commit id.
func (r *testRepo) commit(who, msg string) string {
	r.git("", "add", "-A")
	r.git(who, "commit", "-q", "--allow-empty", "-m", msg)
	return r.git("", "rev-parse", "HEAD")
}

func TestGitHistory(t *testing.T) {
	r := newTestRepo(t)
	secret := "A=1\nKEY=" + marker + "\n"
	r.write(map[string]string{"README.md": "hello\n", "notes.txt": "n\n"})
	r.commit("Alice 2024-01-01", "start")
	r.write(map[string]string{"config/secret.env": secret})
	c2 := r.commit("Bob 2024-01-02", "add config")
	r.remove("config/secret.env")
	r.write(map[string]string{"bin.dat": "\x00\x01" + marker})
	r.commit("Alice 2024-01-03", "remove config, add binary")

	r.git("", "checkout", "-q", "-b", "feature")
	r.write(map[string]string{
		"copy1.txt": "x " + marker + "\n",
		"copy2.txt": "x " + marker + "\n", // the same blob at a second path
		"nb.ipynb":  `{"cells": [{"cell_type": "code", "source": ["k = '` + marker + `'"], "outputs": []}]}`,
	})
	c4 := r.commit("Carol 2024-01-04", "feature work")

	r.git("", "checkout", "-q", "main")
	r.write(map[string]string{"config/secret.env": secret}) // re-added: the same blob as in c2
	r.commit("Alice 2024-01-05", "re-add config")
	r.write(map[string]string{
		"README.md": "hello\n\nsee " + marker + "\n",
		"a.zip":     mkZip(t, member{name: "x.txt", content: marker}),
	})
	c6 := r.commit("Alice 2024-01-06", "docs")
	r.git("Alice 2024-01-07", "merge", "-q", "--no-edit", "feature")

	git := func(path, commit, author, date string, line, col int) hit {
		return hit{Path: path, Source: aicred.SourceGit, Commit: commit, Author: author, Date: date, Line: line, Col: col}
	}
	bob := "Bob <bob@example.test>"
	carol := "Carol <carol@example.test>"
	alice := "Alice <alice@example.test>"
	want := []hit{
		git("config/secret.env", c2, bob, "2024-01-02T12:00:00Z", 2, 5),
		git("copy1.txt", c4, carol, "2024-01-04T12:00:00Z", 1, 3),
		git("nb.ipynb", c4, carol, "2024-01-04T12:00:00Z", 1, 51), // in the file, not the cell
		git("README.md", c6, alice, "2024-01-06T12:00:00Z", 3, 5),
		git("a.zip!x.txt", c6, alice, "2024-01-06T12:00:00Z", 1, 1),
	}
	want[2].Locator = "cell 1 source"

	for _, o := range []Options{{}, {ChunkSize: 16, Overlap: 11, Workers: 1}} {
		c := newCollector(t)
		if err := GitHistory(context.Background(), r.dir, c.opts(o), c.handle); err != nil {
			t.Fatal(err)
		}
		got := c.sorted()
		checkPaths(t, got, want)
		for _, g := range got {
			for _, w := range want {
				if g.Path == w.Path && (g.Author != w.Author || g.Date != w.Date) {
					t.Errorf("%s: author %q date %q, want %q %q", g.Path, g.Author, g.Date, w.Author, w.Date)
				}
			}
		}
		if len(c.warnings) > 0 {
			t.Errorf("warnings %q", c.warnings)
		}
	}

	// Excluded paths are not attributed: the blob is first seen elsewhere.
	c := newCollector(t)
	if err := GitHistory(context.Background(), r.dir, c.opts(Options{Exclude: []string{"copy1.txt", "*.ipynb", "*.zip"}}), c.handle); err != nil {
		t.Fatal(err)
	}
	if got := paths(c.sorted()); strings.Join(got, ",") != "README.md,config/secret.env,copy2.txt" {
		t.Errorf("with excludes: %q", got)
	}
}

func TestGitHistoryEdges(t *testing.T) {
	r := newTestRepo(t)
	c := newCollector(t)
	if err := GitHistory(context.Background(), r.dir, c.opts(Options{}), c.handle); err != nil {
		t.Errorf("empty repository: %v", err)
	}
	err := GitHistory(context.Background(), t.TempDir(), c.opts(Options{}), c.handle)
	if err == nil || !strings.Contains(err.Error(), "not a git repository") {
		t.Errorf("not a repository: %v", err)
	}

	r.write(map[string]string{"f.txt": marker})
	r.commit("Alice 2024-01-01", "one")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := GitHistory(ctx, r.dir, c.opts(Options{}), c.handle); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestGitStaged(t *testing.T) {
	r := newTestRepo(t)
	var app strings.Builder
	for i := 1; i <= 10; i++ {
		app.WriteString("line\n")
	}
	r.write(map[string]string{"app.py": app.String(), "old.txt": marker, "keep.txt": "k\n"})
	r.commit("Alice 2024-01-01", "start")

	lines := strings.SplitAfter(app.String(), "\n")
	lines = append(lines[:4], append([]string{"key = '" + marker + "'\n"}, lines[4:]...)...)
	edited := strings.Join(lines, "") + "tail " + marker + "\n"
	r.write(map[string]string{
		"app.py":        edited,
		"new.txt":       "a\nb " + marker + "\n",
		"tab\there.txt": "t " + marker, // not old.txt's content: that would be a rename, with no added lines
		"ü.txt":         marker + "\n",
	})
	r.remove("old.txt")
	r.git("", "add", "-A")
	// Not staged: must not be reported.
	r.write(map[string]string{"keep.txt": "k\n" + marker + "\n", "app.py": edited + marker + "\n"})

	staged := func(path string, line, col int) hit {
		return hit{Path: path, Source: aicred.SourceStaged, Line: line, Col: col}
	}
	want := []hit{
		staged("app.py", 5, 8),
		staged("app.py", 12, 6),
		staged("new.txt", 2, 3),
		staged("tab\there.txt", 1, 3),
		staged("ü.txt", 1, 1),
	}
	for _, o := range []Options{{}, {ChunkSize: 4, Overlap: 11}} {
		c := newCollector(t)
		if err := GitStaged(context.Background(), r.dir, c.opts(o), c.handle); err != nil {
			t.Fatal(err)
		}
		checkPaths(t, c.sorted(), want)
	}
}

func TestGitStagedInitialCommit(t *testing.T) {
	r := newTestRepo(t)
	r.write(map[string]string{"first.txt": "one\ntwo " + marker + "\n"})
	r.git("", "add", "-A")
	c := newCollector(t)
	if err := GitStaged(context.Background(), r.dir, c.opts(Options{}), c.handle); err != nil {
		t.Fatal(err)
	}
	checkPaths(t, c.sorted(), []hit{{Path: "first.txt", Source: aicred.SourceStaged, Line: 2, Col: 5}})
}

func TestDiffHelpers(t *testing.T) {
	for in, want := range map[string]int{"@@ -1,2 +3,4 @@": 3, "@@ -0,0 +1 @@ x": 1, "@@ -5 +7,0 @@": 7, "@@ bad": 1} {
		if got := hunkStart(in); got != want {
			t.Errorf("hunkStart(%q) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[string]string{"b/a.txt": "a.txt", `"b/t\tx"`: "t\tx", "/dev/null": "", `"b/\303\274.txt"`: "ü.txt"} {
		if got := diffPath(in); got != want {
			t.Errorf("diffPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGitStagedOutsideRepo: a directory outside a git work tree is refused
// in one line, not with git's usage screen.
func TestGitStagedOutsideRepo(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(dir))
	file := filepath.Join(dir, "f.txt")
	writeTree(t, dir, map[string]string{"f.txt": "x\n"})
	tests := []struct {
		name, path, want string
		kind             aicred.ErrorKind
	}{
		{"plain directory", dir, "is not in a git work tree", aicred.ErrInvalid},
		{"a file", file, "is not a directory", aicred.ErrInvalid},
		{"missing", filepath.Join(dir, "nope"), "no such file", aicred.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t)
			err := GitStaged(context.Background(), tt.path, c.opts(Options{}), c.handle)
			if err == nil || !strings.Contains(err.Error(), tt.want) || aicred.KindOf(err) != tt.kind {
				t.Fatalf("err = %v (%v), want %q (%v)", err, aicred.KindOf(err), tt.want, tt.kind)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "usage") {
				t.Errorf("not one clear line: %q", msg)
			}
		})
	}
}

// TestGitStagedProgress: each staged file with added lines counts once,
// with the bytes of its added lines.
func TestGitStagedProgress(t *testing.T) {
	r := newTestRepo(t)
	r.write(map[string]string{"a.txt": "one\n"})
	r.commit("Alice 2024-01-01", "start")
	r.write(map[string]string{"a.txt": "one\ntwo\n", "b.txt": "bb\ncc\n", "c.txt": ""})
	r.git("", "add", "-A")
	var files int
	var n int64
	c := newCollector(t)
	o := c.opts(Options{})
	o.Progress = func(f int, b int64) { files, n = f, b }
	if err := GitStaged(context.Background(), r.dir, o, c.handle); err != nil {
		t.Fatal(err)
	}
	if files != 2 || n != int64(len("two\n")+len("bb\ncc\n")) {
		t.Errorf("progress %d files, %d bytes; want 2 files, 10 bytes", files, n)
	}
}
