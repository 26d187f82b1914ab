package scan

import (
	"bytes"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"

	"github.com/aicred/aicred/provider"
)

// A near pattern finds a value that belongs with a match (Rule.Related,
// Rule.Hints): the first match of its regexp in a window around the
// secret that is not the secret itself.
type near struct {
	name   string
	re     *regexp.Regexp
	window int
	// id indexes the near's occurrence cache in a scratch (scratch.occ).
	id int
	// lit is a literal every match contains (".openai.", "ak-"): the
	// regexp runs only around a match whose window holds it.
	lit []byte
	// folds: lower-cased literals one of which every match holds in some
	// case; the regexp runs only when the window holds one.
	folds []*foldLit
	// heads: lower-cased literals one of which every match begins with,
	// in some case (headLiterals): "session_token", "tenant", `"username"`.
	// anchored is the regexp anchored at its start; find runs it from each
	// occurrence of a head only, instead of searching the window.
	heads    []*foldLit
	anchored *regexp.Regexp
	// pre and value, for a pattern with heads that ends with its capture
	// group when the group is a simple sequence (compileSeq): pre, the
	// anchored regexp of what stands before the group (at most preMax
	// bytes), finds where the value starts and value takes it, as the
	// regexp would, without the regexp's tens of nanoseconds a byte over
	// a session token of a few hundred.
	pre    *regexp.Regexp
	preMax int
	value  *seqMatcher
	// memo: the pattern has no assertion (^ $ \b \B) and find keeps each
	// occurrence's anchored match (anchoredFrom).
	memo bool
	rf   *runFilter
	// narrow: find walks only the runs around the literal's occurrences
	// (always, but for the test that holds it to the whole walk).
	narrow bool
	// secret: the value is secret material (Related, not Hints), and a
	// placeholder (AWS's documented example key a few lines away) is
	// passed over for the next candidate.
	secret bool
	// fromKeywords: the literals are keywords of the engine's keyword
	// pass, which fills the near's occurrence cache for the whole buffer
	// (Engine.nearOccurrences).
	fromKeywords bool
}

// maxHeads bounds the literals a near pattern may begin with for the
// anchored search: more, and searching for each costs more than the
// search it spares.
const maxHeads = 16

// compileNears compiles a rule's related or hint patterns, in name order.
// Each is given the next id from *ids.
func compileNears(ruleID string, m map[string]provider.Near, boundary charset, secret bool, ids *int) ([]near, error) {
	var out []near
	for name, n := range m {
		nre, err := regexp.Compile(n.Pattern)
		if err != nil {
			return nil, fmt.Errorf("rule %s: near %s: %w", ruleID, name, err)
		}
		w := n.Window
		if w <= 0 {
			w = 256
		}
		group := 0
		if nre.NumSubexp() > 0 {
			group = 1
		}
		nr := near{name: name, re: nre, window: w, lit: requiredLiteral(n.Pattern), rf: newRunFilter(n.Pattern, group), narrow: true, secret: secret}
		if nr.lit == nil {
			for _, l := range foldLiterals(n.Pattern) {
				nr.folds = append(nr.folds, newFoldLit(l))
			}
		}
		if hs := headLiterals(n.Pattern); hs != nil {
			for _, h := range hs {
				nr.heads = append(nr.heads, newFoldLit(h))
			}
			nr.anchored = regexp.MustCompile(`^(?:` + n.Pattern + `)`)
			if re, err := syntax.Parse(n.Pattern, syntax.Perl); err == nil {
				nr.memo = !hasAssertion(re)
			}
			if pre, value := splitValue(n.Pattern); value != nil {
				if m, err := MaxMatchLen(pre); err == nil {
					nr.pre, nr.preMax, nr.value = regexp.MustCompile(`^(?:`+pre+`)`), m, value
				}
			}
		}
		nr.rf.compileExact(boundary)
		out = append(out, nr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	for i := range out {
		out[i].id = *ids
		*ids++
	}
	return out, nil
}

// splitValue splits a pattern that ends with its first capture group,
// (?i:session_?token)[\s:=]{1,6}([A-Za-z0-9+/]{20,}), into what stands
// before the group and a matcher for the group; a nil matcher when the
// pattern has another shape or the group is not a simple sequence.
//
// The regexp's leftmost-first match from a start tries the ways the part
// before the group can match in order of preference, and for each the
// group's; the first way before the group is what that part's own
// anchored regexp gives. Where the group matches after it, the sequence
// matcher gives the group's match, the regexp's: the whole match is
// found. Where it does not, find asks the whole regexp.
func splitValue(pattern string) (string, *seqMatcher) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) < 2 {
		return "", nil
	}
	last := re.Sub[len(re.Sub)-1]
	if last.Op != syntax.OpCapture || last.Cap != 1 {
		return "", nil
	}
	value := compileSeqNode(last.Sub[0], true)
	if value == nil {
		return "", nil
	}
	pre := &syntax.Regexp{Op: syntax.OpConcat, Flags: re.Flags, Sub: re.Sub[:len(re.Sub)-1]}
	return pre.String(), value
}

