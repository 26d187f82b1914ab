package provider

import (
	"regexp"
	"strconv"
	"strings"
)

// simple describes the common key shapes in one place: a self-identifying
// key (a literal Prefix and a random body) or a generic value that needs a
// context word (Keywords) nearby. simpleRule turns it into a Rule whose
// examples and negatives are generated from the same shape, so a table of
// formats stays honest under the catalog test.
type simple struct {
	Desc string
	// Env is the variable name the examples assign the key to; for a
	// context rule it must contain one of the Keywords.
	Env    string
	Prefix string // literal marker, also the keyword; empty for a context rule
	// Keywords are context words for a rule without a Prefix.
	Keywords []string
	Set      string // body characters (a constant such as Alnum)
	N        int    // body length
	// Pattern overrides the generated pattern (prefix + [Set]{N}); Gen then
	// generates one value (and Neg its near misses).
	Pattern string
	Gen     func(g *Gen) string
	Neg     func(g *Gen) []string
	Window  int     // context window; default 64
	Entropy float64 // default 3
	// Extra renders more examples around a generated key.
	Extra func(g *Gen, k string) []Example
}

// classOf renders a character set constant as a regexp class body.
func classOf(set string) string {
	switch set {
	case Digits:
		return `0-9`
	case Upper:
		return `A-Z`
	case Lower:
		return `a-z`
	case Letters:
		return `A-Za-z`
	case Alnum:
		return `A-Za-z0-9`
	case UpperNum:
		return `A-Z0-9`
	case LowerNum:
		return `a-z0-9`
	case Hex:
		return `0-9a-f`
	case URL64:
		return `A-Za-z0-9_-`
	case B64:
		return `A-Za-z0-9+/`
	}
	var b strings.Builder
	for _, c := range set {
		b.WriteString(regexp.QuoteMeta(string(c)))
	}
	return b.String()
}

func simpleRule(s simple) Rule {
	gen := s.Gen
	pattern := s.Pattern
	if pattern == "" {
		pattern = regexp.QuoteMeta(s.Prefix) + `[` + classOf(s.Set) + `]{` + strconv.Itoa(s.N) + `}`
	}
	if gen == nil {
		gen = func(g *Gen) string { return s.Prefix + g.Chars(s.Set, s.N) }
	}
	entropy := s.Entropy
	if entropy == 0 {
		entropy = 3
	}
	r := Rule{Description: s.Desc, Pattern: pattern, MinEntropy: entropy}
	if s.Prefix != "" {
		r.Keywords = []string{s.Prefix}
	} else {
		r.Keywords = s.Keywords
		r.ContextWindow = s.Window
		if r.ContextWindow == 0 {
			r.ContextWindow = 64
		}
	}
	r.Examples = func(g *Gen) []Example {
		k := gen(g)
		ex := assign(s.Env, k)
		if s.Extra != nil {
			ex = append(ex, s.Extra(g, gen(g))...)
		}
		return ex
	}
	r.Negatives = func(g *Gen) []string {
		var out []string
		if s.Neg != nil {
			out = s.Neg(g)
		} else if s.Set != "" {
			if s.Prefix != "" {
				out = nearMisses(g, s.Prefix, s.Set, s.N)
			} else {
				out = []string{
					s.Env + "=" + g.Chars(s.Set, s.N-1),
					s.Env + "=" + g.Chars(s.Set, s.N+1),
				}
			}
		}
		if s.Prefix == "" {
			// The same value with no context word anywhere near it.
			out = append(out, "API_KEY="+gen(g), "token: "+gen(g)+"\n")
		}
		return out
	}
	return r
}

// jwtShape generates a JWT-shaped token (header.payload.signature) and
// matches one; used by providers whose keys are JWTs and need context.
const jwtPattern = `eyJ[A-Za-z0-9_-]{10,300}\.eyJ[A-Za-z0-9_-]{10,1000}\.[A-Za-z0-9_-]{20,400}`

func genJWT(g *Gen) string {
	return "eyJ" + g.URL64(33) + ".eyJ" + g.URL64(120) + "." + g.URL64(43)
}

// uuidPattern matches a lower-case UUID.
const uuidPattern = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`

// withHints is simpleRule with hints (an API host near the key).
func withHints(h map[string]Near, s simple) Rule {
	r := simpleRule(s)
	r.Hints = h
	return r
}
