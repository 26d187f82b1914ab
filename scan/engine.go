// Package scan is the detection engine: given bytes, it reports every
// credential the catalog knows, with its kind and position. It does no I/O.
//
// The pipeline for one buffer is a straight line: one keyword pass over all
// rules' keywords (keywordDFA) -> bounded windows per rule -> the rule's
// pattern in each window -> validators (boundary, checksum, entropy,
// placeholder, published examples) -> overlap resolution -> the same again
// on base64, URL-encoded and JSON-escaped segments, a bounded number of
// layers deep.
package scan

import (
	"bytes"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"sync"

	"github.com/aicred/aicred/provider"
)

// A Match is one secret found in a buffer.
type Match struct {
	Kind *provider.Kind
	// Start and End are byte offsets in the scanned buffer. For a secret
	// found inside an encoded segment they span the whole segment.
	Start, End int
	Secret     string
	Encoding   string // "", "base64", "url", "json-escape" (joined with '+' when nested)
	Entropy    float64
	Related    map[string]string
	Hints      map[string]string

	// ctxDist is how far the nearest context keyword stands from a context
	// rule's match; overlap resolution prefers the nearest.
	ctxDist int
	// rule is the index of the rule that matched in its engine; it orders
	// matches of the same span.
	rule int32
}

// Options tune an Engine.
type Options struct {
	// Kinds to detect; nil means the whole catalog.
	Kinds []*provider.Kind
	// DecodeDepth is how many layers of encoding (base64, URL, JSON escapes)
	// are unwrapped and scanned again. Zero means the default of 2; a
	// negative value turns decoding off.
	DecodeDepth int
	// NoInlineAllow disables the "aicred:allow" line comment.
	NoInlineAllow bool
	// Disabled rule ids are skipped.
	Disabled []string
}

// InlineAllow is the comment that suppresses findings on its line.
const InlineAllow = "aicred:allow"

// Engine detects credentials. It is safe for concurrent use.
type Engine struct {
	rules       []*rule
	dfa         *keywordDFA
	kwRules     [][]int32
	kwNears     [][]int32 // keyword -> the near patterns (near.id) it is a literal of
	kwLen       []int
	allowKW     int32 // InlineAllow's keyword; -1 when it is not honoured
	decodeDepth int
	inlineAllow bool
	scratch     sync.Pool
	matches     sync.Pool // *[]Match, for Scan
}

type rule struct {
	index      int32 // in Engine.rules
	kind       *provider.Kind
	re         *regexp.Regexp
	secretIdx  int
	maxLen     int
	ctx        int
	boundary   charset
	minEntropy float64
	validate   func(string) bool
	allow      map[string]bool
	related    []near
	hints      []near
	lit        []byte     // a literal every match holds (requiredLiteral)
	rf         *runFilter // nil: the regexp runs over the whole window
	// prefix and anchored, for a whole-match rule without a run filter
	// whose matches begin with a literal (a PEM header): the regexp runs
	// from each occurrence of the literal only, anchored and bounded by
	// maxLen, instead of over the whole window.
	prefix   []byte
	anchored *regexp.Regexp
	// suffix and full, when the matches also end with a literal (a PEM
	// footer): the candidate up to the first suffix after the prefix is
	// tried first, anchored at both ends. Short enough for the backtracker
	// where the bounded search (up to maxLen) is not.
	suffix []byte
	full   *regexp.Regexp
	// fullMatch is the rule's hand-written full.Match (Rule.FullMatch),
	// or full.Match.
	fullMatch func([]byte) bool
	// endsAtSuffix: a match ends at the first occurrence of the suffix
	// after the prefix (no byte the pattern may hold between them starts
	// the suffix), so when that candidate fails there is no match at this
	// prefix and the bounded search is skipped.
	endsAtSuffix bool
}

