package scan

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/aicred/aicred/provider"
)

// fullMatchRules returns the kinds whose rule has a hand-written
// FullMatch, with the rule's pattern as written, anchored at both ends.
func fullMatchRules(t testing.TB) map[*provider.Kind]*regexp.Regexp {
	out := map[*provider.Kind]*regexp.Regexp{}
	for _, k := range provider.Kinds() {
		if k.Rule.FullMatch != nil {
			out[k] = regexp.MustCompile(`^(?:` + k.Rule.Pattern + `)$`)
		}
	}
	if len(out) == 0 {
		t.Skip("no rule has a FullMatch")
	}
	return out
}

// fullMatchInputs returns texts near the rule's matches: its examples'
// secrets and negatives, each cut down to candidates (from an occurrence
// of the leading literal to the next trailing one), and those candidates
// mutated byte by byte and unit by unit.
func fullMatchInputs(k *provider.Kind, seed uint64) []string {
	re := regexp.MustCompile(k.Rule.Pattern)
	prefix, _ := re.LiteralPrefix()
	suffix := string(literalSuffix(k.Rule.Pattern))
	var texts []string
	for _, ex := range k.Rule.Examples(provider.NewGen(seed)) {
		texts = append(texts, ex.Secret, ex.Text)
	}
	texts = append(texts, k.Rule.Negatives(provider.NewGen(seed))...)
	var cands []string
	for _, text := range texts {
		for {
			i := strings.Index(text, prefix)
			if i < 0 {
				break
			}
			j := strings.Index(text[i+len(prefix):], suffix)
			if j < 0 {
				break
			}
			cands = append(cands, text[i:i+len(prefix)+j+len(suffix)])
			text = text[i+1:]
		}
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	pieces := []string{"=", "==", `\n`, "\n", "\r\n", "\r", `\`, "n", "A", "+", "/", "-", " ", "ab==", "abc=", "abcd"}
	out := append([]string(nil), cands...)
	for _, c := range cands {
		body := c[len(prefix) : len(c)-len(suffix)]
		for range 40 {
			b := []byte(body)
			switch rng.IntN(4) {
			case 0: // delete a byte
				i := rng.IntN(len(b))
				b = append(b[:i:i], b[i+1:]...)
			case 1: // insert a piece
				i := rng.IntN(len(b) + 1)
				b = append(b[:i:i], append([]byte(pieces[rng.IntN(len(pieces))]), b[i:]...)...)
			case 2: // cut the body
				b = b[:rng.IntN(len(b)+1)]
			case 3: // append a piece before the trailing literal
				b = append(b, pieces[rng.IntN(len(pieces))]...)
			}
			out = append(out, prefix+string(b)+suffix)
		}
	}
	return out
}

// TestFullMatchAgreesWithPattern holds every hand-written Rule.FullMatch
// to its rule's Pattern (as written, counted repetitions and all) on
// candidates from the examples and negatives and on mutations of them.
func TestFullMatchAgreesWithPattern(t *testing.T) {
	for k, re := range fullMatchRules(t) {
		t.Run(k.Rule.ID, func(t *testing.T) {
			n, yes := 0, 0
			for seed := uint64(1); seed <= 3; seed++ {
				for _, c := range fullMatchInputs(k, seed) {
					want := re.MatchString(c)
					if got := k.Rule.FullMatch([]byte(c)); got != want {
						t.Errorf("seed %d: FullMatch = %v, Pattern says %v, on a %d-byte candidate", seed, got, want, len(c))
					}
					n++
					if want {
						yes++
					}
				}
			}
			if yes == 0 || yes == n {
				t.Fatalf("%d of %d candidates match: the inputs do not exercise both answers", yes, n)
			}
		})
	}
}

// TestPEMUnitCounts checks the PEM rules' FullMatch at the bounds of the
// body's unit count, with each newline form and padding.
func TestPEMUnitCounts(t *testing.T) {
	for k, re := range fullMatchRules(t) {
		prefix, _ := regexp.MustCompile(k.Rule.Pattern).LiteralPrefix()
		if !strings.HasPrefix(prefix, "-----BEGIN") {
			continue
		}
		suffix := string(literalSuffix(k.Rule.Pattern))
		for _, units := range []int{0, 1, 49, 50, 51, 999, 1000, 1001, 1002} {
			for _, nl := range []string{`\n`, "\n", "\r\n"} {
				for _, tail := range []string{"", nl, "Ab==", "Abc=", "Ab==" + nl, "Abc=" + nl, "A==", "Abcd=", "Ab=" + nl} {
					for _, lead := range []string{"", nl} {
						var b strings.Builder
						b.WriteString(prefix + lead)
						i := 0
						if lead != "" {
							i = 1 // the leading newline is a unit
						}
						for ; i < units; i++ {
							if i%17 == 16 {
								b.WriteString(nl)
							} else {
								b.WriteString("Ab+/")
							}
						}
						b.WriteString(tail + suffix)
						c := b.String()
						if got, want := k.Rule.FullMatch([]byte(c)), re.MatchString(c); got != want {
							t.Errorf("%s: %d units, newline %q, tail %q, lead %q: FullMatch = %v, Pattern says %v",
								k.Rule.ID, units, nl, tail, lead, got, want)
						}
					}
				}
			}
		}
	}
}

// FuzzFullMatch holds every Rule.FullMatch to its Pattern on arbitrary
// bodies between the rule's leading and trailing literals.
func FuzzFullMatch(f *testing.F) {
	rules := fullMatchRules(f)
	for k := range rules {
		re := regexp.MustCompile(k.Rule.Pattern)
		prefix, _ := re.LiteralPrefix()
		suffix := string(literalSuffix(k.Rule.Pattern))
		for _, c := range fullMatchInputs(k, 1)[:8] {
			f.Add(c[len(prefix) : len(c)-len(suffix)])
		}
	}
	f.Fuzz(func(t *testing.T, body string) {
		for k, full := range rules {
			prefix, _ := regexp.MustCompile(k.Rule.Pattern).LiteralPrefix()
			c := prefix + body + string(literalSuffix(k.Rule.Pattern))
			if got, want := k.Rule.FullMatch([]byte(c)), full.MatchString(c); got != want {
				t.Errorf("%s: FullMatch = %v, Pattern says %v", k.Rule.ID, got, want)
			}
			if got, want := k.Rule.FullMatch([]byte(body)), full.MatchString(body); got != want {
				t.Errorf("%s on the bare body: FullMatch = %v, Pattern says %v", k.Rule.ID, got, want)
			}
		}
	})
}
