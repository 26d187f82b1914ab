package s3fence_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/s3fence"
	"github.com/aicred/aicred/sigv4"
)

func hmacHex(key []byte, s string) (string, []byte) {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	b := m.Sum(nil)
	return hex.EncodeToString(b), b
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// chunkedUpload builds a STREAMING-AWS4-HMAC-SHA256-PAYLOAD PutObject as
// AWS documents it ("Signature Calculations for the Authorization Header:
// Transferring Payload in Multiple Chunks"): the seed signature over the
// headers, then each chunk signed with the previous signature. corrupt
// names a chunk whose data is changed after signing (-1: none).
func chunkedUpload(t *testing.T, endpoint, akid, secret, key string, data []byte, chunk, corrupt int) *http.Request {
	t.Helper()
	now := time.Now().UTC()
	amzDate, day := now.Format("20060102T150405Z"), now.Format("20060102")
	scope := day + "/eu-west-1/s3/aws4_request"
	var chunks [][]byte
	for i := 0; i < len(data); i += chunk {
		chunks = append(chunks, data[i:min(i+chunk, len(data))])
	}
	chunks = append(chunks, nil)
	sigLen := 64
	encLen := 0
	for _, c := range chunks {
		encLen += len(strconv.FormatInt(int64(len(c)), 16)) + len(";chunk-signature=") + sigLen + 2 + len(c) + 2
	}
	u, _ := url.Parse(endpoint + "/s3/main/models/" + key)
	hdr := map[string]string{
		"content-encoding":             "aws-chunked",
		"content-length":               strconv.Itoa(encLen),
		"host":                         u.Host,
		"x-amz-content-sha256":         sigv4.StreamingSigned,
		"x-amz-date":                   amzDate,
		"x-amz-decoded-content-length": strconv.Itoa(len(data)),
	}
	names := []string{"content-encoding", "content-length", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-decoded-content-length"}
	var canon strings.Builder
	for _, n := range names {
		canon.WriteString(n + ":" + hdr[n] + "\n")
	}
	creq := "PUT\n" + u.EscapedPath() + "\n\n" + canon.String() + "\n" + strings.Join(names, ";") + "\n" + sigv4.StreamingSigned
	sk := sigv4.SigningKey(secret, sigv4.Credential{Date: day, Region: "eu-west-1", Service: "s3"})
	seed, _ := hmacHex(sk, "AWS4-HMAC-SHA256\n"+amzDate+"\n"+scope+"\n"+sha([]byte(creq)))
	var body bytes.Buffer
	prev := seed
	for i, c := range chunks {
		sig, _ := hmacHex(sk, "AWS4-HMAC-SHA256-PAYLOAD\n"+amzDate+"\n"+scope+"\n"+prev+"\n"+sha(nil)+"\n"+sha(c))
		prev = sig
		if i == corrupt {
			c = bytes.Clone(c)
			c[len(c)/2] ^= 1
		}
		fmt.Fprintf(&body, "%x;chunk-signature=%s\r\n", len(c), sig)
		body.Write(c)
		body.WriteString("\r\n")
	}
	if body.Len() != encLen {
		t.Fatalf("encoded %d bytes, announced %d", body.Len(), encLen)
	}
	req, _ := http.NewRequest(http.MethodPut, u.String(), &body)
	req.ContentLength = int64(encLen)
	for _, n := range names[:len(names)] {
		if n != "host" && n != "content-length" {
			req.Header.Set(n, hdr[n])
		}
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+akid+"/"+scope+", SignedHeaders="+strings.Join(names, ";")+", Signature="+seed)
	return req
}

// TestStreamingSignedUpload: chunk signatures are verified as the body
// streams; a chunk changed after signing aborts the upload.
func TestStreamingSignedUpload(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	token, _ := f.issue(t, time.Hour)
	pc := f.pair(t, token)
	data := f.gen.Bytes(200_000)
	for _, tc := range []struct {
		name    string
		corrupt int
		status  int
	}{{"intact", -1, 200}, {"middle chunk changed", 1, 403}, {"last data chunk changed", 3, 403}} {
		t.Run(tc.name, func(t *testing.T) {
			key := "runs/chunked-" + strconv.Itoa(tc.corrupt)
			resp, err := http.DefaultClient.Do(chunkedUpload(t, f.srv.URL, pc.AccessKeyID, pc.SecretAccessKey, key, data, 64<<10, tc.corrupt))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.status)
			}
			got, err := f.client(t, pc).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("models"), Key: aws.String(key)})
			if tc.status != 200 {
				if err == nil {
					t.Fatal("an upload with a bad chunk signature was stored")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := io.ReadAll(got.Body)
			if !bytes.Equal(stored, data) {
				t.Fatal("the decoded upload differs")
			}
		})
	}
}

// stsServer answers AssumeRole as AWS documents it (Query API, XML), after
// checking the SigV4 signature with the held key.
type stsServer struct {
	t          *testing.T
	akid, sec  string
	form       url.Values
	answerAKID string
}

