package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MaxChunk bounds one chunk of a signed streaming body: a chunk is held
// in memory until its signature is checked (SDKs send 64 KiB chunks).
const MaxChunk = 16 << 20

// maxChunkLine bounds a chunk header or trailer line.
const maxChunkLine = 4 << 10

// holdback releases what r reads except its last byte until r has
// returned io.EOF: r returns EOF only once every check of the body
// passed, so a reader that fails its last check never lets the whole
// body through and the request built on it is aborted, not completed.
type holdback struct {
	r    io.Reader
	held byte
	has  bool
	err  error
}

func (h *holdback) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	if len(p) < 2 {
		var b [2]byte
		n, err := h.Read(b[:])
		copy(p, b[:n])
		if n > len(p) { // cannot happen: one byte is always held back
			n = len(p)
		}
		return n, err
	}
	off := 0
	if h.has {
		p[0], off = h.held, 1
	}
	n, err := h.r.Read(p[off:])
	total := off + n
	switch {
	case err == io.EOF:
		h.err, h.has = io.EOF, false
		return total, io.EOF
	case err != nil:
		h.err, h.has = err, false
		return 0, err
	case total == 0:
		return 0, nil
	}
	h.held, h.has = p[total-1], true
	return total - 1, nil
}

// hashCheck computes SHA-256 of what it reads and, at the end, compares
// it with the signed x-amz-content-sha256.
type hashCheck struct {
	r    io.Reader
	h    hash.Hash
	want string
	n    int64
}

func (c *hashCheck) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if err == io.EOF && hex.EncodeToString(c.h.Sum(nil)) != c.want {
		return n, &Error{Status: http.StatusBadRequest, Code: CodeXAmzContentSHA256, Message: "the provided x-amz-content-sha256 header does not match what was computed"}
	}
	return n, err
}

// Body wraps r's body so that reading it checks what the signature
// promised, and returns the reader and the decoded length (-1 when not
// known). A signed digest is compared at the end; a streaming body is
// decoded (aws-chunked) with each chunk's signature or the trailing
// checksum checked. Every failure surfaces as an *Error from Read before
// the body's last byte; a caller forwarding the body thereby aborts.
// key is the signing key Verify returned.
func (s *Signed) Body(r *http.Request, key []byte) (io.Reader, int64, error) {
	ph := s.PayloadHash
	switch {
	case ph == UnsignedPayload:
		return r.Body, r.ContentLength, nil
	case IsHexSHA256(ph):
		return &holdback{r: &hashCheck{r: r.Body, h: sha256.New(), want: ph}}, r.ContentLength, nil
	case ph == StreamingSigned || ph == StreamingUnsignedTrail:
		if s.Presigned {
			return nil, 0, errorf(CodeInvalidRequest, "a presigned URL cannot carry a streaming body")
		}
		n, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return nil, 0, refuse(http.StatusLengthRequired, "MissingContentLength", "a streaming upload needs x-amz-decoded-content-length")
		}
		d := &chunked{br: bufio.NewReaderSize(r.Body, 64<<10), want: n, signed: ph == StreamingSigned,
			key: key, prev: hex.EncodeToString(s.Signature), date: s.amzDate, scope: s.Credential.Scope()}
		if ph == StreamingUnsignedTrail {
			t := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer")))
			if t != "" {
				d.sum, d.trailer = checksum(t)
				if d.sum == nil {
					return nil, 0, errorf(CodeInvalidRequest, "unsupported trailing checksum %q", t)
				}
			}
		}
		return &holdback{r: d}, n, nil
	case ph == StreamingSignedTrail:
		return nil, 0, refuse(http.StatusNotImplemented, CodeNotImplemented, "signed trailers (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER) are not supported; send the checksum in a header or use unsigned trailers")
	}
	return nil, 0, errorf(CodeInvalidRequest, "x-amz-content-sha256 must be a hex SHA-256, UNSIGNED-PAYLOAD or a streaming mode")
}

// checksum returns the hash a trailing x-amz-checksum-* header names.
func checksum(name string) (hash.Hash, string) {
	switch name {
	case "x-amz-checksum-crc32":
		return crc32.NewIEEE(), name
	case "x-amz-checksum-crc32c":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli)), name
	case "x-amz-checksum-crc64nvme":
		return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)), name
	case "x-amz-checksum-sha1":
		return sha1.New(), name
	case "x-amz-checksum-sha256":
		return sha256.New(), name
	}
	return nil, ""
}

var emptySHA256 = hexSHA256(nil)

// chunked decodes an aws-chunked body.
type chunked struct {
	br     *bufio.Reader
	signed bool
	key    []byte
	prev   string // the previous signature, hex
	date   string
	scope  string
	// sum, trailer: the trailing checksum, when announced.
	sum     hash.Hash
	trailer string

	want, got int64
	left      int64  // unread data of the current unsigned chunk
	buf       []byte // the current signed chunk, checked
	done      bool
}

func (c *chunked) fail(code, msg string) error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: msg}
}

