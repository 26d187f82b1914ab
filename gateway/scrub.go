package gateway

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// No answer a client receives carries a held key's bytes, whatever the
// status: a provider's error may echo the request's headers (a 400 that
// quotes "Authorization: Bearer sk-..."), in the body or in a header.
// Every response passes through a scrubber that overwrites each
// occurrence of the key, and of the encodings an upstream might echo it
// in, with redactByte, byte for byte.
//
// The redaction keeps the length: Content-Length stays true, and the
// framing of an AWS event stream (lengths in each message's prelude)
// stays readable. A message whose payload held the key then fails its
// CRC and the client's decoder refuses it: a frame that leaked is better
// broken than delivered.

// redactByte replaces each byte of a secret found in an answer.
const redactByte = '*'

// minSecretPattern is the shortest pattern scrubbed: shorter ones would
// match ordinary text (a held key is far longer).
const minSecretPattern = 8

// minSecretRun is the shortest run of a key's letters and digits that is
// scrubbed on its own, whatever surrounds it: it catches encodings of the
// key's punctuation that are not in the variant set (double escaping,
// HTML entities) for the long random part of the key.
const minSecretRun = 24

// secretSet is the byte strings never passed to a client for one held
// key: the key's parts and their encodings.
type secretSet struct {
	pats   [][]byte
	maxLen int
	// The search index: every 4-byte window (gram) of every pattern,
	// where it sits, and a bitmap of the grams' hashes. A pattern at
	// least minLen long covers a gram starting at one of any step
	// consecutive positions, so the search reads one gram every step
	// bytes and checks the patterns that gram belongs to.
	minLen int
	step   int
	grams  map[uint32][]gramAt
	bits   []uint64
}

// gramAt is one place a gram occurs: pattern pat at offset off.
type gramAt struct {
	pat, off int
}

const (
	gramLen  = 4
	gramBits = 1 << 18 // the bitmap: 32 KiB
)

func gramHash(g uint32) uint32 { return (g * 2654435761) >> (32 - 18) }

