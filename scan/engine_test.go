package scan

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aicred/aicred/provider"
)

func newEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func anthropicKey(g *provider.Gen) string { return "sk-ant-api03-" + g.URL64(93) + "AA" }

func collectAll(e *Engine, text string) []Match {
	var ms []Match
	e.Scan([]byte(text), func(m Match) { ms = append(ms, m) })
	return ms
}

func TestEncodedSecrets(t *testing.T) {
	g := provider.NewGen(11)
	key := anthropicKey(g)
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	k8s := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: llm\ndata:\n  ANTHROPIC_API_KEY: " + b64 + "\n"
	envB64 := base64.StdEncoding.EncodeToString([]byte("ANTHROPIC_API_KEY=" + key + "\n"))
	urlEnc := "https://example.invalid/cb?token=" + strings.NewReplacer("-", "%2D", "_", "%5F").Replace(key)
	jsonEsc := `{"key": "` + strings.ReplaceAll(key, "-", `\u002d`) + `"}`
	doubleB64 := base64.StdEncoding.EncodeToString([]byte("auth: " + base64.StdEncoding.EncodeToString([]byte(key))))

	tests := []struct {
		name, text, encoding string
	}{
		{"kubernetes secret", k8s, "base64"},
		{"base64 env file", "blob " + envB64, "base64"},
		{"url encoded", urlEnc, "url"},
		{"double url encoded", "t=" + url.QueryEscape(strings.ReplaceAll(key, "-", "%2D")), "url+url"},
		{"json unicode escapes", jsonEsc, "json-escape"},
		{"nested base64", "x: " + doubleB64, "base64+base64"},
	}
	e := newEngine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := collectAll(e, tt.text)
			if len(ms) != 1 {
				t.Fatalf("want 1 match, got %d", len(ms))
			}
			m := ms[0]
			if m.Secret != key || m.Encoding != tt.encoding || m.Kind.Rule.ID != "anthropic-api-key" {
				t.Errorf("got rule %s encoding %q, secret equal %v", m.Kind.Rule.ID, m.Encoding, m.Secret == key)
			}
			if m.Start < 0 || m.End > len(tt.text) || m.Start >= m.End {
				t.Errorf("bad span %d..%d", m.Start, m.End)
			}
		})
	}
	if ms := collectAll(newEngineNoDecode(t), k8s); len(ms) != 0 {
		t.Errorf("decoding off: want no match, got %d", len(ms))
	}
}

func newEngineNoDecode(t *testing.T) *Engine {
	e, err := New(Options{DecodeDepth: -1})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestInlineAllowAndPlaceholders(t *testing.T) {
	g := provider.NewGen(5)
	key := anthropicKey(g)
	e := newEngine(t)
	tests := []struct {
		name string
		text string
		want int
	}{
		{"plain", "key = " + key + "\n", 1},
		{"allowed on the line", "key = " + key + " # aicred:allow\n", 0},
		{"allow on another line", "# aicred:allow\nkey = " + key + "\n", 1},
		{"placeholder run", "key = sk-ant-api03-" + strings.Repeat("x", 93) + "AA", 0},
		{"placeholder word", "key = sk-ant-api03-" + g.URL64(40) + "EXAMPLE" + g.URL64(46) + "AA", 0},
		{"twice", key + "\n" + key + "\n", 2},
		{"escaped quote terminator", `"source": ["k = \"` + key + `\"\n"]`, 1},
		{"newline escape terminator", `"k=` + key + `\n"`, 1},
		// The keyword pass finds the comment: in a long buffer (walked in
		// quarters), in another case (not honoured: the line is read).
		{"allowed in a long buffer", strings.Repeat("x = 1\n", 20000) + "key = " + key + " # aicred:allow\n" + strings.Repeat("y\n", 9000), 0},
		{"allow across a quarter", strings.Repeat("x = 1\n", 5461) + "key = " + key + " # aicred:allow\n" + strings.Repeat("x = 1\n", 16390), 0},
		{"upper-case allow", "key = " + key + " # AICRED:ALLOW\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(collectAll(e, tt.text)); got != tt.want {
				t.Errorf("got %d matches, want %d", got, tt.want)
			}
		})
	}
}

