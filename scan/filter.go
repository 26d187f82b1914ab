package scan

import "strings"

// placeholderWords mark a value as a template, not a credential.
var placeholderWords = []string{
	"example", "placeholder", "your_", "your-", "yourkey", "yourapi", "yourtoken", "redacted",
	"changeme", "dummy", "insert", "replace", "fake", "sample", "<", ">", "${", "{{", "...",
}

// maxWordCheck is the longest value checked for placeholder words.
const maxWordCheck = 256

// IsPlaceholder reports whether a matched value is a template or filler
// rather than a real key: it names itself (EXAMPLE, your_key, REDACTED),
// holds a long run of one character, or an obvious sequence.
func IsPlaceholder(s string) bool {
	l := strings.ToLower(s)
	// Words count in one consistent case (example, EXAMPLE, Example): a
	// random key holds "fAkE" by chance far more often than "fake". Long
	// keys (service-account PEM blocks) are checked for runs only, since
	// over a few hundred random characters even that chance adds up.
	if len(s) <= maxWordCheck {
		for _, w := range placeholderWords {
			if strings.Contains(s, w) || strings.Contains(s, strings.ToUpper(w)) ||
				len(w) > 1 && strings.Contains(s, strings.ToUpper(w[:1])+w[1:]) {
				return true
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
	for _, seq := range []string{"0123456789", "123456789", "abcdefghij", "qwertyuiop"} {
		if strings.Contains(l, seq) {
			return true
		}
	}
	return false
}
