package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// requestFacts are the parts of a request body the gateway acts on. They
// are read by a scan of the top-level object, not a full decode: keys are
// matched exactly (after unescaping, as the provider's parser would), and
// a repeated key the gateway acts on is refused, so the model authorized
// is the model the provider runs.
type requestFacts struct {
	Model    string
	HasModel bool
	Stream   bool
	// MaxTokens is max_tokens, max_completion_tokens or
	// max_output_tokens (the largest); 0 = not given.
	MaxTokens int64
	// IncludeUsage is stream_options.include_usage as the client sent it.
	IncludeUsage bool
	// N is "n" (images to generate); 0 = not given.
	N int64
	// InputChars counts the characters of a string "input" (speech).
	InputChars int64
	// streamOptions is the byte span of the stream_options value, or
	// {-1,-1} when absent.
	streamOptions [2]int
	// open is the offset just past the top-level '{'.
	open int
	// empty reports an object with no members.
	empty bool
}

var errBody = errors.New("request body is not a JSON object")

// parseRequest checks that body is one valid JSON object and extracts its
// facts. Errors name the problem, never quote the body.
func parseRequest(body []byte) (requestFacts, error) {
	f := requestFacts{streamOptions: [2]int{-1, -1}}
	if !json.Valid(body) {
		return f, errors.New("request body is not valid JSON")
	}
	// From here on the input is valid JSON, so the scanner can trust its
	// structure.
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return f, errBody
	}
	i++
	f.open = i
	seen := 0
	const (
		seenModel = 1 << iota
		seenStream
		seenOpts
		seenMax
		seenMaxC
		seenMaxO
	)
	once := func(bit int, name string) error {
		if seen&bit != 0 {
			return errors.New("request body repeats the key " + strconv.Quote(name))
		}
		seen |= bit
		return nil
	}
	i = skipWS(body, i)
	if body[i] == '}' {
		f.empty = true
		return f, nil
	}
	for {
		i = skipWS(body, i)
		kEnd := skipString(body, i)
		key, err := keyText(body[i:kEnd])
		if err != nil {
			return f, err
		}
		i = skipWS(body, kEnd)
		i = skipWS(body, i+1) // ':'
		vStart := i
		i = skipValue(body, i)
		val := body[vStart:i]
		switch key {
		case "model":
			if err := once(seenModel, key); err != nil {
				return f, err
			}
			var s string
			if val[0] != '"' || json.Unmarshal(val, &s) != nil {
				return f, errors.New(`"model" must be a string`)
			}
			f.Model, f.HasModel = s, true
		case "stream":
			if err := once(seenStream, key); err != nil {
				return f, err
			}
			f.Stream = string(val) == "true"
		case "stream_options":
			if err := once(seenOpts, key); err != nil {
				return f, err
			}
			f.streamOptions = [2]int{vStart, i}
			if val[0] == '{' {
				var o map[string]json.RawMessage
				if err := json.Unmarshal(val, &o); err != nil {
					return f, err
				}
				f.IncludeUsage = string(o["include_usage"]) == "true"
			}
		case "n":
			if n, err := strconv.ParseInt(string(val), 10, 64); err == nil && n > 0 {
				f.N = n
			}
		case "input":
			if val[0] == '"' {
				// Escapes count as their source characters: a bound from above.
				f.InputChars = int64(utf8.RuneCount(val) - 2)
			}
		case "max_tokens", "max_completion_tokens", "max_output_tokens":
			bit := seenMax
			switch key {
			case "max_completion_tokens":
				bit = seenMaxC
			case "max_output_tokens":
				bit = seenMaxO
			}
			if err := once(bit, key); err != nil {
				return f, err
			}
			if n, err := strconv.ParseInt(string(val), 10, 64); err == nil && n > f.MaxTokens {
				f.MaxTokens = n
			}
		}
		i = skipWS(body, i)
		if body[i] == '}' {
			return f, nil
		}
		i++ // ','
	}
}

// keyText returns a quoted JSON string's text; escapes are rare in keys,
// so only then does it decode.
func keyText(q []byte) (string, error) {
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1]), nil
	}
	var s string
	err := json.Unmarshal(q, &s)
	return s, err
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset past the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the offset past the (valid) JSON value at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// withIncludeUsage returns body with stream_options.include_usage set to
// true, every other member left byte for byte as it was.
func withIncludeUsage(body []byte, f requestFacts) ([]byte, error) {
	const member = `"stream_options":{"include_usage":true}`
	if f.streamOptions[0] < 0 {
		out := make([]byte, 0, len(body)+len(member)+1)
		out = append(out, body[:f.open]...)
		out = append(out, member...)
		if !f.empty {
			out = append(out, ',')
		}
		return append(out, body[f.open:]...), nil
	}
	var o map[string]json.RawMessage
	val := body[f.streamOptions[0]:f.streamOptions[1]]
	if string(val) != "null" {
		if err := json.Unmarshal(val, &o); err != nil {
			return nil, errors.New(`"stream_options" must be an object`)
		}
	}
	if o == nil {
		o = map[string]json.RawMessage{}
	}
	o["include_usage"] = json.RawMessage("true")
	nv, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+len(nv))
	out = append(out, body[:f.streamOptions[0]]...)
	out = append(out, nv...)
	return append(out, body[f.streamOptions[1]:]...), nil
}