// New compiles the rules of the given kinds into an engine.
func New(opts Options) (*Engine, error) {
	kinds := opts.Kinds
	if kinds == nil {
		kinds = provider.Kinds()
	}
	e := &Engine{decodeDepth: opts.DecodeDepth, inlineAllow: !opts.NoInlineAllow}
	if e.decodeDepth == 0 {
		e.decodeDepth = 2
	} else if e.decodeDepth < 0 {
		e.decodeDepth = 0
	}
	kwIndex := map[string]int32{}
	var keywords []string
	keyword := func(lk string) int32 {
		id, ok := kwIndex[lk]
		if !ok {
			id = int32(len(keywords))
			kwIndex[lk] = id
			keywords = append(keywords, lk)
			e.kwRules = append(e.kwRules, nil)
			e.kwNears = append(e.kwNears, nil)
			e.kwLen = append(e.kwLen, len(lk))
		}
		return id
	}
	nears := 0
	for _, k := range kinds {
		if slices.Contains(opts.Disabled, k.Rule.ID) {
			continue
		}
		r, err := compileRule(k, &nears)
		if err != nil {
			return nil, err
		}
		ri := int32(len(e.rules))
		r.index = ri
		e.rules = append(e.rules, r)
		for _, kw := range k.Rule.Keywords {
			id := keyword(string(bytes.ToLower([]byte(kw))))
			if !slices.Contains(e.kwRules[id], ri) {
				e.kwRules[id] = append(e.kwRules[id], ri)
			}
		}
	}
	// The literals that bound the near patterns' searches (session_token,
	// tenant, "username") are keywords too: the one keyword pass finds
	// where they stand in the whole buffer, and no near pattern searches
	// its windows for them.
	for _, r := range e.rules {
		for _, ns := range [][]near{r.related, r.hints} {
			for i := range ns {
				n := &ns[i]
				if n.lit != nil || n.literals() == nil {
					continue
				}
				n.fromKeywords = true
				for _, f := range n.literals() {
					id := keyword(string(f.lit))
					e.kwNears[id] = append(e.kwNears[id], int32(n.id))
				}
			}
		}
	}
	e.allowKW = -1
	if e.inlineAllow {
		e.allowKW = keyword(InlineAllow)
	}
	e.dfa = newKeywordDFA(keywords)
	e.scratch.New = func() any {
		return &scratch{windows: make([][]window, len(e.rules)), near: nearCache{occ: make([]occCache, nears)}}
	}
	e.matches.New = func() any { return new([]Match) }
	return e, nil
}

// Rules returns the number of compiled rules.
func (e *Engine) Rules() int { return len(e.rules) }

// compileRule compiles a kind's rule; its near patterns take ids from
// *nears on.
func compileRule(k *provider.Kind, nears *int) (*rule, error) {
	rl := &k.Rule
	if len(rl.Keywords) == 0 {
		return nil, fmt.Errorf("rule %s: no keywords", rl.ID)
	}
	for _, kw := range rl.Keywords {
		if len(kw) < 3 {
			return nil, fmt.Errorf("rule %s: keyword %q shorter than 3 bytes", rl.ID, kw)
		}
	}
	re, err := regexp.Compile(relaxRepeats(rl.Pattern))
	if err != nil {
		return nil, fmt.Errorf("rule %s: pattern: %w", rl.ID, err)
	}
	maxLen, err := MaxMatchLen(rl.Pattern)
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", rl.ID, err)
	}
	b := rl.Boundary
	if b == "" {
		b = defaultBoundary
	}
	bs, err := parseCharset(b)
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", rl.ID, err)
	}
	r := &rule{
		kind: k, re: re, maxLen: maxLen, ctx: rl.ContextWindow, boundary: bs,
		minEntropy: rl.MinEntropy, validate: rl.Validate,
	}
	if i := re.SubexpIndex("secret"); i > 0 {
		r.secretIdx = i
	}
	r.rf = newRunFilter(rl.Pattern, r.secretIdx)
	r.rf.compileExact(bs)
	if p, _ := re.LiteralPrefix(); r.rf == nil && r.secretIdx == 0 && len(p) >= 8 {
		r.prefix = []byte(p)
		r.anchored = regexp.MustCompile(`^(?:` + relaxRepeats(rl.Pattern) + `)`)
		if sfx := literalSuffix(rl.Pattern); len(sfx) >= 8 {
			r.suffix = sfx
			r.full = regexp.MustCompile(`^(?:` + relaxRepeats(rl.Pattern) + `)$`)
			r.fullMatch = r.full.Match
			if rl.FullMatch != nil {
				r.fullMatch = rl.FullMatch
			}
			r.endsAtSuffix = endsAtSuffix(rl.Pattern, r.prefix, sfx)
		}
	}
	if rl.FullMatch != nil && r.full == nil {
		return nil, fmt.Errorf("rule %s: FullMatch needs a pattern that begins and ends with literals of 8 bytes or more and has no secret group", rl.ID)
	}
	r.lit = requiredLiteral(rl.Pattern)
	if len(rl.Allow) > 0 {
		r.allow = map[string]bool{}
		for _, a := range rl.Allow {
			r.allow[a] = true
		}
	}
	if r.related, err = compileNears(rl.ID, rl.Related, bs, true, nears); err != nil {
		return nil, err
	}
	if r.hints, err = compileNears(rl.ID, rl.Hints, charset{}, false, nears); err != nil {
		return nil, err
	}
	return r, nil
}

