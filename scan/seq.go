package scan

import (
	"regexp/syntax"
)

// A seqMatcher matches a secret pattern of the simplest and most common
// shape, a concatenation of literals and repeated byte classes
// (sk-[0-9A-Za-z]{48}, [0-9a-f]{8}-[0-9a-f]{4}-...), in one pass without
// backtracking: a repeated class takes bytes greedily, which is also the
// only way the pattern can match, because each element that varies in
// length is followed by the end of the pattern or by an element whose
// first byte it cannot take (nor by elements that may be empty and then
// such an element). It gives the answers of the regexp it is
// compiled from, anchored at the start (prefix) or at both ends (full),
// for a few nanoseconds a byte where the regexp's one-pass matcher or
// backtracker spends a few tens.
type seqMatcher struct {
	elems []seqElem
	alts  []*seqMatcher // the branches of an alternation, in order
}

type seqElem struct {
	lit []byte   // a literal, or
	set *charset // a byte class repeated min to max times (max < 0: no bound), or
	// unit, a run of byte classes (a base64 quantum) repeated min to max
	// times; only where nothing but empty-able elements follow, for a
	// start-anchored match.
	unit []*charset
	// opt, an optional group (min 0, max 1) matched by its own matcher;
	// only last, for a start-anchored match.
	opt      *seqMatcher
	min, max int
	// covers: set holds every byte of every input (coverRun), so the
	// element takes all it may without looking at the bytes.
	covers bool
}

// coverRun marks the elements whose class holds every byte of run: the
// matcher is then only ever given runs of those bytes (a run filter's
// candidates), and those elements take bytes without testing them.
func (m *seqMatcher) coverRun(run *charset) {
	for _, a := range m.alts {
		a.coverRun(run)
	}
	for i := range m.elems {
		e := &m.elems[i]
		if e.opt != nil {
			e.opt.coverRun(run)
		}
		if e.set == nil {
			continue
		}
		e.covers = true
		for c := range 256 {
			if run[c] && !e.set[c] {
				e.covers = false
				break
			}
		}
	}
}

// compileSeq returns the matcher for pattern, or nil when pattern is not
// such a concatenation (alternation, case folding, bytes beyond ASCII, two
// neighbouring elements whose bytes overlap where one varies in length).
//
// With headOnly, the matcher serves prefix only, and an element that
// varies in length may overlap what follows it when everything that
// follows may be empty: the regexp's leftmost-first match then takes as
// many repetitions as it can too, since the rest matches empty whatever is
// left ((?:[A-Za-z0-9+/]{4}){25,}[A-Za-z0-9+/]{0,3}={0,2}).
//
// A pattern that is an alternation of such concatenations gets one
// matcher per branch: the regexp's leftmost-first match at the start is
// the first branch's that matches there, and a whole match is any
// branch's.
func compileSeq(pattern string, headOnly bool) *seqMatcher {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	return compileSeqNode(re, headOnly)
}

func compileSeqNode(re *syntax.Regexp, headOnly bool) *seqMatcher {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	if re.Op == syntax.OpAlternate {
		m := &seqMatcher{}
		for _, sub := range re.Sub {
			b := compileSeqOf(sub, headOnly)
			if b == nil || b.alts != nil {
				return nil
			}
			m.alts = append(m.alts, b)
		}
		return m
	}
	if m := compileSeqOf(re, headOnly); m != nil {
		return m
	}
	// An alternation or optional group inside the concatenation
	// (sgp_(?:[0-9a-f]{16}_|local_)?[0-9a-f]{40}): one branch per way
	// through them, in the order the regexp tries them.
	branches := expandBranches(re)
	if len(branches) < 2 {
		return nil
	}
	m := &seqMatcher{}
	for _, b := range branches {
		bm := compileSeqOf(&syntax.Regexp{Op: syntax.OpConcat, Flags: re.Flags, Sub: b}, headOnly)
		if bm == nil || bm.alts != nil {
			return nil
		}
		m.alts = append(m.alts, bm)
	}
	return m
}

