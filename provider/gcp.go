package provider

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aicred/aicred"
)

const (
	googleOAuth = "https://oauth2.googleapis.com"
	// googleTokenURL is the audience of a service-account assertion. It is
	// fixed: a token_uri read from a scanned file could send a signed
	// assertion (good for an hour) to anyone.
	googleTokenURL = googleOAuth + "/token"
	pemBegin       = "-----BEGIN PRIVATE KEY-----"
	pemEnd         = "-----END PRIVATE KEY-----"
	b64Quantum     = `[A-Za-z0-9+/][A-Za-z0-9+/][A-Za-z0-9+/][A-Za-z0-9+/]`
)

// b64Byte marks the bytes of b64Quantum.
var b64Byte = func() (t [256]bool) {
	for _, r := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[r] = true
	}
	return t
}()

// pemNewline returns the length of the newline (\n as escaped in JSON,
// \r\n or \n) b starts with, or 0.
func pemNewline(b []byte) int {
	switch {
	case len(b) >= 2 && (b[0] == '\\' && b[1] == 'n' || b[0] == '\r' && b[1] == '\n'):
		return 2
	case len(b) >= 1 && b[0] == '\n':
		return 1
	}
	return 0
}

// pemBlockMatch reports whether b is, as a whole, one match of the
// service-account rule's Pattern: pemBegin; 50 to 1,000 units, each a
// base64 quantum or a newline (pemNewline); an optional padded quantum
// (xx== or xxx=); an optional newline; pemEnd. The units read in one way
// only (their first bytes differ), so one pass from the left decides:
// about 2 ns a byte where the regexp, its counted repetition too large for
// the backtracker, runs the NFA at some 100 (about 180 µs a key file).
// TestFullMatchAgreesWithPattern in package scan holds it to the Pattern.
func pemBlockMatch(b []byte) bool {
	if len(b) < len(pemBegin)+len(pemEnd) || string(b[:len(pemBegin)]) != pemBegin ||
		string(b[len(b)-len(pemEnd):]) != pemEnd {
		return false
	}
	body := b[len(pemBegin) : len(b)-len(pemEnd)]
	units, nl, i := 0, false, 0
	for i < len(body) {
		if i+4 <= len(body) && b64Byte[body[i]] && b64Byte[body[i+1]] && b64Byte[body[i+2]] && b64Byte[body[i+3]] {
			i, nl = i+4, false
		} else if n := pemNewline(body[i:]); n > 0 {
			i, nl = i+n, true
		} else {
			break
		}
		units++
		if units > 1001 {
			return false
		}
	}
	rest := body[i:]
	if len(rest) == 0 {
		// A last newline is a unit or the optional one before pemEnd.
		return units >= 50 && (units <= 1000 || nl && units == 1001)
	}
	if units < 50 || units > 1000 {
		return false
	}
	switch {
	case len(rest) >= 4 && b64Byte[rest[0]] && b64Byte[rest[1]] && rest[2] == '=' && rest[3] == '=',
		len(rest) >= 4 && b64Byte[rest[0]] && b64Byte[rest[1]] && b64Byte[rest[2]] && rest[3] == '=':
		rest = rest[4:]
	default:
		return false
	}
	return len(rest) == 0 || pemNewline(rest) == len(rest)
}

// pemUnescape turns a PEM block as written inside JSON or TOML (with \n
// escapes) back into PEM text.
func pemUnescape(s string) string {
	return pemUnescaper.Replace(s)
}

// pemUnescaper is built once: validPKCS8 runs on every candidate key.
var pemUnescaper = strings.NewReplacer(`\r\n`, "\n", `\n`, "\n", "\r\n", "\n")

// pkcs8DER returns the DER bytes of a PEM PKCS#8 private key block.
func pkcs8DER(secret string) ([]byte, bool) {
	body := pemUnescape(secret)
	body = strings.TrimPrefix(body, pemBegin)
	body = strings.TrimSuffix(body, pemEnd)
	der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(body, "\n", ""))
	return der, err == nil
}