// relaxAbove is the largest repeat count kept as written in a rule's
// compiled regexp.
const relaxAbove = 255

// relaxRepeats returns pattern with its long counted repetitions
// ({25,1000} of a base64 quantum: a PEM body, a session token) made open
// ({25,}). Go compiles x{n,m} into m copies of x: a program of thousands
// of instructions, too large for its fast backtracking matcher, so such a
// rule ran in the slow NFA over its whole window. The open form compiles
// to a few dozen instructions. The bound still holds: a match longer than
// the pattern's MaxMatchLen is dropped (applyIn), and the repeated class
// is in the rule's boundary, so a longer run fails the boundary check as
// it did before. Exact counts ({74}) and short ranges are kept.
func relaxRepeats(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return pattern // regexp.Compile reports it
	}
	changed := false
	var walk func(*syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		if r.Op == syntax.OpRepeat && r.Max > relaxAbove && r.Max != r.Min {
			r.Max = -1
			changed = true
		}
		for _, s := range r.Sub {
			walk(s)
		}
	}
	walk(re)
	if !changed {
		return pattern
	}
	return re.String()
}

// MaxMatchLen returns the longest match, in bytes, that an RE2 pattern can
// produce. Patterns with unbounded repetition are refused: every rule must
// bound its window.
func MaxMatchLen(pattern string) (int, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0, err
	}
	n, ok := maxLen(re.Simplify())
	if !ok {
		return 0, fmt.Errorf("pattern %q has unbounded repetition", pattern)
	}
	return n, nil
}

func maxLen(re *syntax.Regexp) (int, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += len(string(r))
		}
		return n, true
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		hi := rune(0)
		for i := 1; i < len(re.Rune); i += 2 {
			hi = max(hi, re.Rune[i])
		}
		if re.Op != syntax.OpCharClass || hi > 0x10FFFF {
			hi = 0x10FFFF
		}
		return len(string(hi)), true
	case syntax.OpCapture, syntax.OpQuest:
		return maxLen(re.Sub[0])
	case syntax.OpRepeat:
		if re.Max < 0 {
			return 0, false
		}
		n, ok := maxLen(re.Sub[0])
		return n * re.Max, ok
	case syntax.OpStar, syntax.OpPlus:
		return 0, false
	case syntax.OpConcat:
		total := 0
		for _, s := range re.Sub {
			n, ok := maxLen(s)
			if !ok {
				return 0, false
			}
			total += n
		}
		return total, true
	case syntax.OpAlternate:
		best := 0
		for _, s := range re.Sub {
			n, ok := maxLen(s)
			if !ok {
				return 0, false
			}
			best = max(best, n)
		}
		return best, true
	default: // empty match, anchors, word boundaries
		return 0, true
	}
}

