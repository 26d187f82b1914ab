package gateway

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/aicred/aicred/broker"
)

// The worst case of a request is what admission reserves and what a call
// whose usage never arrives is charged. Both must bound from above what
// the provider could bill, never estimate it.
//
// Input. A request whose input is all text in its body cannot hold more
// tokens than its bytes (every token of a byte-level or byte-fallback
// tokenizer covers at least one byte, and JSON adds bytes, never
// tokens), plus what the provider adds unseen: chat templates and the
// tool-use system prompt, bounded by textOverheadTokens. A request that
// carries or references input whose token count its bytes do not bound
// (an image, audio or video, a document, a file id, a URL the provider
// fetches, a previous response, stored prompts or cached content) is
// bounded by the model's context window alone; without a known context
// window it is refused. Input of unknown kind is priced at the dearest
// input rate (cache writes cost more than plain input).
//
// A call whose usage never arrives is charged its context window of
// input (the bytes bound is not used there: the usage may be missing
// because the input was not what the body showed) plus the reserved
// output.

// textOverheadTokens bounds the tokens a provider adds to a text request
// (role markers, chat templates, Anthropic's tool-use system prompt of a
// few hundred tokens).
const textOverheadTokens = 1024

// audioBytesPerSecondMin is the lowest bitrate of any audio format the
// providers accept for transcription (Opus at 6 kbit/s): a file's size
// divided by it bounds its length from above.
const audioBytesPerSecondMin = 750

// opaqueKeys are keys (folded: lower case, no '_' or '-') whose value is
// input the body does not hold as text.
var opaqueKeys = map[string]bool{
	"imageurl": true, "inputimage": true, "image": true, "inputaudio": true, "file": true, "fileid": true,
	"filedata": true, "fileurl": true, "fileuri": true, "inputfile": true, "document": true, "inlinedata": true,
	"video": true, "videourl": true, "previousresponseid": true, "cachedcontent": true, "conversation": true,
	"mcpservers": true, "s3location": true, "imageblock": true,
}

// opaqueTypes are parts of a "type" value naming content that is not
// text in the body ("image_url", "input_audio", "document", "item_reference").
var opaqueTypes = []string{"image", "audio", "video", "file", "document", "container", "mcp", "reference"}

// scanInput reports whether a (valid) JSON body carries or references
// input that its bytes do not bound (a key or content type of the kinds
// above anywhere in it, or a string that is a URL or data URI), and
// lists the values of every "file_id" in it.
func scanInput(b []byte) (opaque bool, files []string) {
	last := "" // the folded key just read, until its value is
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			break
		}
		i += j
		end := skipString(b, i)
		raw := b[i+1 : max(end-1, i+1)]
		k := skipWS(b, end)
		if k < len(b) && b[k] == ':' {
			key := string(raw)
			if bytes.IndexByte(raw, '\\') >= 0 {
				if s, err := keyText(b[i:end]); err == nil {
					key = s
				}
			}
			last = fold(key)
			opaque = opaque || opaqueKeys[last]
			i = k + 1
			continue
		}
		v := raw
		if bytes.IndexByte(v, '\\') >= 0 {
			if s, err := keyText(b[i:end]); err == nil {
				v = []byte(s)
			}
		}
		switch last {
		case "type":
			t := strings.ToLower(string(v))
			for _, o := range opaqueTypes {
				opaque = opaque || strings.Contains(t, o)
			}
		case "fileid":
			files = append(files, string(v))
		}
		opaque = opaque || urlLike(v)
		last = ""
		i = end
	}
	return opaque, files
}

// urlLike reports whether a string value is a URL or data URI the
// provider could fetch or decode as media.
func urlLike(v []byte) bool {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) > 8 {
		v = v[:8]
	}
	l := strings.ToLower(string(v))
	for _, p := range [...]string{"data:", "http://", "https://", "gs://", "s3://", "file:", "ftp://"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// inputBound is the most input tokens the request can be billed for,
// and false when nothing bounds it (opaque input, no context window).
func (x *exchange) inputBound() (int64, bool) {
	cw := x.price.ContextWindow
	rt := x.route
	if rt == nil {
		rt = &route{}
	}
	if x.facts.Opaque || rt.body == bodyMultipart {
		return cw, cw > 0
	}
	n := int64(len(x.body)) + textOverheadTokens
	if cw > 0 && rt.operation != broker.OpEmbeddings {
		// An embeddings call may carry many inputs, each up to the
		// window; a chat's whole input fits in it.
		n = min(n, cw)
	}
	return n, true
}

// boundInput is the stage that refuses a model call whose input nothing
// bounds, before anything is reserved or sent.
type boundInput struct{}

func (boundInput) serve(x *exchange) error {
	if x.route.free || x.units {
		return nil
	}
	if _, ok := x.inputBound(); !ok {
		return refuse(http.StatusForbidden, "permission_error", "unbounded_input",
			"aicred gateway: the request carries or references input the gateway cannot size (images, audio, files, URLs, earlier responses) and no context window is known for model "+
				quoteModel(x.facts.Model)+", so its cost cannot be bounded")
	}
	return nil
}

// worstInput is p with its input rate raised to the dearest input-side
// rate (cache writes), for input whose kind is not known.
func (p Price) worstInput() Price {
	p.Input = max(p.Input, p.CacheWrite, p.CacheWrite1h)
	p.CachedInput, p.CacheWrite, p.CacheWrite1h = p.Input, p.Input, p.Input
	return p
}