// validPKCS8 checks the structure a real key has, without parsing it: an
// outer DER SEQUENCE whose long-form length covers exactly the decoded
// bytes, then version 0 and an AlgorithmIdentifier SEQUENCE. Truncated,
// padded or placeholder bodies fail.
func validPKCS8(secret string) bool {
	der, ok := pkcs8DER(secret)
	if !ok || len(der) < 32 || der[0] != 0x30 {
		return false
	}
	var n, hdr int
	switch der[1] {
	case 0x81:
		n, hdr = int(der[2]), 3
	case 0x82:
		n, hdr = int(der[2])<<8|int(der[3]), 4
	default:
		return false
	}
	return hdr+n == len(der) && bytes.HasPrefix(der[hdr:], []byte{0x02, 0x01, 0x00, 0x30})
}

// rsaOID is the AlgorithmIdentifier of rsaEncryption with NULL parameters.
var rsaAlgorithm = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00}

// fakePKCS8 returns a PEM block, escaped as in a JSON key file, whose DER
// has the structure validPKCS8 checks and random content: key-shaped test
// data that is not a key.
func fakePKCS8(g *Gen, newline string) string {
	inner := g.Bytes(1190)
	octets := append([]byte{0x04, 0x82, byte(len(inner) >> 8), byte(len(inner))}, inner...)
	content := append(append([]byte{0x02, 0x01, 0x00}, rsaAlgorithm...), octets...)
	der := append([]byte{0x30, 0x82, byte(len(content) >> 8), byte(len(content))}, content...)
	b64 := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	b.WriteString(pemBegin + newline)
	for len(b64) > 64 {
		b.WriteString(b64[:64] + newline)
		b64 = b64[64:]
	}
	b.WriteString(b64 + newline + pemEnd)
	return b.String()
}