type window struct {
	lo, hi int
	kws    []span // for context rules: the keywords in and around the window
}

type span struct {
	start, end int
	// word: the keyword stands as a word of its own (wordAt), so it may
	// give context across its line or block and after the secret.
	word    bool
	jumbled bool // cased as no name is (jumbled)
}

type scratch struct {
	hits     []hit
	moreHits [3][]hit // findInto's buffers
	windows  [][]window
	near     nearCache
	sortKeys []sortKey // sortMatches's
}

// Scan reports every credential in data, in order of position.
func (e *Engine) Scan(data []byte, fn func(Match)) {
	buf := e.matches.Get().(*[]Match)
	ms, allow := e.collect(data, e.decodeDepth, (*buf)[:0])
	// The keyword pass says whether the buffer holds the comment anywhere:
	// each match's line is looked at only when it does (nearly never).
	allow = allow && len(ms) > 0
	for _, m := range ms {
		if allow && lineHasAllow(data, m.Start, m.End) {
			continue
		}
		fn(m)
	}
	// The matches went out as copies: the slice is kept for the next
	// scan (text dense with keys grew it by doubling on every call),
	// emptied so it holds no secret, unless one buffer made it huge.
	if cap(ms) <= maxPooledMatches {
		clear(ms)
		*buf = ms[:0]
		e.matches.Put(buf)
	}
}

// maxPooledMatches bounds the match slices kept between scans.
const maxPooledMatches = 1 << 16

// collect appends to dst the matches in data and, depth layers deep, in
// its encoded segments.
//
// allow reports whether data holds InlineAllow, when the engine honours it.
func (e *Engine) collect(data []byte, depth int, dst []Match) (out []Match, allow bool) {
	out, allow = e.match(data, dst)
	if depth <= 0 {
		return out, allow
	}
	var buf []byte
	plain := len(out)
	segmentsOf(data, func(seg segment) {
		raw := data[seg.start:seg.end]
		// The decoded value is scanned after the text that leads to it in
		// its block (a Kubernetes Secret's AZURE_OPENAI_API_KEY:, a Docker
		// config's "registry": {"auth":), so context rules see the key
		// name. Matches inside that lead-in belong to the plain pass.
		lead := leadIn(data, seg.start)
		buf = append(append(buf[:0], lead...), seg.decoded...)
		inner, _ := e.collect(buf, depth-1, nil)
		for _, m := range inner {
			if m.Start < len(lead) {
				continue
			}
			// A key that stands in the segment as is (a plain key inside a
			// URL that also has escapes) was found by the plain pass.
			if bytes.Contains(raw, []byte(m.Secret)) {
				continue
			}
			m.Start, m.End = seg.start, seg.end
			if m.Encoding == "" {
				m.Encoding = seg.encoding
			} else {
				m.Encoding = seg.encoding + "+" + m.Encoding
			}
			out = append(out, m)
		}
	})
	// The plain matches come sorted from resolveOverlaps; only decoded
	// ones need placing among them.
	if len(out) > plain {
		slices.SortStableFunc(out, func(a, b Match) int { return a.Start - b.Start })
	}
	return out, allow
}