func TestKeywordDFA(t *testing.T) {
	d := newKeywordDFA([]string{"he", "she", "his", "hers", "SK-ant-"})
	hits := d.find([]byte("ushers Sk-Ant-x"), nil)
	type h struct {
		kw  int32
		end int
	}
	want := map[h]bool{{1, 4}: true, {0, 4}: true, {3, 6}: true, {4, 14}: true}
	if len(hits) != len(want) {
		t.Fatalf("got %v", hits)
	}
	for _, x := range hits {
		if !want[h{x.kw, x.end}] {
			t.Errorf("unexpected hit %v", x)
		}
	}
}

func TestMaxMatchLen(t *testing.T) {
	tests := []struct {
		re   string
		want int
		ok   bool
	}{
		{`sk-[a-z]{20}`, 23, true},
		{`(?:ab|abcd)x?`, 5, true},
		{`a+`, 0, false},
		{`[0-9]{2,5}(?P<secret>[a-f]{3})`, 8, true},
	}
	for _, tt := range tests {
		got, err := MaxMatchLen(tt.re)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: got %d, %v", tt.re, got, err)
		}
	}
}

func TestNoRuleWithoutBoundedWindow(t *testing.T) {
	k := &provider.Kind{ID: "x", Rule: provider.Rule{ID: "x", Keywords: []string{"abc"}, Pattern: `abc[a-z]+`}}
	if _, err := New(Options{Kinds: []*provider.Kind{k}}); err == nil {
		t.Fatal("unbounded pattern accepted")
	}
}

func TestBinaryAndHugeInput(t *testing.T) {
	e := newEngine(t)
	g := provider.NewGen(3)
	key := anthropicKey(g)
	// A single 8 MB line with a key in the middle and NULs around.
	var b strings.Builder
	b.WriteString(strings.Repeat("A\x00b+/", 700000))
	b.WriteString(" " + key + " ")
	b.WriteString(strings.Repeat("Zz09+/", 700000))
	ms := collectAll(e, b.String())
	if len(ms) != 1 || ms[0].Secret != key {
		t.Fatalf("got %d matches", len(ms))
	}
}

func FuzzEngine(f *testing.F) {
	g := provider.NewGen(9)
	for _, k := range provider.Kinds() {
		for _, ex := range k.Rule.Examples(g) {
			f.Add([]byte(ex.Text))
		}
	}
	f.Add([]byte("a%41%4\\u00zz\\/" + base64.StdEncoding.EncodeToString([]byte("hello world, this is text"))))
	e, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e.Scan(data, func(m Match) {
			if m.Start < 0 || m.End > len(data) || m.Start >= m.End {
				t.Fatalf("bad span %d..%d of %d", m.Start, m.End, len(data))
			}
			if m.Encoding == "" && string(data[m.Start:m.End]) != m.Secret {
				t.Fatalf("span does not hold the secret")
			}
		})
	})
}

