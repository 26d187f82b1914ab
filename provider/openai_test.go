package provider

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestOpenAIKnownAgrees holds the hand-written shape check to its regexp
// on every OpenAI kind's generated keys and on keys cut, lengthened, with
// the marker moved and with characters the shapes do not take.
func TestOpenAIKnownAgrees(t *testing.T) {
	g := NewGen(41)
	rng := rand.New(rand.NewPCG(41, 42))
	var keys []string
	for _, k := range Kinds() {
		if k.Provider().ID != "openai" {
			continue
		}
		for range 20 {
			for _, ex := range k.Rule.Examples(g) {
				keys = append(keys, ex.Secret)
			}
		}
	}
	edits := []func(string) string{
		func(s string) string { return s },
		func(s string) string { return s[:len(s)-1] },
		func(s string) string { return s + "A" },
		func(s string) string { return strings.Replace(s, openaiMarker, "A"+openaiMarker, 1) },
		func(s string) string { i := rng.IntN(len(s)); return s[:i] + string("_-.A9"[rng.IntN(5)]) + s[i+1:] },
		func(s string) string { return strings.Replace(s, "sk-", "sk-proj-", 1) },
		func(s string) string { return strings.Replace(s, "-proj-", "-", 1) },
	}
	known := 0
	for _, k := range keys {
		for _, edit := range edits {
			s := edit(k)
			want := openaiKnownShape.MatchString(s)
			if got := openaiKnown(s); got != want {
				t.Fatalf("openaiKnown(%q) = %v, the regexp says %v", s, got, want)
			}
			if want {
				known++
			}
		}
	}
	if known == 0 || known == len(keys)*len(edits) {
		t.Fatalf("%d of %d keys of a known shape: the draw does not exercise both answers", known, len(keys)*len(edits))
	}
}

func FuzzOpenAIKnown(f *testing.F) {
	g := NewGen(43)
	f.Add("sk-proj-" + g.URL64(74) + openaiMarker + g.URL64(74))
	f.Add("sk-" + g.Alnum(20) + openaiMarker + g.Alnum(20))
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := openaiKnown(s), openaiKnownShape.MatchString(s); got != want {
			t.Fatalf("openaiKnown(%q) = %v, the regexp says %v", s, got, want)
		}
	})
}