// gcpAssertion is the signed JWT a service account exchanges for an
// access token (cloud-platform scope, ten minutes).
func gcpAssertion(key *rsa.PrivateKey, email string) (string, error) {
	now := time.Now()
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{
		"iss": email, "aud": googleTokenURL, "scope": "https://www.googleapis.com/auth/cloud-platform",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
	signing := header + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// gcpServiceAccountProbe signs a JWT assertion with the key and exchanges
// it at Google's token endpoint: an access token means live, invalid_grant
// (key deleted, account disabled or gone) dead.
func gcpServiceAccountProbe(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error) {
	email := f.Hints["client_email"]
	if email == "" {
		return aicred.Unknown, "no client_email found near the key", nil
	}
	block, _ := pem.Decode([]byte(pemUnescape(f.Secret.Reveal())))
	if block == nil {
		return aicred.Unknown, "private key is not PEM", nil
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	key, ok := parsed.(*rsa.PrivateKey)
	if err != nil || !ok {
		return aicred.Unknown, "private key is not an RSA PKCS#8 key", nil
	}
	assertion, err := gcpAssertion(key, email)
	if err != nil {
		return aicred.Unknown, "could not sign the assertion", err
	}
	status, body, err := postForm(ctx, c, strings.TrimRight(base, "/")+"/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion":  {assertion},
	})
	switch {
	case err != nil:
		return unreachable(err)
	case status == http.StatusOK && bytes.Contains(body, []byte(`"access_token"`)):
		return aicred.Live, "Google issued a token for " + email, nil
	case bytes.Contains(body, []byte("invalid_grant")):
		return aicred.Dead, "Google refused the key for " + email + " (invalid_grant)", nil
	}
	return aicred.Unknown, answered(status), nil
}

var googleClientIDRE = regexp.MustCompile(`^[0-9]{6,20}-[a-z0-9]{32}\.apps\.googleusercontent\.com$`)

// gcpRefreshProbe refreshes a user's OAuth token with the client id and
// secret found beside it (gcloud application-default credentials).
func gcpRefreshProbe(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error) {
	id, secret := f.Hints["client_id"], f.Related["client_secret"]
	if !googleClientIDRE.MatchString(id) || secret.IsZero() {
		return aicred.Unknown, "client_id and client_secret were not both found near the refresh token", nil
	}
	status, body, err := postForm(ctx, c, strings.TrimRight(base, "/")+"/token", url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {id},
		"client_secret": {secret.Reveal()},
		"refresh_token": {f.Secret.Reveal()},
	})
	switch {
	case err != nil:
		return unreachable(err)
	case status == http.StatusOK && bytes.Contains(body, []byte(`"access_token"`)):
		return aicred.Live, "Google refreshed the token", nil
	case bytes.Contains(body, []byte("invalid_grant")):
		return aicred.Dead, "Google refused the refresh token (invalid_grant)", nil
	}
	return aicred.Unknown, answered(status), nil
}

func init() {
	saJSON := func(g *Gen, key string, sorted bool) string {
		project := g.Lower(6) + "-" + g.Digits(6)
		email := g.Lower(8) + "@" + project + ".iam.gserviceaccount.com"
		fields := []string{
			`"type": "service_account"`,
			`"project_id": "` + project + `"`,
			`"private_key_id": "` + g.Hex(40) + `"`,
			`"private_key": "` + key + `\n"`,
			`"client_email": "` + email + `"`,
			`"client_id": "` + g.Digits(21) + `"`,
			`"auth_uri": "https://accounts.google.com/o/oauth2/auth"`,
			`"token_uri": "https://oauth2.googleapis.com/token"`,
			`"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs"`,
			`"client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/` + url.PathEscape(email) + `"`,
			`"universe_domain": "googleapis.com"`,
		}
		if sorted { // json.dumps(..., sort_keys=True)
			fields = []string{fields[8], fields[6], fields[4], fields[5], fields[9], fields[3], fields[2], fields[1], fields[7], fields[0], fields[10]}
		}
		return "{\n  " + strings.Join(fields, ",\n  ") + "\n}\n"
	}
	register(&Provider{
		ID: "gcp", Name: "Google Cloud", Category: CloudML,
		RevokeURL: "https://console.cloud.google.com/iam-admin/serviceaccounts",
		Kinds: []*Kind{
			{
				ID: "service-account", Name: "Google Cloud service account key (JSON key file)",
				// Whatever IAM roles the account holds: Vertex AI inference and
				// tuning, Cloud Storage data, the model registry, compute.
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData,
					aicred.CapModelRegistry, aicred.CapCompute, aicred.CapBilling),
				Liveness: &Liveness{Method: "POST", BaseURL: googleOAuth, Path: "/token", Probe: gcpServiceAccountProbe},
				Trace:    &Trace{BaseURL: googleOAuth, Docs: gcpTraceDocs, Run: gcpTrace},
				// A service account may hold the key-admin role on itself;
				// the key is then its own admin.
				Rotation: &Rotation{
					BaseURL: googleOAuth, Docs: gcpKeysDocs, SelfAdmin: true,
					Create: gcpCreateKey, Revoke: gcpDeleteKey,
				},
				Rule: Rule{
					// A bare PKCS#8 key says nothing about Google; the key file's
					// own field names must come before it. "type" leads in the
					// files Google writes; auth_provider_x509_cert_url leads when
					// keys are sorted; private_key_id always sits just before.
					Description:   "Google Cloud service account key: the PEM private key of a JSON key file (type service_account)",
					Keywords:      []string{"service_account", "auth_provider_x509_cert_url", "private_key_id"},
					ContextWindow: 512,
					// The body is matched in base64 quanta of four characters
					// or a (real or escaped) newline, one bounded repetition
					// of up to 1,000 units (an RSA-4096 key needs about 900).
					// Go's regexp slows down by orders of magnitude when
					// several variable-length runs follow each other, and RE2
					// caps a repeat count at 1000. Validate then checks the
					// DER structure inside.
					Pattern: pemBegin + `(?:` + b64Quantum + `|\\n|\r?\n){50,1000}` +
						`(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?(?:\\n|\r?\n)?` + pemEnd,
					FullMatch:  pemBlockMatch,
					MinEntropy: 4,
					Validate:   validPKCS8,
					Hints: map[string]Near{
						"client_email": {Pattern: `([a-z0-9][a-z0-9-]*@[a-z0-9-]+\.iam\.gserviceaccount\.com)`, Window: 1024},
						"project_id":   {Pattern: `project_id["']?\s{0,4}[:=]\s{0,4}["']([a-z][a-z0-9-]{4,28}[a-z0-9])["']`, Window: 1024},
					},
					Examples: func(g *Gen) []Example {
						k, k2 := fakePKCS8(g, `\n`), fakePKCS8(g, `\n`)
						toml := fakePKCS8(g, "\n")
						return []Example{
							Ex(saJSON(g, k, false), k),
							Ex(saJSON(g, k2, true), k2),
							Ex("[gcp_service_account]\ntype = \"service_account\"\nproject_id = \"demo-123456\"\nprivate_key = \"\"\""+
								toml+"\n\"\"\"\nclient_email = \"bot@demo-123456.iam.gserviceaccount.com\"\n", toml),
							Ex(`creds = {"type": "service_account", "private_key_id": "`+g.Hex(40)+`", "private_key": "`+k+`"}`, k),
						}
					},
					Negatives: func(g *Gen) []string {
						k := fakePKCS8(g, `\n`)
						truncated := k[:len(k)-len(pemEnd)-200] + pemEnd
						return []string{
							k, // a bare key, no key-file context
							saJSON(g, truncated, false),
							saJSON(g, pemBegin+`\n`+strings.Repeat(strings.Repeat("X", 64)+`\n`, 20)+pemEnd, false),
							`{"type": "service_account", "note": "` + g.Alnum(600) + `", "private_key": "` + k + `"}`,
							strings.Replace(saJSON(g, k, false), "BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY", 1),
						}
					},
				},
			},
			{
				ID: "user-adc-json", Name: "Google user OAuth refresh token (gcloud application-default credentials)",
				RevokeURL: "https://myaccount.google.com/connections",
				// The person's own Google Cloud permissions: a human credential left on disk.
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapCompute, aicred.CapModelRegistry, aicred.CapBilling),
				Liveness:     &Liveness{Method: "POST", BaseURL: googleOAuth, Path: "/token", Probe: gcpRefreshProbe},
				Rule: Rule{
					Description:   "Google OAuth refresh token: 1//0 + url-safe characters after refresh_token (application_default_credentials.json)",
					Keywords:      []string{"refresh_token"},
					ContextWindow: 24,
					Pattern:       `1//0[A-Za-z0-9_-]{40,250}`,
					MinEntropy:    3.5,
					Related: map[string]Near{
						"client_secret": {Pattern: `client_secret["']?\s{0,4}[:=]\s{0,4}["']([A-Za-z0-9_-]{20,64})["']`, Window: 512},
					},
					Hints: map[string]Near{
						"client_id": {Pattern: `([0-9]+-[a-z0-9]{32}\.apps\.googleusercontent\.com)`, Window: 512},
					},
					Examples: func(g *Gen) []Example {
						rt := "1//0" + g.Chars("123456789abcdefg", 1) + g.URL64(98)
						adc := "{\n  \"account\": \"\",\n  \"client_id\": \"" + g.Digits(12) + "-" + g.LowerNum(32) +
							".apps.googleusercontent.com\",\n  \"client_secret\": \"" + g.URL64(24) + "\",\n  \"quota_project_id\": \"demo\",\n" +
							"  \"refresh_token\": \"" + rt + "\",\n  \"type\": \"authorized_user\",\n  \"universe_domain\": \"googleapis.com\"\n}\n"
						return append(assign("GOOGLE_REFRESH_TOKEN", rt), Ex(adc, rt))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"token = 1//0" + g.URL64(98), // not after refresh_token
							`"refresh_token": "1//0` + g.URL64(30) + `"`,
							`"refresh_token": "1/` + g.URL64(98) + `"`,
							`"refresh_token": "1//0` + g.URL64(300) + `"`,
						}
					},
				},
			},
		},
	})
}

