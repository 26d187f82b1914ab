package provider

import (
	"encoding/base64"
	"strings"
)

// allBytes lets Gen draw arbitrary bytes through Chars.
var allBytes = func() string {
	var b [256]byte
	for i := range b {
		b[i] = byte(i)
	}
	return string(b[:])
}()

// Bytes returns n random bytes.
func (g *Gen) Bytes(n int) []byte { return []byte(g.Chars(allBytes, n)) }

// Base64 returns the standard base64 encoding of text, padded.
func Base64(text string) string { return base64.StdEncoding.EncodeToString([]byte(text)) }

// nearMisses returns the usual near misses of a key made of a prefix and n
// characters from set: one character short, one too long, glued to a word
// before it, and a filler body of x's.
func nearMisses(g *Gen, prefix, set string, n int) []string {
	return []string{
		prefix + g.Chars(set, n-1),
		prefix + g.Chars(set, n+1),
		"x" + prefix + g.Chars(set, n),
		prefix + strings.Repeat("x", n),
	}
}

// notebook renders one line of Python the way Jupyter stores it in an
// .ipynb source array: double quotes escaped, the line ended by a literal \n.
func notebook(line string) string {
	return `{"cell_type": "code", "source": ["` + strings.ReplaceAll(line, `"`, `\"`) + `\n"]}`
}

// curl renders a curl call that sends value in the named header.
func curl(url, header, value string) string {
	return `curl -s ` + url + ` -H "` + header + `: ` + value + `"`
}