func (c *chunked) line() (string, error) {
	var b []byte
	for {
		frag, err := c.br.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > maxChunkLine {
			return "", c.fail(CodeIncompleteBody, "a chunk header is too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", c.fail(CodeIncompleteBody, "the streaming body ended early")
		}
		s := string(b)
		if !strings.HasSuffix(s, "\r\n") {
			return "", c.fail(CodeIncompleteBody, "a chunk line does not end in CRLF")
		}
		return s[:len(s)-2], nil
	}
}

func (c *chunked) Read(p []byte) (int, error) {
	for {
		if len(c.buf) > 0 {
			n := copy(p, c.buf)
			c.buf = c.buf[n:]
			return n, nil
		}
		if c.left > 0 {
			if int64(len(p)) > c.left {
				p = p[:c.left]
			}
			n, err := c.br.Read(p)
			c.left -= int64(n)
			if c.sum != nil {
				c.sum.Write(p[:n])
			}
			if c.left == 0 {
				if err := c.crlf(); err != nil {
					return 0, err
				}
			}
			if err == io.EOF && c.left > 0 {
				return 0, c.fail(CodeIncompleteBody, "the streaming body ended early")
			}
			if err != nil && err != io.EOF {
				return 0, err
			}
			return n, nil
		}
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			return 0, err
		}
	}
}

func (c *chunked) crlf() error {
	var b [2]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil || b != [2]byte{'\r', '\n'} {
		return c.fail(CodeIncompleteBody, "a chunk does not end in CRLF")
	}
	return nil
}

// next reads a chunk header and, for a signed chunk, the chunk itself.
func (c *chunked) next() error {
	hdr, err := c.line()
	if err != nil {
		return err
	}
	sizeHex, ext, _ := strings.Cut(hdr, ";")
	size, err := strconv.ParseInt(sizeHex, 16, 64)
	if err != nil || size < 0 || size > MaxChunk || len(sizeHex) > 16 {
		return c.fail(CodeIncompleteBody, "a chunk size is malformed or over the limit")
	}
	if c.got+size > c.want {
		return c.fail(CodeIncompleteBody, "the streaming body is longer than x-amz-decoded-content-length")
	}
	if c.signed {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !ok || len(sig) != 64 {
			return c.fail(CodeIncompleteBody, "a chunk has no signature")
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(c.br, data); err != nil {
			return c.fail(CodeIncompleteBody, "the streaming body ended early")
		}
		if err := c.crlf(); err != nil {
			return err
		}
		sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + c.date + "\n" + c.scope + "\n" + c.prev + "\n" + emptySHA256 + "\n" + hexSHA256(data)
		m := hmac.New(sha256.New, c.key)
		m.Write([]byte(sts))
		got, _ := hex.DecodeString(sig)
		if !hmac.Equal(m.Sum(nil), got) {
			return &Error{Status: http.StatusForbidden, Code: CodeSignatureDoesNotMatch, Message: "a chunk signature does not match"}
		}
		c.prev = sig
		c.got += size
		c.buf = data
		if size == 0 {
			return c.end()
		}
		return nil
	}
	if ext != "" {
		return c.fail(CodeIncompleteBody, "an unsigned chunk carries an extension")
	}
	c.got += size
	if size == 0 {
		return c.trailers()
	}
	c.left = size
	return nil
}

// end checks the body after its final (empty) signed chunk.
func (c *chunked) end() error {
	if err := c.eof(); err != nil {
		return err
	}
	if c.got != c.want {
		return c.fail(CodeIncompleteBody, "the streaming body is shorter than x-amz-decoded-content-length")
	}
	c.done = true
	return nil
}

func (c *chunked) eof() error {
	if _, err := c.br.Peek(1); err != io.EOF {
		return c.fail(CodeIncompleteBody, "data after the final chunk")
	}
	return nil
}

// trailers reads the trailer lines after the final unsigned chunk and
// checks the announced checksum.
func (c *chunked) trailers() error {
	var got string
	for i := 0; ; i++ {
		l, err := c.line()
		if err != nil {
			return err
		}
		if l == "" {
			break
		}
		if i > 8 {
			return c.fail(CodeIncompleteBody, "too many trailers")
		}
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			return c.fail(CodeIncompleteBody, "a trailer is malformed")
		}
		if strings.ToLower(strings.TrimSpace(name)) == c.trailer {
			got = strings.TrimSpace(val)
		}
	}
	if err := c.eof(); err != nil {
		return err
	}
	if c.got != c.want {
		return c.fail(CodeIncompleteBody, "the streaming body is shorter than x-amz-decoded-content-length")
	}
	if c.sum != nil {
		want := base64.StdEncoding.EncodeToString(c.sum.Sum(nil))
		if got == "" {
			return c.fail(CodeInvalidRequest, "the announced trailing checksum is missing")
		}
		if !bytes.Equal([]byte(got), []byte(want)) {
			return c.fail(CodeBadDigest, "the trailing checksum does not match the body")
		}
	}
	c.done = true
	return nil
}
