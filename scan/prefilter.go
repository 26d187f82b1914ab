package scan

import (
	"bytes"
	"regexp"
	"regexp/syntax"
)

// A runFilter keeps a pattern's regexp off the bytes where it cannot match.
//
// Every match of a rule's secret (its "secret" group, or the whole match
// when it has none) is a run of bytes from a small set (hex digits, the
// base64 alphabet, a prefix's letters) at least min bytes long. The engine
// walks a window once with a table lookup per byte to find such runs and
// runs the regexp only around each run: from pre bytes before it (what the
// pattern may match before the group, such as a delimiter) to post bytes
// after, plus one byte each side so empty-width assertions see the same
// neighbours. Only matches whose group starts inside the run are kept, so a
// secret is never reported twice and the matches are the ones the regexp
// finds over the whole window.
//
// In source code a window rarely holds a run of 32 hex digits, so most
// windows cost one byte loop and no regexp at all; in text dense with keys
// the regexp runs once per candidate run, over the run and not over the
// whole window.
type runFilter struct {
	set       charset
	min       int
	pre, post int
	group     int // capture index of the secret; 0 for the whole match
	// whole: the secret is the whole match (no bytes matched around it).
	whole bool
	// exact is the secret's pattern anchored at both ends, when every byte
	// of the set is a boundary byte (see compileExact); head is it
	// anchored at the start only, for a whole-match pattern whose set has
	// bytes that are not boundary bytes (the dots of a JWT).
	exact, head *regexp.Regexp
	// seq, when the secret's pattern has the simple shape it handles,
	// answers for exact and head (matchExact, matchHead).
	seq       *seqMatcher
	secretPat string
	// headPrefix is the literal every match of head starts with.
	headPrefix []byte
	// maxLen is the longest secret the pattern as written allows: exact
	// and head are compiled with relaxRepeats, so a longer candidate is
	// dropped by length.
	maxLen int
}

// compileExact prepares the anchored forms of the secret's pattern for
// the rule's boundary set. A secret passes the boundary check only when
// the bytes around it are not boundary bytes. When all of the set's bytes
// are boundary bytes, the secret can neither start after a run's first
// byte nor end before its last: the only candidate in a run is the whole
// run, and one anchored match per run (usually the one-pass matcher, no
// allocation) replaces a search. Otherwise a secret can start only at the
// run's start or after a set byte that is not a boundary byte, and the
// start-anchored form runs from those positions only.
func (f *runFilter) compileExact(boundary charset) {
	if f == nil || f.secretPat == "" {
		return
	}
	sub := true
	for c := range 256 {
		if f.set[c] && !boundary[c] {
			sub = false
		}
	}
	switch {
	case sub:
		f.exact = regexp.MustCompile(`^(?:` + relaxRepeats(f.secretPat) + `)$`)
		f.seq = compileSeq(relaxRepeats(f.secretPat), false)
	case f.whole:
		f.head = regexp.MustCompile(`^(?:` + relaxRepeats(f.secretPat) + `)`)
		f.seq = compileSeq(relaxRepeats(f.secretPat), true)
		if p, _ := f.head.LiteralPrefix(); p != "" {
			f.headPrefix = []byte(p)
		}
	}
	if f.seq != nil {
		// matchExact and matchHead are given runs of the set only.
		f.seq.coverRun(&f.set)
	}
}

// matchExact reports whether b, a run of the set's bytes, is one whole
// match of the secret's pattern.
func (f *runFilter) matchExact(b []byte) bool {
	if f.seq != nil {
		return f.seq.full(b)
	}
	return f.exact.Match(b)
}

// matchHead returns the end of the match at the start of b, a run of the
// set's bytes, or -1.
func (f *runFilter) matchHead(b []byte) int {
	if !bytes.HasPrefix(b, f.headPrefix) {
		// Every match starts with it. The regexp, when its program is
		// too large for the backtracker on a maxLen input, would set up
		// its NFA to find out (the Bedrock key's quanta, at every + and
		// / of every base64 run in its window).
		return -1
	}
	if f.seq != nil {
		return f.seq.prefix(b)
	}
	if loc := f.head.FindIndex(b); loc != nil {
		return loc[1]
	}
	return -1
}