func FuzzDecoders(f *testing.F) {
	f.Add([]byte("%2D%zz%"))
	f.Add([]byte(`"a\u002db\/c\"`))
	f.Add([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="))
	f.Fuzz(func(t *testing.T, data []byte) {
		segmentsOf(data, func(s segment) {
			if s.start < 0 || s.end > len(data) || s.start >= s.end {
				t.Fatalf("bad segment %d..%d of %d", s.start, s.end, len(data))
			}
			if !printable(s.decoded) {
				t.Fatalf("non-printable decoded segment")
			}
		})
	})
}

// TestKeywordDFASplit checks that the two-stream walk of long inputs finds
// exactly what a plain walk finds, for keywords planted at every offset
// around the split point.
func TestKeywordDFASplit(t *testing.T) {
	kws := []string{"sk-ant-api", "hf_", "T3BlbkFJ", "cohere", "aa"}
	d := newKeywordDFA(kws)
	g := provider.NewGen(1)
	check := func(size int, cuts []int) {
		base := []byte(g.Chars("abcdefghij -_", size))
		for _, cut := range cuts {
			for off := cut - 12; off <= cut+2; off++ {
				for _, kw := range kws {
					data := append([]byte(nil), base...)
					copy(data[off:], kw)
					// A keyword across each cut at once, and one alone.
					for _, c := range cuts {
						if c != cut && c+2 < size {
							copy(data[c-2:], "hf_")
						}
					}
					got := d.find(data, nil)
					want := d.findFrom(data, 0, 0, nil)
					if len(got) != len(want) {
						t.Fatalf("size %d off %d kw %s: %d hits, want %d", size, off, kw, len(got), len(want))
					}
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("size %d off %d: hit %d = %v, want %v", size, off, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
	// Four quarters from splitAbove, short and long.
	for _, from := range []int{splitAbove, 64 << 10} {
		for size := from; size < from+20; size += 3 {
			check(size, []int{size / 4, size / 2, 3 * size / 4})
		}
	}
	check(splitAbove-1, []int{(splitAbove - 1) / 2}) // one chain
}

// A key that stands as is inside a segment that also holds escapes is
// reported once, where it stands, not again for the decoded segment.
func TestPlainKeyInsideEncodedSegment(t *testing.T) {
	key := anthropicKey(provider.NewGen(12))
	text := `curl "https://example.invalid/hook?note=hello%20world&api_key=` + key + `"`
	ms := collectAll(newEngine(t), text)
	if len(ms) != 1 || ms[0].Encoding != "" || text[ms[0].Start:ms[0].End] != key {
		t.Fatalf("got %d matches: %+v", len(ms), ms)
	}
}

// A key at the very end of a base64 blob survives every padding length.
func TestBase64KeyAtEndAnyPadding(t *testing.T) {
	e := newEngine(t)
	key := anthropicKey(provider.NewGen(13))
	for pad := range 3 {
		env := strings.Repeat("#", pad) + "ANTHROPIC_API_KEY=" + key
		for _, prefix := range []string{"", "x\n"} {
			env := prefix + env
			ms := collectAll(e, "data: "+base64.StdEncoding.EncodeToString([]byte(env))+"\n")
			if len(ms) != 1 || ms[0].Secret != key {
				t.Errorf("pad %d prefix %q: %d matches", pad, prefix, len(ms))
			}
		}
	}
}

// TestAWSSecretAloneOrHeld: an AWS secret access key or session token
// beside its key id is that finding's Related material and no finding of
// its own; alone, after a name for it, it is reported under its own kind.
func TestAWSSecretAloneOrHeld(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := provider.NewGen(12)
	id := "AKIA" + g.Chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
	sk := g.B64(39) + "7"
	tok := provider.Base64("\x21\x0a\x09origin_ec" + string(g.Bytes(300)))
	kinds := func(text string) (out []string) {
		e.Scan([]byte(text), func(m Match) { out = append(out, m.Kind.Provider().ID+"/"+m.Kind.ID) })
		return out
	}
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"aws_access_key_id = " + id + "\naws_secret_access_key = " + sk + "\naws_session_token = " + tok + "\n", []string{"aws/access-key-id"}},
		{"aws_secret_access_key = " + sk + "\n", []string{"aws/secret-access-key"}},
		{"aws_secret_access_key = " + sk + "\naws_session_token = " + tok + "\n", []string{"aws/secret-access-key", "aws/session-token"}},
	} {
		if got := kinds(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("%q...: kinds %v, want %v", tc.text[:24], got, tc.want)
		}
	}
}

// TestRelaxRepeats: long counted ranges are opened, exact counts and short
// ranges kept; a match longer than the pattern as written is dropped.
func TestRelaxRepeats(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`sk-[a-z]{74}`, `sk-[a-z]{74}`},
		{`x[a-z]{16,200}`, `x[a-z]{16,200}`},
		{`x(?:[a-z][a-z]){25,1000}y`, `x(?:[a-z][a-z]){25,}y`},
		{`x[a-z]{1000}`, `x[a-z]{1000}`},
	} {
		if got := relaxRepeats(tc.in); got != tc.want {
			t.Errorf("relaxRepeats(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	e := newEngine(t)
	g := provider.NewGen(33)
	// A session token longer than the rule's 4,000-character bound is not
	// one (it was not before the bound was relaxed either).
	long := provider.Base64("\x21\x0a\x09origin_ec" + string(g.Bytes(3200)))
	short := provider.Base64("\x21\x0a\x09origin_ec" + string(g.Bytes(600)))
	for _, tc := range []struct {
		tok  string
		want int
	}{{short, 1}, {long, 0}} {
		n := 0
		for _, m := range collectAll(e, "AWS_SESSION_TOKEN="+tc.tok+"\n") {
			if m.Kind.ID == "session-token" {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("token of %d characters: %d matches, want %d", len(tc.tok), n, tc.want)
		}
	}
}
