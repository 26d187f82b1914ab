package scan

import "strings"

// placeholderWords mark a value as a template, not a credential.
var placeholderWords = []string{
	"example", "placeholder", "your_", "your-", "yourkey", "yourapi", "yourtoken", "redacted",
	"changeme", "dummy", "insert", "replace", "fake", "sample", "<", ">", "${", "{{", "...",
}

// placeholderForms are the words in the three cases that count: lower,
// upper and capitalised (computed once, not per value).
var placeholderForms = func() []string {
	var out []string
	for _, w := range placeholderWords {
		out = append(out, w, strings.ToUpper(w))
		if len(w) > 1 {
			if t := strings.ToUpper(w[:1]) + w[1:]; t != w {
				out = append(out, t)
			}
		}
	}
	return out
}()

// formStart[i] is the index of placeholderWords[i]'s first form in
// placeholderForms.
var formStart = func() []int {
	out := []int{0}
	for _, w := range placeholderWords {
		n := 2
		if len(w) > 1 && strings.ToUpper(w[:1])+w[1:] != w {
			n = 3
		}
		out = append(out, out[len(out)-1]+n)
	}
	return out
}()

// maxWordCheck is the longest value checked for placeholder words.
const maxWordCheck = 256

// IsPlaceholder reports whether a matched value is a template or filler
// rather than a real key. It drops a value, and nothing else, when
//
//   - the value is at most 256 bytes long and contains one of the
//     placeholderWords (example, placeholder, your_, your-, yourkey,
//     yourapi, yourtoken, redacted, changeme, dummy, insert, replace, fake,
//     sample, <, >, ${, {{, ...) written all lower case, all upper case or
//     capitalised (example, EXAMPLE, Example; never mixed case such as
//     eXaMpLe, which random keys hold by chance);
//   - it holds a run of six or more of the same character, ignoring case
//     (xxxxxx, 000000, AAAaaa);
//   - it contains, ignoring case, one of the sequences 0123456789,
//     123456789, abcdefghij or qwertyuiop.
//
// Longer values (PEM blocks) are checked for runs and sequences only.
// Random values of every catalog shape are not dropped: the property test
// TestPlaceholderNeverDropsRandomKeys draws 200 seeds of every kind's
// generated examples. See docs/placeholders.md.
func IsPlaceholder(s string) bool { return isPlaceholder(s) }

// isPlaceholder is IsPlaceholder for a string or, with no copy, the bytes
// of a candidate.
func isPlaceholder[T ~string | ~[]byte](s T) bool {
	// ASCII, the values of every catalog rule: one pass that folds case
	// byte by byte, with no lower-cased copy, and tries at each byte only
	// the words and sequences that start with it. The same answer as
	// placeholderUnicode (FuzzPlaceholderASCII), which a value that holds
	// a byte beyond ASCII goes to when the pass reaches it: what the pass
	// found before it, the Unicode check finds too.
	words := len(s) <= maxWordCheck
	if len(s) == 0 {
		return false
	}
	// Per byte: its lower case from a table and one test of the pair it
	// ends, in a table of 2 KB: a pair that starts a word or sequence, or
	// two of the same byte (which a run of six starts with, so the run is
	// looked for only there). Random keys hold few such pairs; no branch
	// they take often.
	if s[0] >= 0x80 {
		return placeholderUnicode(string(s))
	}
	prev := foldASCII[s[0]]
	for i := 1; i < len(s); i++ {
		if s[i] >= 0x80 {
			return placeholderUnicode(string(s))
		}
		c := foldASCII[s[i]]
		if placeholderHot.has(prev, c) {
			if c == prev && sameRun(s, i+1, c) {
				return true
			}
			if placeholderPair.has(prev, c) && placeholderAt(s, i-1, words) {
				return true
			}
		}
		prev = c
	}
	return placeholderHead[prev] && placeholderAt(s, len(s)-1, words)
}

// sameRun reports whether the four bytes from s[i] are c ignoring case:
// after the pair that ends at i-1, a run of six.
func sameRun[T ~string | ~[]byte](s T, i int, c byte) bool {
	if i+4 > len(s) {
		return false
	}
	return foldASCII[s[i]] == c && foldASCII[s[i+1]] == c && foldASCII[s[i+2]] == c && foldASCII[s[i+3]] == c
}

