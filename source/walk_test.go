package source

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aicred/aicred"
)

func TestWalk(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"a.txt":                 "x\n  " + marker + "\n",
		"sub/deep/c.env":        marker,
		"sub/b.log":             marker,
		".git/config":           marker,
		"vendor/lib/v.go":       marker,
		"pkg/vendor.go":         marker,
		"bin.dat":               "\x00\x01" + marker,
		"empty":                 "",
		"notslack.json":         `[{"a": "` + marker + `"}]`,
		"sub/.git/HEAD":         marker, // nested repositories' .git too
		"weird name ü/file.txt": marker,
	})
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"defaults", Options{}, []string{"a.txt", "notslack.json", "pkg/vendor.go", "sub/b.log", "sub/deep/c.env", "vendor/lib/v.go", "weird name ü/file.txt"}},
		{"exclude", Options{Exclude: []string{"vendor/**", "*.log", "./sub/deep/*.env"}},
			[]string{"a.txt", "notslack.json", "pkg/vendor.go", "weird name ü/file.txt"}},
		{"exclude directory by name", Options{Exclude: []string{"sub", "**/lib"}},
			[]string{"a.txt", "notslack.json", "pkg/vendor.go", "weird name ü/file.txt"}},
		{"binary", Options{ScanBinary: true, Workers: 1},
			[]string{"a.txt", "bin.dat", "notslack.json", "pkg/vendor.go", "sub/b.log", "sub/deep/c.env", "vendor/lib/v.go", "weird name ü/file.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t)
			var files atomic.Int64
			o := c.opts(tt.opts)
			o.Progress = func(f int, _ int64) { files.Store(int64(f)) }
			if err := Walk(context.Background(), dir, o, c.handle); err != nil {
				t.Fatal(err)
			}
			hs := c.sorted()
			if got := paths(hs); !slices.Equal(got, tt.want) {
				t.Errorf("paths %q, want %q", got, tt.want)
			}
			for _, h := range hs {
				if h.Source != aicred.SourceFile {
					t.Errorf("%v: source %s", h, h.Source)
				}
				if h.Path == "a.txt" && (h.Line != 2 || h.Col != 3) {
					t.Errorf("a.txt hit at %d:%d, want 2:3", h.Line, h.Col)
				}
			}
			if files.Load() == 0 {
				t.Error("progress never called")
			}
			if len(c.warnings) > 0 {
				t.Errorf("warnings: %q", c.warnings)
			}
		})
	}
}

func TestWalkSingleFile(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"conf/.env": "K=" + marker})
	root := filepath.Join(dir, "conf", ".env")
	c := newCollector(t)
	if err := Walk(context.Background(), root, c.opts(Options{}), c.handle); err != nil {
		t.Fatal(err)
	}
	hs := c.sorted()
	if len(hs) != 1 || hs[0].Path != filepath.ToSlash(root) || hs[0].Col != 3 {
		t.Errorf("hits %v", hs)
	}
}

func TestWalkSymlinks(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"real/f.txt": marker, "other/g.txt": marker})
	links := map[string]string{
		"real/loop":      "..",                            // back to the root: a loop
		"real/self":      ".",                             // itself: a loop
		"link-to-other":  "other",                         // a directory
		"link-to-file":   filepath.Join("other", "g.txt"), // a file
		"dangling":       "nowhere",
		"real/outside":   filepath.Join(dir, "other"), // absolute target
		"other/fifo-ish": "../real/f.txt",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Skipf("symlinks: %v", err)
		}
	}
	t.Run("not followed", func(t *testing.T) {
		c := newCollector(t)
		if err := Walk(context.Background(), dir, c.opts(Options{}), c.handle); err != nil {
			t.Fatal(err)
		}
		if got, want := paths(c.sorted()), []string{"other/g.txt", "real/f.txt"}; !slices.Equal(got, want) {
			t.Errorf("paths %q, want %q", got, want)
		}
		if len(c.warnings) > 0 {
			t.Errorf("warnings: %q", c.warnings)
		}
	})
	t.Run("followed", func(t *testing.T) {
		c := newCollector(t)
		if err := Walk(context.Background(), dir, c.opts(Options{FollowSymlinks: true}), c.handle); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"link-to-file", "link-to-other/fifo-ish", "link-to-other/g.txt",
			"other/fifo-ish", "other/g.txt",
			"real/f.txt", "real/outside/fifo-ish", "real/outside/g.txt",
		}
		if got := paths(c.sorted()); !slices.Equal(got, want) {
			t.Errorf("paths %q, want %q", got, want)
		}
		for _, w := range []string{"real/loop: source: symlink loop", "real/self: source: symlink loop", "dangling"} {
			if !c.warned(w) {
				t.Errorf("no warning %q in %q", w, c.warnings)
			}
		}
	})
}

func TestWalkUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("permissions do not apply to root")
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"ok.txt": marker, "locked.txt": marker, "closed/x.txt": marker})
	if err := os.Chmod(filepath.Join(dir, "locked.txt"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "closed"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(dir, "closed"), 0o755) })
	c := newCollector(t)
	if err := Walk(context.Background(), dir, c.opts(Options{}), c.handle); err != nil {
		t.Fatal(err)
	}
	if got := paths(c.sorted()); !slices.Equal(got, []string{"ok.txt"}) {
		t.Errorf("paths %q", got)
	}
	if !c.warned("locked.txt") || !c.warned("closed") {
		t.Errorf("warnings %q", c.warnings)
	}
	for _, w := range c.warnings {
		if strings.Contains(w, marker) {
			t.Errorf("warning leaks content: %q", w)
		}
	}
}
