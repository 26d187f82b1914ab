package agent

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/aicred/aicred/sigv4"
)

// s3Forwarder takes the job's S3 calls, signed with the run's key pair,
// checks the signature and body as the server's fence would, and sends
// them on re-signed with the current token's fence key pair, streaming.
type s3Forwarder struct {
	a      *Agent
	client *http.Client
}

var s3Drop = map[string]bool{"Authorization": true, "X-Amz-Date": true, "X-Amz-Content-Sha256": true, "X-Amz-Security-Token": true,
	"X-Amz-Decoded-Content-Length": true, "X-Amz-Trailer": true, "Content-Length": true, "Host": true, "Connection": true,
	"Keep-Alive": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Expect": true}

func s3Err(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
		Message string   `xml:"Message"`
	}{Code: code, Message: "aicred agent: " + msg})
}

func (f *s3Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := f.a
	s, err := sigv4.Parse(r, "s3")
	if err == nil {
		err = s.CheckTime(a.cfg.Now())
	}
	if err == nil && s.Credential.AccessKeyID != a.s3id {
		err = &sigv4.Error{Status: http.StatusForbidden, Code: sigv4.CodeInvalidAccessKeyID, Message: "not this run's access key id"}
	}
	var key []byte
	if err == nil {
		key, err = s.Verify(r, a.secret)
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		s3Err(w, se.Status, se.Code, se.Message)
		return
	}
	a.mu.RLock()
	pair := a.s3pair
	a.mu.RUnlock()
	if pair == nil {
		s3Err(w, http.StatusForbidden, sigv4.CodeAccessDenied, "the token's role reaches no object storage")
		return
	}
	body, length, err := s.Body(r, key)
	if errors.As(err, &se) {
		s3Err(w, se.Status, se.Code, se.Message)
		return
	}
	raw, _, _ := strings.Cut(r.RequestURI, "?")
	u := *a.server
	u.RawPath = a.server.EscapedPath() + raw
	u.Path, _ = url.PathUnescape(u.RawPath)
	q := r.URL.Query()
	for k := range q {
		if strings.HasPrefix(k, "X-Amz-") {
			q.Del(k) // a presigned URL's signature; the call is re-signed
		}
	}
	u.RawQuery = encodeQuery(q)
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	if err != nil {
		s3Err(w, http.StatusBadRequest, "InvalidURI", "cannot build the request")
		return
	}
	for k, vs := range r.Header {
		if !s3Drop[k] {
			out.Header[k] = slices.Clone(vs)
		}
	}
	if s.PayloadHash == sigv4.StreamingSigned || s.PayloadHash == sigv4.StreamingUnsignedTrail {
		out.Header.Del("Content-Encoding")
		if ce := strings.TrimSpace(strings.ReplaceAll(r.Header.Get("Content-Encoding"), "aws-chunked", "")); strings.Trim(ce, ", ") != "" {
			out.Header.Set("Content-Encoding", strings.Trim(ce, ", "))
		}
		out.Header.Del("X-Amz-Sdk-Checksum-Algorithm")
	}
	if r.Method == http.MethodPut || r.Method == http.MethodPost {
		out.Body, out.ContentLength = io.NopCloser(body), length
		if length == 0 {
			out.Body = http.NoBody
		}
	}
	payload := sigv4.UnsignedPayload
	if sigv4.IsHexSHA256(s.PayloadHash) {
		payload = s.PayloadHash
	}
	out.Header.Set("X-Amz-Content-Sha256", payload)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(r.Context(), aws.Credentials{AccessKeyID: pair.AccessKeyID, SecretAccessKey: pair.SecretAccessKey},
		out, payload, "s3", s.Credential.Region, a.cfg.Now()); err != nil {
		s3Err(w, http.StatusInternalServerError, "InternalError", "cannot sign")
		return
	}
	resp, err := f.client.Do(out)
	if err != nil {
		if errors.As(err, &se) {
			s3Err(w, se.Status, se.Code, se.Message)
			return
		}
		s3Err(w, http.StatusBadGateway, "ServiceUnavailable", "the aicred server did not answer")
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if k != "Connection" && k != "Transfer-Encoding" && k != "Keep-Alive" {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func encodeQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range q[k] {
			parts = append(parts, sigv4.Escape(k)+"="+sigv4.Escape(v))
		}
	}
	return strings.Join(parts, "&")
}
