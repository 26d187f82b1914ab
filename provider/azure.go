package provider

import (
	"bytes"
	"context"
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
				Pattern:     `[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}`,
				Boundary:    "A-Za-z0-9_~.-",
				MinEntropy:  3,
				Hints: map[string]Near{
					"tenant_id": idNear(`tenant[_-]?id|tenant|directory[_-]?id`),
					"client_id": idNear(`client[_-]?id|app[_-]?id|application[_-]?id`),
				},
				Examples: func(g *Gen) []Example {
					body := Alnum + "_~.-"
					k := g.Alnum(3) + g.Digits(1) + "Q~" + g.Chars(body, 33) + g.Alnum(1)
					env := "AZURE_TENANT_ID=" + g.UUID() + "\nAZURE_CLIENT_ID=" + g.UUID() + "\nAZURE_CLIENT_SECRET=" + k + "\n"
					return append(assign("AZURE_CLIENT_SECRET", k),
						Ex(env, k),
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
		}},
	})
}
