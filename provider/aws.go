package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/aicred/aicred"
)

const (
	awsSTS = "https://sts.amazonaws.com"
	// awsKeyIDChars is the base32 alphabet AWS unique ids are written in.
	awsKeyIDChars = Upper + "234567"
	// awsGetCallerIdentity is the STS call that needs no permission at all:
	// it answers for any valid credential and changes nothing.
	awsGetCallerIdentity = "Action=GetCallerIdentity&Version=2011-06-15"
	// awsMinSessionToken is the shortest value taken for a session token;
	// real ones run to hundreds of characters.
	awsMinSessionToken = 100
)

// awsCanaryAccounts are AWS accounts that issue canary tokens (Thinkst's
// canarytokens.org and look-alikes, as listed by TruffleHog). Any call made
// with their keys raises an alarm, so aicred reports them without calling.
var awsCanaryAccounts = map[string]string{
	"052310077262": "Thinkst", "171436882533": "Thinkst", "534261010715": "Thinkst", "595918472158": "Thinkst",
	"717712589309": "Thinkst", "819147034852": "Thinkst", "992382622183": "Thinkst", "730335385048": "Thinkst",
	"266735846894": "Thinkst", "893192397702": "Thinkst",
	"044858866125": "off-brand", "251535659677": "off-brand", "344043088457": "off-brand", "351906852752": "off-brand",
	"390477818340": "off-brand", "426127672474": "off-brand", "427150556519": "off-brand", "439872796651": "off-brand",
	"445142720921": "off-brand", "465867158099": "off-brand", "637958123769": "off-brand", "693412236332": "off-brand",
	"732624840810": "off-brand", "735421457923": "off-brand", "959235150393": "off-brand", "982842642351": "off-brand",
}

// awsAccountID recovers the account id encoded in a key id (all but the
// oldest AKIAI/AKIAJ-style ids carry it, base32-encoded after the prefix).
func awsAccountID(keyID string) (string, bool) {
	if len(keyID) != 20 || keyID[4] == 'I' || keyID[4] == 'J' {
		return "", false
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(keyID[4:])
	if err != nil || len(raw) < 6 {
		return "", false
	}
	var b [8]byte
	copy(b[2:], raw[:6])
	return fmt.Sprintf("%012d", (binary.BigEndian.Uint64(b[:])&0x7fffffffff80)>>7), true
}

var (
	awsArnRE  = regexp.MustCompile(`<Arn>([^<]{1,256})</Arn>`)
	awsCodeRE = regexp.MustCompile(`<Code>([A-Za-z]{1,64})</Code>`)
)

// awsSTSProbe signs GetCallerIdentity with the key id and the secret key
// found near it (and the session token, for temporary ASIA keys).
func awsSTSProbe(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error) {
	id := f.Secret.Reveal()
	account, hasAccount := awsAccountID(id)
	if owner, ok := awsCanaryAccounts[account]; hasAccount && ok {
		return aicred.Unknown, "canary token (" + owner + " account " + account + "): not called, since any use raises its alarm", nil
	}
	secret, token := f.Related["secret_access_key"], f.Related["session_token"]
	if token.Len() < awsMinSessionToken {
		token = aicred.Secret{}
	}
	switch {
	case strings.HasPrefix(id, "ABIA"), strings.HasPrefix(id, "ACCA"):
		return aicred.Unknown, "this kind of AWS id cannot be checked with STS", nil
	case secret.IsZero():
		return aicred.Unknown, "no secret access key found near the key id; a check needs both", nil
	case strings.HasPrefix(id, "ASIA") && token.IsZero():
		return aicred.Unknown, "temporary (ASIA) key without its session token nearby; a check needs all three", nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/", strings.NewReader(awsGetCallerIdentity))
	if err != nil {
		return aicred.Unknown, "bad base URL", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(awsGetCallerIdentity))
	creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret.Reveal(), SessionToken: token.Reveal()}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now()); err != nil {
		return aicred.Unknown, "could not sign the request", err
	}
	status, body, err := probeDo(c, req)
	if err != nil {
		return unreachable(err)
	}
	where := ""
	if hasAccount {
		where = " (account " + account + ")"
	}
	if status >= 200 && status < 300 {
		if m := awsArnRE.FindSubmatch(body); m != nil {
			return aicred.Live, "STS: caller " + string(m[1]), nil
		}
		return aicred.Live, "STS accepted the key" + where, nil
	}
	code := ""
	if m := awsCodeRE.FindSubmatch(body); m != nil {
		code = string(m[1])
	}
	switch {
	case status == http.StatusForbidden && code == "InvalidClientTokenId":
		return aicred.Dead, "STS: the key id is not valid (InvalidClientTokenId)" + where, nil
	case status == http.StatusForbidden && code == "ExpiredToken":
		return aicred.Dead, "STS: the temporary credentials have expired (ExpiredToken)" + where, nil
	case status == http.StatusForbidden && code == "SignatureDoesNotMatch":
		return aicred.Unknown, "STS knows the key id, but the secret found nearby does not sign for it" + where, nil
	case code != "":
		return aicred.Unknown, fmt.Sprintf("STS answered HTTP %d %s%s", status, code, where), nil
	}
	return aicred.Unknown, answered(status), nil
}