// Deep trace and rotation of service-account keys. The credential is the
// JSON key file, or its PEM private key with the client_email (and
// project_id, private_key_id) hints found beside it. Three Google APIs are
// called: the token endpoint, IAM and Cloud Resource Manager. With the
// default base each has its own host; any other base (a test server, a
// private gateway) serves all three, since their paths differ. The token
// URI written in a key file is never used (see googleTokenURL).
const (
	gcpIAM = "https://iam.googleapis.com"
	gcpCRM = "https://cloudresourcemanager.googleapis.com"
	// gcpTraceDocs documents projects.testIamPermissions; the trace also
	// calls projects.serviceAccounts.get.
	gcpTraceDocs = "https://cloud.google.com/resource-manager/reference/rest/v1/projects/testIamPermissions"
	// gcpKeysDocs documents projects.serviceAccounts.keys (create, delete).
	gcpKeysDocs = "https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys"
)

// gcpTracePermissions are the permissions the trace asks about: AI
// platform use and tuning, the data and models around it, and the ways
// to escalate or persist.
var gcpTracePermissions = []string{
	"aiplatform.endpoints.predict", "aiplatform.endpoints.create", "aiplatform.models.upload",
	"aiplatform.customJobs.create", "aiplatform.datasets.create", "aiplatform.notebookRuntimes.create",
	"ml.models.predict", "storage.buckets.list", "storage.objects.get", "storage.objects.list",
	"storage.objects.create", "storage.objects.delete", "bigquery.tables.getData", "bigquery.jobs.create",
	"secretmanager.versions.access", "compute.instances.create", "run.services.create",
	"iam.serviceAccountKeys.create", "iam.serviceAccounts.actAs", "iam.serviceAccounts.getAccessToken",
	"resourcemanager.projects.setIamPolicy", "resourcemanager.projects.getIamPolicy", "serviceusage.services.enable",
}