// headLiterals returns lower-cased literals of at least three bytes one
// of which, ignoring ASCII case, every match of pattern begins with, at
// most maxHeads of them, none a prefix of another; nil when there are no
// such literals. (?i:session_?token|security_?token)... gives
// sessiontoken, session_token, securitytoken and security_token.
func headLiterals(pattern string) [][]byte {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	set, _ := heads(re)
	if len(set) == 0 {
		return nil
	}
	slices.Sort(set)
	var out [][]byte
	for _, s := range set {
		if len(s) < 3 {
			return nil // too common to search for
		}
		// Sorted, a literal follows the shorter literals that are its
		// prefixes: it adds no start they do not.
		if n := len(out); n > 0 && bytes.HasPrefix([]byte(s), out[n-1]) {
			continue
		}
		out = append(out, []byte(s))
	}
	return out
}

// heads returns the lower-cased strings every match of re begins with,
// one of them each, and whether they are exactly the strings re matches
// (so a concatenation may go on past it); nil when re's matches begin
// with no such small set (a long class, an assertion, non-ASCII text).
func heads(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		b := make([]byte, len(re.Rune))
		for i, r := range re.Rune {
			if r >= 0x80 {
				return nil, false
			}
			b[i] = lowerASCII(byte(r))
		}
		return []string{string(b)}, true
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1] >= 0x80 || re.Rune[i+1]-re.Rune[i] > 4 {
				return nil, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if s := string(rune(lowerASCII(byte(r)))); !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
		}
		if len(out) == 0 || len(out) > 4 {
			return nil, false
		}
		return out, true
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpCapture:
		return heads(re.Sub[0])
	case syntax.OpQuest:
		s, exact := heads(re.Sub[0])
		if s == nil || !exact {
			return nil, false
		}
		return append(s, ""), true
	case syntax.OpPlus:
		s, _ := heads(re.Sub[0])
		return s, false
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		s, _ := heads(re.Sub[0])
		return s, false
	case syntax.OpAlternate:
		var out []string
		exact := true
		for _, sub := range re.Sub {
			s, ex := heads(sub)
			if s == nil {
				return nil, false
			}
			out = append(out, s...)
			exact = exact && ex
		}
		if len(out) > maxHeads {
			return nil, false
		}
		return out, exact
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			s, exact := heads(sub)
			if s == nil || len(out)*len(s) > maxHeads {
				return out, false
			}
			var next []string
			for _, a := range out {
				for _, b := range s {
					if c := a + b; !slices.Contains(next, c) {
						next = append(next, c)
					}
				}
			}
			out = next
			if !exact {
				return out, false
			}
		}
		return out, true
	}
	return nil, false
}

// An occurrence is where one of a near pattern's literals stands: at q,
// l bytes long (the shortest of them that stands there).
type occurrence struct {
	q, l int
	// For a pattern with heads: whether the match from q was looked for
	// (tried) up to end, and what was found (match, loc relative to q).
	// The windows of the keys around one occurrence ask for it again.
	tried, match bool
	end          int
	loc          [4]int
}

