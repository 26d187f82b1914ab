package scan

import (
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aicred/aicred/provider"
)

func kindOf(t *testing.T, id string) *provider.Kind {
	t.Helper()
	p, k, _ := strings.Cut(id, "/")
	kind, ok := provider.LookupKind(p, k)
	if !ok {
		t.Fatalf("no kind %s", id)
	}
	return kind
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestBase64KeepsKeyName: a value decoded from a Kubernetes Secret's data,
// a Docker config.json auths entry or a Helm values file is scanned after
// its key name, so context rules find and name the key inside it, and the
// finding points at the encoded value.
func TestBase64KeepsKeyName(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := provider.NewGen(42)
	azure, cohere, mistral, deepgram := g.Hex(32), g.Alnum(40), g.Alnum(32), g.LowerNum(40)
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: llm-keys\ntype: Opaque\ndata:\n" +
		"  AZURE_OPENAI_API_KEY: " + b64(azure) + "\n" +
		"  COHERE_API_KEY: " + b64(cohere) + "\n" +
		"  MISTRAL_API_KEY: " + b64(mistral) + "\n" +
		"  DEEPGRAM_API_KEY: " + b64(deepgram) + "\n"
	docker := `{"auths": {"` + g.Lower(6) + `.openai.azure.com": {"auth": "` + b64(azure) + `"}}}`
	helm := "azureOpenAI:\n  endpoint: https://" + g.Lower(6) + ".openai.azure.com/\n  apiKey: " + b64(azure) + "\n"
	jsonSecret := `{"kind": "Secret", "data": {"AZURE_OPENAI_API_KEY": "` + b64(azure) + `"}}`
	cases := []struct {
		name, text string
		want       map[string]string // secret -> kind
	}{
		{"kubernetes secret", secret, map[string]string{
			azure: "azure-openai/api-key", cohere: "cohere/api-key", mistral: "mistral/api-key", deepgram: "deepgram/api-key"}},
		{"kubernetes secret json", jsonSecret, map[string]string{azure: "azure-openai/api-key"}},
		{"docker config auths", docker, map[string]string{azure: "azure-openai/api-key"}},
		{"helm values", helm, map[string]string{azure: "azure-openai/api-key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			e.Scan([]byte(tc.text), func(m Match) {
				got[m.Secret] = m.Kind.Describe()
				enc := tc.text[m.Start:m.End]
				if m.Encoding != "base64" || strings.Contains(enc, m.Secret) || b64(m.Secret) != strings.TrimRight(enc, "=")+strings.Repeat("=", len(enc)-len(strings.TrimRight(enc, "="))) {
					t.Errorf("%s: location %q (encoding %q) is not the encoded value", m.Kind.Describe(), enc, m.Encoding)
				}
			})
			for s, k := range tc.want {
				if got[s] != k {
					t.Errorf("want %s found as %s, got %q", kindOf(t, k).Describe(), k, got[s])
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("want %d findings, got %d", len(tc.want), len(got))
			}
		})
	}
	// Without a name before it, an encoded generic value says nothing.
	var n int
	e.Scan([]byte("data:\n  value: "+b64(g.Hex(32))+"\n"), func(Match) { n++ })
	if n != 0 {
		t.Errorf("encoded hex with no context: %d findings", n)
	}
}

// TestContextBothDirections: context on the same line or in the same
// configuration block counts before or after the secret; a word in prose
// on another line, or a block separated by a blank line, does not.
func TestContextBothDirections(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	azure := kindOf(t, "azure-openai/api-key")
	g := provider.NewGen(9)
	k := g.Hex(32)
	host := g.Lower(8) + ".openai.azure.com"
	cases := []struct {
		name, text string
		found      bool
	}{
		{"host after on the next line", "API_KEY=" + k + "\nENDPOINT=https://" + host + "/\n", true},
		{"host after on the same line", `client = Client(api_key="` + k + `", endpoint="https://` + host + `")`, true},
		{"yaml header far above", "azure_openai:\n  deployment: gpt-4o-" + g.Lower(40) + "\n  api_version: 2024-10-21-" + g.Lower(30) + "\n  key: " + k + "\n", true},
		{"toml section", "[azure]\nregion = \"eastus\"\nnote = \"" + g.Lower(70) + "\"\napi_key = \"" + k + "\"\n", true},
		{"same line far before", "AZURE_OPENAI: {\"note\": \"" + g.Lower(90) + "\", \"key\": \"" + k + "\"}", true},
		{"json object, name after", "{\n  \"key\": \"" + k + "\",\n  \"endpoint\": \"https://" + host + "\"\n}", true},
		{"prose above", "we moved off azure last year, see " + g.Lower(60) + "\nchecksum " + k + "\n", false},
		{"blank line between", "AZURE_OPENAI_ENDPOINT=https://" + host + "/\n\nnote=" + g.Lower(70) + "\nchecksum=" + k + "\n", false},
		{"too many lines", "AZURE_OPENAI_ENDPOINT=https://" + host + "/\na=" + g.Lower(20) + "\nb=" + g.Lower(20) + "\nc=" + g.Lower(20) + "\nd=" + g.Lower(20) + "\nchecksum=" + k + "\n", false},
		{"too far on the line", "md5=" + k + " " + g.Lower(300) + " azure", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := matchesOf(e, tc.text, azure)
			if found := len(got) == 1 && got[0] == k; found != tc.found || len(got) > 1 {
				t.Errorf("found=%v (%d matches), want %v", found, len(got), tc.found)
			}
		})
	}
}