// maxBranches bounds the branches expandBranches writes out.
const maxBranches = 16

// expandBranches writes re out as the concatenations it is a choice
// between, in the order of the regexp's preference: an alternation's
// branches in order, a greedy optional group taken before it is left
// out. Concatenations multiply out. Nil when there would be more than
// maxBranches.
func expandBranches(re *syntax.Regexp) [][]*syntax.Regexp {
	switch re.Op {
	case syntax.OpCapture:
		return expandBranches(re.Sub[0])
	case syntax.OpAlternate:
		var out [][]*syntax.Regexp
		for _, sub := range re.Sub {
			bs := expandBranches(sub)
			if bs == nil || len(out)+len(bs) > maxBranches {
				return nil
			}
			out = append(out, bs...)
		}
		return out
	case syntax.OpConcat:
		out := [][]*syntax.Regexp{nil}
		for _, sub := range re.Sub {
			bs := expandBranches(sub)
			if bs == nil || len(out)*len(bs) > maxBranches {
				return nil
			}
			var next [][]*syntax.Regexp
			for _, a := range out {
				for _, b := range bs {
					next = append(next, append(append([]*syntax.Regexp{}, a...), b...))
				}
			}
			out = next
		}
		return out
	case syntax.OpQuest:
		in := re.Sub[0]
		for in.Op == syntax.OpCapture {
			in = in.Sub[0]
		}
		if in.Op != syntax.OpAlternate && in.Op != syntax.OpConcat && !(in.Op == syntax.OpLiteral && len(in.Rune) > 1) {
			return [][]*syntax.Regexp{{re}} // one repeated class: an element of its own
		}
		bs := expandBranches(in)
		if bs == nil || len(bs)+1 > maxBranches {
			return nil
		}
		if re.Flags&syntax.NonGreedy != 0 {
			return append([][]*syntax.Regexp{nil}, bs...)
		}
		return append(bs, nil)
	}
	return [][]*syntax.Regexp{{re}}
}

func compileSeqOf(re *syntax.Regexp, headOnly bool) *seqMatcher {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	m := &seqMatcher{}
	for k, sub := range subs {
		for sub.Op == syntax.OpCapture {
			sub = sub.Sub[0]
		}
		var e seqElem
		// An optional group at the very end ((?:xx==|xxx=)? after base64
		// quanta), start-anchored: the regexp takes it when it can, the
		// first branch that matches, and stops.
		if headOnly && k == len(subs)-1 && sub.Op == syntax.OpQuest && sub.Flags&syntax.NonGreedy == 0 &&
			(sub.Sub[0].Op == syntax.OpAlternate || sub.Sub[0].Op == syntax.OpConcat) {
			if e.opt = compileSeqNode(sub.Sub[0], true); e.opt == nil {
				return nil
			}
			e.min, e.max = 0, 1
			m.elems = append(m.elems, e)
			continue
		}
		switch sub.Op {
		case syntax.OpLiteral:
			if sub.Flags&syntax.FoldCase != 0 {
				return nil
			}
			for _, r := range sub.Rune {
				if r >= 0x80 {
					return nil
				}
				e.lit = append(e.lit, byte(r))
			}
		case syntax.OpCharClass:
			if e.set = asciiClass(sub); e.set == nil {
				return nil
			}
			e.min, e.max = 1, 1
		case syntax.OpRepeat, syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
			if sub.Flags&syntax.NonGreedy != 0 {
				return nil
			}
			in := sub.Sub[0]
			if in.Op == syntax.OpRepeat && in.Min == in.Max && in.Min > 1 && headOnly {
				cs := asciiClass(in.Sub[0])
				if cs == nil {
					return nil
				}
				for range in.Min {
					e.unit = append(e.unit, cs)
				}
			} else if in.Op == syntax.OpConcat && headOnly {
				for _, c := range in.Sub {
					cs := asciiClass(c)
					if cs == nil {
						return nil
					}
					e.unit = append(e.unit, cs)
				}
			} else if e.set = asciiClass(in); e.set == nil {
				return nil
			}
			switch sub.Op {
			case syntax.OpRepeat:
				e.min, e.max = sub.Min, sub.Max
			case syntax.OpStar:
				e.min, e.max = 0, -1
			case syntax.OpPlus:
				e.min, e.max = 1, -1
			case syntax.OpQuest:
				e.min, e.max = 0, 1
			}
		default:
			return nil
		}
		m.elems = append(m.elems, e)
	}
	// No byte an element that varies in length takes may start what
	// follows it: the elements after it up to the first that cannot be
	// empty.
	for i, e := range m.elems {
		if e.lit != nil || e.min == e.max && e.unit == nil {
			continue
		}
		if headOnly && allEmptyable(m.elems[i+1:]) {
			continue
		}
		if e.unit != nil {
			return nil
		}
		for _, n := range m.elems[i+1:] {
			if n.lit != nil {
				if len(n.lit) == 0 || e.set[n.lit[0]] {
					return nil
				}
				break
			}
			if n.unit != nil || n.opt != nil {
				return nil
			}
			for c := range 256 {
				if e.set[c] && n.set[c] {
					return nil
				}
			}
			if n.min > 0 {
				break
			}
		}
	}
	return m
}

