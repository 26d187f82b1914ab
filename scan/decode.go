package scan

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
)

// A segment is a run of encoded text and what it decodes to.
type segment struct {
	start, end int
	encoding   string
	decoded    []byte
}

const (
	minBase64Run = 24      // shortest base64 run worth decoding (18 bytes)
	maxSegment   = 1 << 20 // longest segment decoded; longer runs are skipped
)

var b64Chars = func() (t charset) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = true
	}
	return
}()

// segmentDelim ends a URL-encoded or JSON-escaped segment.
var segmentDelim = func() (t [256]bool) {
	for _, c := range []byte(" \t\r\n\"'`<>()[]{},;") {
		t[c] = true
	}
	return
}()

// segmentsOf calls fn for each encoded segment of data whose decoded form
// is printable text different from the original: base64 runs (Kubernetes
// Secret data, basic-auth blobs), URL-encoded runs and JSON strings that use
// \u or \/ escapes (which can hide a key's characters from a plain match).
func segmentsOf(data []byte, fn func(segment)) {
	base64Segments(data, fn)
	escapeSegments(data, '%', "url", decodeURL, fn)
	escapeSegments(data, '\\', "json-escape", decodeJSONEscapes, fn)
}

// base64Segments finds runs of at least minBase64Run base64 characters.
// It samples every minBase64Run-th byte: any long enough run contains a
// sampled position, so most of the input is never looked at, and only runs
// around a sampled base64 character are expanded.
func base64Segments(data []byte, fn func(segment)) {
	n := len(data)
	prevEnd := 0 // runs never extend left of here: already examined
	for i := minBase64Run - 1; i < n; {
		if !b64Chars[data[i]] {
			i += minBase64Run
			continue
		}
		lo := i
		for lo > prevEnd && b64Chars[data[lo-1]] {
			lo--
		}
		hi := i + 1 + spanIn(&b64Chars, data[i+1:])
		end := hi
		for end < n && end-hi < 2 && data[end] == '=' {
			end++
		}
		if hi-lo >= minBase64Run && hi-lo <= maxSegment && (lo == 0 || !wordByte(data[lo-1])) {
			if dec := decodeBase64(data[lo:hi]); dec != nil {
				fn(segment{start: lo, end: end, encoding: "base64", decoded: dec})
			}
		}
		prevEnd = hi
		i = hi + minBase64Run
	}
}

func wordByte(c byte) bool { return c == '_' || c == '-' || c == '.' }

func decodeBase64(run []byte) []byte {
	// Cheap rejection before allocating: base64 of text has a mix of cases
	// or digits; plain words and paths rarely decode to text anyway.
	// The padding is not part of the run: decode unpadded, keeping the
	// final partial quantum (it holds the last one or two bytes, often the
	// end of a key). A length of 4n+1 cannot be base64; drop the odd char.
	if len(run)%4 == 1 {
		run = run[:len(run)-1]
	}
	if !mayBePrintable(run) {
		return nil
	}
	dec := make([]byte, base64.RawStdEncoding.DecodedLen(len(run)))
	n, err := base64.RawStdEncoding.Decode(dec, run)
	if err != nil {
		return nil
	}
	dec = dec[:n]
	if !printable(dec) {
		return nil
	}
	return dec
}

// b64Value maps a base64 character to its six bits.
var b64Value = func() (t [256]uint32) {
	for i, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = uint32(i)
	}
	return
}()

// mayBePrintable decodes run (base64 characters only, not 4n+1 long)
// quantum by quantum without keeping the bytes, and reports false as soon
// as its decoded form cannot pass printable: a NUL, or more bytes that are
// not text than printable allows of the whole. A random key (most base64
// runs in text dense with keys) fails within two or three quanta, and is
// neither allocated nor decoded in full.
func mayBePrintable(run []byte) bool {
	total := base64.RawStdEncoding.DecodedLen(len(run))
	bad := 0
	for i := 0; i+4 <= len(run); i += 4 {
		v := b64Value[run[i]]<<18 | b64Value[run[i+1]]<<12 | b64Value[run[i+2]]<<6 | b64Value[run[i+3]]
		for _, c := range [3]byte{byte(v >> 16), byte(v >> 8), byte(v)} {
			switch {
			case c == 0:
				return false
			case c >= 0x20 && c < 0x7f, c == '\n', c == '\r', c == '\t':
			default:
				bad++
			}
		}
		if bad*20 > total {
			return false
		}
	}
	return true
}

// printable reports whether b looks like text: at least 95% printable ASCII
// or common whitespace, and no NUL.
func printable(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	bad := 0
	for _, c := range b {
		switch {
		case c == 0:
			return false
		case c >= 0x20 && c < 0x7f, c == '\n', c == '\r', c == '\t':
		default:
			bad++
		}
	}
	return bad*20 <= len(b)
}

func escapeSegments(data []byte, marker byte, encoding string, decode func([]byte) []byte, fn func(segment)) {
	for off := 0; off < len(data); {
		i := bytes.IndexByte(data[off:], marker)
		if i < 0 {
			return
		}
		i += off
		lo, hi := i, i+1
		for lo > 0 && !segmentDelim[data[lo-1]] && i-lo < maxSegment {
			lo--
		}
		for hi < len(data) && hi-i < maxSegment {
			c := data[hi]
			if marker == '\\' && c == '\\' && hi+1 < len(data) {
				hi += 2 // an escaped quote does not end the segment
				continue
			}
			if segmentDelim[c] {
				break
			}
			hi++
		}
		hi = min(hi, len(data))
		if dec := decode(data[lo:hi]); dec != nil && !bytes.Equal(dec, data[lo:hi]) && printable(dec) {
			fn(segment{start: lo, end: hi, encoding: encoding, decoded: dec})
		}
		off = hi + 1
	}
}

func decodeURL(seg []byte) []byte {
	if !hasEscape(seg, '%', isHexEscape) {
		return nil
	}
	s, err := url.PathUnescape(string(seg))
	if err != nil {
		return nil
	}
	return []byte(s)
}

func isHexEscape(rest []byte) bool {
	return len(rest) >= 2 && isHex(rest[0]) && isHex(rest[1])
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// decodeJSONEscapes unescapes a JSON string body that uses \u or \/ escapes.
// Segments with only \n, \" and the like are left alone: those escapes end
// a key rather than hide one, and the boundary check handles them.
func decodeJSONEscapes(seg []byte) []byte {
	if !hasEscape(seg, '\\', func(rest []byte) bool {
		return len(rest) >= 5 && rest[0] == 'u' && isHex(rest[1]) && isHex(rest[2]) && isHex(rest[3]) && isHex(rest[4]) ||
			len(rest) >= 1 && rest[0] == '/'
	}) {
		return nil
	}
	quoted := make([]byte, 0, len(seg)+2)
	quoted = append(quoted, '"')
	quoted = append(quoted, seg...)
	quoted = append(quoted, '"')
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return nil
	}
	return []byte(s)
}

func hasEscape(seg []byte, marker byte, ok func(rest []byte) bool) bool {
	for i := 0; i < len(seg); i++ {
		if seg[i] == marker && ok(seg[i+1:]) {
			return true
		}
	}
	return false
}
