package provider

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/aicred/aicred"
)

const (
	azureLogin = "https://login.microsoftonline.com"
	azureUUID  = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`
)

var uuidRE = regexp.MustCompile(`^` + azureUUID + `$`)

// azureClientCredentials asks Entra ID for a token with the client-credentials
// grant, using the tenant and client ids found near the secret. A token
// means live. Only the error codes for a wrong or expired secret prove it
// dead: a wrong tenant or client id (from nearby text) decides nothing.
func azureClientCredentials(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error) {
	tenant, client := f.Hints["tenant_id"], f.Hints["client_id"]
	if !uuidRE.MatchString(tenant) || !uuidRE.MatchString(client) {
		return aicred.Unknown, "tenant id and client id were not both found near the secret", nil
	}
	status, body, err := postForm(ctx, c, strings.TrimRight(base, "/")+"/"+tenant+"/oauth2/v2.0/token", url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {client},
		"client_secret": {f.Secret.Reveal()},
		"scope":         {"https://graph.microsoft.com/.default"},
	})
	switch {
	case err != nil:
		return unreachable(err)
	case status == http.StatusOK && bytes.Contains(body, []byte(`"access_token"`)):
		return aicred.Live, "Entra ID issued a token for client " + client, nil
	case bytes.Contains(body, []byte("AADSTS7000215")):
		return aicred.Dead, "Entra ID: invalid client secret (AADSTS7000215)", nil
	case bytes.Contains(body, []byte("AADSTS7000222")):
		return aicred.Dead, "Entra ID: client secret expired (AADSTS7000222)", nil
	}
	return aicred.Unknown, answered(status), nil
}

func init() {
	idNear := func(words string) Near {
		return Near{Pattern: `(?i:` + words + `)["']?[\s:=]{1,6}["']?(` + azureUUID + `)`, Window: 512}
	}
	register(&Provider{
		ID: "azure", Name: "Microsoft Azure (Entra ID)", Category: CloudML,
		RevokeURL: "https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade",
		Kinds: []*Kind{{
			ID: "client-secret", Name: "Azure Entra ID application client secret",
			// Whatever the app registration was granted: Azure OpenAI through
			// Entra roles, ARM key listing and regeneration, Graph.
			Capabilities: caps(aicred.CapInference, aicred.CapKeyAdmin, aicred.CapFilesData),
			Liveness:     &Liveness{Method: "POST", BaseURL: azureLogin, Probe: azureClientCredentials},
			Rule: Rule{
				// Q~ is 2 bytes; the keyword adds the digit before it.
				Description: "Azure client secret: 3 characters + a digit + Q~ + 31 to 34 characters",
				Keywords:    []string{"0Q~", "1Q~", "2Q~", "3Q~", "4Q~", "5Q~", "6Q~", "7Q~", "8Q~", "9Q~"},
				// The first three characters may be '-' too (as in
				// Microsoft's own pattern for these secrets).
				Pattern:    `[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}`,
				Boundary:   "A-Za-z0-9_~.-",
				MinEntropy: 3,
				Hints: map[string]Near{
					"tenant_id": idNear(`tenant[_-]?id|tenant|directory[_-]?id`),
					"client_id": idNear(`client[_-]?id|app[_-]?id|application[_-]?id`),
				},
				Examples: func(g *Gen) []Example {
					body := Alnum + "_~.-"
					k := g.Alnum(3) + g.Digits(1) + "Q~" + g.Chars(body, 33) + g.Alnum(1)
					env := "AZURE_TENANT_ID=" + g.UUID() + "\nAZURE_CLIENT_ID=" + g.UUID() + "\nAZURE_CLIENT_SECRET=" + k + "\n"
					dash := "-" + g.Alnum(2) + g.Digits(1) + "Q~" + g.Chars(body, 33) + g.Alnum(1)
					return append(assign("AZURE_CLIENT_SECRET", k),
						Ex(env, k),
						Ex("AZURE_CLIENT_SECRET="+dash+"\n", dash),
						Ex(notebook(`cred = ClientSecretCredential(tenant_id="`+g.UUID()+`", client_id="`+g.UUID()+`", client_secret="`+k+`")`), k),
						Ex("az login --service-principal -u "+g.UUID()+" -p "+k+" --tenant "+g.UUID(), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						g.Alnum(3) + g.Digits(1) + "Q~" + g.Alnum(30),
						g.Alnum(3) + g.Digits(1) + "Q~" + g.Alnum(35),
						g.Alnum(3) + "x" + "Q~" + g.Alnum(33),
						g.Alnum(3) + g.Digits(1) + "Q-" + g.Alnum(33),
						g.Alnum(3) + g.Digits(1) + "Q~" + strings.Repeat("x", 33),
					}
				},
			},
		}, {
			ID: "client-secret-legacy", Name: "Azure Entra ID application client secret (pre-2019 format)",
			Capabilities: caps(aicred.CapInference, aicred.CapKeyAdmin, aicred.CapFilesData),
			Liveness:     &Liveness{Method: "POST", BaseURL: azureLogin, Probe: azureClientCredentials},
			Rule: Rule{
				// Microsoft documents these as obsolete, low-confidence
				// shapes: 32 characters of letters, digits and .=-:[_@/*]+?
				// or 34 URL-unreserved characters, each with at least one
				// symbol; older portal and PowerShell passwords were the
				// base64 of 32 random bytes (44 characters ending in '=').
				// Alone they say nothing, so a client secret name must
				// name them.
				Description:   "Azure client secret, pre-2019: 32 or 34 characters with a symbol, or 44 base64 ending in =, after client_secret / AZURE_CLIENT_SECRET",
				Keywords:      []string{"client_secret", "clientsecret", "client-secret"},
				ContextWindow: 32,
				Pattern:       `[A-Za-z0-9+/]{43}=|[A-Za-z0-9._~-]{34}|[A-Za-z0-9.=:_@/*+?\[\]-]{32}`,
				Boundary:      `A-Za-z0-9+/_.~@*?-`,
				MinEntropy:    3.5,
				Validate:      validAzureLegacySecret,
				Hints: map[string]Near{
					"tenant_id": idNear(`tenant[_-]?id|tenant|directory[_-]?id`),
					"client_id": idNear(`client[_-]?id|app[_-]?id|application[_-]?id`),
				},
				Examples: func(g *Gen) []Example {
					k32 := g.Alnum(14) + "@" + g.Alnum(9) + "]" + g.Alnum(7)
					k34 := g.Alnum(20) + "." + g.Alnum(6) + "_" + g.Alnum(6)
					k44 := Base64(string(g.Bytes(31)) + "\x01")
					return append(assign("AZURE_CLIENT_SECRET", k32),
						Ex("AZURE_TENANT_ID="+g.UUID()+"\nAZURE_CLIENT_ID="+g.UUID()+"\nAZURE_CLIENT_SECRET="+k34+"\n", k34),
						Ex(`{"appId": "`+g.UUID()+`", "client_secret": "`+k44+`"}`, k44),
						Ex(notebook(`cred = ClientSecretCredential(tenant_id="`+g.UUID()+`", client_id="`+g.UUID()+`", client_secret="`+k34+`")`), k34))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"AZURE_CLIENT_SECRET=" + g.Alnum(32),                 // no symbol
						"AZURE_CLIENT_SECRET=" + g.Alnum(34),                 // no symbol
						"PASSWORD=" + g.Alnum(14) + "@" + g.Alnum(17),        // no client secret name
						"client_secret = " + g.Alnum(15) + "." + g.Alnum(20), // 36 characters
						"AZURE_CLIENT_SECRET=" + g.B64(44),                   // base64 without its padding
						// A URL in a comment beside a client secret variable
						// (golang.org/x/net's QUIC code cites RFC 9001 so).
						"// https://www.rfc-editor.org/rfc/rfc" + g.Digits(4) + "#section-5.2\nfunc initialKeys(cid []byte) keyPair {\n" +
							"\tinitialSecret := hkdf.Extract(sha256.New, cid, initialSalt)\n\tvar clientKeys keys\n" +
							"\tclientSecret := expandLabel(initialSecret, \"client in\")\n",
						"# " + g.Lower(8) + "\nclient_secret_file:\n  # /var/lib/" + g.Lower(6) + "/" + g.Lower(6) + "/" + g.Lower(4) + "-" + g.Digits(6) + "\n",
					}
				},
			},
		}},
	})
}

// validAzureLegacySecret checks a pre-2019 client secret: 44 base64 that
// decode to 32 bytes, or 32 or 34 characters mixing letters, digits and at
// least one symbol, and not a path or URL.
func validAzureLegacySecret(s string) bool {
	if len(s) == 44 {
		b, err := base64.StdEncoding.DecodeString(s)
		return err == nil && len(b) == 32
	}
	// A path or URL is not a secret: none starts with '/' or holds "//"
	// or "www." (a random secret holds "//" one time in two hundred).
	if s[0] == '/' || strings.Contains(s, "//") || strings.Contains(strings.ToLower(s), "www.") {
		return false
	}
	return strings.ContainsAny(s, Upper+Lower) && strings.ContainsAny(s, Digits) &&
		strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') }) >= 0
}
