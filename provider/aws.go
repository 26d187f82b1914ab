package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

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

func validBedrockShortTerm(s string) bool { _, ok := bedrockPresigned(s); return ok }

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
		},
	})
}