func gramOf(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// index builds the search index over s.pats.
func (s *secretSet) index() {
	s.grams = map[uint32][]gramAt{}
	s.bits = make([]uint64, gramBits/64)
	s.minLen = 0
	for i, p := range s.pats {
		if s.minLen == 0 || len(p) < s.minLen {
			s.minLen = len(p)
		}
		for off := 0; off+gramLen <= len(p); off++ {
			g := gramOf(p[off:])
			s.grams[g] = append(s.grams[g], gramAt{i, off})
			h := gramHash(g)
			s.bits[h/64] |= 1 << (h % 64)
		}
	}
	s.step = max(s.minLen-gramLen+1, 1)
}

// find appends to marks every match in b that starts at lo or later and
// ends after minEnd, each once.
func (s *secretSet) find(b []byte, lo, minEnd int, marks []span) []span {
	if len(s.pats) == 0 {
		return marks
	}
	first := len(marks)
	for i := lo; i+gramLen <= len(b); i += s.step {
		g := gramOf(b[i:])
		h := gramHash(g)
		if s.bits[h/64]&(1<<(h%64)) == 0 {
			continue
		}
		for _, at := range s.grams[g] {
			p := s.pats[at.pat]
			st := i - at.off
			if st < lo || st+len(p) > len(b) || st+len(p) <= minEnd || !bytes.Equal(b[st:st+len(p)], p) {
				continue
			}
			m := span{st, st + len(p)}
			// The same match is seen from every sampled gram it covers.
			if !slices.Contains(marks[first:], m) {
				marks = append(marks, m)
			}
		}
	}
	return marks
}

// secrets returns the key's secret set, computed once per key entry.
func (e *keyEntry) secrets() *secretSet {
	e.secretsOnce.Do(func() {
		parts := []string{e.key.Reveal()}
		if e.kind == awsKeyPairKind {
			if c, ok := awsKeyPair(parts[0]); ok {
				// The access key id is an identifier sent in the clear
				// in SigV4's Authorization; scrubbed anyway. Each part
				// in any base64 alignment covers the pair's forms too
				// (Basic auth "ID:SECRET").
				parts = []string{c.AccessKeyID, c.SecretAccessKey}
				if c.SessionToken != "" {
					parts = append(parts, c.SessionToken)
				}
			}
		}
		e.secretsCache = newSecretSet(parts...)
	})
	return e.secretsCache
}

// newSecretSet returns the variants of each part: as is, JSON-escaped
// (every non-alphanumeric byte as \u00xx in either case, or '/' as \/),
// percent-encoded (either case; reserved bytes only, or every
// non-alphanumeric byte), base64 in both alphabets at each of the three
// alignments it can have inside a longer encoded text (so "Bearer <key>"
// and "ID:SECRET" in Basic auth are covered), and each long
// alphanumeric run.
func newSecretSet(parts ...string) *secretSet {
	seen := map[string]bool{}
	s := &secretSet{}
	add := func(v string) {
		if len(v) < minSecretPattern || seen[v] {
			return
		}
		seen[v] = true
		s.pats = append(s.pats, []byte(v))
		s.maxLen = max(s.maxLen, len(v))
	}
	for _, p := range parts {
		if p == "" {
			continue
		}
		add(p)
		add(escapeBytes(p, `\u00`, "0123456789abcdef", isAlnum))
		add(escapeBytes(p, `\u00`, "0123456789ABCDEF", isAlnum))
		add(strings.ReplaceAll(p, "/", `\/`))
		add(escapeBytes(p, "%", "0123456789ABCDEF", isUnreserved))
		add(escapeBytes(p, "%", "0123456789abcdef", isUnreserved))
		add(escapeBytes(p, "%", "0123456789ABCDEF", isAlnum))
		add(escapeBytes(p, "%", "0123456789abcdef", isAlnum))
		for _, v := range base64Variants(p) {
			add(v)
		}
		for _, run := range alnumRuns(p) {
			if len(run) >= minSecretRun {
				add(run)
			}
		}
	}
	// Longest first: reading order only; every pattern is searched.
	slices.SortStableFunc(s.pats, func(a, b []byte) int { return len(b) - len(a) })
	s.index()
	return s
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isUnreserved(c byte) bool {
	return isAlnum(c) || c == '-' || c == '_' || c == '.' || c == '~'
}

// escapeBytes writes each byte keep rejects as prefix and two hex digits.
func escapeBytes(s, prefix, hex string, keep func(byte) bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteString(prefix)
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// base64Variants are the base64 characters that depend on s alone when s
// starts at each of the three offsets modulo 3 in an encoded text: the
// characters shared with preceding or following bytes are left out.
func base64Variants(s string) []string {
	var out []string
	for off := range 3 {
		buf := make([]byte, off+len(s))
		copy(buf[off:], s)
		enc := base64.StdEncoding.EncodeToString(buf)
		// Whole groups only: the last, partial one depends on what follows.
		enc = enc[:4*(len(buf)/3)]
		// The first group's characters that mix in the preceding bytes.
		skip := [3]int{0, 2, 3}[off]
		if skip >= len(enc) {
			continue
		}
		enc = enc[skip:]
		out = append(out, enc, strings.NewReplacer("+", "-", "/", "_").Replace(enc))
	}
	return out
}

func alnumRuns(s string) []string {
	var runs []string
	start := -1
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isAlnum(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			runs = append(runs, s[start:i])
			start = -1
		}
	}
	return runs
}

// partial is the length of the longest end of b that begins a pattern:
// those bytes are held back until more arrive. Every other byte is
// passed on at once, so a stream's events are not delayed (an SSE event
// ends in "\n\n", which begins no pattern).
func (s *secretSet) partial(b []byte) int {
	hold := 0
	for _, p := range s.pats {
		// Where an end shorter than p and longer than hold may start.
		for q, hi := max(0, len(b)-len(p)+1), len(b)-hold; q < hi; q++ {
			j := bytes.IndexByte(b[q:hi], p[0])
			if j < 0 {
				break
			}
			q += j
			if bytes.HasPrefix(p, b[q:]) {
				hold = len(b) - q
				break
			}
		}
	}
	return hold
}

// contains reports whether b holds any pattern of the set.
func (s *secretSet) contains(b string) bool {
	for _, p := range s.pats {
		if strings.Contains(b, string(p)) {
			return true
		}
	}
	return false
}

// scrubHeaders removes every header whose name or a value holds a
// pattern of s.
func (s *secretSet) scrubHeaders(h http.Header) {
	for k, vv := range h {
		if s.contains(k) || slices.ContainsFunc(vv, s.contains) {
			delete(h, k)
		}
	}
}

// span is a range of scrubber.buf to redact.
type span struct{ from, to int }

// scrubber passes a body through with every pattern of set redacted. It
// holds back only the end of what was read that could begin a pattern,
// until more arrive (or the body ends), so a pattern split across reads
// is still found; nothing else is buffered or delayed. Patterns are searched in the bytes as received, so
// overlapping patterns are all found; bytes are redacted only when they
// are passed on.
type scrubber struct {
	rc  io.ReadCloser
	set *secretSet
	// buf: bytes read and not yet passed on; buf[:ready] are redacted
	// and may be; buf[ready:] are as received.
	buf   []byte
	ready int
	// scanned: every match ending within buf[:scanned] is in marks.
	scanned int
	marks   []span
	err     error
	// done runs once when the body ends or is closed (drops trailers).
	done func()
	// pooled is the pool's buffer s.buf was taken from, returned at the end.
	pooled *[]byte
}

func newScrubber(rc io.ReadCloser, set *secretSet, done func()) *scrubber {
	return &scrubber{rc: rc, set: set, done: done}
}

func (s *scrubber) Read(p []byte) (int, error) {
	for s.ready == 0 {
		if s.err != nil {
			s.finish()
			return 0, s.err
		}
		s.fill(len(p))
	}
	n := copy(p, s.buf[:s.ready])
	// Shift what is left (at most maxLen-1 bytes held back, or the rest
	// of a read larger than p) to the front.
	rest := copy(s.buf, s.buf[n:])
	s.buf = s.buf[:rest]
	s.ready -= n
	s.scanned -= n
	for i := range s.marks {
		s.marks[i].from -= n
		s.marks[i].to -= n
	}
	return n, nil
}

// fill reads once from the body, finds the patterns the new bytes
// complete and redacts what can be passed on.
func (s *scrubber) fill(size int) {
	size = max(size, 512)
	if cap(s.buf)-len(s.buf) < size {
		if s.buf == nil && size+s.set.maxLen <= scrubBufCap {
			// A response's buffer comes from a pool: allocating and
			// zeroing 32 KiB per response was a tenth of the gateway's CPU.
			s.pooled = scrubBufs.Get().(*[]byte)
			s.buf = (*s.pooled)[:0]
		} else {
			nb := make([]byte, len(s.buf), len(s.buf)+size+s.set.maxLen)
			copy(nb, s.buf)
			s.release()
			s.buf = nb
		}
	}
	n, err := s.rc.Read(s.buf[len(s.buf) : len(s.buf)+size])
	s.buf = s.buf[:len(s.buf)+n]
	// A new match ends past what was scanned before.
	s.marks = s.set.find(s.buf, max(0, s.scanned-s.set.maxLen+1), s.scanned, s.marks)
	s.scanned = len(s.buf)
	if err != nil {
		s.err = err
		s.ready = len(s.buf)
	} else {
		s.ready = len(s.buf) - s.set.partial(s.buf)
	}
	// Redact the part passed on; keep the rest of each span for later.
	kept := s.marks[:0]
	for _, m := range s.marks {
		to := min(m.to, s.ready)
		for i := m.from; i < to; i++ {
			s.buf[i] = redactByte
		}
		if m.to > s.ready {
			kept = append(kept, span{max(m.from, s.ready), m.to})
		}
	}
	s.marks = kept
}

func (s *scrubber) finish() {
	if s.done != nil {
		s.done()
		s.done = nil
	}
	s.release()
	s.buf = nil
}

// scrubBufCap is the capacity of a pooled buffer: ReverseProxy's 32 KiB
// reads and a held-back pattern end.
const scrubBufCap = 40 << 10

var scrubBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, scrubBufCap)
	return &b
}}

