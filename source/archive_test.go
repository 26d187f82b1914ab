package source

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aicred/aicred"
)

type member struct {
	name, content string
	store         bool // zip: no compression
}

func mkZip(t testing.TB, members ...member) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, m := range members {
		method := zip.Deflate
		if m.store {
			method = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, m.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func mkTar(t testing.TB, members ...member) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range members {
		typ := byte(tar.TypeReg)
		if strings.HasSuffix(m.name, "/") {
			typ = tar.TypeDir
		}
		size := int64(len(m.content))
		if typ == tar.TypeDir {
			size = 0
		}
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Typeflag: typ, Mode: 0o644, Size: size}); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := io.WriteString(tw, m.content); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func mkGzip(t testing.TB, content string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, content); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestArchives(t *testing.T) {
	text := "l1\nl2\n  " + marker + "\n"
	nested := mkZip(t,
		member{name: "dir/", content: ""},
		member{name: "dir/inner.tar.gz", content: mkGzip(t, mkTar(t, member{name: "file.txt", content: marker}))},
		member{name: "top.txt", content: marker, store: true},
	)
	notebook := `{"cells": [{"cell_type": "code", "source": ["x = 1\n", "k = '` + marker + `'"], "outputs": []}]}`
	slack := `[{"type": "message", "ts": "1700000000.000100", "user": "U1", "text": "key ` + marker + `"}]`
	many := make([]member, 20)
	for i := range many {
		many[i] = member{name: fmt.Sprintf("m%02d.txt", i), content: marker}
	}
	bomb := mkZip(t,
		member{name: "a.txt", content: marker},
		member{name: "bomb.txt", content: strings.Repeat("\n", 4<<20) + marker},
		member{name: "z.txt", content: marker},
	)
	gzBomb := mkGzip(t, strings.Repeat("a", 4<<20)+marker)
	arc := func(src aicred.SourceKind, path string, line, col int) hit {
		return hit{Path: path, Source: src, Line: line, Col: col}
	}
	tests := []struct {
		name  string
		files map[string]string
		opts  Options
		want  []hit
		warn  string
	}{
		{"zip", map[string]string{"a.zip": mkZip(t, member{name: "b/c.txt", content: text})}, Options{},
			[]hit{arc(aicred.SourceArchive, "a.zip!b/c.txt", 3, 3)}, ""},
		{"tar", map[string]string{"a.tar": mkTar(t, member{name: "d/", content: ""}, member{name: "d/e.txt", content: text})}, Options{},
			[]hit{arc(aicred.SourceArchive, "a.tar!d/e.txt", 3, 3)}, ""},
		{"tar.gz", map[string]string{"t.tar.gz": mkGzip(t, mkTar(t, member{name: "x/y.txt", content: text}))}, Options{},
			[]hit{arc(aicred.SourceArchive, "t.tar.gz!x/y.txt", 3, 3)}, ""},
		{"tgz", map[string]string{"t.tgz": mkGzip(t, mkTar(t, member{name: "y.txt", content: text}))}, Options{},
			[]hit{arc(aicred.SourceArchive, "t.tgz!y.txt", 3, 3)}, ""},
		{"gz", map[string]string{"logs/notes.txt.gz": mkGzip(t, text)}, Options{},
			[]hit{arc(aicred.SourceArchive, "logs/notes.txt.gz!notes.txt", 3, 3)}, ""},
		{"zip by magic, any extension", map[string]string{"model.bin": mkZip(t, member{name: "cfg.ini", content: text})}, Options{},
			[]hit{arc(aicred.SourceArchive, "model.bin!cfg.ini", 3, 3)}, ""},
		{"nested", map[string]string{"outer.zip": nested}, Options{}, []hit{
			arc(aicred.SourceArchive, "outer.zip!dir/inner.tar.gz!file.txt", 1, 1),
			arc(aicred.SourceArchive, "outer.zip!top.txt", 1, 1),
		}, ""},
		{"nested, small chunks", map[string]string{"outer.zip": nested}, Options{ChunkSize: 16, Overlap: 11}, []hit{
			arc(aicred.SourceArchive, "outer.zip!dir/inner.tar.gz!file.txt", 1, 1),
			arc(aicred.SourceArchive, "outer.zip!top.txt", 1, 1),
		}, ""},
		{"zip in tar.gz, streamed", map[string]string{"o.tar.gz": mkGzip(t, mkTar(t, member{name: "in.zip", content: mkZip(t, member{name: "f", content: text})}))},
			Options{ChunkSize: 16, Overlap: 11}, []hit{arc(aicred.SourceArchive, "o.tar.gz!in.zip!f", 3, 3)}, ""},
		{"depth 1", map[string]string{"outer.zip": nested}, Options{MaxArchiveDepth: ArchiveDepth(1)},
			[]hit{arc(aicred.SourceArchive, "outer.zip!top.txt", 1, 1)}, ""},
		{"depth 0", map[string]string{"outer.zip": nested, "plain.txt": marker}, Options{MaxArchiveDepth: ArchiveDepth(0)},
			[]hit{arc(aicred.SourceFile, "plain.txt", 1, 1)}, ""},
		{"depth 0, scan binary", map[string]string{"outer.zip": nested}, Options{MaxArchiveDepth: ArchiveDepth(0), ScanBinary: true},
			[]hit{arc(aicred.SourceFile, "outer.zip", 1, 0)}, ""},
		{"notebook member", map[string]string{"n.zip": mkZip(t, member{name: "nb/analysis.ipynb", content: notebook})}, Options{},
			[]hit{{Path: "n.zip!nb/analysis.ipynb", Source: aicred.SourceNotebook, Locator: "cell 1 source", Line: 1, Col: 62}}, ""}, // the file position, not the cell's
		{"slack export member", map[string]string{"export.zip": mkZip(t, member{name: "general/2024-01-02.json", content: slack})}, Options{},
			[]hit{{Path: "export.zip!general/2024-01-02.json", Source: aicred.SourceChat, Locator: "message 1700000000.000100 channel #general user U1", Line: 1, Col: 5}}, ""},
		{"malformed zip", map[string]string{"bad.zip": "PK\x03\x04" + strings.Repeat("garbage", 10), "ok.txt": marker}, Options{},
			[]hit{arc(aicred.SourceFile, "ok.txt", 1, 1)}, "malformed zip"},
		{"not a zip", map[string]string{"fake.zip": "text " + marker}, Options{},
			[]hit{arc(aicred.SourceFile, "fake.zip", 1, 6)}, "fake.zip is not a zip archive"},
		{"truncated tar.gz", map[string]string{"cut.tar.gz": mkGzip(t, mkTar(t, member{name: "a", content: text}))[:30]}, Options{},
			nil, "cut.tar.gz"},
		{"entry limit", map[string]string{"many.zip": mkZip(t, many...)}, Options{MaxArchiveEntries: 5}, []hit{
			arc(aicred.SourceArchive, "many.zip!m00.txt", 1, 1), arc(aicred.SourceArchive, "many.zip!m01.txt", 1, 1),
			arc(aicred.SourceArchive, "many.zip!m02.txt", 1, 1), arc(aicred.SourceArchive, "many.zip!m03.txt", 1, 1),
			arc(aicred.SourceArchive, "many.zip!m04.txt", 1, 1),
		}, "more than 5 entries"},
		{"zip bomb", map[string]string{"bomb.zip": bomb, "after.txt": marker}, Options{MaxArchiveBytes: 1 << 20}, []hit{
			arc(aicred.SourceArchive, "bomb.zip!a.txt", 1, 1), arc(aicred.SourceFile, "after.txt", 1, 1),
		}, "expanded size limit of 1048576 bytes"},
		{"zip bomb nested", map[string]string{"o.zip": mkZip(t, member{name: "in.zip", content: bomb})}, Options{MaxArchiveBytes: 1 << 20}, []hit{
			arc(aicred.SourceArchive, "o.zip!in.zip!a.txt", 1, 1),
		}, "o.zip: source: archive o.zip: expanded size limit"},
		{"gzip bomb", map[string]string{"big.txt.gz": gzBomb}, Options{MaxArchiveBytes: 1 << 20}, nil, "expanded size limit"},
		{"within the limit", map[string]string{"big.txt.gz": gzBomb}, Options{MaxArchiveBytes: 5 << 20},
			[]hit{arc(aicred.SourceArchive, "big.txt.gz!big.txt", 1, 4<<20+1)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.files)
			c := newCollector(t)
			if err := Walk(context.Background(), dir, c.opts(tt.opts), c.handle); err != nil {
				t.Fatal(err)
			}
			got := c.sorted()
			if tt.name == "depth 0, scan binary" {
				// The stored member shows through the raw zip; where is not the point.
				if len(got) != 1 || got[0].Path != "outer.zip" || got[0].Source != aicred.SourceFile {
					t.Errorf("hits %v", got)
				}
			} else {
				checkPaths(t, got, tt.want)
			}
			if tt.warn == "" && len(c.warnings) > 0 || tt.warn != "" && !c.warned(tt.warn) {
				t.Errorf("warnings %q, want %q", c.warnings, tt.warn)
			}
		})
	}
}

