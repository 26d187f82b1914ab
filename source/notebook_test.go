package source

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aicred/aicred"
)

// nbV4 is a notebook in nbformat 4. The marker hides behind escaped quotes,
// in list-of-lines sources, outputs of every kind and, base64-encoded, in an
// image that must be skipped.
var nbV4 = `{
 "cells": [
  {"cell_type": "markdown", "metadata": {}, "source": ["# Setup\n", "nothing here\n"]},
  {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [
    {"output_type": "stream", "name": "stdout", "text": ["line one\n", "key=` + marker + `\n"]},
    {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {
      "text/plain": ["'` + marker + `'"],
      "text/html": ["<b>` + marker + `</b>"],
      "application/json": {"key": "` + marker + `"},
      "image/png": "` + base64.StdEncoding.EncodeToString([]byte(marker)) + marker + `"
    }},
    {"output_type": "error", "ename": "ValueError", "evalue": "bad key ` + marker + `",
     "traceback": ["Traceback:", "  x = \"` + marker + `\""]}
   ],
   "source": ["import os\n", "client = Client(key=\"` + marker + `\")\n"]},
  {"cell_type": "code", "metadata": {"tags": ["` + marker + `"]}, "outputs": [], "source": "k = '` + marker + `'"}
 ],
 "metadata": {"kernelspec": {"name": "python3"}},
 "nbformat": 4, "nbformat_minor": 5
}`

// nbV3 is the older layout: cells inside worksheets, "input" for source,
// mime types at the top of outputs.
var nbV3 = `{"metadata": {}, "nbformat": 3, "worksheets": [{"cells": [
  {"cell_type": "code", "input": ["a = 1\n", "b = '` + marker + `'"], "outputs": [
    {"output_type": "pyout", "html": ["<i>` + marker + `</i>"], "png": "` + marker + `"}
  ]}]}]}`

func TestNotebook(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []hit
		warn  string
	}{
		// Positions are in the file: the line and column where the marker's
		// JSON string holds it, not in the cell's decoded text.
		{"nbformat 4", map[string]string{"nb.ipynb": nbV4}, []hit{
			{Locator: "cell 2 output 1", Line: 5, Col: 77},
			{Locator: "cell 2 output 2", Line: 7, Col: 24},
			{Locator: "cell 2 output 2 application/json", Line: 9, Col: 36},
			{Locator: "cell 2 output 2 text/html", Line: 8, Col: 25},
			{Locator: "cell 2 output 3 error", Line: 12, Col: 72},
			{Locator: "cell 2 output 3 traceback", Line: 13, Col: 43},
			{Locator: "cell 2 source", Line: 15, Col: 53},
			{Locator: "cell 3 metadata", Line: 16, Col: 48},
			{Locator: "cell 3 source", Line: 16, Col: 95},
		}, ""},
		{"nbformat 3", map[string]string{"old.ipynb": nbV3}, []hit{
			{Locator: "cell 1 output 1 html", Line: 3, Col: 43},
			{Locator: "cell 1 source", Line: 2, Col: 52},
		}, ""},
		{"malformed falls back to raw", map[string]string{"bad.ipynb": `{"cells": [{"source": "` + marker + `"` + "\n" + marker}, []hit{
			{Source: aicred.SourceFile, Line: 1, Col: 24},
			{Source: aicred.SourceFile, Line: 2, Col: 1},
		}, "malformed notebook"},
		{"not a notebook", map[string]string{"list.ipynb": `["` + marker + `"]`}, []hit{
			{Source: aicred.SourceFile, Line: 1, Col: 3},
		}, "malformed notebook"},
		{"json object without cells", map[string]string{"obj.ipynb": `{"x": "` + marker + `"}`}, []hit{
			{Source: aicred.SourceFile, Line: 1, Col: 8},
		}, "no cells"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.files)
			c := newCollector(t)
			if err := Walk(context.Background(), dir, c.opts(Options{}), c.handle); err != nil {
				t.Fatal(err)
			}
			checkHits(t, c.sorted(), tt.want, aicred.SourceNotebook)
			for _, h := range c.sorted() {
				checkMarkerAt(t, tt.files, h)
			}
			if tt.warn == "" && len(c.warnings) > 0 || tt.warn != "" && !c.warned(tt.warn) {
				t.Errorf("warnings %q, want %q", c.warnings, tt.warn)
			}
			for _, w := range c.warnings {
				if strings.Contains(w, marker) {
					t.Errorf("warning leaks content: %q", w)
				}
			}
		})
	}
}

// checkHits compares hits, ignoring paths; a want without a Source expects
// defSource.
func checkHits(t *testing.T, got, want []hit, defSource aicred.SourceKind) {
	t.Helper()
	for i := range want {
		if want[i].Source == "" {
			want[i].Source = defSource
		}
	}
	strip := func(hs []hit) []string {
		var out []string
		for _, h := range hs {
			h.Path = ""
			out = append(out, h.String())
		}
		slices.Sort(out)
		return out
	}
	g, w := strip(got), strip(want)
	if !slices.Equal(g, w) {
		t.Errorf("hits:\n got  %q\n want %q", g, w)
	}
}