// release returns the pooled buffer, if the scrubber holds one; s.buf
// must not be used after it unless replaced.
func (s *scrubber) release() {
	if s.pooled != nil {
		scrubBufs.Put(s.pooled)
		s.pooled = nil
	}
}

func (s *scrubber) Close() error {
	err := s.rc.Close()
	s.finish()
	return err
}

// scrub returns b with every pattern of s redacted (the reference the
// streaming scrubber is tested against, and for whole values).
func (s *secretSet) scrub(b []byte) []byte {
	out := bytes.Clone(b)
	for _, p := range s.pats {
		for from := 0; ; {
			i := bytes.Index(b[from:], p)
			if i < 0 {
				break
			}
			for j := from + i; j < from+i+len(p); j++ {
				out[j] = redactByte
			}
			from += i + 1
		}
	}
	return out
}

// fenceResponse makes resp safe to pass on: an encoding the scrubber
// cannot read is answered with the gateway's own 502 (recorded as an
// upstream error; it reports false then, and resp is that answer);
// otherwise headers holding the key are removed, trailers are dropped
// and the body is scrubbed. It runs before the meter wraps the body, so
// the meter reads scrubbed bytes (usage numbers never hold a key).
func (g *Gateway) fenceResponse(x *exchange, resp *http.Response) bool {
	set := &secretSet{}
	if x.key != nil {
		set = x.key.secrets()
	}
	set.scrubHeaders(resp.Header)
	// Trailers are never passed on: the transport fills resp.Trailer when
	// the body ends, so the scrubber empties it again then and on Close,
	// before ReverseProxy copies it.
	resp.Trailer = nil
	if !readableEncoding(resp.Header) {
		g.badEncoding(x, resp)
		return false
	}
	if resp.Uncompressed {
		// The transport removed one gzip layer (it asked for gzip, the
		// client's Accept-Encoding is never forwarded). A second one,
		// announced in a second Content-Encoding line the transport
		// deleted, would reach the client unscrubbed.
		br := bufio.NewReaderSize(resp.Body, 512)
		stall := time.AfterFunc(g.idle, func() {
			if x.cancel != nil {
				x.cancel(errStalled)
			}
		})
		magic, _ := br.Peek(2)
		stall.Stop()
		resp.Body = struct {
			io.Reader
			io.Closer
		}{br, resp.Body}
		if bytes.Equal(magic, []byte{0x1f, 0x8b}) {
			g.badEncoding(x, resp)
			return false
		}
	}
	resp.Body = newScrubber(resp.Body, set, func() { resp.Trailer = nil })
	return true
}