// Bedrock API keys. A long-term key is ABSK + base64 of text that begins
// "BedrockAPIKey-". A short-term key is bedrock-api-key- + base64 of a
// presigned SigV4 URL on bedrock.amazonaws.com, which names its Region and
// expiry.
const (
	bedrockLongPrefix   = "ABSK"
	bedrockLongKeyword  = "ABSKQmVkcm9ja0FQSUtleS" // ABSK + base64("BedrockAPIKey-"), first 18 characters
	bedrockShortPrefix  = "bedrock-api-key-"
	bedrockShortHostB64 = "YmVkcm9jay5hbWF6b25hd3MuY29t" // base64("bedrock.amazonaws.com")
	bedrockDefault      = "https://bedrock.us-east-1.amazonaws.com"
)

func validBedrockLongTerm(s string) bool {
	body := strings.TrimPrefix(s, bedrockLongPrefix)
	if len(body) < 20 {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(body[:20])
	return err == nil && strings.HasPrefix(string(raw), "BedrockAPIKey-")
}

// bedrockPresigned decodes a short-term key into its presigned URL query.
func bedrockPresigned(s string) (url.Values, bool) {
	b := strings.TrimPrefix(s, bedrockShortPrefix)
	raw, err := base64.StdEncoding.DecodeString(b)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(b, "=")); err != nil {
			return nil, false
		}
	}
	rest, ok := strings.CutPrefix(string(raw), "bedrock.amazonaws.com/?")
	if !ok {
		return nil, false
	}
	q, err := url.ParseQuery(rest)
	if err != nil || q.Get("X-Amz-Credential") == "" {
		return nil, false
	}
	return q, true
}

// validBedrockShortTerm reports what bedrockPresigned's ok does without
// building the query's map: the scanner asks it of every candidate, and
// url.ParseQuery unescaped and stored a kilobyte and a half of signed
// query each time. Like ParseQuery it refuses a semicolon and a bad
// escape anywhere, and like Get it reads the first X-Amz-Credential.
func validBedrockShortTerm(s string) bool {
	b := strings.TrimPrefix(s, bedrockShortPrefix)
	raw, err := base64.StdEncoding.DecodeString(b)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(b, "=")); err != nil {
			return false
		}
	}
	rest, ok := strings.CutPrefix(string(raw), "bedrock.amazonaws.com/?")
	if !ok {
		return false
	}
	seen, credential := false, false
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		if strings.Contains(part, ";") {
			return false
		}
		if part == "" {
			continue
		}
		key, value, _ := strings.Cut(part, "=")
		if !queryEscapesValid(key) || !queryEscapesValid(value) {
			return false
		}
		if !seen && strings.ContainsAny(key, "%+") {
			key, _ = url.QueryUnescape(key)
		}
		if !seen && key == "X-Amz-Credential" {
			seen, credential = true, value != ""
		}
	}
	return credential
}