// match runs the keyword pass and every triggered rule over data.
// The matches are appended to dst, which must not share its array with
// anything the caller still reads. allow reports whether the keyword pass
// saw InlineAllow (ignoring case), when the engine honours it.
func (e *Engine) match(data []byte, dst []Match) (out []Match, allow bool) {
	sc := e.scratch.Get().(*scratch)
	defer e.scratch.Put(sc)
	sc.hits = e.dfa.findInto(data, sc.hits[:0], &sc.moreHits)
	if len(sc.hits) == 0 {
		return dst, false
	}
	sc.near.gen++ // a new buffer: no occurrence found so far holds
	e.nearOccurrences(&sc.near, len(data), sc.hits)
	for i := range sc.windows {
		sc.windows[i] = sc.windows[i][:0]
	}
	for _, h := range sc.hits {
		if h.kw == e.allowKW {
			allow = true
		}
		for _, ri := range e.kwRules[h.kw] {
			r := e.rules[ri]
			var lo, hi int
			if r.ctx > 0 {
				// The secret may follow the keyword within the rule's
				// window or share its block on either side (hasContext).
				lo, hi = h.end-e.kwLen[h.kw]-blockBytes-r.maxLen, h.end+max(r.ctx, blockBytes)+r.maxLen
			} else {
				lo, hi = h.end-r.maxLen, h.end+r.maxLen
			}
			lo, hi = max(lo, 0), min(hi, len(data))
			ws := sc.windows[ri]
			if n := len(ws); n > 0 && lo <= ws[n-1].hi {
				ws[n-1].hi = max(ws[n-1].hi, hi)
				if r.ctx > 0 {
					ws[n-1].kws = append(ws[n-1].kws, kwSpan(data, h.end-e.kwLen[h.kw], h.end))
				}
				continue
			}
			w := window{lo: lo, hi: hi}
			if r.ctx > 0 {
				// The keyword list of the window that stood here in the last
				// buffer, emptied, rather than a new one.
				var kws []span
				if len(ws) < cap(ws) {
					kws = ws[:len(ws)+1][len(ws)].kws[:0]
				}
				w.kws = append(kws, kwSpan(data, h.end-e.kwLen[h.kw], h.end))
			}
			sc.windows[ri] = append(ws, w)
		}
	}
	out = dst
	for ri, ws := range sc.windows {
		r := e.rules[ri]
		for _, w := range ws {
			out = r.apply(data, w, &sc.near, out)
		}
	}
	out, sc.sortKeys = resolveOverlaps(out, sc.sortKeys)
	return dropHeld(out), allow
}

// nearOccurrences fills nc, for its generation, with the occurrences of
// the near patterns' literals that the keyword pass found in a buffer of
// n bytes: in order, one per offset (the shortest literal there).
func (e *Engine) nearOccurrences(nc *nearCache, n int, hits []hit) {
	touched := nc.touched[:0]
	for _, h := range hits {
		for _, id := range e.kwNears[h.kw] {
			c := &nc.occ[id]
			if c.gen != nc.gen {
				c.gen, c.lo, c.hi, c.occ = nc.gen, 0, n, c.occ[:0]
				clear(c.found)
				touched = append(touched, id)
			}
			c.occ = append(c.occ, occurrence{q: h.end - e.kwLen[h.kw], l: e.kwLen[h.kw]})
		}
	}
	for _, id := range touched {
		c := &nc.occ[id]
		// Hits come in order of their ends; literals of other lengths
		// may start out of order.
		slices.SortFunc(c.occ, func(a, b occurrence) int {
			if a.q != b.q {
				return a.q - b.q
			}
			return a.l - b.l
		})
		c.occ = slices.CompactFunc(c.occ, func(a, b occurrence) bool { return a.q == b.q })
	}
	nc.touched = touched
}

