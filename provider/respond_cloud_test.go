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
	"sync"
	"testing"

	"github.com/aicred/aicred"
)

// awsAPI answers STS and IAM Query-protocol calls as AWS documents them:
// POST / with Action=...; a SigV4 Authorization header whose credential
// scope names the service; XML results wrapped in <Op>Response><Op>Result>;
// errors as <ErrorResponse> with the documented status.
type awsAPI struct {
	*httptest.Server
	mu      sync.Mutex
	actions []string // "sts:GetCallerIdentity by AKIA..."
	answer  map[string]func(form url.Values) (int, string)
}

func newAWSAPI(t *testing.T, keys map[string]bool, answer map[string]func(url.Values) (int, string)) *awsAPI {
	a := &awsAPI{answer: answer}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		action := form.Get("Action")
		auth := r.Header.Get("Authorization")
		keyID, _, _ := strings.Cut(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 Credential="), "/")
		service := "iam"
		if form.Get("Version") == "2011-06-15" {
			service = "sts"
		}
		a.mu.Lock()
		a.actions = append(a.actions, service+":"+action)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/" || !strings.Contains(auth, "/us-east-1/"+service+"/aws4_request"):
			w.WriteHeader(400)
			io.WriteString(w, awsErr(service, "InvalidRequest"))
			return
		case !keys[keyID]:
			w.WriteHeader(403)
			io.WriteString(w, awsErr(service, "InvalidClientTokenId"))
			return
		}
		h, ok := a.answer[service+":"+action]
		if !ok {
			w.WriteHeader(403)
			io.WriteString(w, awsErr(service, "AccessDenied"))
			return
		}
		status, body := h(form)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *awsAPI) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.actions...)
}

func awsErr(service, code string) string {
	return `<ErrorResponse xmlns="https://` + service + `.amazonaws.com/doc/"><Error><Type>Sender</Type><Code>` + code +
		`</Code><Message>m</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`
}

func awsOK(op, result string) func(url.Values) (int, string) {
	return func(url.Values) (int, string) {
		return 200, `<` + op + `Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><` + op + `Result>` + result + `</` + op +
			`Result><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></` + op + `Response>`
	}
}

func stsCaller(arn string) func(url.Values) (int, string) {
	return awsOK("GetCallerIdentity", `<Arn>`+arn+`</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>`)
}

func TestAWSTrace(t *testing.T) {
	g := NewGen(41)
	id := awsKeyIDFor(g, "AKIA", 123456789012)
	secret := g.B64(40)
	pair := aicred.NewSecret(id + ":" + secret)
	api := newAWSAPI(t, map[string]bool{id: true}, map[string]func(url.Values) (int, string){
		"sts:GetCallerIdentity": stsCaller("arn:aws:iam::123456789012:user/ml/ci-bot"),
		"iam:ListAttachedUserPolicies": func(f url.Values) (int, string) {
			if f.Get("UserName") != "ci-bot" {
				return 404, awsErr("iam", "NoSuchEntity")
			}
			return awsOK("ListAttachedUserPolicies", `<AttachedPolicies><member><PolicyName>AmazonBedrockFullAccess</PolicyName><PolicyArn>arn:aws:iam::aws:policy/AmazonBedrockFullAccess</PolicyArn></member></AttachedPolicies><IsTruncated>false</IsTruncated>`)(f)
		},
		"iam:ListGroupsForUser": awsOK("ListGroupsForUser", `<Groups><member><Path>/</Path><GroupName>ml</GroupName><GroupId>AGPAEXAMPLE</GroupId><Arn>arn:aws:iam::123456789012:group/ml</Arn><CreateDate>2024-01-02T03:04:05Z</CreateDate></member></Groups><IsTruncated>false</IsTruncated>`),
		// ListUserPolicies is not answered: AccessDenied, a Note.
	})
	r, err := awsTrace(context.Background(), api.Client(), api.URL, pair, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Principal != "arn:aws:iam::123456789012:user/ml/ci-bot" || r.Account != "123456789012" ||
		len(r.Scopes) != 1 || r.Scopes[0] != "policy arn:aws:iam::aws:policy/AmazonBedrockFullAccess" ||
		len(r.Resources) != 2 || r.Resources[1].Name != "ml" ||
		len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "ListUserPolicies: access denied (HTTP 403)") {
		t.Fatalf("reach %+v", r)
	}
	noSecret(t, "reach", r, id, secret)

	// A refused key: a Note, no IAM call; a canary account: no call at all.
	bad := aicred.NewSecret(awsKeyIDFor(g, "AKIA", 123456789012) + ":" + g.B64(40))
	r, err = awsTrace(context.Background(), api.Client(), api.URL, bad, nil)
	if err != nil || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "caller identity: access denied (HTTP 403)") {
		t.Fatalf("refused: %+v %v", r, err)
	}
	before := len(api.calls())
	canary := aicred.NewSecret(awsKeyIDFor(g, "AKIA", 52310077262) + ":" + g.B64(40))
	r, err = awsTrace(context.Background(), api.Client(), api.URL, canary, nil)
	if err != nil || len(api.calls()) != before || !strings.Contains(r.Notes[0], "canary") {
		t.Fatalf("canary: %+v %v (calls %d -> %d)", r, err, before, len(api.calls()))
	}
	if _, err := awsTrace(context.Background(), api.Client(), api.URL, aicred.NewSecret(id), nil); err == nil {
		t.Fatal("a key id alone: want an error")
	}
}