// occCache holds the occurrences of one near pattern's literals in the
// part of a buffer searched so far, so that the windows around many keys
// (each a few kilobytes for the AWS session token) are searched once, not
// once per key. A scratch holds one per near pattern for one buffer.
type occCache struct {
	gen    uint64 // the scratch generation it holds occurrences for
	lo, hi int    // every occurrence inside data[lo:hi] is in occ
	occ    []occurrence
	// found holds, by the bounds of a search around a run, the values
	// the regexp matched there: the keys of one block (a Qdrant key and
	// its host, a few hundred bytes apart, in each of several examples)
	// search around the same runs.
	found map[[2]int][][2]int
}

// literals returns the literals whose occurrences bound the near's
// search: its heads when it has them, else its fold literals; nil for an
// exact literal (lit) or none.
func (n *near) literals() []*foldLit {
	if n.heads != nil {
		return n.heads
	}
	return n.folds
}

// occurrences returns, in order, the occurrences of the near's literals
// that start in data[lo:hi], and perhaps some after hi: the caller stops
// at hi and skips one that does not end by hi. c, from the scratch of the
// buffer (generation gen), is extended to cover [lo, hi); nil searches
// the window alone.
func (n *near) occurrences(c *occCache, gen uint64, data []byte, lo, hi int) []occurrence {
	if c != nil && n.fromKeywords {
		if c.gen != gen {
			return nil // the keyword pass found none in this buffer
		}
		k, _ := slices.BinarySearchFunc(c.occ, lo, func(o occurrence, q int) int { return o.q - q })
		return c.occ[k:]
	}
	if c == nil {
		c = &occCache{}
	}
	if c.gen != gen {
		clear(c.found)
	}
	if c.gen != gen || lo < c.lo || lo > c.hi {
		c.gen, c.lo, c.hi, c.occ = gen, lo, lo, c.occ[:0]
	}
	if hi > c.hi {
		// An occurrence that ran past the old end was not found; search
		// again from where it may start, dropping what was found there.
		from := max(c.lo, c.hi-n.maxLiteral()+1)
		k, _ := slices.BinarySearchFunc(c.occ, from, func(o occurrence, q int) int { return o.q - q })
		c.occ = n.appendOccurrences(c.occ[:k], data, from, hi)
		c.hi = hi
	}
	k, _ := slices.BinarySearchFunc(c.occ, lo, func(o occurrence, q int) int { return o.q - q })
	return c.occ[k:]
}

func (n *near) maxLiteral() int {
	if n.lit != nil {
		return len(n.lit)
	}
	m := 0
	for _, f := range n.literals() {
		m = max(m, len(f.lit))
	}
	return m
}

// appendOccurrences appends the occurrences of the near's literals inside
// data[from:hi], in order, one per offset.
func (n *near) appendOccurrences(dst []occurrence, data []byte, from, hi int) []occurrence {
	start := len(dst)
	if n.lit != nil {
		for p := from; p < hi; {
			i := bytes.Index(data[p:hi], n.lit)
			if i < 0 {
				break
			}
			dst = append(dst, occurrence{q: p + i, l: len(n.lit)})
			p += i + 1
		}
		return dst
	}
	lits := n.literals()
	for _, f := range lits {
		for p := from; p < hi; {
			i := f.index(data[p:hi])
			if i < 0 {
				break
			}
			dst = append(dst, occurrence{q: p + i, l: len(f.lit)})
			p += i + 1
		}
	}
	if len(lits) > 1 {
		// At the same offset the shorter literal gives the wider span.
		added := dst[start:]
		slices.SortFunc(added, func(a, b occurrence) int {
			if a.q != b.q {
				return a.q - b.q
			}
			return a.l - b.l
		})
		dst = dst[:start+len(slices.CompactFunc(added, func(a, b occurrence) bool { return a.q == b.q }))]
	}
	return dst
}

// nearCache is the occurrence cache a scratch holds for a near pattern.
type nearCache struct {
	occ     []occCache
	gen     uint64
	touched []int32 // the caches nearOccurrences filled (a buffer)
}

func (nc *nearCache) of(n *near) *occCache {
	if nc == nil || (n.lit == nil && n.literals() == nil) {
		return nil
	}
	return &nc.occ[n.id]
}