// queryEscapesValid reports whether every % in s starts an escape of two
// hex digits, as url.QueryUnescape requires.
func queryEscapesValid(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0; {
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		j := strings.IndexByte(s[i+3:], '%')
		if j < 0 {
			break
		}
		i += 3 + j
	}
	return true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

var awsRegionRE = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$`)

// bedrockShortTermProbe checks the expiry written in the token offline, then
// lists foundation models in the token's own Region.
func bedrockShortTermProbe(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error) {
	q, ok := bedrockPresigned(f.Secret.Reveal())
	if !ok {
		return aicred.Unknown, "token does not decode to a presigned URL", nil
	}
	if signed, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date")); err == nil {
		if secs, err := strconv.Atoi(q.Get("X-Amz-Expires")); err == nil {
			if exp := signed.Add(time.Duration(secs) * time.Second); time.Now().After(exp) {
				return aicred.Dead, "short-term key expired at " + exp.UTC().Format(time.RFC3339), nil
			}
		}
	}
	scope := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(scope) == 5 && awsRegionRE.MatchString(scope[2]) && base == bedrockDefault {
		// The key only works in the Region it was signed for. The Region
		// comes from the token and must look like a Region name, so it
		// cannot point the key at another host.
		base = "https://bedrock." + scope[2] + ".amazonaws.com"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/foundation-models", nil)
	if err != nil {
		return aicred.Unknown, "bad base URL", err
	}
	req.Header.Set("Authorization", "Bearer "+f.Secret.Reveal())
	status, _, err := probeDo(c, req)
	switch {
	case err != nil:
		return unreachable(err)
	case status == http.StatusOK:
		return aicred.Live, "Bedrock lists models for the key", nil
	case status == http.StatusUnauthorized:
		return aicred.Dead, "Bedrock rejected the key", nil
	}
	return aicred.Unknown, answered(status), nil
}

// bedrockShortTermToken builds a short-term key the way AWS's token
// generator does, for examples and tests.
func bedrockShortTermToken(g *Gen, region string, signed time.Time) string {
	amzDate := signed.UTC().Format("20060102T150405Z")
	cred := "ASIA" + g.Chars(awsKeyIDChars, 16) + "/" + amzDate[:8] + "/" + region + "/bedrock/aws4_request"
	query := "Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + url.QueryEscape(cred) +
		"&X-Amz-Date=" + amzDate + "&X-Amz-Expires=43200&X-Amz-Security-Token=" + url.QueryEscape(g.B64(600)) +
		"&X-Amz-Signature=" + g.Hex(64) + "&X-Amz-SignedHeaders=host&Version=1"
	return bedrockShortPrefix + Base64("bedrock.amazonaws.com/?"+query)
}

func init() {
	keyID := func(g *Gen, prefix string) string { return prefix + g.Chars(awsKeyIDChars, 16) }
	secretKey := func(g *Gen) string { return g.B64(40) }
	// Key ids and secrets are base64-ish: '+' and '/' continue a value.
	const boundary = "A-Za-z0-9+/_-"
	bedrockCaps := caps(aicred.CapInference, aicred.CapBilling)
	register(&Provider{
		ID: "aws", Name: "Amazon Web Services", Category: CloudML,
		RevokeURL: "https://console.aws.amazon.com/iam/home#/security_credentials",
		Kinds: []*Kind{
			{
				ID: "access-key-id", Name: "AWS access key id (with its secret access key when near)",
				// Whatever the IAM policy allows: Bedrock and SageMaker,
				// S3 training data, IAM itself.
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData,
					aicred.CapModelRegistry, aicred.CapCompute, aicred.CapKeyAdmin, aicred.CapBilling),
				Liveness: &Liveness{Method: "POST", BaseURL: awsSTS, Path: "/", Probe: awsSTSProbe},
				Trace:    &Trace{BaseURL: awsSTS, Docs: awsTraceDocs, Run: awsTrace},
				// An IAM user may manage its own access keys (the policy AWS
				// documents for it); the credential is its own admin.
				Rotation: &Rotation{
					BaseURL: awsIAM, Docs: awsRotationDocs, SelfAdmin: true,
					Create: awsCreateAccessKey, Revoke: awsRevokeAccessKey,
				},
				Rule: Rule{
					Description: "AWS access key id: AKIA, ASIA, ABIA, ACCA or A3T? + 16 base32 characters; the 40-character secret key nearby is kept as Related",
					Keywords:    []string{"AKIA", "ASIA", "ABIA", "ACCA", "A3T"},
					Pattern:     `(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}`,
					Boundary:    boundary,
					MinEntropy:  3,
					Related: map[string]Near{
						// Starting after a delimiter keeps the regexp from carrying
						// a thread per position inside long base64 runs.
						"secret_access_key": {Pattern: `(?:^|[^A-Za-z0-9+/])([A-Za-z0-9+/]{40})(?:[^A-Za-z0-9+/=]|$)`, Window: 160},
						// Near patterns are bounded by their window, not by the
						// pattern: an open-ended run keeps the regexp small
						// enough for Go's fast backtracking matcher. The probe
						// ignores values too short to be a session token.
						"session_token": {
							Pattern: `(?i:session_?token|security_?token)["']?[\s:=]{1,6}["']?([A-Za-z0-9+/]{20}[A-Za-z0-9+/]*={0,2})`,
							Window:  3072,
						},
					},
					Examples: func(g *Gen) []Example {
						id, sk := keyID(g, "AKIA"), secretKey(g)
						tmp, token := keyID(g, "ASIA"), g.B64(400)
						id2 := keyID(g, "AKIA")
						return append(assign("AWS_ACCESS_KEY_ID", id),
							Ex("[default]\naws_access_key_id = "+id+"\naws_secret_access_key = "+sk+"\nregion = us-east-1\n", id),
							Ex(`{"AccessKey": {"UserName": "ci", "AccessKeyId": "`+id2+`", "Status": "Active", "SecretAccessKey": "`+sk+`"}}`, id2),
							Ex("AWS_ACCESS_KEY_ID="+tmp+"\nAWS_SECRET_ACCESS_KEY="+sk+"\nAWS_SESSION_TOKEN="+token+"\n", tmp),
							Ex(notebook(`bedrock = boto3.client("bedrock-runtime", aws_access_key_id="`+id+`", aws_secret_access_key="`+sk+`")`), id),
							Ex("Access key ID,Secret access key\n"+id2+","+sk+"\n", id2))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							keyID(g, "AKIA")[:19],
							keyID(g, "AKIA") + "Q",
							"AKIA" + g.Chars(awsKeyIDChars, 15) + "0", // 0 is not base32
							"akia" + g.Chars(awsKeyIDChars, 16),
							"AKIB" + g.Chars(awsKeyIDChars, 16),
							"XAKIA" + g.Chars(awsKeyIDChars, 16),
							"AKIA" + g.Chars(awsKeyIDChars, 9) + "EXAMPLE", // the documented example id shape
							"path/AKIA" + g.Chars(awsKeyIDChars, 16),
						}
					},
				},
			},
			{
				ID: "bedrock-api-key", Name: "Amazon Bedrock API key (long-term)",
				RevokeURL:    "https://console.aws.amazon.com/bedrock/home#/api-keys",
				Capabilities: bedrockCaps,
				Liveness: &Liveness{
					BaseURL: bedrockDefault, Path: "/foundation-models", Auth: Bearer,
					Live: []int{200},
				},
				Rule: Rule{
					Description: "Amazon Bedrock long-term API key: ABSK + base64 of text beginning BedrockAPIKey-",
					Keywords:    []string{bedrockLongKeyword},
					Pattern:     bedrockLongPrefix + `[A-Za-z0-9+/]{109,269}={0,2}`,
					Boundary:    boundary,
					MinEntropy:  4,
					Validate:    validBedrockLongTerm,
					Examples: func(g *Gen) []Example {
						k := bedrockLongPrefix + Base64("BedrockAPIKey-"+g.LowerNum(4)+"-at-"+g.Digits(12)+":"+g.B64(60))
						return append(assign("AWS_BEARER_TOKEN_BEDROCK", k),
							Ex(curl("https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse", "Authorization", "Bearer "+k), k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							bedrockLongPrefix + Base64("BedrockAPIKey-" + g.Alnum(20))[:40], // too short
							bedrockLongPrefix + Base64("BedrockKey-"+g.B64(100)),            // wrong text inside
							bedrockLongPrefix + g.B64(140),
						}
					},
				},
			},
			{
				ID: "bedrock-short-term-key", Name: "Amazon Bedrock API key (short-term, presigned)",
				Capabilities: bedrockCaps,
				Liveness:     &Liveness{BaseURL: bedrockDefault, Path: "/foundation-models", Probe: bedrockShortTermProbe},
				Rule: Rule{
					// The body (up to 4,000 characters, most of it the session
					// token) is matched in base64 quanta: one bounded
					// repetition, which Go's regexp runs fast, where chained
					// variable-length runs would not be.
					Description: "Amazon Bedrock short-term API key: bedrock-api-key- + base64 of a presigned bedrock.amazonaws.com URL",
					Keywords:    []string{bedrockShortPrefix + bedrockShortHostB64},
					Pattern: bedrockShortPrefix + bedrockShortHostB64 + `(?:` + b64Quantum + `){25,1000}` +
						`(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?`,
					Boundary:   boundary,
					MinEntropy: 4,
					Validate:   validBedrockShortTerm,
					Examples: func(g *Gen) []Example {
						k := bedrockShortTermToken(g, "us-west-2", time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC))
						return append(assign("AWS_BEARER_TOKEN_BEDROCK", k),
							Ex(notebook(`os.environ["AWS_BEARER_TOKEN_BEDROCK"] = "`+k+`"`), k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							bedrockShortPrefix + bedrockShortHostB64 + g.B64(300),                        // not a presigned URL
							bedrockShortPrefix + Base64("bedrock.amazonaws.com/?Action=x&"+g.Alnum(120)), // no credential
							bedrockShortPrefix + bedrockShortHostB64 + g.B64(40),
						}
					},
				},
			},
			{
				// Found alone: beside its key id it is that finding's
				// Related secret, not a credential of its own (the engine
				// drops a context match another match holds as Related).
				ID: "secret-access-key", Name: "AWS secret access key (no key id nearby)",
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData,
					aicred.CapModelRegistry, aicred.CapCompute, aicred.CapKeyAdmin, aicred.CapBilling),
				Rule: Rule{
					Description:   "AWS secret access key: 40 base64 characters after a name for it (aws_secret_access_key, SecretAccessKey), with no key id nearby",
					Keywords:      []string{"secret_access_key", "secretaccesskey", "aws_secret_key", "secret-access-key"},
					ContextWindow: 32,
					Pattern:       `[A-Za-z0-9+/]{40}`,
					Boundary:      boundary,
					MinEntropy:    4,
					Validate:      validAWSSecretKey,
					Examples: func(g *Gen) []Example {
						sk := awsSecretKey(g)
						return append(assign("AWS_SECRET_ACCESS_KEY", sk),
							Ex("[prod]\naws_secret_access_key = "+sk+"\n", sk),
							Ex(`{"Credentials": {"SecretAccessKey": "`+sk+`"}}`, sk),
							Ex(`s3 = boto3.client("s3", aws_secret_access_key="`+sk+`")`, sk))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"SECRET=" + awsSecretKey(g),                          // no name for it
							"AWS_SECRET_ACCESS_KEY=" + awsSecretKey(g)[:39],      // too short
							"AWS_SECRET_ACCESS_KEY=" + awsSecretKey(g) + "Q",     // too long
							"AWS_SECRET_ACCESS_KEY=" + g.Hex(40),                 // a hex digest
							"aws_secret_access_key = " + strings.Repeat("x", 40), // a placeholder
						}
					},
				},
			},
			{
				ID: "session-token", Name: "AWS session token (temporary credentials, no key id nearby)",
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData,
					aicred.CapModelRegistry, aicred.CapCompute, aicred.CapKeyAdmin, aicred.CapBilling),
				Rule: Rule{
					// STS tokens are base64 of a structure that begins with a
					// byte, 0x0a and a short name ("aws", "er/aws",
					// "origin_ec": FwoGZXIvYXdz..., IQoJb3JpZ2luX2Vj...).
					Description:   "AWS session token: base64 of 100 to 4,000 characters, of STS's structure, after aws_session_token, SessionToken or X-Amz-Security-Token, with no key id nearby",
					Keywords:      []string{"aws_session_token", "aws_security_token", "sessiontoken", "x-amz-security-token"},
					ContextWindow: 32,
					Pattern:       `(?:` + b64Quantum + `){25,1000}[A-Za-z0-9+/]{0,3}={0,2}`,
					Boundary:      boundary,
					MinEntropy:    4,
					Validate:      validAWSSessionToken,
					Examples: func(g *Gen) []Example {
						tok := awsSessionToken(g)
						return append(assign("AWS_SESSION_TOKEN", tok),
							Ex("[temp]\naws_session_token = "+tok+"\n", tok),
							Ex(`{"Credentials": {"SessionToken": "`+tok+`", "Expiration": "2026-01-01T00:00:00Z"}}`, tok))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"AWS_SESSION_TOKEN=" + g.B64(400),                           // not STS's structure
							"TOKEN=" + awsSessionToken(g),                               // no name for it
							"AWS_SESSION_TOKEN=" + awsSessionToken(g)[:60],              // too short
							"session_token = " + Base64("\x02\x0a\x03aws"+g.Alnum(200)), // not an AWS name
						}
					},
				},
			},
		},
	})
}

