package provider

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// answer serves status and body and hands each request to check.
func answer(t *testing.T, status int, body string, check func(r *http.Request, form url.Values)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		if check != nil {
			check(r, form)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestServiceAccountProbe(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	// As it appears in the JSON key file: newlines escaped.
	escaped := strings.ReplaceAll(strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))), "\n", `\n`)
	if !validPKCS8(escaped) {
		t.Fatal("a real PKCS#8 key fails validPKCS8")
	}
	email := "bot@demo-123456.iam.gserviceaccount.com"
	f := &aicred.Finding{Secret: aicred.NewSecret(escaped), Hints: map[string]string{"client_email": email}}

	srv := answer(t, 200, `{"access_token":"x","expires_in":3599}`, func(r *http.Request, form url.Values) {
		if r.URL.Path != "/token" || form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			t.Errorf("request %s %v", r.URL.Path, form.Get("grant_type"))
		}
		parts := strings.Split(form.Get("assertion"), ".")
		if len(parts) != 3 {
			t.Fatalf("assertion is not a JWT")
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
			t.Error("assertion not signed with the key")
		}
		var claims map[string]any
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(raw, &claims)
		if claims["iss"] != email || claims["aud"] != googleTokenURL {
			t.Errorf("claims %v", claims)
		}
	})
	if state, detail, _ := gcpServiceAccountProbe(context.Background(), srv.Client(), srv.URL, f); state != aicred.Live {
		t.Fatalf("got %s %q, want live", state, detail)
	}
	dead := answer(t, 400, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`, nil)
	if state, _, _ := gcpServiceAccountProbe(context.Background(), dead.Client(), dead.URL, f); state != aicred.Dead {
		t.Fatalf("got %s, want dead", state)
	}
	busy := answer(t, 503, `unavailable`, nil)
	if state, _, _ := gcpServiceAccountProbe(context.Background(), busy.Client(), busy.URL, f); state != aicred.Unknown {
		t.Fatalf("got %s, want unknown", state)
	}
	noEmail := &aicred.Finding{Secret: f.Secret}
	if state, _, _ := gcpServiceAccountProbe(context.Background(), srv.Client(), srv.URL, noEmail); state != aicred.Unknown {
		t.Fatalf("got %s without client_email, want unknown", state)
	}
}

func TestRefreshTokenProbe(t *testing.T) {
	g := NewGen(1)
	rt, secret := "1//0"+g.URL64(98), g.URL64(24)
	id := g.Digits(12) + "-" + g.LowerNum(32) + ".apps.googleusercontent.com"
	f := &aicred.Finding{
		Secret:  aicred.NewSecret(rt),
		Related: map[string]aicred.Secret{"client_secret": aicred.NewSecret(secret)},
		Hints:   map[string]string{"client_id": id},
	}
	srv := answer(t, 200, `{"access_token":"x"}`, func(r *http.Request, form url.Values) {
		if form.Get("refresh_token") != rt || form.Get("client_id") != id || form.Get("client_secret") != secret {
			t.Error("refresh request does not carry the token, client id and secret")
		}
	})
	if state, _, _ := gcpRefreshProbe(context.Background(), srv.Client(), srv.URL, f); state != aicred.Live {
		t.Fatalf("got %s, want live", state)
	}
	dead := answer(t, 400, `{"error":"invalid_grant"}`, nil)
	if state, _, _ := gcpRefreshProbe(context.Background(), dead.Client(), dead.URL, f); state != aicred.Dead {
		t.Fatalf("got %s, want dead", state)
	}
}

func TestAzureClientSecretProbe(t *testing.T) {
	g := NewGen(2)
	tenant, client := g.UUID(), g.UUID()
	f := &aicred.Finding{Secret: aicred.NewSecret(g.Alnum(3) + "8Q~" + g.Alnum(34)), Hints: map[string]string{"tenant_id": tenant, "client_id": client}}
	srv := answer(t, 200, `{"token_type":"Bearer","access_token":"x"}`, func(r *http.Request, form url.Values) {
		if r.URL.Path != "/"+tenant+"/oauth2/v2.0/token" || form.Get("client_id") != client || form.Get("grant_type") != "client_credentials" {
			t.Errorf("request %s %v", r.URL.Path, form)
		}
	})
	if state, _, _ := azureClientCredentials(context.Background(), srv.Client(), srv.URL, f); state != aicred.Live {
		t.Fatalf("got %s, want live", state)
	}
	for body, want := range map[string]aicred.Verification{
		`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`:              aicred.Dead,
		`{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys are expired."}`: aicred.Dead,
		`{"error":"unauthorized_client","error_description":"AADSTS700016: Application not found."}`:                   aicred.Unknown,
	} {
		srv := answer(t, 401, body, nil)
		if state, _, _ := azureClientCredentials(context.Background(), srv.Client(), srv.URL, f); state != want {
			t.Errorf("%s: got %s, want %s", body[:40], state, want)
		}
	}
	f.Hints = nil
	if state, _, _ := azureClientCredentials(context.Background(), srv.Client(), srv.URL, f); state != aicred.Unknown {
		t.Fatalf("got %s without tenant and client ids, want unknown", state)
	}
}