// allEmptyable reports whether every element may match empty.
func allEmptyable(es []seqElem) bool {
	for _, e := range es {
		if e.lit != nil || e.min > 0 {
			return false
		}
	}
	return true
}

// asciiClass returns the bytes of a class of ASCII runes (or of a
// one-rune literal, =), or nil.
func asciiClass(re *syntax.Regexp) *charset {
	var cs charset
	switch {
	case re.Op == syntax.OpLiteral && len(re.Rune) == 1 && re.Rune[0] < 0x80 && re.Flags&syntax.FoldCase == 0:
		cs[re.Rune[0]] = true
		return &cs
	case re.Op != syntax.OpCharClass:
		return nil
	}
	for i := 0; i+1 < len(re.Rune); i += 2 {
		lo, hi := re.Rune[i], re.Rune[i+1]
		if hi >= 0x80 {
			return nil
		}
		for r := lo; r <= hi; r++ {
			cs[r] = true
		}
	}
	return &cs
}

// prefix returns the length of the match at the start of b, or -1.
func (m *seqMatcher) prefix(b []byte) int {
	if m.alts != nil {
		for _, a := range m.alts {
			if n := a.prefix(b); n >= 0 {
				return n
			}
		}
		return -1
	}
	i := 0
	for _, e := range m.elems {
		if e.lit != nil {
			if len(b)-i < len(e.lit) || string(b[i:i+len(e.lit)]) != string(e.lit) {
				return -1
			}
			i += len(e.lit)
			continue
		}
		if e.opt != nil {
			if n := e.opt.prefix(b[i:]); n >= 0 {
				i += n
			}
			continue
		}
		n := 0
		if e.unit != nil {
			w := len(e.unit)
		units:
			for i+w <= len(b) && (e.max < 0 || n < e.max) {
				for j, cs := range e.unit {
					if !cs[b[i+j]] {
						break units
					}
				}
				i += w
				n++
			}
		} else {
			// One test a byte: the bound comes first.
			run := b[i:]
			if e.max >= 0 && e.max < len(run) {
				run = run[:e.max]
			}
			if e.covers {
				n = len(run)
			} else {
				set := e.set
				for n < len(run) && set[run[n]] {
					n++
				}
			}
			i += n
		}
		if n < e.min {
			return -1
		}
	}
	return i
}

// full reports whether all of b is one match. Not for a headOnly matcher.
func (m *seqMatcher) full(b []byte) bool {
	if m.alts != nil {
		for _, a := range m.alts {
			if a.full(b) {
				return true
			}
		}
		return false
	}
	return m.prefix(b) == len(b)
}