// awsSecretKey generates a secret access key: 40 base64 characters.
func awsSecretKey(g *Gen) string { return g.B64(40) }

// validAWSSecretKey wants the mix of a random base64 value: upper and
// lower case letters and digits (a hex digest or a word is not one).
func validAWSSecretKey(s string) bool {
	return strings.ContainsAny(s, Upper) && strings.ContainsAny(s, Lower) && strings.ContainsAny(s, Digits)
}

// awsSessionToken generates a session token of STS's structure.
func awsSessionToken(g *Gen) string {
	return Base64("\x21\x0a\x09origin_ec" + string(g.Bytes(300)))
}

// validAWSSessionToken checks the start of a session token's structure:
// a byte, 0x0a, a length and that many characters of a lower-case AWS
// name ("aws", "er/aws", "origin_ec").
func validAWSSessionToken(s string) bool {
	if len(s) < awsMinSessionToken {
		return false
	}
	head, err := base64.RawStdEncoding.DecodeString(s[:20]) // 15 bytes
	if err != nil || head[1] != 0x0a || head[2] < 3 || int(head[2]) > len(head)-3 {
		return false
	}
	for _, c := range head[3 : 3+head[2]] {
		if !(c >= 'a' && c <= 'z' || c == '_' || c == '/') {
			return false
		}
	}
	return strings.Contains(string(head[3:3+head[2]]), "aws") || strings.HasPrefix(string(head[3:3+head[2]]), "origin")
}

