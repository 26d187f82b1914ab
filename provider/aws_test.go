package provider

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// stsServer answers every request with status and body, and records the
// last request's Authorization header, security token header and body.
type stsServer struct {
	*httptest.Server
	calls             atomic.Int32
	auth, token, body atomic.Value
}

func newSTSServer(t *testing.T, status int, body string) *stsServer {
	s := &stsServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		s.auth.Store(r.Header.Get("Authorization"))
		s.token.Store(r.Header.Get("X-Amz-Security-Token"))
		s.body.Store(r.Method + " " + r.URL.Path + " " + string(b))
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func stsError(code string) string {
	return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>` +
		code + `</Code><Message>denied</Message></Error><RequestId>1</RequestId></ErrorResponse>`
}

func awsFinding(id, secret, token string) *aicred.Finding {
	f := &aicred.Finding{Provider: "aws", Kind: "access-key-id", Secret: aicred.NewSecret(id), Related: map[string]aicred.Secret{}}
	if secret != "" {
		f.Related["secret_access_key"] = aicred.NewSecret(secret)
	}
	if token != "" {
		f.Related["session_token"] = aicred.NewSecret(token)
	}
	return f
}

// awsKeyIDFor builds a key id that encodes account, the inverse of awsAccountID.
func awsKeyIDFor(g *Gen, prefix string, account uint64) string {
	raw := append(make([]byte, 2, 10), g.Bytes(8)...)
	binary.BigEndian.PutUint64(raw[:8], account<<7|uint64(raw[7]&0x7f))
	raw = raw[2:]
	raw = append(raw, g.Bytes(10-len(raw))...)
	return prefix + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
}

func TestAWSProbe(t *testing.T) {
	g := NewGen(7)
	id := awsKeyIDFor(g, "AKIA", 123456789012)
	secret := g.B64(40)
	arn := "arn:aws:iam::123456789012:user/ci-bot"
	probe := func(srv *stsServer, f *aicred.Finding) (aicred.Verification, string) {
		t.Helper()
		state, detail, err := awsSTSProbe(context.Background(), srv.Client(), srv.URL, f)
		if err != nil && state != aicred.Unknown {
			t.Fatalf("error %v with state %s", err, state)
		}
		for _, s := range []string{secret, id} {
			if strings.Contains(detail, s) {
				t.Fatalf("detail %q leaks secret material", detail)
			}
		}
		return state, detail
	}

	t.Run("live", func(t *testing.T) {
		srv := newSTSServer(t, 200, `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>`+arn+
			`</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`)
		state, detail := probe(srv, awsFinding(id, secret, ""))
		if state != aicred.Live || !strings.Contains(detail, arn) {
			t.Fatalf("got %s %q, want live naming the caller", state, detail)
		}
		auth, _ := srv.auth.Load().(string)
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+id+"/") ||
			!strings.Contains(auth, "/us-east-1/sts/aws4_request") ||
			!strings.Contains(auth, "SignedHeaders=") || !strings.Contains(auth, "Signature=") {
			t.Fatalf("Authorization header is not a SigV4 signature for the key id: %q", aicred.Redact(auth))
		}
		if strings.Contains(auth, secret) {
			t.Fatal("the secret key was sent")
		}
		if got := srv.body.Load(); got != "POST / "+awsGetCallerIdentity {
			t.Fatalf("request %q, want POST / with GetCallerIdentity", got)
		}
	})
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   aicred.Verification
	}{
		{"invalid key id", 403, stsError("InvalidClientTokenId"), aicred.Dead},
		{"expired session", 403, stsError("ExpiredToken"), aicred.Dead},
		{"secret does not match", 403, stsError("SignatureDoesNotMatch"), aicred.Unknown},
		{"other 403", 403, stsError("AccessDenied"), aicred.Unknown},
		{"throttled", 400, stsError("Throttling"), aicred.Unknown},
		{"server error", 500, "oops", aicred.Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSTSServer(t, tc.status, tc.body)
			if state, detail := probe(srv, awsFinding(id, secret, "")); state != tc.want {
				t.Fatalf("got %s (%s), want %s", state, detail, tc.want)
			}
		})
	}
	t.Run("no secret nearby", func(t *testing.T) {
		srv := newSTSServer(t, 200, "")
		state, detail := probe(srv, awsFinding(id, "", ""))
		if state != aicred.Unknown || !strings.Contains(detail, "secret") || srv.calls.Load() != 0 {
			t.Fatalf("got %s %q after %d calls, want unknown without a call", state, detail, srv.calls.Load())
		}
	})
	t.Run("temporary key needs its session token", func(t *testing.T) {
		tmp := awsKeyIDFor(g, "ASIA", 123456789012)
		srv := newSTSServer(t, 200, "<Arn>"+arn+"</Arn>")
		if state, _ := probe(srv, awsFinding(tmp, secret, "")); state != aicred.Unknown || srv.calls.Load() != 0 {
			t.Fatalf("got %s after %d calls, want unknown without a call", state, srv.calls.Load())
		}
		token := g.B64(400)
		if state, _ := probe(srv, awsFinding(tmp, secret, token)); state != aicred.Live {
			t.Fatalf("got %s, want live", state)
		}
		if got := srv.token.Load(); got != token {
			t.Fatal("session token not sent as X-Amz-Security-Token")
		}
	})
	t.Run("canary tokens are not called", func(t *testing.T) {
		canary := awsKeyIDFor(g, "AKIA", 52310077262)
		srv := newSTSServer(t, 200, "<Arn>"+arn+"</Arn>")
		state, detail := probe(srv, awsFinding(canary, secret, ""))
		if state != aicred.Unknown || !strings.Contains(detail, "canary") || srv.calls.Load() != 0 {
			t.Fatalf("got %s %q after %d calls, want unknown canary without a call", state, detail, srv.calls.Load())
		}
	})
}

func TestAWSAccountID(t *testing.T) {
	g := NewGen(3)
	for _, acct := range []uint64{1, 123456789012, 999999999999} {
		id := awsKeyIDFor(g, "AKIA", acct)
		got, ok := awsAccountID(id)
		if want := fmt.Sprintf("%012d", acct); !ok || got != want {
			t.Errorf("account of a key made for %d: got %q %v", acct, got, ok)
		}
	}
}

// TestValidBedrockShortTermAgrees holds the scanner's quick check of a
// short-term Bedrock key to the probe's full parse (bedrockPresigned):
// on generated keys and on keys whose signed query was cut, doubled or
// given bad escapes, semicolons and empty or repeated credentials.
func TestValidBedrockShortTermAgrees(t *testing.T) {
	g := NewGen(31)
	rng := rand.New(rand.NewPCG(31, 32))
	edits := []func(q string) string{
		func(q string) string { return q },
		func(q string) string { return q[:rng.IntN(len(q)+1)] },
		func(q string) string {
			return strings.Replace(q, "X-Amz-Credential=", "X-Amz-Credential=&X-Amz-Credential=", 1)
		},
		func(q string) string { return strings.Replace(q, "X-Amz-Credential=", "X-Amz-Credential=%zz", 1) },
		func(q string) string { return strings.Replace(q, "X-Amz-Credential=", "X%2DAmz-Credential=", 1) },
		func(q string) string { return strings.Replace(q, "X-Amz-Credential", "X-Amz-Cred", 1) },
		func(q string) string { return "X-Amz-Credential=" + q },
		func(q string) string { return q + "&a=b;c" },
		func(q string) string { return q + "&%4" },
		func(q string) string { return q + "&&=x&y" },
		func(q string) string {
			i := rng.IntN(len(q))
			return q[:i] + string("%&=;+ab"[rng.IntN(7)]) + q[i+1:]
		},
	}
	agree, valid := 0, 0
	for range 3000 {
		tok := bedrockShortTermToken(g, "us-west-2", time.Now())
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(tok, bedrockShortPrefix))
		if err != nil {
			t.Fatal(err)
		}
		q := edits[rng.IntN(len(edits))](strings.TrimPrefix(string(raw), "bedrock.amazonaws.com/?"))
		s := bedrockShortPrefix + base64.StdEncoding.EncodeToString([]byte("bedrock.amazonaws.com/?"+q))
		_, want := bedrockPresigned(s)
		if got := validBedrockShortTerm(s); got != want {
			t.Fatalf("query %q: validBedrockShortTerm = %v, bedrockPresigned %v", q, got, want)
		}
		agree++
		if want {
			valid++
		}
	}
	if valid < agree/5 || valid > agree*4/5 {
		t.Fatalf("%d of %d edited keys valid: the edits do not exercise both answers", valid, agree)
	}
}