// readableEncoding reports whether the body is as sent (no
// Content-Encoding but identity, after the transport's own gzip).
func readableEncoding(h http.Header) bool {
	for _, v := range h.Values("Content-Encoding") {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "identity") {
				return false
			}
		}
	}
	return true
}

// badEncoding turns resp into the gateway's 502 in the provider's shape
// and records the exchange as an upstream error.
func (g *Gateway) badEncoding(x *exchange, resp *http.Response) {
	_ = resp.Body.Close()
	m := &meter{g: g, x: x, status: http.StatusBadGateway}
	m.requestID = resp.Header.Get(x.route.surface.requestID)
	m.record(OutcomeUpstreamError)
	var w answer
	x.route.surface.writeError(&w, http.StatusBadGateway, "api_error", "upstream_encoding",
		"aicred gateway: the provider answered in an encoding the gateway cannot inspect")
	resp.StatusCode, resp.Status = w.status, strconv.Itoa(w.status)+" "+http.StatusText(w.status)
	resp.Header, resp.Trailer = w.header, nil
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(w.body.Bytes())), int64(w.body.Len())
	resp.Uncompressed = false
}

// answer is an http.ResponseWriter in memory, for an error written by a
// surface's writeError.
type answer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *answer) Header() http.Header {
	if a.header == nil {
		a.header = http.Header{}
	}
	return a.header
}

func (a *answer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *answer) Write(b []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	return a.body.Write(b)
}