func TestAWSRotation(t *testing.T) {
	g := NewGen(42)
	oldID, oldSecret := awsKeyIDFor(g, "AKIA", 123456789012), g.B64(40)
	newID, newSecret := awsKeyIDFor(g, "AKIA", 123456789012), g.B64(40)
	old := aicred.NewSecret(oldID + ":" + oldSecret)
	var mu sync.Mutex
	keys := map[string]string{oldID: "Active"} // the user's keys and their status
	list := func(url.Values) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for id, st := range keys {
			b.WriteString(`<member><UserName>ci-bot</UserName><AccessKeyId>` + id + `</AccessKeyId><Status>` + st + `</Status><CreateDate>2024-01-02T03:04:05Z</CreateDate></member>`)
		}
		return awsOK("ListAccessKeys", `<AccessKeyMetadata>`+b.String()+`</AccessKeyMetadata><IsTruncated>false</IsTruncated>`)(nil)
	}
	api := newAWSAPI(t, map[string]bool{oldID: true, newID: true}, map[string]func(url.Values) (int, string){
		"sts:GetCallerIdentity": stsCaller("arn:aws:iam::123456789012:user/ci-bot"),
		"iam:ListAccessKeys":    list,
		"iam:CreateAccessKey": func(f url.Values) (int, string) {
			mu.Lock()
			defer mu.Unlock()
			if f.Get("UserName") != "ci-bot" {
				return 400, awsErr("iam", "ValidationError")
			}
			if len(keys) >= 2 {
				return 409, awsErr("iam", "LimitExceeded")
			}
			keys[newID] = "Active"
			return awsOK("CreateAccessKey", `<AccessKey><UserName>ci-bot</UserName><AccessKeyId>`+newID+`</AccessKeyId><Status>Active</Status><SecretAccessKey>`+newSecret+`</SecretAccessKey><CreateDate>2025-01-02T03:04:05Z</CreateDate></AccessKey>`)(f)
		},
		"iam:UpdateAccessKey": func(f url.Values) (int, string) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := keys[f.Get("AccessKeyId")]; !ok || f.Get("UserName") != "ci-bot" {
				return 404, awsErr("iam", "NoSuchEntity")
			}
			keys[f.Get("AccessKeyId")] = f.Get("Status")
			return 200, `<UpdateAccessKeyResponse><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></UpdateAccessKeyResponse>`
		},
		"iam:DeleteAccessKey": func(f url.Values) (int, string) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := keys[f.Get("AccessKeyId")]; !ok {
				return 404, awsErr("iam", "NoSuchEntity")
			}
			delete(keys, f.Get("AccessKeyId"))
			return 200, `<DeleteAccessKeyResponse><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DeleteAccessKeyResponse>`
		},
	})
	ctx := context.Background()
	rep, err := awsCreateAccessKey(ctx, api.Client(), api.URL, old, RotationTarget{Secret: old})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Secret.Reveal() != newID+":"+newSecret || rep.ID != newID || rep.Attrs["user"] != "ci-bot" || rep.Attrs["account"] != "123456789012" {
		t.Fatalf("replacement (id matches: %v) %v", rep.ID == newID, rep.Attrs)
	}
	// Called again (a crash before respond recorded it): two keys already;
	// refused with a clear error, nothing created, no key id in it.
	_, err = awsCreateAccessKey(ctx, api.Client(), api.URL, old, RotationTarget{Secret: old})
	if err == nil || !strings.Contains(err.Error(), "already has 2 access keys") {
		t.Fatalf("second create: %v", err)
	}
	noSecret(t, "error", err, oldID, newID, oldSecret, newSecret)

	// Revoke with the new key: inactive, then deleted. Again: gone, success.
	target := RotationTarget{Secret: old, Attrs: map[string]string{"user": "ci-bot"}}
	if err := awsRevokeAccessKey(ctx, api.Client(), api.URL, rep.Secret, target); err != nil {
		t.Fatal(err)
	}
	if _, ok := keys[oldID]; ok {
		t.Fatal("old key not deleted")
	}
	calls := strings.Join(api.calls(), " ")
	if !strings.Contains(calls, "iam:UpdateAccessKey iam:DeleteAccessKey") {
		t.Fatalf("calls %s, want UpdateAccessKey (Inactive) then DeleteAccessKey", calls)
	}
	if err := awsRevokeAccessKey(ctx, api.Client(), api.URL, rep.Secret, target); err != nil {
		t.Fatalf("revoke again: %v, want success", err)
	}
	// A key revoking itself deletes directly (an inactive key cannot sign).
	n := len(api.calls())
	if err := awsRevokeAccessKey(ctx, api.Client(), api.URL, rep.Secret, RotationTarget{Secret: rep.Secret}); err != nil {
		t.Fatal(err)
	}
	if got := api.calls()[n:]; strings.Join(got, " ") != "sts:GetCallerIdentity iam:DeleteAccessKey" {
		t.Fatalf("self revoke calls %v", got)
	}
	// Denied: the error names the call, no secret.
	denied := newAWSAPI(t, map[string]bool{oldID: true}, map[string]func(url.Values) (int, string){
		"sts:GetCallerIdentity": stsCaller("arn:aws:iam::123456789012:user/ci-bot"),
		"iam:ListAccessKeys":    awsOK("ListAccessKeys", `<AccessKeyMetadata></AccessKeyMetadata><IsTruncated>false</IsTruncated>`),
	})
	_, err = awsCreateAccessKey(ctx, denied.Client(), denied.URL, old, RotationTarget{Secret: old})
	if !isDenied(err) || !strings.Contains(err.Error(), "iam:CreateAccessKey") {
		t.Fatalf("denied: %v", err)
	}
	noSecret(t, "error", err, oldID, oldSecret)
	// Root keys are not rotated.
	root := newAWSAPI(t, map[string]bool{oldID: true}, map[string]func(url.Values) (int, string){
		"sts:GetCallerIdentity": stsCaller("arn:aws:iam::123456789012:root"),
	})
	if _, err := awsCreateAccessKey(ctx, root.Client(), root.URL, old, RotationTarget{Secret: old}); err == nil || !strings.Contains(err.Error(), "root") {
		t.Fatalf("root: %v", err)
	}
}

