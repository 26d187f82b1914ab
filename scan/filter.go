package scan

import "strings"

// placeholderWords mark a value as a template, not a credential.
var placeholderWords = []string{
	"example", "placeholder", "your_", "your-", "yourkey", "yourapi", "yourtoken", "redacted",
	"changeme", "dummy", "insert", "replace", "fake", "sample", "<", ">", "${", "{{", "...",
}

// IsPlaceholder reports whether a matched value is a template or filler
// rather than a real key: it names itself (EXAMPLE, your_key, REDACTED),
// holds a long run of one character, or an obvious sequence.
func IsPlaceholder(s string) bool {
	l := strings.ToLower(s)
	for _, w := range placeholderWords {
		if strings.Contains(l, w) {
			return true
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