// Deep trace and rotation. The credential is held as "KEY_ID:SECRET" or
// "KEY_ID:SECRET:SESSION_TOKEN" (as the gateway holds it). STS and IAM
// are called through the AWS SDK's own clients; a base URL other than the
// default (a test server, a private endpoint) serves both.
const (
	awsIAM = "https://iam.amazonaws.com"
	// awsTraceDocs documents GetCallerIdentity; the IAM reads are
	// ListAttachedUserPolicies, ListUserPolicies and ListGroupsForUser.
	awsTraceDocs = "https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html"
	// awsRotationDocs documents rotating an IAM user's access keys:
	// CreateAccessKey, UpdateAccessKey (Inactive), DeleteAccessKey.
	awsRotationDocs = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id-credentials-access-keys-update.html"
	// awsMaxAccessKeys is how many access keys IAM lets a user have.
	awsMaxAccessKeys = 2
)

// awsPair splits a held key pair; the error names no part of it.
func awsPair(s aicred.Secret) (aws.Credentials, error) {
	parts := strings.Split(s.Reveal(), ":")
	if len(parts) < 2 || len(parts) > 3 || len(parts[0]) != 20 || len(parts[1]) < 16 {
		return aws.Credentials{}, errors.New("aws: the credential is not KEY_ID:SECRET[:SESSION_TOKEN]")
	}
	c := aws.Credentials{AccessKeyID: parts[0], SecretAccessKey: parts[1], Source: "aicred"}
	if len(parts) == 3 {
		c.SessionToken = parts[2]
	}
	return c, nil
}