type gcpEndpoints struct{ token, iam, crm string }

func gcpHosts(base string) gcpEndpoints {
	switch b := strings.TrimRight(base, "/"); b {
	case "", googleOAuth:
		return gcpEndpoints{token: googleOAuth, iam: gcpIAM, crm: gcpCRM}
	default:
		return gcpEndpoints{token: b, iam: b, crm: b}
	}
}

// gcpKey is a service-account key as held.
type gcpKey struct {
	email, project, keyID string
	key                   *rsa.PrivateKey
}

var gcpEmailRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$`)

// gcpParseKey reads a JSON key file, or a PEM key with hints. Errors name
// what is missing, never the content.
func gcpParseKey(secret aicred.Secret, hints map[string]string) (*gcpKey, error) {
	k := &gcpKey{email: hints["client_email"], project: hints["project_id"], keyID: hints["private_key_id"]}
	pemText := secret.Reveal()
	if t := strings.TrimSpace(pemText); strings.HasPrefix(t, "{") {
		var f struct {
			Type         string `json:"type"`
			ProjectID    string `json:"project_id"`
			PrivateKeyID string `json:"private_key_id"`
			PrivateKey   string `json:"private_key"`
			ClientEmail  string `json:"client_email"`
		}
		if err := json.Unmarshal([]byte(t), &f); err != nil {
			return nil, errors.New("gcp: the key file is not JSON")
		}
		if f.Type != "service_account" {
			return nil, errors.New("gcp: the key file is not a service account key (type)")
		}
		k.email, k.project, k.keyID, pemText = f.ClientEmail, f.ProjectID, f.PrivateKeyID, f.PrivateKey
	}
	m := gcpEmailRE.FindStringSubmatch(k.email)
	if m == nil {
		return nil, errors.New("gcp: no service account email (client_email) with the key")
	}
	if k.project == "" {
		k.project = m[1]
	}
	block, _ := pem.Decode([]byte(pemUnescape(pemText)))
	if block == nil {
		return nil, errors.New("gcp: the private key is not PEM")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	key, ok := parsed.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, errors.New("gcp: the private key is not an RSA PKCS#8 key")
	}
	k.key = key
	return k, nil
}

// gcpAccessToken exchanges a signed assertion for an access token.
func gcpAccessToken(ctx context.Context, c *http.Client, tokenBase string, k *gcpKey) (aicred.Secret, error) {
	assertion, err := gcpAssertion(k.key, k.email)
	if err != nil {
		return aicred.Secret{}, errors.New("gcp: could not sign the assertion")
	}
	status, body, err := postForm(ctx, c, joinURL(tokenBase, "/token"), url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion":  {assertion},
	})
	if err != nil {
		return aicred.Secret{}, fmt.Errorf("gcp: token (POST /token): no answer: %w", unwrapURLError(err))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK {
		code := errorCode(body)
		if e := (struct {
			Error string `json:"error"`
		}{}); json.Unmarshal(body, &e) == nil && googleErrorRE.MatchString(e.Error) {
			code = e.Error
		}
		return aicred.Secret{}, &CallError{Provider: "gcp", Call: "token (POST /token)", Status: status, Code: code}
	}
	if json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		return aicred.Secret{}, errors.New("gcp: token (POST /token): the answer holds no access token")
	}
	return aicred.NewSecret(tok.AccessToken), nil
}

var googleErrorRE = regexp.MustCompile(`^[a-z_]{1,40}$`)

func gcpBearer(token aicred.Secret) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token.Reveal()}
}

// gcpTrace mints a token with the key, reads the service account and asks
// which of gcpTracePermissions it holds on its project.
func gcpTrace(ctx context.Context, c *http.Client, base string, secret aicred.Secret, hints map[string]string) (*Reach, error) {
	k, err := gcpParseKey(secret, hints)
	if err != nil {
		return nil, err
	}
	ep := gcpHosts(base)
	r := &Reach{Principal: k.email, Account: k.project}
	token, err := gcpAccessToken(ctx, c, ep.token, k)
	if err != nil {
		note, err := noteFor("token", err)
		if err != nil {
			return nil, err
		}
		r.Notes = append(r.Notes, note)
		return r, nil
	}
	var sa struct {
		Name        string `json:"name"`
		ProjectID   string `json:"projectId"`
		UniqueID    string `json:"uniqueId"`
		DisplayName string `json:"displayName"`
		Disabled    bool   `json:"disabled"`
	}
	path := "/v1/projects/" + url.PathEscape(k.project) + "/serviceAccounts/" + url.PathEscape(k.email)
	if _, err := (apiCall{provider: "gcp", name: "get service account", method: http.MethodGet,
		url: joinURL(ep.iam, path), path: "/v1/projects/{project}/serviceAccounts/{email}", header: gcpBearer(token)}).do(ctx, c, &sa); err != nil {
		note, err := noteFor("service account", err)
		if err != nil {
			return nil, err
		}
		r.Notes = append(r.Notes, note)
	} else {
		if sa.ProjectID != "" {
			r.Account = sa.ProjectID
		}
		name := sa.DisplayName
		if sa.Disabled {
			name += " (disabled)"
		}
		r.Resources = append(r.Resources, Resource{Type: "service-account", ID: sa.UniqueID, Name: strings.TrimSpace(name)})
	}
	var held struct {
		Permissions []string `json:"permissions"`
	}
	path = "/v1/projects/" + url.PathEscape(r.Account) + ":testIamPermissions"
	if _, err := (apiCall{provider: "gcp", name: "test IAM permissions", method: http.MethodPost,
		url: joinURL(ep.crm, path), path: "/v1/projects/{project}:testIamPermissions", header: gcpBearer(token),
		body: map[string][]string{"permissions": gcpTracePermissions}}).do(ctx, c, &held); err != nil {
		note, err := noteFor("project permissions", err)
		if err != nil {
			return nil, err
		}
		r.Notes = append(r.Notes, note)
		return r, nil
	}
	r.Scopes = held.Permissions
	r.Resources = append(r.Resources, Resource{Type: "project", ID: r.Account})
	return r, nil
}

// gcpCreateKey creates a key for the old key's service account
// (keys.create, a Google-generated RSA 2048 key as a JSON key file), with
// admin's token: the old key itself when the account may manage its own
// keys. Google allows ten keys an account; an interrupted rotation leaves
// one behind, listed by keys.list.
func gcpCreateKey(ctx context.Context, c *http.Client, base string, admin aicred.Secret, old RotationTarget) (*Replacement, error) {
	ak, err := gcpParseKey(admin, old.Attrs)
	if err != nil {
		return nil, err
	}
	email := old.Attrs["client_email"]
	if ok, err := gcpParseKey(old.Secret, old.Attrs); err == nil {
		email = ok.email
	}
	if email == "" {
		email = ak.email
	}
	ep := gcpHosts(base)
	token, err := gcpAccessToken(ctx, c, ep.token, ak)
	if err != nil {
		return nil, err
	}
	var key struct {
		Name           string `json:"name"`
		PrivateKeyData string `json:"privateKeyData"`
	}
	path := "/v1/projects/-/serviceAccounts/" + url.PathEscape(email) + "/keys"
	if _, err := (apiCall{provider: "gcp", name: "create service account key", method: http.MethodPost,
		url: joinURL(ep.iam, path), path: "/v1/projects/-/serviceAccounts/{email}/keys", header: gcpBearer(token),
		body: map[string]string{"privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE", "keyAlgorithm": "KEY_ALG_RSA_2048"},
	}).do(ctx, c, &key); err != nil {
		return nil, err
	}
	file, err := base64.StdEncoding.DecodeString(key.PrivateKeyData)
	if err != nil {
		return nil, errors.New("gcp: create service account key: privateKeyData is not base64")
	}
	nk, err := gcpParseKey(aicred.NewSecret(string(file)), nil)
	if err != nil {
		return nil, fmt.Errorf("gcp: create service account key: the key file: %w", err)
	}
	if nk.email != email {
		return nil, errors.New("gcp: create service account key: the key file names another service account")
	}
	id := nk.keyID
	if i := strings.LastIndex(key.Name, "/keys/"); i >= 0 && id == "" {
		id = key.Name[i+len("/keys/"):]
	}
	return &Replacement{Secret: aicred.NewSecret(string(file)), ID: id,
		Attrs: map[string]string{"client_email": email, "project_id": nk.project, "key_name": key.Name}}, nil
}

// gcpDeleteKey deletes the target key (keys.delete) by its id: the
// target's ID or the key file's private_key_id. A key already gone (404)
// counts as revoked.
func gcpDeleteKey(ctx context.Context, c *http.Client, base string, admin aicred.Secret, target RotationTarget) error {
	ak, err := gcpParseKey(admin, target.Attrs)
	if err != nil {
		return err
	}
	email, id := target.Attrs["client_email"], target.ID
	if tk, err := gcpParseKey(target.Secret, target.Attrs); err == nil {
		email = tk.email
		if id == "" {
			id = tk.keyID
		}
	}
	if email == "" || id == "" {
		return errors.New("gcp: the target key's service account and key id are not both known")
	}
	ep := gcpHosts(base)
	token, err := gcpAccessToken(ctx, c, ep.token, ak)
	if err != nil {
		return err
	}
	path := "/v1/projects/-/serviceAccounts/" + url.PathEscape(email) + "/keys/" + url.PathEscape(id)
	_, err = apiCall{provider: "gcp", name: "delete service account key", method: http.MethodDelete,
		url: joinURL(ep.iam, path), path: "/v1/projects/-/serviceAccounts/{email}/keys/{key_id}", header: gcpBearer(token)}.do(ctx, c, nil)
	if err == nil || isNotFound(err) {
		return nil
	}
	return err
}
