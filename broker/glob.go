package broker

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// A glob matches strings like AWS StringLike: '*' matches any run of
// characters (including '/' and ':'), '?' exactly one character, and a
// backslash makes the next character literal. There are no character
// classes. Matching runs in O(len(pattern) * len(s)) at worst, never
// exponential.
type glob struct {
	src  string
	toks []globTok
	// prefix is the literal text before the first wildcard.
	prefix string
	wild   bool
}

type globTok struct {
	kind byte // globLit, globOne, globStar
	r    rune
}

const (
	globLit byte = iota
	globOne
	globStar
)

func compileGlob(s string) (*glob, error) {
	if s == "" {
		return nil, errors.New("empty glob")
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("glob is not valid UTF-8")
	}
	g := &glob{src: s}
	var prefix strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch r {
		case '*':
			// Consecutive stars are one star.
			if len(g.toks) == 0 || g.toks[len(g.toks)-1].kind != globStar {
				g.toks = append(g.toks, globTok{kind: globStar})
			}
			g.wild = true
		case '?':
			g.toks = append(g.toks, globTok{kind: globOne})
			g.wild = true
		case '\\':
			if i >= len(s) {
				return nil, errors.New("glob ends with a lone backslash")
			}
			r, n = utf8.DecodeRuneInString(s[i:])
			i += n
			fallthrough
		default:
			g.toks = append(g.toks, globTok{kind: globLit, r: r})
			if !g.wild {
				prefix.WriteRune(r)
			}
		}
	}
	g.prefix = prefix.String()
	return g, nil
}

// Match reports whether s matches the whole pattern.
func (g *glob) Match(s string) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if p < len(g.toks) {
			t := g.toks[p]
			if t.kind == globOne || t.kind == globLit && t.r == r {
				p++
				i += n
				continue
			}
			if t.kind == globStar {
				starP, starI = p, i
				p++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last star swallow one more character and retry.
		_, n = utf8.DecodeRuneInString(s[starI:])
		starI += n
		p, i = starP+1, starI
	}
	for p < len(g.toks) && g.toks[p].kind == globStar {
		p++
	}
	return p == len(g.toks)
}

// covers reports whether every string matching pattern other also matches
// g, conservatively: other equals g, or other has no wildcard and g
// matches it, or g is "literal*" and other's literal prefix starts with
// that literal.
func (g *glob) covers(other *glob) bool {
	if other.src == g.src {
		return true
	}
	if !other.wild {
		return g.Match(other.prefix)
	}
	if len(g.toks) > 0 && g.toks[len(g.toks)-1].kind == globStar && !strings.ContainsAny(strings.TrimRight(g.src, "*"), `*?\`) {
		return strings.HasPrefix(other.prefix, g.prefix)
	}
	return false
}

// MatchGlob reports whether s matches pattern in the glob syntax of roles
// and policies ('*' any run, '?' one character, '\' escapes). It is what
// the gateway uses for a token's model allowlist, so the broker and the
// gateway agree on what a pattern allows. An empty pattern matches only
// the empty string; a malformed one matches nothing.
func MatchGlob(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	g, err := compileGlob(pattern)
	if err != nil {
		return false
	}
	return g.Match(s)
}