// dropHeld removes a context match whose secret another match holds as
// Related material: an AWS secret access key or session token beside its
// key id is part of that key id's finding, not a credential of its own.
// Found alone, it is reported under its own kind.
func dropHeld(ms []Match) []Match {
	var held map[string]bool
	for _, m := range ms {
		for _, v := range m.Related {
			if held == nil {
				held = map[string]bool{}
			}
			held[v] = true
		}
	}
	if held == nil {
		return ms
	}
	out := ms[:0]
	for _, m := range ms {
		if m.Kind.Rule.ContextWindow > 0 && held[m.Secret] {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (r *rule) apply(data []byte, w window, nc *nearCache, out []Match) []Match {
	if r.anchored != nil {
		return r.applyAnchored(data, w, nc, out)
	}
	if r.rf == nil {
		return r.applyIn(data, w, nc, w.lo, w.hi, w.lo, w.hi, out)
	}
	r.rf.each(data, w.lo, w.hi, func(a, b int) {
		f := r.rf
		switch {
		case f.exact != nil:
			if a > 0 && r.boundary[data[a-1]] || b < len(data) && r.boundary[data[b]] || b-a > f.maxLen || !f.matchExact(data[a:b]) {
				return
			}
			if f.whole {
				out = r.accept(data, w, nc, a, b, out)
				return
			}
			// The secret is the run; the whole pattern confirms what
			// stands around it.
		case f.head != nil:
			for p := a; p < b; p++ {
				if p > 0 && r.boundary[data[p-1]] {
					continue
				}
				n := f.matchHead(data[p:min(b, p+f.maxLen+1)])
				if n < 0 || n > f.maxLen {
					continue
				}
				if t := p + n; t == len(data) || !r.boundary[data[t]] {
					out = r.accept(data, w, nc, p, t, out)
					p = t - 1
				}
			}
			return
		}
		lo, hi := max(a-r.rf.pre-1, w.lo), min(b+r.rf.post+1, w.hi)
		if r.lit != nil && !bytes.Contains(data[lo:hi], r.lit) {
			return // every match holds the literal
		}
		out = r.applyIn(data, w, nc, lo, hi, a, b, out)
	})
	return out
}

// applyAnchored finds the rule's matches in the window from each
// occurrence of its literal prefix, as the unanchored regexp would (leftmost
// first, not overlapping), but running it only where a match can begin:
// bounded by maxLen, Go's regexp uses its backtracker there instead of the
// NFA over the whole window.
func (r *rule) applyAnchored(data []byte, w window, nc *nearCache, out []Match) []Match {
	for p := w.lo; p < w.hi; {
		i := bytes.Index(data[p:w.hi], r.prefix)
		if i < 0 {
			break
		}
		s := p + i
		end := min(w.hi, s+r.maxLen)
		t := -1
		if r.full != nil {
			if j := bytes.Index(data[s+len(r.prefix):end], r.suffix); j >= 0 {
				if e := s + len(r.prefix) + j + len(r.suffix); r.fullMatch(data[s:e]) {
					t = e
				}
			}
			if t < 0 && r.endsAtSuffix {
				p = s + 1
				continue
			}
		}
		if t < 0 {
			loc := r.anchored.FindIndex(data[s:end])
			if loc == nil {
				p = s + 1
				continue
			}
			t = s + loc[1]
		}
		if (s == 0 || !r.boundary[data[s-1]]) && (t == len(data) || !r.boundary[data[t]]) {
			out = r.accept(data, w, nc, s, t, out)
		}
		p = max(t, s+1)
	}
	return out
}

// endsAtSuffix reports whether every match of pattern, which begins with
// the literal prefix and ends with the literal suffix, ends at the first
// occurrence of the suffix after its prefix: the pattern is a
// concatenation of the prefix, parts none of whose bytes is the suffix's
// first byte, and the suffix.
func endsAtSuffix(pattern string, prefix, suffix []byte) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return false
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) < 3 {
		return false
	}
	first, last := re.Sub[0], re.Sub[len(re.Sub)-1]
	if first.Op != syntax.OpLiteral || first.Flags&syntax.FoldCase != 0 || string(first.Rune) != string(prefix) ||
		last.Op != syntax.OpLiteral || string(last.Rune) != string(suffix) {
		return false
	}
	var cs charset
	for _, sub := range re.Sub[1 : len(re.Sub)-1] {
		if !bytesOf(sub, &cs) {
			return false
		}
	}
	return !cs[suffix[0]]
}

// literalSuffix returns the literal a pattern's top-level concatenation
// ends with, or nil.
func literalSuffix(pattern string) []byte {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	if re.Op == syntax.OpConcat && len(re.Sub) > 0 {
		re = re.Sub[len(re.Sub)-1]
	}
	if re.Op != syntax.OpLiteral || re.Flags&syntax.FoldCase != 0 {
		return nil
	}
	return []byte(string(re.Rune))
}

// applyIn runs the rule's regexp over data[lo:hi] and keeps the matches
// whose secret starts in [a, b).
func (r *rule) applyIn(data []byte, w window, nc *nearCache, lo, hi, a, b int, out []Match) []Match {
	for _, loc := range r.re.FindAllSubmatchIndex(data[lo:hi], -1) {
		s, t := loc[2*r.secretIdx], loc[2*r.secretIdx+1]
		if s < 0 || loc[1]-loc[0] > r.maxLen {
			continue // longer than the pattern as written allows (relaxRepeats)
		}
		s, t = s+lo, t+lo
		if s < a || s >= b {
			continue
		}
		if s > 0 && r.boundary[data[s-1]] || t < len(data) && r.boundary[data[t]] {
			continue
		}
		out = r.accept(data, w, nc, s, t, out)
	}
	return out
}

// accept validates the candidate secret data[s:t] (context, allow list,
// validator, placeholder, entropy) and appends its match.
func (r *rule) accept(data []byte, w window, nc *nearCache, s, t int, out []Match) []Match {
	dist := 0
	if r.ctx > 0 {
		var ok bool
		if ok, dist = hasContext(data, w.kws, s, t, r.ctx); !ok {
			return out
		}
	}
	secret := string(data[s:t])
	if r.allow[secret] || r.validate != nil && !r.validate(secret) || IsPlaceholder(secret) ||
		r.ctx > 0 && identifierLike(secret) {
		return out
	}
	ent := Entropy(secret)
	if ent < r.minEntropy {
		return out
	}
	m := Match{Kind: r.kind, Start: s, End: t, Secret: secret, Entropy: ent, ctxDist: dist, rule: r.index}
	m.Related = findNear(data, s, t, r.related, r.boundary, nc)
	m.Hints = findNear(data, s, t, r.hints, charset{}, nc)
	return append(out, m)
}

// resolveOverlaps keeps one match per span. When rules disagree about the
// same bytes, a self-identifying rule (no context needed) beats a context
// rule, and a match inside a self-identifying match is dropped.
//
// keys is a buffer for sortMatches, returned for the next call.
func resolveOverlaps(ms []Match, keys []sortKey) ([]Match, []sortKey) {
	if len(ms) < 2 {
		return ms, keys
	}
	keys = sortMatches(ms, keys)
	out := ms[:0]
	for _, m := range ms {
		if n := len(out); n > 0 {
			p := &out[n-1]
			if m.Start >= p.Start && m.End <= p.End {
				same := m.Start == p.Start && m.End == p.End
				switch {
				case same && p.Kind.Rule.ContextWindow > 0 && m.Kind.Rule.ContextWindow == 0:
					*p = m
					continue
				case same && p.Kind == m.Kind:
					continue
				case same && p.Kind.Rule.ContextWindow > 0 && m.Kind.Rule.ContextWindow > 0 && m.ctxDist < p.ctxDist:
					*p = m // two context rules: the nearer context names the key
					continue
				case same || p.Kind.Rule.ContextWindow == 0 && m.Kind.Rule.ContextWindow > 0:
					continue
				}
			}
		}
		out = append(out, m)
	}
	return out, keys
}

// sortKey orders a match in sortMatches.
type sortKey struct {
	start, end int
	rule, i    int32
}

// sortMatches orders matches by position, longest first, and in rule
// order for the same span (each rule's matches are disjoint): the order a
// stable sort of the rules' matches, appended rule by rule, gives. Small
// keys are sorted and the matches, large structs, moved once. keys is a
// buffer, returned for the next call.
func sortMatches(ms []Match, keys []sortKey) []sortKey {
	// keys[n:2n] is the radix sort's second buffer.
	n := len(ms)
	keys = slices.Grow(keys[:0], 2*n)[:n]
	sorted := true
	for i := range ms {
		keys[i] = sortKey{ms[i].Start, ms[i].End, ms[i].rule, int32(i)}
		if i > 0 && (ms[i].Start < ms[i-1].Start || ms[i].Start == ms[i-1].Start && ms[i].End >= ms[i-1].End) {
			sorted = false
		}
	}
	if !sorted {
		if n >= radixAbove {
			// The matches come rule by rule, so a stable sort by position
			// keeps rule order for the same span.
			radixSortKeys(keys, keys[n:2*n])
		} else {
			slices.SortFunc(keys, func(a, b sortKey) int {
				if a.start != b.start {
					return a.start - b.start
				}
				if a.end != b.end {
					return b.end - a.end
				}
				return int(a.rule) - int(b.rule)
			})
		}
		// ms[i] = old ms[keys[i].i], in place, cycle by cycle.
		for i := range keys {
			if keys[i].i < 0 || int(keys[i].i) == i {
				continue
			}
			held := ms[i]
			j := i
			for {
				src := int(keys[j].i)
				keys[j].i = -1
				if src == i {
					ms[j] = held
					break
				}
				ms[j] = ms[src]
				j = src
			}
		}
	}
	return keys
}

// radixAbove is the number of matches from which sortMatches sorts by
// radix: in text dense with keys ten thousand matches were a tenth of a
// buffer's time in a comparison sort.
const radixAbove = 256

// radixSortKeys sorts keys stably by start, longest (greatest end) first,
// with tmp (as long) as the second buffer: counting sorts on 11-bit digits
// of the end (reversed), then of the start.
func radixSortKeys(keys, tmp []sortKey) {
	maxEnd := 0
	for _, k := range keys {
		maxEnd = max(maxEnd, k.end)
	}
	src, dst := keys, tmp
	pass := func(digit func(sortKey) int) {
		var count [1 << radixBits]int
		for _, k := range src {
			count[digit(k)]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, k := range src {
			d := digit(k)
			dst[count[d]] = k
			count[d]++
		}
		src, dst = dst, src
	}
	const mask = 1<<radixBits - 1
	for shift := 0; maxEnd>>shift > 0; shift += radixBits {
		pass(func(k sortKey) int { return (maxEnd - k.end) >> shift & mask })
	}
	for shift := 0; maxEnd>>shift > 0; shift += radixBits { // start <= end
		pass(func(k sortKey) int { return k.start >> shift & mask })
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}

// radixBits is the width of radixSortKeys's digits.
const radixBits = 11

func lineHasAllow(data []byte, s, t int) bool {
	lo := bytes.LastIndexByte(data[:s], '\n') + 1
	hi := len(data)
	if i := bytes.IndexByte(data[t:], '\n'); i >= 0 {
		hi = t + i
	}
	return bytes.Contains(data[lo:hi], []byte(InlineAllow))
}

// requiredLiteral returns the longest case-sensitive literal that every
// match of pattern contains (a literal of its top-level concatenation), or
// nil when there is none of at least two bytes.
func requiredLiteral(pattern string) []byte {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	var best []byte
	consider := func(r *syntax.Regexp) {
		if r.Op == syntax.OpLiteral && r.Flags&syntax.FoldCase == 0 {
			if lit := []byte(string(r.Rune)); len(lit) > len(best) {
				best = lit
			}
		}
	}
	if re.Op == syntax.OpConcat {
		for _, sub := range re.Sub {
			for sub.Op == syntax.OpCapture {
				sub = sub.Sub[0]
			}
			if sub.Op == syntax.OpConcat {
				for _, s2 := range sub.Sub {
					consider(s2)
				}
			}
			consider(sub)
		}
	} else {
		consider(re)
	}
	if len(best) < 2 {
		return nil
	}
	return best
}
