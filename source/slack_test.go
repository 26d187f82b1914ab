package source

import (
	"context"
	"strings"
	"testing"

	"github.com/aicred/aicred"
)

const slackDay = `[
 {"type": "message", "ts": "1712345678.000100", "user": "U01", "text": "here you go: &lt;` + marker + `&gt; &amp; more"},
 {"type": "message", "subtype": "bot_message", "ts": "1712345679.000200", "text": "see <https://example.test/x?key=` + marker + `|the docs>"},
 {"type": "message", "ts": "1712345680.000300", "user": "U02", "user_profile": {"name": "alice", "real_name": "Alice"},
  "text": "line one\nline two ` + marker + `",
  "attachments": [{"fallback": "fb ` + marker + `", "text": "att text", "fields": [{"title": "Key", "value": "` + marker + `"}]}],
  "files": [{"title": "snippet", "preview": "export KEY=` + marker + `"}]},
 {"type": "message", "ts": "1712345681.000400", "user": "U03", "text": "nothing to see"}
]`

func TestSlack(t *testing.T) {
	files := map[string]string{
		"export/general/2024-04-05.json": slackDay,
		"export/users.json":              `[{"id": "U01", "name": "bob", "profile": {"title": "` + marker + `"}}]`,
		"export/channels.json":           `[]`,
		"data/list.json":                 `[{"type": "message", "text": "no ts ` + marker + `"}]`,
		"data/mixed.json":                `[{"type": "message", "ts": "1", "text": "x"}, {"a": "` + marker + `"}]`,
		"data/single-day.json":           `[{"type": "message", "ts": "5.1", "text": "` + marker + `"}]`,
	}
	dir := t.TempDir()
	writeTree(t, dir, files)
	c := newCollector(t)
	if err := Walk(context.Background(), dir, c.opts(Options{}), c.handle); err != nil {
		t.Fatal(err)
	}
	chat := func(path, loc string, line, col int) hit {
		return hit{Path: path, Source: aicred.SourceChat, Locator: loc, Line: line, Col: col}
	}
	day := "export/general/2024-04-05.json"
	want := []hit{
		chat(day, "message 1712345678.000100 channel #general user U01", 1, 15),
		chat(day, "message 1712345679.000200 channel #general", 1, 32),
		chat(day, "message 1712345680.000300 channel #general user alice (U02)", 2, 10),
		chat(day, "message 1712345680.000300 channel #general user alice (U02) attachment 1 fallback", 1, 4),
		chat(day, "message 1712345680.000300 channel #general user alice (U02) attachment 1 field 1", 2, 1),
		chat(day, "message 1712345680.000300 channel #general user alice (U02) file 1", 1, 12),
		chat("data/single-day.json", "message 5.1", 1, 1),
		{Path: "data/list.json", Source: aicred.SourceFile, Line: 1, Col: 37},
		{Path: "data/mixed.json", Source: aicred.SourceFile, Line: 1, Col: 54},
		{Path: "export/users.json", Source: aicred.SourceFile, Line: 1, Col: 53},
	}
	checkPaths(t, c.sorted(), want)
	if len(c.warnings) > 0 {
		t.Errorf("warnings %q", c.warnings)
	}
}

// TestLargeJSON checks that big JSON arrays that are not chat exports are
// streamed as plain files, not decoded.
func TestLargeJSON(t *testing.T) {
	big := "[" + strings.Repeat(`{"id": 1, "name": "n"},`+"\n", 1<<15) + `{"k": "` + marker + `"}]`
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"data.json": big})
	c := newCollector(t)
	if err := Walk(context.Background(), dir, c.opts(Options{MaxDecodeBytes: 1 << 10, ChunkSize: 1 << 12}), c.handle); err != nil {
		t.Fatal(err)
	}
	checkPaths(t, c.sorted(), []hit{{Path: "data.json", Source: aicred.SourceFile, Line: 1<<15 + 1, Col: 8}})
	if len(c.warnings) > 0 {
		t.Errorf("warnings %q", c.warnings)
	}
	// A chat export over the limit is scanned as text, with a warning.
	writeTree(t, dir, map[string]string{"data.json": "[" + strings.Repeat(`{"type": "message", "ts": "1", "text": "x"},`, 100) + `{"type": "message", "ts": "2", "text": "` + marker + `"}]`})
	c = newCollector(t)
	if err := Walk(context.Background(), dir, c.opts(Options{MaxDecodeBytes: 1 << 10, ChunkSize: 1 << 8, Overlap: 1 << 6}), c.handle); err != nil {
		t.Fatal(err)
	}
	if hs := c.sorted(); len(hs) != 1 || hs[0].Source != aicred.SourceFile || !c.warned("chat export larger than 1024 bytes") {
		t.Errorf("hits %v, warnings %q", hs, c.warnings)
	}
}

func TestSlackUnescape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a &lt;b&gt; &amp;amp; c", "a <b> &amp; c"},
		{"<https://x.test|label> and <@U123> in <#C1|general>", "https://x.test label and @U123 in #C1 general"},
		{"unclosed <https://x.test", "unclosed <https://x.test"},
		{"<a|b|c>", "a b|c"},
	}
	for _, tt := range tests {
		if got := slackUnescape(tt.in); got != tt.want {
			t.Errorf("slackUnescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSlackChannel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"general/2024-04-05.json", "general"},
		{"export.zip!random/2024-04-05.json", "random"},
		{"a/b/dev-ops/2024-12-31.JSON", "dev-ops"},
		{"2024-04-05.json", ""},
		{"general/2024-4-05.json", ""},
		{"general/users.json", ""},
	}
	for _, tt := range tests {
		if got := slackChannel(tt.in); got != tt.want {
			t.Errorf("slackChannel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzSlack(f *testing.F) {
	f.Add([]byte(slackDay))
	f.Add([]byte(`[{"type": "message", "ts": "1", "text": "<<<|>>>&#x41;&"}]`))
	f.Add([]byte(`[{"type": "message", "ts": "1", "attachments": [{"fields": [null]}], "files": [{}]}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newCollector(t)
		s, err := newRun(c.opts(Options{ChunkSize: 32, Overlap: 16}), c.handle)
		if err != nil {
			t.Fatal(err)
		}
		e := &entry{loc: aicred.Location{Path: "c/2024-01-01.json", Source: aicred.SourceFile}, name: "c/2024-01-01.json"}
		if err := s.decode(context.Background(), e, data, len(data), true, "chat export", s.scanSlack); err != nil {
			t.Fatal(err)
		}
	})
}
