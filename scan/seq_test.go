package scan

import (
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/aicred/aicred/provider"
)

// A seqPattern is a pattern with a seqMatcher, and whether it serves
// start-anchored matches only.
type seqPattern struct {
	pattern  string
	headOnly bool
}

// seqPatterns returns the secret patterns (relaxed, as compiled) of the
// catalog's run filters that compile to a seqMatcher, and a few more.
func seqPatterns(t testing.TB) []seqPattern {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pats []seqPattern
	for _, p := range []string{`sk-[0-9a-f]{4}`, `[a-z]{2,5}-[0-9]{1,3}`, `x[ab]?[cd]*y`, `[0-9]{3,}`, `a[=]{0,2}`, `[a-c]{1,4}=?[d-f]+`,
		// Alternations and optional groups inside, written out as branches.
		`(?:ab|cd)e`, `s_(?:[0-9a-f]{4}_|local_)?[0-9a-f]{6}`, `t-(?:dev-|prod-)?[a-z0-9]{2,6}`, `x(?:yz)??[a-c]{2}`,
		`(?:A3T[A-Z0-9]|AKIA|ASIA)[A-Z2-7]{4}`, `d[0-9a-f]{3}(?:-[0-9]{1,2})?`} {
		pats = append(pats, seqPattern{p, false})
	}
	for _, p := range []string{`(?:[a-c][a-c]){2,}[a-c]{0,1}={0,2}`, `k(?:[0-9][a-f]){1,3}[0-9a-f]*`, `[ab]{1,5}[a-c]?`, `(?:[a-c]{3}){1,}[a-c]?`,
		`k(?:[a-c][a-c]){2,}(?:[a-c]{2}==|[a-c]{3}=)?`, `(?:[0-9]{3}){1,}(?:x[0-9]|y)?`} {
		pats = append(pats, seqPattern{p, true})
	}
	add := func(f *runFilter) {
		if f != nil && f.seq != nil {
			pats = append(pats, seqPattern{relaxRepeats(f.secretPat), f.exact == nil})
		}
	}
	for _, r := range e.rules {
		add(r.rf)
		for _, n := range append(append([]near{}, r.related...), r.hints...) {
			add(n.rf)
		}
	}
	return pats
}

// seqInputs returns strings near the pattern's matches: random draws from
// the bytes it holds, at lengths around its matches, and the catalog's
// generated secrets.
func seqInputs(rng *rand.Rand, p seqPattern, secrets []string) []string {
	m := compileSeq(p.pattern, p.headOnly)
	alpha := []byte{'.', '_', '-', '=', ' ', 'Z', '0'}
	var bytesOf func(m *seqMatcher)
	bytesOf = func(m *seqMatcher) {
		for _, a := range m.alts {
			bytesOf(a)
		}
		for _, e := range m.elems {
			alpha = append(alpha, e.lit...)
			if e.opt != nil {
				bytesOf(e.opt)
			}
			for _, cs := range append([]*charset{e.set}, e.unit...) {
				for c := range 256 {
					if cs != nil && cs[c] && rng.IntN(4) == 0 {
						alpha = append(alpha, byte(c))
					}
				}
			}
		}
	}
	bytesOf(m)
	out := append([]string{}, secrets...)
	for range 400 {
		// Build along the pattern, then mutate a little.
		b := genSeq(rng, m, nil)
		for n := rng.IntN(3); n > 0 && len(b) > 0; n-- {
			i := rng.IntN(len(b))
			switch rng.IntN(3) {
			case 0:
				b = append(b[:i:i], b[i+1:]...)
			case 1:
				b = append(b[:i:i], append([]byte{alpha[rng.IntN(len(alpha))]}, b[i:]...)...)
			case 2:
				b[i] = alpha[rng.IntN(len(alpha))]
			}
		}
		out = append(out, string(b))
	}
	return out
}

// genSeq appends to b a string along m: a random branch, literals as
// they are, each repeated element between one under its least and one
// over its most repetitions.
func genSeq(rng *rand.Rand, m *seqMatcher, b []byte) []byte {
	if m.alts != nil {
		return genSeq(rng, m.alts[rng.IntN(len(m.alts))], b)
	}
	for _, e := range m.elems {
		switch {
		case e.lit != nil:
			b = append(b, e.lit...)
			continue
		case e.opt != nil:
			if rng.IntN(3) > 0 {
				b = genSeq(rng, e.opt, b)
			}
			continue
		}
		hi := e.max
		if hi < 0 {
			hi = e.min + 8
		}
		sets := e.unit
		if e.set != nil {
			sets = []*charset{e.set}
		}
		for n := e.min + rng.IntN(hi-e.min+2) - 1; n > 0; n-- {
			for _, cs := range sets {
				var c byte
				for c = byte(rng.IntN(128)); !cs[c]; c = byte(rng.IntN(128)) {
				}
				b = append(b, c)
			}
		}
	}
	return b
}

