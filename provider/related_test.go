package provider_test

import (
	"strings"
	"testing"

	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/scan"
)

// TestRelatedAndHints checks that paired secrets and hosts are picked up
// from the text around a match, as the liveness checks need them.
func TestRelatedAndHints(t *testing.T) {
	e, err := scan.New(scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := provider.NewGen(11)
	uuid := g.UUID
	keyID := "AKIA" + g.Chars(provider.Upper+"234567", 16)
	tmpID := "ASIA" + g.Chars(provider.Upper+"234567", 16)
	awsSecret, awsToken := g.B64(40), g.B64(600)
	pk, sk := "pk-lf-"+uuid(), "sk-lf-"+uuid()
	tenant, client := uuid(), uuid()
	azSecret := g.Alnum(3) + "8Q~" + g.Alnum(34)
	dbToken := "dapi" + g.Hex(32)
	azKey := g.Hex(32)
	modalID, modalSecret := "ak-"+g.Alnum(22), "as-"+g.Alnum(22)

	for _, tc := range []struct {
		name, text, kind, secret string
		related, hints           map[string]string
	}{
		{
			name: "aws credentials file",
			text: "[default]\naws_access_key_id = " + keyID + "\naws_secret_access_key = " + awsSecret + "\n",
			kind: "aws/access-key-id", secret: keyID,
			related: map[string]string{"secret_access_key": awsSecret},
		},
		{
			name: "aws session credentials",
			text: "AWS_ACCESS_KEY_ID=" + tmpID + "\nAWS_SECRET_ACCESS_KEY=" + awsSecret + "\nAWS_SESSION_TOKEN=" + awsToken + "\n",
			kind: "aws/access-key-id", secret: tmpID,
			related: map[string]string{"secret_access_key": awsSecret, "session_token": awsToken},
		},
		{
			// golang.org/x/oauth2's tests write AWS's documented example
			// secret a few lines above a fixture key pair: the pair's own
			// secret is the related one, and is not reported alone.
			name: "aws documented example secret nearby",
			text: "// e.g. " + strings.Repeat("x", 5) + " wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY\n\nconst (\n\taccessKeyID     = \"" + tmpID +
				"\"\n\tsecretAccessKey = \"" + awsSecret + "\"\n)\n",
			kind: "aws/access-key-id", secret: tmpID,
			related: map[string]string{"secret_access_key": awsSecret},
		},
		{
			name: "langfuse pair",
			text: "LANGFUSE_PUBLIC_KEY=" + pk + "\nLANGFUSE_SECRET_KEY=" + sk + "\nLANGFUSE_HOST=https://us.cloud.langfuse.com\n",
			kind: "langfuse/secret-key", secret: sk,
			related: map[string]string{"public_key": pk}, hints: map[string]string{"host": "us.cloud.langfuse.com"},
		},
		{
			name: "langfuse self-hosted host is not taken",
			text: "LANGFUSE_HOST=https://langfuse.example.org\nLANGFUSE_PUBLIC_KEY=" + pk + "\nLANGFUSE_SECRET_KEY=" + sk + "\n",
			kind: "langfuse/public-key", secret: pk,
			related: map[string]string{"secret_key": sk}, hints: map[string]string{},
		},
		{
			name: "azure service principal",
			text: "AZURE_TENANT_ID=" + tenant + "\nAZURE_CLIENT_ID=" + client + "\nAZURE_CLIENT_SECRET=" + azSecret + "\n",
			kind: "azure/client-secret", secret: azSecret,
			hints: map[string]string{"tenant_id": tenant, "client_id": client},
		},
		{
			name: "azure openai host",
			text: "AZURE_OPENAI_ENDPOINT=https://contoso-ai.openai.azure.com/\nAZURE_OPENAI_API_KEY=" + azKey + "\n",
			kind: "azure-openai/api-key", secret: azKey,
			hints: map[string]string{"host": "contoso-ai.openai.azure.com"},
		},
		{
			name: "databricks workspace",
			text: "[DEFAULT]\nhost = https://dbc-1a2b3c4d-5e6f.cloud.databricks.com\ntoken = " + dbToken + "\n",
			kind: "databricks/access-token", secret: dbToken,
			hints: map[string]string{"host": "dbc-1a2b3c4d-5e6f.cloud.databricks.com"},
		},
		{
			name: "modal token pair",
			text: "modal token set --token-id " + modalID + " --token-secret " + modalSecret,
			kind: "modal/token-pair", secret: modalSecret,
			related: map[string]string{"token_id": modalID},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var found *scan.Match
			e.Scan([]byte(tc.text), func(m scan.Match) {
				if m.Kind.Describe() == tc.kind && m.Secret == tc.secret {
					found = &m
				}
			})
			if found == nil {
				t.Fatalf("%s not found", tc.kind)
			}
			for k, v := range tc.related {
				if found.Related[k] != v {
					t.Errorf("related %s: got %q, want %q", k, found.Related[k], v)
				}
			}
			for k, v := range tc.hints {
				if found.Hints[k] != v {
					t.Errorf("hint %s: got %q, want %q", k, found.Hints[k], v)
				}
			}
			if tc.hints != nil && len(tc.hints) == 0 && len(found.Hints) != 0 {
				t.Errorf("unexpected hints %v", found.Hints)
			}
		})
	}
}

// TestServiceAccountHints checks that the key file's identity comes along
// with its private key: the liveness check signs as client_email.
func TestServiceAccountHints(t *testing.T) {
	e, err := scan.New(scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k, ok := provider.LookupKind("gcp", "service-account")
	if !ok {
		t.Fatal("gcp/service-account not registered")
	}
	ex := k.Rule.Examples(provider.NewGen(5))[0]
	var hints map[string]string
	e.Scan([]byte(ex.Text), func(m scan.Match) {
		if m.Kind == k {
			hints = m.Hints
		}
	})
	if !strings.HasSuffix(hints["client_email"], ".iam.gserviceaccount.com") || hints["project_id"] == "" {
		t.Fatalf("hints %v: want client_email and project_id", hints)
	}
}
