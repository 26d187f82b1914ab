package scan

import (
	"bytes"
	"sort"
)

// Context for rules whose value is too generic to stand alone
// (provider.Rule.ContextWindow > 0). A keyword gives the secret its context
// when it
//
//   - ends at most ContextWindow bytes before the secret (any text between),
//   - or stands as a word of its own (wordAt) on the same line, before or
//     after it, at most blockBytes away,
//   - or stands as a word on another line of the same block, before or
//     after it: at
//     most blockLines line breaks and blockBytes bytes away, no blank line
//     between them, and the keyword's line is configuration-shaped, a key
//     with a value (NAME=..., name: ..., "name": ...) or a header that opens
//     a block (azure_openai:, "azure": {, [azure]).
//
// The word condition keeps random text quiet: "ai21" inside the generated
// identifier "WEai210tK9" or "aI21DHy" in a JSON test corpus does not name
// a UUID a hundred bytes further on the same line.
//
// The last condition is what keeps prose and code quiet: a word on a line
// of free text does not lend itself to a hex string on the next line, but
// AZURE_OPENAI_ENDPOINT=https://x.openai.azure.com/ gives context to the
// key on the line after it, and a YAML azure_openai: header to the api_key
// three lines down. Both bounds keep the regexp windows small.
const (
	blockBytes = 256
	blockLines = 4
)

// hasContext reports whether one of the keyword spans kws (sorted by end)
// gives context to the secret data[s:t], and the distance in bytes to the
// nearest such keyword (overlap resolution prefers the nearest context).
func hasContext(data []byte, kws []span, s, t, ctx int) (bool, int) {
	// Only keywords ending within blockBytes before s or starting within
	// blockBytes after t can count.
	i := sort.Search(len(kws), func(i int) bool { return kws[i].end >= s-max(ctx, blockBytes) })
	// The keywords before the secret, nearest first: the first that gives
	// context is the nearest (sameBlock is not run for the others).
	j := i + sort.Search(len(kws)-i, func(j int) bool { return kws[i+j].end > s })
	best := -1
	for b := j - 1; b >= i; b-- {
		k := kws[b]
		d := s - k.end
		if d <= ctx && !k.jumbled || k.word && d <= blockBytes && sameBlock(data, k, data[k.end:s]) {
			best = d
			break
		}
	}
	for _, k := range kws[j:] {
		if k.start < t {
			continue // overlaps the secret
		}
		d := k.start - t
		if d > blockBytes || best >= 0 && d >= best {
			return best >= 0, best
		}
		if k.word && sameBlock(data, k, data[t:k.start]) {
			return true, d
		}
	}
	return best >= 0, best
}

// sameBlock reports whether the text between a keyword and a secret keeps
// them in one block: the same line, or a few lines with no blank line
// between and the keyword on a configuration-shaped line.
func sameBlock(data []byte, kw span, between []byte) bool {
	lines, blank := 0, true
	for _, c := range between {
		switch c {
		case '\n':
			if lines > 0 && blank {
				return false // an empty line ends the block
			}
			lines++
			blank = true
		case ' ', '\t', '\r':
		default:
			blank = false
		}
	}
	if lines == 0 {
		return true
	}
	return lines <= blockLines && configLine(lineOf(data, kw.start))
}

// lineOf returns the line holding offset i, without its line break.
func lineOf(data []byte, i int) []byte {
	lo := i
	for lo > 0 && data[lo-1] != '\n' {
		lo--
	}
	hi := i
	for hi < len(data) && data[hi] != '\n' && hi-lo < 4*blockBytes {
		hi++
	}
	return data[lo:hi]
}

// configLine reports whether a line is a key with a value (NAME=value,
// export NAME=value, name: value, "name": value, - name: value) or opens a
// block (name:, "name": {, [section]).
func configLine(line []byte) bool {
	i, n := 0, len(line)
	for i < n && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	end := n
	for end > i && (line[end-1] == ' ' || line[end-1] == '\t' || line[end-1] == '\r') {
		end--
	}
	if i == end {
		return false
	}
	if line[i] == '[' && line[end-1] == ']' {
		return true // an INI or TOML section
	}
	if c := line[end-1]; c == '{' || c == ':' {
		if c == '{' || end-i > 1 {
			return true
		}
	}
	if line[i] == '-' && i+1 < end && line[i+1] == ' ' {
		i += 2 // a YAML list item
	}
	if end-i > 7 && string(line[i:i+7]) == "export " {
		i += 7
	}
	if i < end && (line[i] == '"' || line[i] == '\'') {
		i++
	}
	name := i
	for i < end && (identByte(line[i])) {
		i++
	}
	if i == name {
		return false
	}
	if i < end && (line[i] == '"' || line[i] == '\'') {
		i++
	}
	for i < end && line[i] == ' ' {
		i++
	}
	return i < end && (line[i] == '=' || line[i] == ':')
}

func identByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// leadIn returns the text that leads to an encoded value at offset i: its
// line up to i and the lines of its block before it (no blank line), at
// most blockBytes, starting at a line start when there is one in reach.
func leadIn(data []byte, i int) []byte {
	lo := max(i-blockBytes, 0)
	if lo > 0 {
		if j := bytes.IndexByte(data[lo:i], '\n'); j >= 0 {
			lo += j + 1
		} else {
			return data[lo:i]
		}
	}
	// Cut at the last blank line.
	for j := i - 1; j > lo; j-- {
		if data[j] == '\n' {
			k := j - 1
			for k >= lo && (data[k] == ' ' || data[k] == '\t' || data[k] == '\r') {
				k--
			}
			if k >= lo && data[k] == '\n' {
				return data[j+1 : i]
			}
		}
	}
	return data[lo:i]
}

// identifierLike reports whether a long value matched by a context rule
// reads as a name from code or a schema (GoogleCloudAiplatformV1Schema,
// reportedLocationNameForDisplay) rather than a random key: it is at least
// 32 characters long, at least 70% of it is in lower-case runs of three or
// more letters, at least 30% of those letters are vowels, and it holds at
// least two capitalised words or none. Random alphanumeric keys of that
// length are taken for names with a chance well below one in a million
// (TestIdentifierLike draws 400,000).
func identifierLike(s string) bool {
	if len(s) < 32 {
		return false
	}
	inRuns, vowels, run, words := 0, 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= 'a' && s[i] <= 'z' {
			run++
			continue
		}
		if run >= 3 {
			inRuns += run
			for _, c := range s[i-run : i] {
				if c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y' {
					vowels++
				}
			}
			if i-run > 0 && s[i-run-1] >= 'A' && s[i-run-1] <= 'Z' {
				words++
			}
		}
		run = 0
		// The i+1-inRuns bytes so far outside lower-case runs already
		// exceed the 30% a name may have: a random key (a PEM block of
		// two kilobytes) is rejected a third of the way in.
		if i < len(s) && (i+1-inRuns)*10 > len(s)*3 {
			return false
		}
	}
	return inRuns*10 >= len(s)*7 && vowels*10 >= inRuns*3 && words != 1
}

func kwSpan(data []byte, start, end int) span {
	return span{start: start, end: end, word: wordAt(data, start, end), jumbled: jumbled(data[start:end])}
}

// jumbled reports whether a keyword occurrence is cased as no name is: a
// lower-case first letter followed by an upper-case one ("aI21" in the
// random identifier "aI21DHy"). Such an occurrence gives no context at
// all, not even right before a value.
func jumbled(kw []byte) bool {
	return len(kw) > 1 && lower(kw[0]) && upper(kw[1])
}

// wordAt reports whether data[start:end] stands as a word: at each end the
// neighbouring byte is not a letter or digit, or the edge is a camel-case
// step (myAzureKey, azureKey: a lower-case letter or digit before an
// upper-case start; a lower-case end before an upper-case letter).
func wordAt(data []byte, start, end int) bool {
	if start > 0 {
		p, c := data[start-1], data[start]
		if alnum(p) && !((lower(p) || digit(p)) && upper(c)) {
			return false
		}
	}
	if end < len(data) {
		c, n := data[end-1], data[end]
		if alnum(n) && !(lower(c) && upper(n)) {
			return false
		}
	}
	return true
}

func lower(c byte) bool { return c >= 'a' && c <= 'z' }
func upper(c byte) bool { return c >= 'A' && c <= 'Z' }
func digit(c byte) bool { return c >= '0' && c <= '9' }
func alnum(c byte) bool { return lower(c) || upper(c) || digit(c) }