// TestSeqMatcherAgrees holds every seqMatcher to the regexp it replaces:
// anchored at both ends (full) and at the start (prefix, leftmost-first).
func TestSeqMatcherAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var secrets []string
	for _, k := range provider.Kinds() {
		for _, ex := range k.Rule.Examples(provider.NewGen(11)) {
			secrets = append(secrets, ex.Secret)
		}
	}
	for _, p := range seqPatterns(t) {
		m := compileSeq(p.pattern, p.headOnly)
		full := regexp.MustCompile(`^(?:` + p.pattern + `)$`)
		head := regexp.MustCompile(`^(?:` + p.pattern + `)`)
		yes := 0
		for _, s := range seqInputs(rng, p, secrets) {
			if !p.headOnly {
				got, want := m.full([]byte(s)), full.MatchString(s)
				if got != want {
					t.Fatalf("%s: full(%q) = %v, regexp says %v", p.pattern, s, got, want)
				}
			}
			wantN := -1
			if loc := head.FindStringIndex(s); loc != nil {
				wantN = loc[1]
				yes++
			}
			if gotN := m.prefix([]byte(s)); gotN != wantN {
				t.Fatalf("%s: prefix(%q) = %d, regexp says %d", p.pattern, s, gotN, wantN)
			}
		}
		if yes == 0 {
			t.Errorf("%s: no input matched; the draw does not exercise it", p.pattern)
		}
	}
}

// TestCompileSeqRefuses checks that patterns where taking bytes greedily
// could miss a match get no seqMatcher.
func TestCompileSeqRefuses(t *testing.T) {
	for _, p := range []string{
		`[a-z]{1,5}[a-c]`, `[a-z]+a`, `[0-9]{2,4}x?[0-9]`, `(?:[a-c]+|x)[a-c]`, `a(?:b|cd)+`, `(?:a1|b2|c3|d4|e5)(?:a1|b2|c3|d4|e5)`, `(?i:sk-)[a-z]{3}`, `[a-z]*?x`,
		`(?:ab){2}`, `x.y`, `[é]{3}`, `[a-f]{2,3}[0-9]*[a-f]`,
	} {
		if compileSeq(p, false) != nil {
			t.Errorf("compileSeq(%q) accepted a pattern it cannot match greedily", p)
		}
	}
	for _, p := range []string{`(?:ab){2,}c`, `[a-z]{1,5}[a-c]`, `(?:[a-z][0-9]){1,3}[a-z]+`, `(?:ab){2,}(?:ab)?`} {
		if m := compileSeq(p, true); m != nil && !allEmptyable(m.elems[1:]) {
			t.Errorf("compileSeq(%q, headOnly) accepted a pattern it cannot match greedily", p)
		}
	}
	if compileSeq(`(?:[A-Za-z0-9+/]{4}){25,}[A-Za-z0-9+/]{0,3}={0,2}`, true) == nil {
		t.Error("compileSeq refused the session-token shape for start-anchored matches")
	}
	for _, p := range []string{`sk-[0-9A-Za-z]{48}`, `[0-9a-f]{8}-[0-9a-f]{4}`, `apk_[+/0-9A-Za-z]{80,100}={0,2}`} {
		if compileSeq(p, false) == nil {
			t.Errorf("compileSeq(%q) = nil", p)
		}
	}
}

// FuzzSeqMatcher holds every catalog seqMatcher to its regexp on
// arbitrary input.
func FuzzSeqMatcher(f *testing.F) {
	pats := seqPatterns(f)
	type pair struct {
		p          seqPattern
		m          *seqMatcher
		full, head *regexp.Regexp
	}
	var ps []pair
	for _, p := range pats {
		ps = append(ps, pair{p, compileSeq(p.pattern, p.headOnly), regexp.MustCompile(`^(?:` + p.pattern + `)$`), regexp.MustCompile(`^(?:` + p.pattern + `)`)})
	}
	f.Add([]byte("sk-0123"))
	f.Add([]byte("abcde-12"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range ps {
			if got, want := p.m.full(b), p.full.Match(b); !p.p.headOnly && got != want {
				t.Errorf("%s: full = %v, regexp says %v", p.p.pattern, got, want)
			}
			want := -1
			if loc := p.head.FindIndex(b); loc != nil {
				want = loc[1]
			}
			if got := p.m.prefix(b); got != want {
				t.Errorf("%s: prefix = %d, regexp says %d", p.p.pattern, got, want)
			}
		}
	})
}
