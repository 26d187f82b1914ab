package provider

import (
	"context"
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

func (a *awsAPI) calls() []string { a.mu.Lock(); defer a.mu.Unlock(); return append([]string(nil), a.actions...) }

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