// checkPaths compares hits in full.
func checkPaths(t *testing.T, got, want []hit) {
	t.Helper()
	g := make([]string, len(got))
	for i, h := range got {
		g[i] = h.String()
	}
	w := make([]string, len(want))
	for i, h := range want {
		w[i] = h.String()
	}
	if strings.Join(g, "\n") != strings.Join(sortedStrings(w), "\n") {
		t.Errorf("hits:\n got  %q\n want %q", g, sortedStrings(w))
	}
}

func sortedStrings(s []string) []string {
	out := append([]string{}, s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestReadArchive reads archives from a stream: a zip larger than the first
// chunk has to be spooled for random access.
func TestReadArchive(t *testing.T) {
	filler := strings.Repeat("filler line\n", 100)
	z := mkZip(t, member{name: "a.txt", content: filler}, member{name: "b.txt", content: filler + marker})
	for _, o := range []Options{{}, {ChunkSize: 64, Overlap: 16}} {
		c := newCollector(t)
		if err := Read(context.Background(), strings.NewReader(z), aicred.Location{Path: "-"}, c.opts(o), c.handle); err != nil {
			t.Fatal(err)
		}
		checkPaths(t, c.sorted(), []hit{{Path: "-!b.txt", Source: aicred.SourceStdin, Line: 101, Col: 1}})
	}
}

func FuzzArchive(f *testing.F) {
	text := "a\n" + marker + "\n"
	f.Add("f.zip", []byte(mkZip(f, member{name: "a/b.txt", content: text}, member{name: "n.ipynb", content: `{"cells":[]}`})))
	f.Add("f.tar.gz", []byte(mkGzip(f, mkTar(f, member{name: "d/", content: ""}, member{name: "d/x", content: text}))))
	f.Add("f.tar", []byte(mkTar(f, member{name: "in.zip", content: mkZip(f, member{name: "y", content: text})})))
	f.Add("f.gz", []byte(mkGzip(f, mkGzip(f, text))))
	f.Add("f.zip", []byte(mkZip(f, member{name: "big", content: strings.Repeat("0", 1<<16)})))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		c := newCollector(t)
		o := c.opts(Options{ChunkSize: 64, Overlap: 16, MaxArchiveBytes: 1 << 20, MaxArchiveEntries: 100, MaxDecodeBytes: 1 << 20})
		c.maxData = 64 + 2*16
		if err := Read(context.Background(), bytes.NewReader(data), aicred.Location{Path: name, Source: aicred.SourceFile}, o, c.handle); err != nil {
			t.Fatal(err)
		}
	})
}
