package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aicred/aicred/broker"
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
	// MaxTokens is the largest output limit the request sets: max_tokens,
	// max_completion_tokens, max_output_tokens,
	// generationConfig.maxOutputTokens (Gemini) or inferenceConfig.maxTokens
	// (Bedrock Converse); 0 = not given. A fraction is rounded up.
	MaxTokens int64
	// IncludeUsage is stream_options.include_usage as the client sent it.
	IncludeUsage bool
	// N is "n" (images to generate, or chat completions); 0 = not given.
	N int64
	// Choices is how many completions the request asks for, each up to
	// MaxTokens: "n" (OpenAI chat) or generationConfig.candidateCount
	// (Gemini), the larger; 0 = not given (one).
	Choices int64
	// InputChars counts the characters of a string "input" (speech).
	InputChars int64
	// Batch lists the distinct operations and models of a batch input
	// file's lines (a file upload with purpose "batch").
	Batch []batchCall
	// ServerTool names a tool the provider runs and bills per use (web
	// search, code execution ...), which no usage count covers; "" when
	// the request asks for none.
	ServerTool string
	// Keys are the body's top-level keys, unescaped, in order (checked
	// against the route's fields); for a form, its part names.
	Keys []string
	// Gated lists nested settings that need the role's consent (output
	// modalities billed at other rates).
	Gated []gatedUse
	// Opaque: the request carries or references input whose size the
	// gateway cannot see (an image, audio, a document or file, a URL to
	// fetch, a previous response, cached content); its input is bounded
	// by the model's context window, not by the body's size.
	Opaque bool
	// FileRefs are the provider file ids the body names: a batch's
	// input_file_id, a fine-tuning job's training and validation files,
	// any "file_id" in a model call's input.
	FileRefs []string
	// Purpose is a file upload's purpose as sent.
	Purpose string
	// streamOptions is the byte span of the stream_options value, or
	// {-1,-1} when absent.
	streamOptions [2]int
	// open is the offset just past the top-level '{'.
	open int
	// empty reports an object with no members.
	empty bool
}

var errBody = errors.New("request body is not a JSON object")