// TestNotebookLargeCell checks that a cell larger than a chunk is split
// with exact positions.
func TestNotebookLargeCell(t *testing.T) {
	lines := make([]string, 0, 400)
	for i := range 400 {
		l := strings.Repeat("y", i%7) + "\n"
		if i == 333 {
			l = "zz " + marker + "\n"
		}
		lines = append(lines, l)
	}
	// Written as Jupyter does: one JSON string per line of source.
	src, _ := json.MarshalIndent(lines, "   ", " ")
	nb := "{\"cells\": [{\"cell_type\": \"code\", \"outputs\": [],\n  \"source\": " + string(src) + "}]}"
	dir := t.TempDir()
	files := map[string]string{"big.ipynb": nb}
	writeTree(t, dir, files)
	c := newCollector(t)
	if err := Walk(context.Background(), dir, c.opts(Options{ChunkSize: 64, Overlap: 16}), c.handle); err != nil {
		t.Fatal(err)
	}
	// Line 1 opens the notebook, line 2 the source array: element 334 is
	// on line 336, its text after 4 spaces of indent and the quote.
	checkHits(t, c.sorted(), []hit{{Locator: "cell 1 source", Line: 336, Col: 9}}, aicred.SourceNotebook)
	checkMarkerAt(t, files, c.sorted()[0])
}

// checkMarkerAt checks that a hit's line and column point at the marker
// in the file itself.
func checkMarkerAt(t *testing.T, files map[string]string, h hit) {
	t.Helper()
	for name, content := range files {
		if !strings.HasSuffix(h.Path, name) {
			continue
		}
		lines := strings.Split(content, "\n")
		if h.Line < 1 || h.Line > len(lines) || h.Col < 1 || h.Col > len(lines[h.Line-1]) {
			t.Errorf("%s: %d:%d is outside the file", name, h.Line, h.Col)
			return
		}
		if at := lines[h.Line-1][h.Col-1:]; !strings.HasPrefix(at, marker) {
			t.Errorf("%s %s: %d:%d points at %.20q, not the marker", name, h.Locator, h.Line, h.Col, at)
		}
		return
	}
	t.Errorf("no file for hit %v", h)
}

// TestNotebookFilePositions: positions survive JSON escapes before the
// marker on its line (quotes, \u escapes, surrogate pairs, tabs) and chunk
// boundaries inside a cell.
func TestNotebookFilePositions(t *testing.T) {
	nb := "{\n \"cells\": [\n  {\n   \"cell_type\": \"code\",\n   \"metadata\": {},\n   \"outputs\": [],\n   \"source\": [\n" +
		"    \"import os\\n\",\n" +
		"    \"s = \\\"caf\\u00e9 \\ud83d\\ude00\\t\\\" + '" + marker + "'\\n\",\n" +
		"    \"k = '" + marker + "'\"\n" +
		"   ]\n  },\n  {\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": \"a\\nb \\\"" + marker + "\\\"\"}\n ]\n}\n"
	var check map[string]any
	if err := json.Unmarshal([]byte(nb), &check); err != nil {
		t.Fatalf("test notebook is not JSON: %v", err)
	}
	files := map[string]string{"esc.ipynb": nb}
	want := []hit{
		{Locator: "cell 1 source", Line: 9, Col: 42},
		{Locator: "cell 1 source", Line: 10, Col: 11},
		{Locator: "cell 2 source", Line: 13, Col: 63},
	}
	for _, o := range []Options{{}, {ChunkSize: 8, Overlap: 12}} {
		dir := t.TempDir()
		writeTree(t, dir, files)
		c := newCollector(t)
		if err := Walk(context.Background(), dir, c.opts(o), c.handle); err != nil {
			t.Fatal(err)
		}
		checkHits(t, c.sorted(), want, aicred.SourceNotebook)
		for _, h := range c.sorted() {
			checkMarkerAt(t, files, h)
		}
	}
}

func FuzzNotebook(f *testing.F) {
	f.Add([]byte(nbV4))
	f.Add([]byte(nbV3))
	f.Add([]byte(`{"cells": [{"source": null, "outputs": [{"data": 5, "traceback": "x"}]}]}`))
	f.Add([]byte(`{"cells": [{"source": [1, 2], "outputs": [{"data": {"text/plain": {"a": 1}}}]}], "metadata": []}`))
	f.Add([]byte(`{"worksheets": [{"cells": null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newCollector(t)
		s, err := newRun(c.opts(Options{ChunkSize: 32, Overlap: 16}), c.handle)
		if err != nil {
			t.Fatal(err)
		}
		e := &entry{loc: aicred.Location{Path: "f.ipynb", Source: aicred.SourceFile}, name: "f.ipynb"}
		if err := s.decode(context.Background(), e, data, len(data), true, "notebook", s.scanNotebook); err != nil {
			t.Fatal(err)
		}
	})
}