func (s *stsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sg, err := sigv4.Parse(r, "sts")
	if err == nil {
		sg.PayloadHash = sha(body)
		if sg.Credential.AccessKeyID != s.akid {
			err = fmt.Errorf("not the held key")
		} else {
			_, err = sg.Verify(r, s.sec)
		}
	}
	if err != nil {
		s.t.Errorf("sts: signature: %v", err)
		w.WriteHeader(403)
		return
	}
	s.form, _ = url.ParseQuery(string(body))
	if s.form.Get("Action") != "AssumeRole" {
		w.WriteHeader(400)
		return
	}
	exp := time.Now().Add(time.Duration(mustAtoi(s.form.Get("DurationSeconds"))) * time.Second).UTC().Format(time.RFC3339)
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>%s</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/trainer/%s</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:%s</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SecretAccessKey>%s</SecretAccessKey>
      <SessionToken>%s</SessionToken>
      <Expiration>%s</Expiration>
      <AccessKeyId>%s</AccessKeyId>
    </Credentials>
    <PackedPolicySize>8</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>`, xmlEsc(s.form.Get("SourceIdentity")), xmlEsc(s.form.Get("RoleSessionName")), xmlEsc(s.form.Get("RoleSessionName")),
		strings.Repeat("s", 40), strings.Repeat("t", 100), exp, s.answerAKID)
}

func xmlEsc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func mustAtoi(s string) int { n, _ := strconv.Atoi(s); return n }

// TestVend: AssumeRole with a session policy limited to the role's
// scopes, a duration of the token's remaining life (at least 15 minutes),
// the workload as source identity and session tags; the answer is the
// credential_process shape.
func TestVend(t *testing.T) {
	// The fixture's held key is generated from a fixed seed, so the STS
	// server can be told it once the fixture exists.
	sts := &stsServer{t: t}
	stsURL := newHTTPServer(t, sts)
	f := newFixture(t, fixtureOpts{mod: func(c *s3fence.Config) {
		c.Stores[0].RoleARN = "arn:aws:iam::123456789012:role/trainer"
		c.Stores[0].STSEndpoint = stsURL
	}})
	sts.akid, sts.sec, sts.answerAKID = f.heldAKID, f.heldSec, "ASIA"+f.gen.UpperNum(16)
	for _, tc := range []struct {
		ttl     time.Duration
		minDur  int
		maxDur  int
		storeQ  string
		status  int
		records int
	}{
		{ttl: 50 * time.Minute, minDur: 49 * 60, maxDur: 50 * 60, storeQ: "main", status: 200, records: 1},
		{ttl: 5 * time.Minute, minDur: 15 * 60, maxDur: 15 * 60, storeQ: "main", status: 200, records: 2},
		{ttl: time.Hour, storeQ: "nope", status: 404, records: 2},
	} {
		token, id := f.issue(t, tc.ttl)
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/aicred/v1/s3/vend?store="+tc.storeQ, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var pc s3fence.ProcessCredentials
		decodeJSON(t, resp, &pc)
		if resp.StatusCode != tc.status {
			t.Fatalf("vend: %d, want %d", resp.StatusCode, tc.status)
		}
		if len(f.usage.Records()) != tc.records {
			t.Fatalf("%d usage records, want %d", len(f.usage.Records()), tc.records)
		}
		if tc.status != 200 {
			continue
		}
		if pc.Version != 1 || pc.AccessKeyID != sts.answerAKID || pc.SessionToken == "" || pc.Expiration == "" {
			t.Fatalf("vend answer: %+v", pc)
		}
		d := mustAtoi(sts.form.Get("DurationSeconds"))
		if d < tc.minDur || d > tc.maxDur {
			t.Fatalf("DurationSeconds %d, want %d..%d", d, tc.minDur, tc.maxDur)
		}
		if sts.form.Get("RoleSessionName") != id || sts.form.Get("SourceIdentity") != "job-train-1" {
			t.Fatalf("session name / source identity: %v", sts.form)
		}
		tags := map[string]string{}
		for i := 1; sts.form.Get(fmt.Sprintf("Tags.member.%d.Key", i)) != ""; i++ {
			tags[sts.form.Get(fmt.Sprintf("Tags.member.%d.Key", i))] = sts.form.Get(fmt.Sprintf("Tags.member.%d.Value", i))
		}
		if tags["aicred-workload"] != "https://issuer.test job-train-1" || tags["aicred-role"] != "trainer" || tags["aicred-token"] != id {
			t.Fatalf("session tags: %v", tags)
		}
		want, _ := s3fence.SessionPolicy(trainerRole(), "main")
		if sts.form.Get("Policy") != want {
			t.Fatalf("policy %s, want %s", sts.form.Get("Policy"), want)
		}
		for _, must := range []string{`"arn:aws:s3:::datasets/train/*"`, `"arn:aws:s3:::models/runs/*"`, `"s3:prefix":["train/*"]`, `"s3:PutObject"`} {
			if !strings.Contains(want, must) {
				t.Fatalf("policy lacks %s: %s", must, want)
			}
		}
		if strings.Contains(want, "datasets/train/*\"],\"Condition") || strings.Contains(want, `"Resource":["arn:aws:s3:::datasets/*"]`) {
			t.Fatalf("policy too wide: %s", want)
		}
	}
	// A role without storage on the store gets nothing.
	if _, err := s3fence.SessionPolicy(&broker.Role{Name: "x"}, "main"); err == nil {
		t.Fatal("a role without storage scopes got a policy")
	}
}

func newHTTPServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
	}
}