func TestLangfuseProbe(t *testing.T) {
	g := NewGen(3)
	pk, sk := "pk-lf-"+g.UUID(), "sk-lf-"+g.UUID()
	srv := answer(t, 200, `{"data":[]}`, func(r *http.Request, _ url.Values) {
		if u, p, ok := r.BasicAuth(); !ok || u != pk || p != sk {
			t.Error("want Basic public:secret")
		}
	})
	secretSide := &aicred.Finding{Secret: aicred.NewSecret(sk), Related: map[string]aicred.Secret{"public_key": aicred.NewSecret(pk)}}
	publicSide := &aicred.Finding{Secret: aicred.NewSecret(pk), Related: map[string]aicred.Secret{"secret_key": aicred.NewSecret(sk)}}
	for _, tc := range []struct {
		f        *aicred.Finding
		isSecret bool
	}{{secretSide, true}, {publicSide, false}} {
		if state, _, _ := langfuseProbe(tc.isSecret)(context.Background(), srv.Client(), srv.URL, tc.f); state != aicred.Live {
			t.Fatalf("got %s, want live", state)
		}
	}
	alone := &aicred.Finding{Secret: aicred.NewSecret(sk)}
	if state, _, _ := langfuseProbe(true)(context.Background(), srv.Client(), srv.URL, alone); state != aicred.Unknown {
		t.Fatalf("got %s for a lone secret key, want unknown", state)
	}
}

func TestBedrockShortTermProbe(t *testing.T) {
	g := NewGen(4)
	fresh := bedrockShortTermToken(g, "eu-west-1", time.Now().Add(-time.Hour))
	if !validBedrockShortTerm(fresh) {
		t.Fatal("generated token does not validate")
	}
	srv := answer(t, 200, `{"modelSummaries":[]}`, func(r *http.Request, _ url.Values) {
		if r.URL.Path != "/foundation-models" || r.Header.Get("Authorization") != "Bearer "+fresh {
			t.Errorf("request %s", r.URL.Path)
		}
	})
	f := &aicred.Finding{Secret: aicred.NewSecret(fresh)}
	if state, _, _ := bedrockShortTermProbe(context.Background(), srv.Client(), srv.URL, f); state != aicred.Live {
		t.Fatalf("got %s, want live", state)
	}
	old := &aicred.Finding{Secret: aicred.NewSecret(bedrockShortTermToken(g, "eu-west-1", time.Now().Add(-13*time.Hour)))}
	state, detail, _ := bedrockShortTermProbe(context.Background(), srv.Client(), srv.URL, old)
	if state != aicred.Dead || !strings.Contains(detail, "expired") {
		t.Fatalf("got %s %q for an expired token, want dead", state, detail)
	}
}