// newRunFilter derives the filter of a pattern whose secret is capture
// group (0: the whole match). It returns nil when the pattern gives no
// useful filter (the group may be empty, may hold a line break, or is
// nested where its neighbours cannot be bounded).
func newRunFilter(pattern string, group int) *runFilter {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	f := &runFilter{group: group}
	target := re
	f.whole = group == 0 || re.Op == syntax.OpCapture && re.Cap == group
	if group > 0 {
		target = nil
		switch {
		case re.Op == syntax.OpCapture && re.Cap == group:
			target = re
		case re.Op == syntax.OpConcat:
			for i, sub := range re.Sub {
				if sub.Op != syntax.OpCapture || sub.Cap != group {
					continue
				}
				for _, s := range re.Sub[:i] {
					n, ok := maxLen(s)
					if !ok {
						return nil
					}
					f.pre += n
				}
				for _, s := range re.Sub[i+1:] {
					n, ok := maxLen(s)
					if !ok {
						return nil
					}
					f.post += n
				}
				target = sub
				break
			}
		}
		if target == nil {
			return nil
		}
	}
	if !bytesOf(target, &f.set) || f.set['\n'] {
		return nil
	}
	if f.min = minLen(target); f.min < 2 {
		return nil
	}
	if target.Op == syntax.OpCapture {
		target = target.Sub[0]
	}
	n, ok := maxLen(target)
	if _, err := regexp.Compile(target.String()); err == nil && ok {
		f.secretPat, f.maxLen = target.String(), n
	}
	return f
}

// each calls fn for every run of set bytes in data[lo:hi] at least min
// bytes long.
func (f *runFilter) each(data []byte, lo, hi int, fn func(a, b int)) {
	set := &f.set
	for i := lo; i < hi; {
		i += spanOut(set, data[i:hi])
		a := i
		i += spanIn(set, data[i:hi])
		if i-a >= f.min {
			fn(a, i)
		}
	}
}

// spanOut returns how many bytes at the start of d are not in set, and
// spanIn how many are. Range loops: no bounds check a byte, a fifth off
// the walk over a window (a fifth of a pass over text dense with keys).
func spanOut(set *charset, d []byte) int {
	for k, c := range d {
		if set[c] {
			return k
		}
	}
	return len(d)
}

func spanIn(set *charset, d []byte) int {
	for k, c := range d {
		if !set[c] {
			return k
		}
	}
	return len(d)
}

// until is each, stopping when fn returns true; it reports whether fn did.
func (f *runFilter) until(data []byte, lo, hi int, fn func(a, b int) bool) bool {
	set := &f.set
	for i := lo; i < hi; {
		i += spanOut(set, data[i:hi])
		a := i
		i += spanIn(set, data[i:hi])
		if i-a >= f.min && fn(a, i) {
			return true
		}
	}
	return false
}

// runEdges widens [u, v] (v inclusive) to whole runs of set bytes within
// [lo, hi): a walk over the result sees the runs a walk over [lo, hi)
// sees that meet [u, v], uncut.
func (f *runFilter) runEdges(data []byte, lo, hi, u, v int) (int, int) {
	set := &f.set
	if set[data[u]] {
		for u > lo && set[data[u-1]] {
			u--
		}
	}
	if set[data[v]] {
		for v+1 < hi && set[data[v+1]] {
			v++
		}
	}
	return u, v
}

// bytesOf adds to cs every byte a match of re may hold; false when that is
// any byte.
func bytesOf(re *syntax.Regexp, cs *charset) bool {
	addRune := func(r rune) {
		if r < 0x80 {
			cs[r] = true
			return
		}
		for c := 0x80; c < 0x100; c++ {
			cs[c] = true
		}
	}
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			addRune(r)
			if re.Flags&syntax.FoldCase != 0 && r < 0x80 {
				addRune(rune(lowerASCII(byte(r))))
				if r >= 'a' && r <= 'z' {
					addRune(r - 'a' + 'A')
				}
			}
		}
		return true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi-lo > 200 {
				return false
			}
			for r := lo; r <= hi; r++ {
				addRune(r)
				if r >= 0x80 {
					break
				}
			}
		}
		return true
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return false
	case syntax.OpCapture, syntax.OpQuest, syntax.OpStar, syntax.OpPlus, syntax.OpRepeat,
		syntax.OpConcat, syntax.OpAlternate:
		for _, s := range re.Sub {
			if !bytesOf(s, cs) {
				return false
			}
		}
		return true
	default: // empty matches and assertions hold no byte
		return true
	}
}

