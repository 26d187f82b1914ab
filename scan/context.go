package scan

import "sort"

// Context for rules whose value is too generic to stand alone
// (provider.Rule.ContextWindow > 0). A keyword gives the secret its context
// when it
//
//   - ends at most ContextWindow bytes before the secret (any text between),
//   - or stands on the same line, before or after it, at most blockBytes
//     away,
//   - or stands on another line of the same block, before or after it: at
//     most blockLines line breaks and blockBytes bytes away, no blank line
//     between them, and the keyword's line is configuration-shaped, a key
//     with a value (NAME=..., name: ..., "name": ...) or a header that opens
//     a block (azure_openai:, "azure": {, [azure]).
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
// gives context to the secret data[s:t].
func hasContext(data []byte, kws []span, s, t, ctx int) bool {
	// Only keywords ending within blockBytes before s or starting within
	// blockBytes after t can count.
	i := sort.Search(len(kws), func(i int) bool { return kws[i].end >= s-max(ctx, blockBytes) })
	for ; i < len(kws); i++ {
		k := kws[i]
		switch {
		case k.end <= s:
			if s-k.end <= ctx || s-k.end <= blockBytes && sameBlock(data, k, data[k.end:s]) {
				return true
			}
		case k.start >= t:
			if k.start-t > blockBytes {
				return false
			}
			if sameBlock(data, k, data[t:k.start]) {
				return true
			}
		}
	}
	return false
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