// Bounds on the counts the gateway reads. Providers refuse more (output
// limits are a model's maximum, at most some hundred thousand tokens; n
// and candidateCount are capped well below 128), so a request asking for
// more is refused here rather than reserved at a worst case it cannot
// have.
const (
	maxOutputLimit = 10_000_000
	maxChoices     = 128
)

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
	f.open = i + 1
	seen := 0
	const (
		seenModel = 1 << iota
		seenStream
		seenOpts
		seenMax
		seenMaxC
		seenMaxO
		seenN
		seenGen
		seenInf
	)
	once := func(bit int, name string) error {
		if seen&bit != 0 {
			return repeated(name)
		}
		seen |= bit
		return nil
	}
	limit := func(name string, val []byte) error {
		n, err := count(name, val, maxOutputLimit)
		f.MaxTokens = max(f.MaxTokens, n)
		return err
	}
	empty, err := members(body, i, func(key string, vStart, vEnd int) error {
		val := body[vStart:vEnd]
		f.Keys = append(f.Keys, key)
		if key != "model" && strings.EqualFold(key, "model") {
			// A parser that matches keys without case (Go's encoding/json
			// in a self-hosted server) would run this one.
			return errors.New("the body has a key that differs from \"model\" only in case")
		}
		switch key {
		case "service_tier":
			// Priority processing is billed above the rates the gateway
			// meters with; the default and flex tiers are not.
			var t *string
			if json.Unmarshal(val, &t) != nil || (t != nil && *t != "auto" && *t != "default" && *t != "flex" && *t != "standard_only") {
				return errors.New(`"service_tier" may be auto, default, flex or standard_only: other tiers are billed above the metered rates`)
			}
		case "serviceTier":
			// Bedrock Converse: {"type": "priority"} is billed above the
			// metered rates.
			if bytes.Contains(bytes.ToLower(val), []byte("priority")) {
				return errors.New(`"serviceTier" priority is billed above the metered rates`)
			}
		case "additionalModelRequestFields":
			// Bedrock Converse passes these to the model as its own body
			// fields (Claude's anthropic_beta, tools).
			if bytes.Contains(bytes.ToLower(val), []byte("context-1m")) {
				f.ServerTool = "context-1m"
			} else if t := nestedServerTool(val); t != "" {
				f.ServerTool = t
			}
		case "best_of":
			// Legacy completions generate best_of candidates and bill all.
			n, err := count(`"best_of"`, val, maxChoices)
			f.Choices = max(f.Choices, n)
			return err
		case "model":
			if err := once(seenModel, key); err != nil {
				return err
			}
			var s string
			if val[0] != '"' || json.Unmarshal(val, &s) != nil {
				return errors.New(`"model" must be a string`)
			}
			f.Model, f.HasModel = s, true
		case "stream":
			if err := once(seenStream, key); err != nil {
				return err
			}
			f.Stream = string(val) == "true"
		case "stream_options":
			if err := once(seenOpts, key); err != nil {
				return err
			}
			f.streamOptions = [2]int{vStart, vEnd}
			if val[0] == '{' {
				var o map[string]json.RawMessage
				if err := json.Unmarshal(val, &o); err != nil {
					return err
				}
				f.IncludeUsage = string(o["include_usage"]) == "true"
			}
		case "n":
			if err := once(seenN, key); err != nil {
				return err
			}
			n, err := count(`"n"`, val, maxChoices)
			f.N, f.Choices = n, max(f.Choices, n)
			return err
		case "tools":
			if t := serverTool(val); t != "" && f.ServerTool == "" {
				f.ServerTool = t
			}
		case "anthropic_beta":
			// Bedrock's InvokeModel body for Claude: the long-context beta
			// bills above the metered rates.
			if strings.Contains(strings.ToLower(string(val)), "context-1m") {
				f.ServerTool = "context-1m"
			}
		case "modalities":
			// Audio output is billed at audio rates inside the same
			// completion token count.
			if !onlyText(val) {
				f.Gated = append(f.Gated, gatedUse{"modalities", "other than text " + whyOutput})
			}
		case "input_file_id", "training_file", "validation_file":
			var id *string
			if json.Unmarshal(val, &id) != nil {
				return errors.New(strconv.Quote(key) + " must be a string")
			}
			if id != nil {
				f.FileRefs = append(f.FileRefs, *id)
			}
		case "prompt":
			// A stored prompt (Responses) runs input the gateway cannot
			// see; a prompt string (images) is text.
			if val[0] == '{' {
				f.Opaque = true
			}
		case "web_search_options":
			// OpenAI chat's search models bill each search.
			if string(val) != "null" {
				f.ServerTool = key
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
				return err
			}
			return limit(strconv.Quote(key), val)
		case "generationConfig", "generation_config":
			// Gemini. Its JSON parser takes a proto field by either name,
			// so both spellings are one key, inside and out.
			if err := once(seenGen, "generationConfig"); err != nil {
				return err
			}
			var in int
			return object(key, val, func(k string, v []byte) error {
				bit, name := 0, ""
				switch k {
				case "maxOutputTokens", "max_output_tokens":
					bit, name = 1, "maxOutputTokens"
				case "candidateCount", "candidate_count":
					bit, name = 2, "candidateCount"
				case "responseModalities", "response_modalities":
					if !onlyText(v) {
						f.Gated = append(f.Gated, gatedUse{"responseModalities", "other than TEXT " + whyOutput})
					}
					return nil
				case "speechConfig", "speech_config":
					if string(v) != "null" {
						f.Gated = append(f.Gated, gatedUse{"speechConfig", whyOutput})
					}
					return nil
				default:
					return nil
				}
				name = "generationConfig." + name
				if in&bit != 0 {
					return repeated(name)
				}
				in |= bit
				if bit == 1 {
					return limit(strconv.Quote(name), v)
				}
				n, err := count(strconv.Quote(name), v, maxChoices)
				f.Choices = max(f.Choices, n)
				return err
			})
		case "inferenceConfig":
			// Bedrock Converse (maxTokens); Amazon Nova's InvokeModel
			// body names its limit max_new_tokens.
			if err := once(seenInf, key); err != nil {
				return err
			}
			var in int
			return object(key, val, func(k string, v []byte) error {
				bit := 0
				switch k {
				case "maxTokens":
					bit = 1
				case "max_new_tokens":
					bit = 2
				default:
					return nil
				}
				name := "inferenceConfig." + k
				if in&bit != 0 {
					return repeated(name)
				}
				in |= bit
				return limit(strconv.Quote(name), v)
			})
		}
		return nil
	})
	f.empty = empty
	if err == nil {
		opaque, files := scanInput(body)
		f.Opaque = f.Opaque || opaque
		f.FileRefs = append(f.FileRefs, files...)
	}
	return f, err
}

// onlyText reports whether a modalities value (a JSON array of strings,
// or null) asks for text output alone.
func onlyText(val []byte) bool {
	if string(val) == "null" {
		return true
	}
	var m []string
	if json.Unmarshal(val, &m) != nil {
		return false
	}
	for _, s := range m {
		if !strings.EqualFold(s, "text") {
			return false
		}
	}
	return true
}

