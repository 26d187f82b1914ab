package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// FuzzParse: no Authorization header or presigned query makes Parse or
// Verify panic, and whatever parses has a well-formed credential.
func FuzzParse(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKAC/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature="+string(bytes.Repeat([]byte("ab"), 32)), "20260101T000000Z", "")
	f.Add("", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20260101%2Fr%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
	f.Add("AWS4-HMAC-SHA256 Credential=/////", "x", "a=%zz")
	f.Fuzz(func(t *testing.T, auth, date, query string) {
		r := httptest.NewRequest(http.MethodGet, "http://h.test/b/k", nil)
		r.URL.RawQuery = query
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		r.Header.Set("X-Amz-Date", date)
		r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
		s, err := Parse(r, "s3")
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if s.Credential.AccessKeyID == "" || len(s.Credential.Date) != 8 || len(s.Signature) != 32 {
			t.Fatalf("parsed a malformed signature: %+v", s.Credential)
		}
		_ = s.CheckTime(time.Now())
		_, _ = s.Verify(r, "secret")
	})
}

// FuzzChunked: an arbitrary aws-chunked body never panics the decoder,
// which never yields more than the announced decoded length and only
// ends cleanly when the whole body was well-formed.
func FuzzChunked(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), 5)
	f.Add([]byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"), 5)
	f.Add([]byte("ffffffffffffffffff\r\n"), 1)
	f.Add([]byte("3;chunk-signature=00\r\nabc\r\n"), 3)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 {
			n = -n
		}
		for _, mode := range []string{StreamingUnsignedTrail, StreamingSigned} {
			r := httptest.NewRequest(http.MethodPut, "http://h.test/b/k", bytes.NewReader(body))
			r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(n))
			r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
			s := &Signed{PayloadHash: mode, Signature: make([]byte, 32), amzDate: "20260101T000000Z",
				Credential: Credential{Date: "20260101", Region: "r", Service: "s3"}}
			rd, _, err := s.Body(r, make([]byte, 32))
			if err != nil {
				continue
			}
			out, err := io.ReadAll(io.LimitReader(rd, int64(n)+1<<20))
			if len(out) > n {
				t.Fatalf("%s: decoded %d bytes, announced %d", mode, len(out), n)
			}
			if err == nil && len(out) != n {
				t.Fatalf("%s: ended cleanly after %d of %d bytes", mode, len(out), n)
			}
		}
	})
}