func findNear(data []byte, s, t int, ns []near, boundary charset, nc *nearCache) map[string]string {
	var out map[string]string
	for i := range ns {
		n := &ns[i]
		lo, hi := max(s-n.window, 0), min(t+n.window, len(data))
		var gen uint64
		if nc != nil {
			gen = nc.gen
		}
		if v, ok := n.find(data, lo, hi, s, t, boundary, nc.of(n), gen); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[n.name] = v
		}
	}
	return out
}

// find returns the first match of a nearby pattern in data[lo:hi] that is
// not the secret data[s:t] itself. c (may be nil) caches where the
// pattern's literals stand in data, for generation gen.
func (n *near) find(data []byte, lo, hi, s, t int, boundary charset, c *occCache, gen uint64) (string, bool) {
	// take reports whether the value data[a:b] may be given.
	take := func(a, b int) bool {
		return !(a < t && b > s) && // the match itself
			!(a > 0 && boundary[data[a-1]] || b < len(data) && boundary[data[b]]) &&
			!(n.secret && isPlaceholder(data[a:b]))
	}
	var occ []occurrence
	if n.lit != nil || n.literals() != nil {
		occ = n.occurrences(c, gen, data, lo, hi)
		// Every match holds a literal: none in the window, no match.
		i := 0
		for i < len(occ) && occ[i].q < hi && occ[i].q+occ[i].l > hi {
			i++
		}
		if i == len(occ) || occ[i].q >= hi {
			return "", false
		}
		occ = occ[i:]
	}
	if n.anchored != nil {
		// Every match begins with a head: the leftmost match in the window
		// starts at the first occurrence where the anchored regexp matches,
		// and the next one after its end, as FindAll would go on.
		end := lo
		for i := range occ {
			o := &occ[i]
			if o.q >= hi {
				break
			}
			if o.q < end || o.q+o.l > hi {
				continue
			}
			loc, ok := n.anchoredFrom(data, o, hi)
			if !ok {
				continue
			}
			end = o.q + loc[1]
			a, b := loc[0], loc[1]
			if loc[2] >= 0 {
				a, b = loc[2], loc[3]
			}
			if a, b = a+o.q, b+o.q; take(a, b) {
				return string(data[a:b]), true
			}
		}
		return "", false
	}
	search := func(lo, hi, ra, rb int) (string, bool) {
		// The first match is usually the value: ask for it alone, and for
		// all of them only when it is not.
		locs := n.re.FindAllSubmatchIndex(data[lo:hi], 1)
		for i := 0; ; i++ {
			if i == len(locs) {
				if i != 1 {
					break
				}
				if locs = n.re.FindAllSubmatchIndex(data[lo:hi], -1); len(locs) < 2 {
					break
				}
			}
			loc := locs[i]
			a, b := loc[0], loc[1]
			if len(loc) > 2 && loc[2] >= 0 {
				a, b = loc[2], loc[3]
			}
			a, b = a+lo, b+lo
			if a < ra || a >= rb {
				continue
			}
			if take(a, b) {
				return string(data[a:b]), true
			}
		}
		return "", false
	}
	if n.rf == nil {
		return search(lo, hi, lo, hi)
	}
	var v string
	found := false
	try := func(a, b int) bool {
		switch {
		case n.rf.exact != nil && n.rf.whole:
			if a < t && b > s || a > 0 && boundary[data[a-1]] || b < len(data) && boundary[data[b]] || !n.rf.matchExact(data[a:b]) ||
				n.secret && isPlaceholder(data[a:b]) {
				return false
			}
			v, found = string(data[a:b]), true
		default:
			// Every match holds the literal: look for it in the few bytes
			// the regexp would see before searching.
			if f := n.rf; f.exact != nil && (a > 0 && boundary[data[a-1]] || b < len(data) && boundary[data[b]] || !f.matchExact(data[a:b])) {
				return false
			}
			slo, shi := max(a-n.rf.pre-1, lo), min(b+n.rf.post+1, hi)
			if n.lit != nil && !bytes.Contains(data[slo:shi], n.lit) || n.folds != nil && !containsAnyFold(data[slo:shi], n.folds) {
				return false
			}
			if c == nil || c.gen != gen {
				v, found = search(slo, shi, a, b)
				return found
			}
			vals, ok := c.found[[2]int{slo, shi}]
			if !ok {
				for _, loc := range n.re.FindAllSubmatchIndex(data[slo:shi], -1) {
					if len(loc) > 2 && loc[2] >= 0 {
						loc = loc[2:]
					}
					vals = append(vals, [2]int{slo + loc[0], slo + loc[1]})
				}
				if c.found == nil {
					c.found = map[[2]int][][2]int{}
				}
				c.found[[2]int{slo, shi}] = vals
			}
			for _, x := range vals {
				if x[0] >= a && x[0] < b && take(x[0], x[1]) {
					v, found = string(data[x[0]:x[1]]), true
					break
				}
			}
		}
		return found
	}
	if occ == nil || !n.narrow {
		n.rf.until(data, lo, hi, try)
		return v, found
	}
	// Every match holds the literal (one of the fold literals), and try
	// takes a run [a, b) only when the literal stands in [a-pre-1,
	// b+post+1): for an occurrence q of length l, a <= q+pre+1 and
	// b-1 >= q+l-post-2, so the run meets the span between those two
	// bounds. Walk only the runs that meet it, for each occurrence in
	// order, each run once. In text dense with keys the window holds many
	// runs and the literal once or twice.
	done := lo
	for _, o := range occ {
		if o.q >= hi {
			break
		}
		q, l := o.q, o.l
		if q+l > hi {
			continue
		}
		x, y := q+l-n.rf.post-2, q+n.rf.pre+1
		u, w := max(min(x, y), lo), min(max(x, y), hi-1)
		if u <= w {
			u, w = n.rf.runEdges(data, lo, hi, u, w)
			if start := max(u, done); start <= w && n.rf.until(data, start, w+1, try) {
				return v, found
			}
			done = max(done, w+1)
		}
	}
	return v, found
}