func awsHTTP(c *http.Client) *http.Client {
	if c == nil {
		return http.DefaultClient
	}
	return c
}

// awsClients builds STS and IAM clients for creds. Retries are left to
// the caller (respond resumes a rotation; a trace is run again).
func awsClients(c *http.Client, base string, creds aws.Credentials) (*sts.Client, *iam.Client) {
	provider := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
	stsOpts := sts.Options{Region: "us-east-1", Credentials: provider, HTTPClient: awsHTTP(c), Retryer: aws.NopRetryer{}}
	iamOpts := iam.Options{Region: "us-east-1", Credentials: provider, HTTPClient: awsHTTP(c), Retryer: aws.NopRetryer{}}
	switch strings.TrimRight(base, "/") {
	case "", awsSTS, awsIAM:
	default:
		stsOpts.BaseEndpoint = aws.String(base)
		iamOpts.BaseEndpoint = aws.String(base)
	}
	return sts.New(stsOpts), iam.New(iamOpts)
}

// awsCallError turns an SDK error into a CallError naming the call, with
// the HTTP status and AWS error code only (never the message).
func awsCallError(call string, err error) error {
	ce := &CallError{Provider: "aws", Call: call}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		ce.Status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		ce.Code = ae.ErrorCode()
	}
	if ce.Status == 0 && ce.Code == "" {
		var oe *smithy.OperationError
		if errors.As(err, &oe) {
			return fmt.Errorf("aws: %s: no answer: %w", call, unwrapURLError(oe.Err))
		}
		return fmt.Errorf("aws: %s: no answer", call)
	}
	return ce
}