// gcpTestKey makes a real RSA key and its JSON key file at test time.
func gcpTestKey(t *testing.T, g *Gen, email, project string) (file string, keyID string, pub *rsa.PublicKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyID = g.Hex(40)
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": project, "private_key_id": keyID,
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": email, "client_id": g.Digits(21), "token_uri": "https://oauth2.googleapis.com/token",
	})
	return string(b), keyID, &key.PublicKey
}

// gcpAPI answers Google's token endpoint (JWT bearer grant, checking the
// assertion's signature against the known keys), IAM and Cloud Resource
// Manager as documented.
func gcpAPI(t *testing.T, keys map[string]*rsa.PublicKey, routes map[string]route) *fake {
	f := newFake(t, "", "", map[string]route{})
	tokens := map[string]string{} // access token -> email
	var mu sync.Mutex
	f.add("POST /token", func(w http.ResponseWriter, r *http.Request, body []byte) {
		form, _ := url.ParseQuery(string(body))
		parts := strings.Split(form.Get("assertion"), ".")
		if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || len(parts) != 3 {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid_request"}`)
			return
		}
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims struct{ Iss, Aud, Scope string }
		json.Unmarshal(raw, &claims)
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		pub := keys[claims.Iss]
		if pub == nil || claims.Aud != googleTokenURL || rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
			return
		}
		tok := "ya29." + base64.RawURLEncoding.EncodeToString(sum[:])
		mu.Lock()
		tokens[tok] = claims.Iss
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
	})
	authed := func(h route) route {
		return func(w http.ResponseWriter, r *http.Request, body []byte) {
			mu.Lock()
			_, ok := tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
			mu.Unlock()
			if !ok {
				w.WriteHeader(401)
				io.WriteString(w, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`)
				return
			}
			h(w, r, body)
		}
	}
	for k, h := range routes {
		f.add(k, authed(h))
	}
	return f
}

func TestGCPTrace(t *testing.T) {
	g := NewGen(51)
	email := "trainer@demo-proj-1.iam.gserviceaccount.com"
	file, _, pub := gcpTestKey(t, g, email, "demo-proj-1")
	api := gcpAPI(t, map[string]*rsa.PublicKey{email: pub}, map[string]route{
		"GET /v1/projects/demo-proj-1/serviceAccounts/trainer@demo-proj-1.iam.gserviceaccount.com": jsonRoute(200, map[string]any{
			"name": "projects/demo-proj-1/serviceAccounts/" + email, "projectId": "demo-proj-1", "uniqueId": "1234567890",
			"email": email, "displayName": "Trainer", "etag": "BwX=", "oauth2ClientId": "1234567890"}),
		"POST /v1/projects/demo-proj-1:testIamPermissions": func(w http.ResponseWriter, r *http.Request, body []byte) {
			var req struct{ Permissions []string }
			if json.Unmarshal(body, &req) != nil || len(req.Permissions) != len(gcpTracePermissions) {
				w.WriteHeader(400)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"permissions": []string{"aiplatform.endpoints.predict", "storage.objects.get"}})
		},
	})
	r, err := gcpTrace(context.Background(), api.Client(), api.URL, aicred.NewSecret(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Principal != email || r.Account != "demo-proj-1" || strings.Join(r.Scopes, ",") != "aiplatform.endpoints.predict,storage.objects.get" ||
		len(r.Resources) != 2 || r.Resources[0].Name != "Trainer" || len(r.Notes) != 0 {
		t.Fatalf("reach %+v", r)
	}
	noSecret(t, "reach", r, "PRIVATE KEY", "ya29.")

	// The bare PEM with the hints found beside it works too.
	var kf map[string]string
	json.Unmarshal([]byte(file), &kf)
	r, err = gcpTrace(context.Background(), api.Client(), api.URL, aicred.NewSecret(kf["private_key"]), map[string]string{"client_email": email})
	if err != nil || r.Account != "demo-proj-1" || len(r.Scopes) != 2 {
		t.Fatalf("PEM with hints: %+v %v", r, err)
	}
	// A key Google refuses is a Note.
	other := "other@demo-proj-1.iam.gserviceaccount.com"
	otherFile, _, _ := gcpTestKey(t, g, other, "demo-proj-1")
	r, err = gcpTrace(context.Background(), api.Client(), api.URL, aicred.NewSecret(otherFile), nil)
	if err != nil || r.Principal != other || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "invalid_grant") {
		t.Fatalf("refused: %+v %v", r, err)
	}
	if _, err := gcpTrace(context.Background(), api.Client(), api.URL, aicred.NewSecret(`{"type":"authorized_user"}`), nil); err == nil {
		t.Fatal("not a service account key: want an error")
	}
}

func TestGCPRotation(t *testing.T) {
	g := NewGen(52)
	email := "trainer@demo-proj-1.iam.gserviceaccount.com"
	oldFile, oldID, oldPub := gcpTestKey(t, g, email, "demo-proj-1")
	newFile, newID, _ := gcpTestKey(t, g, email, "demo-proj-1")
	keyPath := "/v1/projects/-/serviceAccounts/trainer@demo-proj-1.iam.gserviceaccount.com/keys"
	var mu sync.Mutex
	live := map[string]bool{oldID: true}
	api := gcpAPI(t, map[string]*rsa.PublicKey{email: oldPub}, map[string]route{
		"POST " + keyPath: func(w http.ResponseWriter, r *http.Request, body []byte) {
			var req map[string]string
			if json.Unmarshal(body, &req) != nil || req["privateKeyType"] != "TYPE_GOOGLE_CREDENTIALS_FILE" || req["keyAlgorithm"] != "KEY_ALG_RSA_2048" {
				w.WriteHeader(400)
				return
			}
			mu.Lock()
			live[newID] = true
			mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{
				"name":           "projects/demo-proj-1/serviceAccounts/" + email + "/keys/" + newID,
				"privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE", "privateKeyData": base64.StdEncoding.EncodeToString([]byte(newFile)),
				"validAfterTime": "2025-01-01T00:00:00Z", "validBeforeTime": "9999-12-31T23:59:59Z",
				"keyAlgorithm": "KEY_ALG_RSA_2048", "keyOrigin": "GOOGLE_PROVIDED", "keyType": "USER_MANAGED"})
		},
		"DELETE " + keyPath + "/" + oldID: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			mu.Lock()
			defer mu.Unlock()
			if !live[oldID] {
				w.WriteHeader(404)
				io.WriteString(w, `{"error":{"code":404,"message":"Service account key does not exist.","status":"NOT_FOUND"}}`)
				return
			}
			delete(live, oldID)
			io.WriteString(w, `{}`)
		},
	})
	ctx := context.Background()
	old := aicred.NewSecret(oldFile)
	rep, err := gcpCreateKey(ctx, api.Client(), api.URL, old, RotationTarget{Secret: old})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Secret.Reveal() != newFile || rep.ID != newID || rep.Attrs["client_email"] != email || rep.Attrs["project_id"] != "demo-proj-1" {
		t.Fatalf("replacement %v", rep.Attrs)
	}
	// The old key deletes itself (SelfAdmin); again, it is gone: success.
	if err := gcpDeleteKey(ctx, api.Client(), api.URL, old, RotationTarget{Secret: old}); err != nil || live[oldID] {
		t.Fatalf("delete: %v", err)
	}
	api2 := gcpAPI(t, map[string]*rsa.PublicKey{email: oldPub}, map[string]route{
		"DELETE " + keyPath + "/" + oldID: jsonRoute(404, map[string]any{"error": map[string]any{"code": 404, "status": "NOT_FOUND"}}),
	})
	if err := gcpDeleteKey(ctx, api2.Client(), api2.URL, old, RotationTarget{Secret: old}); err != nil {
		t.Fatalf("delete again: %v, want success", err)
	}
	// Denied: the error names the call and carries no key material.
	api3 := gcpAPI(t, map[string]*rsa.PublicKey{email: oldPub}, map[string]route{
		"POST " + keyPath: jsonRoute(403, map[string]any{"error": map[string]any{"code": 403, "message": "Permission iam.serviceAccountKeys.create denied", "status": "PERMISSION_DENIED"}}),
	})
	_, err = gcpCreateKey(ctx, api3.Client(), api3.URL, old, RotationTarget{Secret: old})
	if !isDenied(err) || !strings.Contains(err.Error(), "create service account key") || !strings.Contains(err.Error(), "PERMISSION_DENIED") {
		t.Fatalf("denied: %v", err)
	}
	noSecret(t, "error", err, "PRIVATE KEY", "ya29.")
}
