package provider

import (
	"context"
	"net/http"
	"strings"

	"github.com/aicred/aicred"
)

const (
	langfuseCloud = "https://cloud.langfuse.com"
	langfuseUUID  = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
)

// langfuseHost finds a Langfuse Cloud region host (cloud., us.cloud., ...).
// Self-hosted hosts are not taken from scanned text: a planted host name
// would otherwise receive the key pair.
var langfuseHost = Near{Pattern: `((?:[a-z0-9-]+\.)?cloud\.langfuse\.com)`, Window: 512}

// langfuseProbe lists the key pair's projects with Basic auth public:secret.
// The pair is checked together: the finding holds one half, Related the
// other.
func langfuseProbe(isSecret bool) func(context.Context, *http.Client, string, *aicred.Finding) (aicred.Verification, string, error) {
	return func(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error) {
		pk, sk := f.Related["public_key"], f.Secret
		if !isSecret {
			pk, sk = f.Secret, f.Related["secret_key"]
		}
		if pk.IsZero() || sk.IsZero() {
			return aicred.Unknown, "the other half of the Langfuse key pair was not found nearby", nil
		}
		if h := f.Hints["host"]; h != "" && base == langfuseCloud {
			base = "https://" + h
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/public/projects", nil)
		if err != nil {
			return aicred.Unknown, "bad base URL", err
		}
		req.SetBasicAuth(pk.Reveal(), sk.Reveal())
		status, _, err := probeDo(c, req)
		switch {
		case err != nil:
			return unreachable(err)
		case status == http.StatusOK:
			return aicred.Live, "the key pair lists its project", nil
		case status == http.StatusUnauthorized:
			return aicred.Dead, "Langfuse rejected the key pair", nil
		}
		return aicred.Unknown, answered(status), nil
	}
}

func init() {
	register(&Provider{
		ID: "langfuse", Name: "Langfuse", Category: Observability,
		RevokeURL: "https://cloud.langfuse.com",
		Kinds: []*Kind{
			{
				ID: "secret-key", Name: "Langfuse secret key",
				Capabilities: caps(aicred.CapTracing, aicred.CapFilesData),
				Liveness:     &Liveness{BaseURL: langfuseCloud, Path: "/api/public/projects", Probe: langfuseProbe(true)},
				Rule: Rule{
					Description: "Langfuse secret key: sk-lf- + UUID",
					Keywords:    []string{"sk-lf-"},
					Pattern:     `sk-lf-` + langfuseUUID,
					MinEntropy:  3,
					Related:     map[string]Near{"public_key": {Pattern: `pk-lf-` + langfuseUUID, Window: 256}},
					Hints:       map[string]Near{"host": langfuseHost},
					Examples: func(g *Gen) []Example {
						pk, sk := "pk-lf-"+g.UUID(), "sk-lf-"+g.UUID()
						return append(assign("LANGFUSE_SECRET_KEY", sk),
							Ex("LANGFUSE_PUBLIC_KEY="+pk+"\nLANGFUSE_SECRET_KEY="+sk+"\nLANGFUSE_HOST=https://us.cloud.langfuse.com\n", sk),
							Ex(notebook(`langfuse = Langfuse(public_key="`+pk+`", secret_key="`+sk+`")`), sk))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"sk-lf-" + g.Hex(32),
							"sk-lf-" + g.UUID()[:35],
							"sk-lf-00000000-0000-0000-0000-000000000000",
							"sk-lf-" + strings.ToUpper(g.UUID()),
							"xsk-lf-" + g.UUID(),
						}
					},
				},
			},
			{
				ID: "public-key", Name: "Langfuse public key",
				// Half of a pair; with its secret key it reads and writes traces.
				Capabilities: caps(aicred.CapTracing),
				Liveness:     &Liveness{BaseURL: langfuseCloud, Path: "/api/public/projects", Probe: langfuseProbe(false)},
				Rule: Rule{
					Description: "Langfuse public key: pk-lf- + UUID",
					Keywords:    []string{"pk-lf-"},
					Pattern:     `pk-lf-` + langfuseUUID,
					MinEntropy:  3,
					Related:     map[string]Near{"secret_key": {Pattern: `sk-lf-` + langfuseUUID, Window: 256}},
					Hints:       map[string]Near{"host": langfuseHost},
					Examples: func(g *Gen) []Example {
						pk := "pk-lf-" + g.UUID()
						return append(assign("LANGFUSE_PUBLIC_KEY", pk),
							Ex(`{"publicKey": "`+pk+`", "baseUrl": "https://cloud.langfuse.com"}`, pk))
					},
					Negatives: func(g *Gen) []string {
						return []string{"pk-lf-" + g.Hex(32), "pk-lf-" + g.UUID()[:35], "pk-lf-00000000-0000-0000-0000-000000000000"}
					},
				},
			},
		},
	})
}