// awsCaller is who a key pair acts as.
type awsCaller struct {
	arn, account, user string // user: the IAM user name, "" for a role session or root
	root               bool
}

var awsUserArnRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:user/(?:[^/]+/)*([\w+=,.@-]{1,64})$`)

func awsWhoAmI(ctx context.Context, client *sts.Client) (awsCaller, error) {
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return awsCaller{}, awsCallError("sts:GetCallerIdentity", err)
	}
	who := awsCaller{arn: aws.ToString(out.Arn), account: aws.ToString(out.Account)}
	if m := awsUserArnRE.FindStringSubmatch(who.arn); m != nil {
		who.user = m[1]
	}
	who.root = strings.HasSuffix(who.arn, ":root")
	return who, nil
}

// awsCanary refuses keys of canary-token accounts: any call raises an alarm.
func awsCanary(keyID string) error {
	if account, ok := awsAccountID(keyID); ok {
		if owner, ok := awsCanaryAccounts[account]; ok {
			return fmt.Errorf("aws: canary token (%s account %s): not called, since any use raises its alarm", owner, account)
		}
	}
	return nil
}

// awsTrace asks STS who the key pair is, then, for an IAM user, lists the
// policies attached to it, its inline policy names and its groups. A
// denied IAM read becomes a Note.
func awsTrace(ctx context.Context, c *http.Client, base string, secret aicred.Secret, _ map[string]string) (*Reach, error) {
	creds, err := awsPair(secret)
	if err != nil {
		return nil, err
	}
	if err := awsCanary(creds.AccessKeyID); err != nil {
		return &Reach{Notes: []string{err.Error()}}, nil
	}
	stsc, iamc := awsClients(c, base, creds)
	who, err := awsWhoAmI(ctx, stsc)
	if err != nil {
		note, err := noteFor("caller identity", err)
		if err != nil {
			return nil, err
		}
		return &Reach{Notes: []string{note}}, nil
	}
	r := &Reach{Principal: who.arn, Account: who.account}
	r.Resources = append(r.Resources, Resource{Type: "account", ID: who.account})
	switch {
	case who.root:
		r.Scopes = []string{"root: every action in the account"}
		return r, nil
	case who.user == "":
		r.Notes = append(r.Notes, "not an IAM user (a role session or federated user): its permissions are the role's, not listed")
		return r, nil
	}
	user := aws.String(who.user)
	note := func(call string, err error) error {
		n, err := noteFor(call, awsCallError("iam:"+call, err))
		if err == nil {
			r.Notes = append(r.Notes, n)
		}
		return err
	}
	if out, err := iamc.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: user}); err != nil {
		if err := note("ListAttachedUserPolicies", err); err != nil {
			return nil, err
		}
	} else {
		for _, p := range out.AttachedPolicies {
			r.Scopes = append(r.Scopes, "policy "+aws.ToString(p.PolicyArn))
		}
		if out.IsTruncated {
			r.Notes = append(r.Notes, "attached policies: more than one page, first page listed")
		}
	}
	if out, err := iamc.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: user}); err != nil {
		if err := note("ListUserPolicies", err); err != nil {
			return nil, err
		}
	} else {
		for _, p := range out.PolicyNames {
			r.Scopes = append(r.Scopes, "inline policy "+p)
		}
	}
	if out, err := iamc.ListGroupsForUser(ctx, &iam.ListGroupsForUserInput{UserName: user}); err != nil {
		if err := note("ListGroupsForUser", err); err != nil {
			return nil, err
		}
	} else {
		for _, g := range out.Groups {
			r.Resources = append(r.Resources, Resource{Type: "group", ID: aws.ToString(g.Arn), Name: aws.ToString(g.GroupName)})
		}
	}
	return r, nil
}

// awsCreateAccessKey creates a second access key for the IAM user the
// admin key pair belongs to (the old key itself, for SelfAdmin). IAM
// allows two keys a user: when the user already has two, the call is
// refused with the other key's age and status (an interrupted rotation
// leaves its key behind; delete the unused one), never by guessing which
// to delete.
func awsCreateAccessKey(ctx context.Context, c *http.Client, base string, admin aicred.Secret, old RotationTarget) (*Replacement, error) {
	creds, err := awsPair(admin)
	if err != nil {
		return nil, err
	}
	stsc, iamc := awsClients(c, base, creds)
	user := old.Attrs["user"]
	if user == "" {
		who, err := awsWhoAmI(ctx, stsc)
		if err != nil {
			return nil, err
		}
		switch {
		case who.root:
			return nil, errors.New("aws: root account access keys are not rotated: delete them and use an IAM user or role")
		case who.user == "":
			return nil, errors.New("aws: the credential is not an IAM user's access key (a role session expires on its own)")
		}
		user = who.user
	}
	list, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		return nil, awsCallError("iam:ListAccessKeys", err)
	}
	if len(list.AccessKeyMetadata) >= awsMaxAccessKeys {
		oldID := old.ID
		if p, err := awsPair(old.Secret); err == nil {
			oldID = p.AccessKeyID
		}
		var other []string
		for _, k := range list.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) != oldID {
				other = append(other, fmt.Sprintf("%s key created %s", k.Status, aws.ToTime(k.CreateDate).UTC().Format(time.DateOnly)))
			}
		}
		return nil, fmt.Errorf("aws: user %s already has %d access keys, the most IAM allows (other: %s); delete the unused one, then rotate again",
			user, len(list.AccessKeyMetadata), strings.Join(other, ", "))
	}
	out, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		return nil, awsCallError("iam:CreateAccessKey", err)
	}
	k := out.AccessKey
	if k == nil || aws.ToString(k.AccessKeyId) == "" || aws.ToString(k.SecretAccessKey) == "" {
		return nil, errors.New("aws: iam:CreateAccessKey: the answer holds no access key")
	}
	id := aws.ToString(k.AccessKeyId)
	attrs := map[string]string{"user": user}
	if a, ok := awsAccountID(id); ok {
		attrs["account"] = a
	}
	return &Replacement{Secret: aicred.NewSecret(id + ":" + aws.ToString(k.SecretAccessKey)), ID: id, Attrs: attrs}, nil
}

// awsRevokeAccessKey makes the target key inactive, then deletes it,
// signed with admin (the new key after a rotation, or the target itself:
// a key cannot sign once inactive, so it deletes itself directly). A key
// already gone (NoSuchEntity) counts as revoked.
func awsRevokeAccessKey(ctx context.Context, c *http.Client, base string, admin aicred.Secret, target RotationTarget) error {
	creds, err := awsPair(admin)
	if err != nil {
		return err
	}
	id := target.ID
	if p, err := awsPair(target.Secret); err == nil {
		id = p.AccessKeyID
	}
	if id == "" {
		return errors.New("aws: the target's access key id is not known")
	}
	stsc, iamc := awsClients(c, base, creds)
	user := target.Attrs["user"]
	if user == "" {
		who, err := awsWhoAmI(ctx, stsc)
		if err != nil {
			return err
		}
		if who.user == "" {
			return errors.New("aws: the admin credential is not an IAM user's key; give the target's user name")
		}
		user = who.user
	}
	if id != creds.AccessKeyID {
		_, err := iamc.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
			AccessKeyId: aws.String(id), UserName: aws.String(user), Status: iamtypes.StatusTypeInactive,
		})
		if err != nil {
			err = awsCallError("iam:UpdateAccessKey", err)
			if isNotFound(err) {
				return nil
			}
			return err
		}
	}
	_, err = iamc.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(id), UserName: aws.String(user)})
	if err != nil {
		err = awsCallError("iam:DeleteAccessKey", err)
		if isNotFound(err) {
			return nil
		}
		return err
	}
	return nil
}
