package discover

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/source"
)

func TestCursor(t *testing.T) {
	data := []byte("ab\ncd\n\nefgh")
	tests := []struct {
		chunkLine, chunkCol int
		offs                []int
		want                [][2]int
	}{
		{1, 1, []int{0, 1, 3, 7, 9}, [][2]int{{1, 1}, {1, 2}, {2, 1}, {4, 1}, {4, 3}}},
		// A chunk that starts mid-line (a streamed file's second chunk).
		{10, 5, []int{1, 4, 8}, [][2]int{{10, 6}, {11, 2}, {13, 2}}},
		// Out of order offsets still give right answers.
		{1, 1, []int{9, 0}, [][2]int{{4, 3}, {1, 1}}},
	}
	for _, tt := range tests {
		var c cursor
		c.reset(&source.Chunk{Data: data, Line: tt.chunkLine, Col: tt.chunkCol})
		for i, off := range tt.offs {
			l, col := c.at(data, off)
			if l != tt.want[i][0] || col != tt.want[i][1] {
				t.Errorf("chunk %d:%d off %d: got %d:%d, want %v", tt.chunkLine, tt.chunkCol, off, l, col, tt.want[i])
			}
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "allow:\n  pathz: [x]\n", "line 2"},
		{"unbounded rule", "rules:\n  - {id: a, provider: p, kind: k, keywords: [abc], pattern: 'abc.+', capabilities: [inference]}\n", "unbounded"},
		{"no capabilities", "rules:\n  - {id: a, provider: p, kind: k, keywords: [abc], pattern: 'abc.{3}'}\n", "capabilities"},
		{"bad capability", "rules:\n  - {id: a, provider: p, kind: k, keywords: [abc], pattern: 'abc.{3}', capabilities: [root]}\n", "unknown capability"},
		{"bad fingerprint", "allow:\n  fingerprints: [abc]\n", "sha256"},
		{"bad regexp", "allow:\n  patterns: ['(']\n", "allow.patterns"},
		{"bad glob", "allow:\n  paths: ['[']\n", "bad glob"},
		{"not yaml", "rules: [\n", "yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	if c, err := ParseConfig(nil); err != nil || c == nil {
		t.Errorf("empty config: %v", err)
	}
}

// A base64 blob (a Kubernetes Secret holding an env file) that straddles a
// streamed chunk boundary is still decoded whole, once.
func TestEncodedRunAcrossChunkBoundary(t *testing.T) {
	g := provider.NewGen(21)
	key := "sk-ant-api03-" + g.URL64(93) + "AA"
	env := strings.Repeat("SETTING_"+g.Alnum(20)+"=value\n", 200) + "ANTHROPIC_API_KEY=" + key + "\n"
	blob := base64.StdEncoding.EncodeToString([]byte(env)) // about 9 KB
	for _, at := range []int{source.DefaultChunkSize - len(blob)/2, source.DefaultChunkSize - 100, 10} {
		pad := strings.Repeat("x = 1\n", at/6+1)[:at]
		text := pad + "data: " + blob + "\n" + strings.Repeat("y = 2\n", 200000)
		s, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		fs, err := s.Reader(context.Background(), strings.NewReader(text), aicred.Location{Path: "-", Source: aicred.SourceStdin})
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 1 || fs[0].Encoding != "base64" {
			t.Errorf("blob at %d: %d findings", at, len(fs))
		}
	}
}

func TestMatchesKind(t *testing.T) {
	g := provider.NewGen(30)
	anth, _ := provider.LookupKind("anthropic", "api-key")
	cohere, _ := provider.LookupKind("cohere", "api-key")
	aws, _ := provider.LookupKind("aws", "access-key-id")
	// An AWS key id whose account bits decode (the rule checks them).
	var awsID string
	for _, ex := range aws.Rule.Examples(g) {
		if strings.HasPrefix(ex.Secret, "AKIA") {
			awsID = ex.Secret
			break
		}
	}
	if awsID == "" {
		t.Fatal("no AKIA example in the aws access-key-id rule")
	}
	awsSK := g.B64(40)
	cases := []struct {
		k      *provider.Kind
		secret string
		want   bool
	}{
		{anth, "sk-ant-api03-" + g.URL64(93) + "AA", true},
		{anth, "sk-ant-api03-" + g.URL64(93) + "BB", false},
		{anth, "not a key", false},
		{cohere, g.Alnum(40), true}, // a context rule: the check supplies the context
		{cohere, g.Alnum(39), false},
		{aws, awsID, true},
		{aws, awsID + ":" + awsSK, true}, // the pair the gateway signs with
		{aws, awsID + ":" + awsSK + ":" + g.B64(300), true},
		{aws, awsID + ":" + awsSK[:39], false},
		{aws, awsID + ":" + awsSK + ":", false},
		{aws, awsID + ":" + awsSK + ":a:b", false},
		{aws, "AKIA:" + awsSK, false},
	}
	for i, c := range cases {
		if got := MatchesKind(c.k, aicred.NewSecret(c.secret)); got != c.want {
			t.Errorf("case %d: got %v", i, got)
		}
	}
}