// anchoredFrom returns the submatch indexes, relative to o.q, of the near
// pattern's match that starts at o.q and ends by hi (loc[2] < 0 when the
// group did not take part), and whether there is one.
//
// The first call looks up to a generous end (memoSpan past the window)
// and keeps the answer in o. A match in data[q:end] that ends by hi is
// the match in data[q:hi] too (every way to match the shorter text is one
// in the longer, and the regexp prefers the same), and none in the
// longer means none in the shorter. The pattern has no assertion that
// looks past a match's end (memo). Only a match that runs past hi is
// looked for again.
func (n *near) anchoredFrom(data []byte, o *occurrence, hi int) ([4]int, bool) {
	if !n.memo {
		return n.anchoredAt(data, o.q, hi)
	}
	if !o.tried || hi > o.end {
		o.end = min(len(data), max(hi, o.q+2*n.window+memoSpan))
		o.loc, o.match = n.anchoredAt(data, o.q, o.end)
		o.tried = true
	}
	if !o.match {
		return o.loc, false
	}
	if o.q+o.loc[1] <= hi {
		return o.loc, true
	}
	return n.anchoredAt(data, o.q, hi)
}

// memoSpan is how far past twice its window an anchored near pattern's
// first look from an occurrence reaches.
const memoSpan = 4096

// anchoredAt returns the submatch indexes, relative to q, of the near
// pattern's match that starts at q and ends by hi, and whether there is
// one.
func (n *near) anchoredAt(data []byte, q, hi int) ([4]int, bool) {
	if n.value != nil {
		pl := n.pre.FindIndex(data[q:min(hi, q+n.preMax+1)])
		if pl == nil {
			return [4]int{}, false // no match of the whole pattern either
		}
		if k := n.value.prefix(data[q+pl[1] : hi]); k >= 0 {
			return [4]int{0, pl[1] + k, pl[1], pl[1] + k}, true
		}
	}
	loc := n.anchored.FindSubmatchIndex(data[q:hi])
	if loc == nil {
		return [4]int{}, false
	}
	out := [4]int{loc[0], loc[1], -1, -1}
	if len(loc) > 2 {
		out[2], out[3] = loc[2], loc[3]
	}
	return out, true
}

// hasAssertion reports whether re holds an empty-width assertion.
func hasAssertion(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, sub := range re.Sub {
		if hasAssertion(sub) {
			return true
		}
	}
	return false
}

func containsAnyFold(data []byte, lits []*foldLit) bool {
	for _, l := range lits {
		if l.in(data) {
			return true
		}
	}
	return false
}