// foldASCII maps a byte to its ASCII lower case.
var foldASCII = func() (t [256]byte) {
	for c := range t {
		t[c] = lowerASCII(byte(c))
	}
	return t
}()

// placeholderAt reports whether a placeholder word (when words) or
// sequence starts at s[i].
func placeholderAt[T ~string | ~[]byte](s T, i int, words bool) bool {
	for _, q := range placeholderFirst[lowerASCII(s[i])] {
		if !hasFoldAt(s, i, q.word) {
			continue
		}
		if q.form < 0 {
			return true // a sequence, in any case
		}
		if !words {
			continue
		}
		for _, f := range placeholderForms[formStart[q.form]:formStart[q.form+1]] {
			if string(s[i:i+len(f)]) == f {
				return true
			}
		}
	}
	return false
}

// pairSet is a set of pairs of ASCII bytes (the low seven bits of each).
type pairSet [128 * 128 / 64]uint64

func (p *pairSet) has(a, b byte) bool {
	k := int(a&0x7f)<<7 | int(b&0x7f)
	return p[k>>6]&(1<<(k&63)) != 0
}

func (p *pairSet) add(a, b byte) {
	k := int(a&0x7f)<<7 | int(b&0x7f)
	p[k>>6] |= 1 << (k & 63)
}

// placeholderHead marks the first bytes of the placeholder words and
// sequences; placeholderPair their first two bytes (every second byte for
// a one-byte word).
var placeholderHead, placeholderPair = func() (head [256]bool, pair *pairSet) {
	pair = new(pairSet)
	for _, w := range append(append([]string{}, placeholderWords...), placeholderSeqs...) {
		head[w[0]] = true
		for b := range 128 {
			if len(w) == 1 || w[1] == byte(b) {
				pair.add(w[0], byte(b))
			}
		}
	}
	return head, pair
}()

// placeholderHot holds placeholderPair's pairs and every pair of one byte
// twice.
var placeholderHot = func() *pairSet {
	hot := *placeholderPair
	for b := range 128 {
		hot.add(byte(b), byte(b))
	}
	return &hot
}()

// placeholderSeqs are the sequences that mark filler in any case.
var placeholderSeqs = []string{"0123456789", "123456789", "abcdefghij", "qwertyuiop"}

// placeholderFirst lists, by first byte, the placeholder words (form: its
// index in placeholderWords) and sequences (form -1) starting with it.
var placeholderFirst = func() (t [256][]struct {
	word string
	form int
}) {
	for i, w := range placeholderWords {
		t[w[0]] = append(t[w[0]], struct {
			word string
			form int
		}{w, i})
	}
	for _, q := range placeholderSeqs {
		t[q[0]] = append(t[q[0]], struct {
			word string
			form int
		}{q, -1})
	}
	return t
}()

// hasFoldAt reports whether s holds the lower-case ASCII w at i, ignoring
// case.
func hasFoldAt[T ~string | ~[]byte](s T, i int, w string) bool {
	if i+len(w) > len(s) {
		return false
	}
	for j := 0; j < len(w); j++ {
		if lowerASCII(s[i+j]) != w[j] {
			return false
		}
	}
	return true
}

// placeholderUnicode is IsPlaceholder for a value that is not all ASCII,
// on its Unicode lower-casing.
func placeholderUnicode(s string) bool {
	var l string // lower case, for the run and sequence checks
	if hasUpper(s) {
		l = strings.ToLower(s)
	} else {
		l = s
	}
	// Words count in one consistent case (example, EXAMPLE, Example): a
	// random key holds "fAkE" by chance far more often than "fake". Long
	// keys (service-account PEM blocks) are checked for runs only, since
	// over a few hundred random characters even that chance adds up.
	if len(s) <= maxWordCheck {
		// A cased form can only be present where the lower-cased value
		// holds the word: one search per word, and the three forms only
		// for the rare value that holds one.
		for i, w := range placeholderWords {
			if !strings.Contains(l, w) {
				continue
			}
			for _, f := range placeholderForms[formStart[i]:formStart[i+1]] {
				if strings.Contains(s, f) {
					return true
				}
			}
		}
	}
	run := 1
	for i := 1; i < len(l); i++ {
		if l[i] == l[i-1] {
			run++
			if run >= 6 {
				return true
			}
		} else {
			run = 1
		}
	}
	for _, seq := range placeholderSeqs {
		if strings.Contains(l, seq) {
			return true
		}
	}
	return false
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