func repeated(name string) error {
	return errors.New("request body repeats the key " + strconv.Quote(name))
}

// members calls fn with each member of the (valid) JSON object at b[i]:
// its key, unescaped, and the span of its value. It reports whether the
// object has no members.
func members(b []byte, i int, fn func(key string, vStart, vEnd int) error) (empty bool, err error) {
	i = skipWS(b, i+1)
	if b[i] == '}' {
		return true, nil
	}
	for {
		i = skipWS(b, i)
		kEnd := skipString(b, i)
		key, err := keyText(b[i:kEnd])
		if err != nil {
			return false, err
		}
		i = skipWS(b, kEnd)
		i = skipWS(b, i+1) // ':'
		vStart := i
		i = skipValue(b, i)
		if err := fn(key, vStart, i); err != nil {
			return false, err
		}
		i = skipWS(b, i)
		if b[i] == '}' {
			return false, nil
		}
		i++ // ','
	}
}

// object calls fn with each member of val, the (valid) value of the
// top-level key name, which must be an object or null.
func object(name string, val []byte, fn func(key string, v []byte) error) error {
	if string(val) == "null" {
		return nil
	}
	if val[0] != '{' {
		return errors.New(strconv.Quote(name) + " must be an object")
	}
	_, err := members(val, 0, func(k string, vStart, vEnd int) error {
		return fn(k, val[vStart:vEnd])
	})
	return err
}

// count reads a count (an output limit, a number of choices) from a
// valid JSON value: a number, with a fraction rounded up, since the
// gateway must not assume less than a provider may take; or a string
// holding one, which Gemini's proto JSON and lenient parsers accept; null
// is not given (0). Anything else, a negative number or one over most is
// refused; the error names the field (quoted), never the value.
func count(name string, val []byte, most int64) (int64, error) {
	bad := fmt.Errorf("%s must be a number from 0 to %d", name, most)
	if string(val) == "null" {
		return 0, nil
	}
	if val[0] == '"' {
		var s string
		if json.Unmarshal(val, &s) != nil {
			return 0, bad
		}
		val = []byte(strings.TrimSpace(s))
		if !json.Valid(val) {
			return 0, bad
		}
	}
	if len(val) == 0 || (val[0] != '-' && (val[0] < '0' || val[0] > '9')) {
		return 0, bad
	}
	v, err := strconv.ParseFloat(string(val), 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > float64(most) {
		return 0, bad
	}
	return int64(math.Ceil(v)), nil
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

// Tools the providers run themselves and bill per call, search or
// session on top of tokens: Anthropic's and OpenAI's by type prefix,
// Gemini's by key. A client-side tool (a function the caller runs) is
// billed as tokens only and is not listed.
var (
	serverToolTypes = []string{"web_search", "web_fetch", "code_execution", "code_interpreter", "file_search", "image_generation"}
	serverToolKeys  = []string{"googleSearch", "google_search", "googleSearchRetrieval", "google_search_retrieval",
		"codeExecution", "code_execution", "googleMaps", "google_maps", "urlContext", "url_context",
		"enterpriseWebSearch", "enterprise_web_search", "fileSearch", "file_search"}
)

// serverTool returns the first priced server-side tool in a "tools"
// array, or "". A value that is not an array of objects is left to the
// provider to refuse.
func serverTool(val []byte) string {
	var elems []json.RawMessage
	if json.Unmarshal(val, &elems) != nil {
		return ""
	}
	for _, e := range elems {
		var t map[string]json.RawMessage
		if json.Unmarshal(e, &t) != nil {
			continue // not an object: the provider refuses it
		}
		var typ string
		if raw, ok := t["type"]; ok && json.Unmarshal(raw, &typ) == nil {
			for _, p := range serverToolTypes {
				if strings.HasPrefix(typ, p) {
					return typ
				}
			}
		}
		for _, k := range serverToolKeys {
			if _, ok := t[k]; ok {
				return k
			}
		}
	}
	return ""
}

// A gatedUse is a nested setting that needs the role's consent.
type gatedUse struct {
	field string // as the role names it in allow.fields
	why   string
}

// A batchCall is one kind of request a batch file asks the provider to run.
type batchCall struct {
	op    broker.Operation
	model string
}

// nestedServerTool finds a priced server tool in an object's "tools".
func nestedServerTool(val []byte) string {
	var o struct {
		Tools json.RawMessage `json:"tools"`
	}
	if json.Unmarshal(val, &o) != nil || len(o.Tools) == 0 {
		return ""
	}
	return serverTool(o.Tools)
}