func TestConfigLine(t *testing.T) {
	for line, want := range map[string]bool{
		"AZURE_OPENAI_ENDPOINT=https://x": true, "export AZURE_KEY=abc": true, "  azure_openai:": true,
		`  "azure": {`: true, "[azure]": true, "- name: azure": true, `"endpoint": "https://x"`: true,
		"we moved off azure last year": false, "": false, "   ": false, "// azure client": false, ":": false,
	} {
		if got := configLine([]byte(line)); got != want {
			t.Errorf("configLine(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestIdentifierLike(t *testing.T) {
	for s, want := range map[string]bool{
		"GoogleCloudAiplatformV1SchemaPredictInstance": true, "reportedlocationnamefordisplayinthelist": true, "reportedLocationNameForDisplayInList": true,
		"GoogleCloudDialogflowCxV3beta1QueryResult": true,
	} {
		if got := identifierLike(s); got != want {
			t.Errorf("identifierLike(%q) = %v", s, got)
		}
	}
	// The early exit gives the answer of the whole count, on values near
	// the thresholds: names with digits, capitals and underscores mixed
	// in at every rate.
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"cloud", "predict", "instance", "schema", "ai", "the", "location", "x"}
	var names int
	for range 100000 {
		var b strings.Builder
		for b.Len() < 32+rng.IntN(200) {
			switch rng.IntN(6) {
			case 0:
				b.WriteByte("ABCXYZ0123456789_-"[rng.IntN(18)])
			case 1:
				w := words[rng.IntN(len(words))]
				b.WriteString(strings.ToUpper(w[:1]) + w[1:])
			default:
				b.WriteString(words[rng.IntN(len(words))])
			}
		}
		if got, want := identifierLike(b.String()), identifierLikeCount(b.String()); got != want {
			t.Fatalf("identifierLike(%q) = %v, the whole count says %v", b.String(), got, want)
		} else if got {
			names++
		}
	}
	if names < 10000 || names > 90000 {
		t.Fatalf("%d of 100000 drawn values read as names: the draw does not sit near the thresholds", names)
	}
	// Random values of the generic shapes are never taken for names.
	g := provider.NewGen(1)
	for range 200000 {
		for _, n := range []int{32, 40} {
			if s := g.Alnum(n); identifierLike(s) {
				t.Fatalf("random %d-character value taken for a name", n)
			}
		}
	}
}

// TestContextWordInRandomText: a context word inside a random identifier
// (a generated JSON corpus: "WEai210tK9", "aI21DHy") lends no context to a
// key-shaped value further along its line; the same word standing as a
// word, before or after the value, does.
func TestContextWordInRandomText(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := provider.NewGen(3)
	filler := `,"` + g.Alnum(9) + `":"` + g.Alnum(14) + `","name":"` + g.Alnum(10) + `"`
	cases := []struct {
		name, text string
		want       bool
	}{
		{"embedded after caps", `{"mHNd9bQ":["WEai210tK9"]` + filler + `,"uOow":"` + g.UUID() + `"}`, false},
		{"mixed case run", `{"type":"aI21DHy"` + filler + `,"uOow":"` + g.UUID() + `"}`, false},
		{"mixed case run just before", `{"type":"aI21DHy","uOowH9mvA0jhq":"` + g.UUID() + `"}`, false},
		{"name just before", `{"type":"AI21Client","uOowH9mvA0jhq":"` + g.UUID() + `"}`, true},
		{"word before on line", `{"provider":"ai21"` + filler + `,"key":"` + g.UUID() + `"}`, true},
		{"word after", `{"key":"` + g.UUID() + `"` + filler + `,"client":"my_ai21_client"}`, true},
		{"camel word after", `{"key":"` + g.UUID() + `"` + filler + `,"vendor":"useAi21"}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := false
			e.Scan([]byte(tc.text), func(m Match) {
				if m.Kind.Describe() == "ai21/api-key" {
					got = true
				}
			})
			if got != tc.want {
				t.Errorf("ai21/api-key found = %v, want %v in %s", got, tc.want, tc.text)
			}
		})
	}
}

// identifierLikeCount is identifierLike without its early exit.
func identifierLikeCount(s string) bool {
	if len(s) < 32 {
		return false
	}
	inRuns, vowels, run, words := 0, 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= 'a' && s[i] <= 'z' {
			run++
			continue
		}
		if run >= 3 {
			inRuns += run
			vowels += strings.Count(s[i-run:i], "a") + strings.Count(s[i-run:i], "e") + strings.Count(s[i-run:i], "i") +
				strings.Count(s[i-run:i], "o") + strings.Count(s[i-run:i], "u") + strings.Count(s[i-run:i], "y")
			if i-run > 0 && s[i-run-1] >= 'A' && s[i-run-1] <= 'Z' {
				words++
			}
		}
		run = 0
	}
	return inRuns*10 >= len(s)*7 && vowels*10 >= inRuns*3 && words != 1
}