// minLen returns the fewest bytes a match of re holds.
func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += len(string(r))
		}
		return n
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minLen(s); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	default:
		return 0
	}
}

// foldLiterals returns lower-cased literals one of which every match of
// pattern contains, ignoring case ("session", "security" for
// (?i:session_?token|security_?token)...), or nil when there are none of
// at least three bytes. A window without any of them cannot match.
func foldLiterals(pattern string) [][]byte {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	return litsOf(re)
}

func litsOf(re *syntax.Regexp) [][]byte {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) < 3 {
			return nil
		}
		return [][]byte{bytes.ToLower([]byte(string(re.Rune)))}
	case syntax.OpCapture:
		return litsOf(re.Sub[0])
	case syntax.OpConcat:
		var best [][]byte
		for _, sub := range re.Sub {
			if l := litsOf(sub); l != nil && (best == nil || shortest(l) > shortest(best)) {
				best = l
			}
		}
		return best
	case syntax.OpAlternate:
		var out [][]byte
		for _, sub := range re.Sub {
			l := litsOf(sub)
			if l == nil {
				return nil
			}
			out = append(out, l...)
		}
		return out
	case syntax.OpRepeat, syntax.OpPlus:
		if re.Min >= 1 || re.Op == syntax.OpPlus {
			return litsOf(re.Sub[0])
		}
	}
	return nil
}

func shortest(ls [][]byte) int {
	n := -1
	for _, l := range ls {
		if n < 0 || len(l) < n {
			n = len(l)
		}
	}
	return n
}

// A foldLit is a lower-case literal searched for ignoring ASCII case,
// with its Horspool shift table: on text that does not hold it, the search
// looks at about one byte in len(lit) rather than at every byte (the
// session-token and tenant-id windows of a few kilobytes around each key).
type foldLit struct {
	lit   []byte
	shift [256]int32
}

func newFoldLit(lit []byte) *foldLit {
	f := &foldLit{lit: lit}
	for c := range f.shift {
		f.shift[c] = int32(len(lit))
	}
	for i, c := range lit[:len(lit)-1] {
		f.shift[c] = int32(len(lit) - 1 - i)
		if c >= 'a' && c <= 'z' {
			f.shift[c-'a'+'A'] = f.shift[c]
		}
	}
	return f
}

// in reports whether data holds the literal, ignoring ASCII case.
func (f *foldLit) in(data []byte) bool { return f.index(data) >= 0 }

// index returns where the literal first stands in data, ignoring ASCII
// case, or -1.
func (f *foldLit) index(data []byte) int {
	lit, n := f.lit, len(f.lit)
	last := lit[n-1]
	for i := n - 1; i < len(data); {
		c := data[i]
		if lowerASCII(c) == last {
			j := 0
			for j < n-1 && lowerASCII(data[i-n+1+j]) == lit[j] {
				j++
			}
			if j == n-1 {
				return i - n + 1
			}
		}
		i += int(f.shift[c])
	}
	return -1
}

// containsFold reports whether data holds lit (lower case) ignoring ASCII
// case. The reference for foldLit.in.
func containsFold(data, lit []byte) bool {
	c0, u0 := lit[0], lit[0]
	if c0 >= 'a' && c0 <= 'z' {
		u0 = c0 - 'a' + 'A'
	}
	for i := 0; i+len(lit) <= len(data); i++ {
		if c := data[i]; c != c0 && c != u0 {
			continue
		}
		j := 1
		for j < len(lit) && lowerASCII(data[i+j]) == lit[j] {
			j++
		}
		if j == len(lit) {
			return true
		}
	}
	return false
}
