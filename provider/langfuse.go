package provider

import (
	"context"
	"net/http"
	"regexp"
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

// langfuseProjects is GET /api/public/projects as documented in the
// Langfuse public API reference
// (https://api.reference.langfuse.com/#tag/projects/GET/api/public/projects):
// the project a key pair belongs to (an organization-scoped pair lists
// every project of the organization).
type langfuseProjects struct {
	Data []struct {
		ID            string `json:"id"`
		Name          string `json:"name"`
		RetentionDays *int   `json:"retentionDays"`
		Organization  *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"organization"`
	} `json:"data"`
}

// langfusePair splits what a trace was given into the public and secret
// keys. The pair may come together ("pk-lf-...:sk-lf-..." or the two on
// separate lines, as an .env file holds them); a lone secret key takes
// its public key from the hint "public_key" (public keys are not secret).
func langfusePair(secret aicred.Secret, hints map[string]string) (pk, sk string) {
	for _, f := range strings.FieldsFunc(secret.Reveal(), func(r rune) bool { return r == ':' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		switch {
		case strings.HasPrefix(f, "pk-lf-"):
			pk = f
		case strings.HasPrefix(f, "sk-lf-"):
			sk = f
		}
	}
	if pk == "" {
		pk = hints["public_key"]
	}
	return pk, sk
}

// traceLangfuse lists the projects the key pair reaches, with Basic auth
// public:secret. Read-only.
func traceLangfuse(ctx context.Context, c *http.Client, base string, secret aicred.Secret, hints map[string]string) (*Reach, error) {
	pk, sk := langfusePair(secret, hints)
	if pk == "" || sk == "" {
		return &Reach{Notes: []string{"projects: Langfuse authenticates with the key pair; give both the public (pk-lf-) and the secret (sk-lf-) key"}}, nil
	}
	if h := hints["host"]; h != "" && base == langfuseCloud && langfuseHostRE.MatchString(h) {
		base = "https://" + h
	}
	var p langfuseProjects
	status, err := mlopsTraceCall(ctx, c, http.MethodGet, strings.TrimRight(base, "/")+"/api/public/projects", nil,
		func(r *http.Request) { r.SetBasicAuth(pk, sk) }, &p)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return &Reach{Principal: "public key " + aicred.Redact(pk), Notes: []string{mlopsRefused("Langfuse", "projects", status)}}, nil
	}
	r := &Reach{Principal: "public key " + aicred.Redact(pk)}
	for _, pr := range p.Data {
		if pr.Organization != nil && r.Account == "" {
			r.Account = strings.TrimSpace(pr.Organization.Name + " " + pr.Organization.ID)
		}
		r.Resources = append(r.Resources, Resource{Type: "project", ID: pr.ID, Name: pr.Name, Access: "write"})
	}
	if len(p.Data) == 1 && r.Account == "" {
		r.Account = "project " + p.Data[0].Name
	}
	r.Notes = append(r.Notes, "a Langfuse key pair reads and writes every trace, observation, score, prompt and dataset of the projects listed")
	return r, nil
}

// langfuseHostRE accepts only Langfuse Cloud region hosts as a hint.
var langfuseHostRE = regexp.MustCompile(`^(?:[a-z0-9-]+\.)?cloud\.langfuse\.com$`)

func init() {
	trace := &Trace{
		BaseURL: langfuseCloud,
		Docs:    "https://api.reference.langfuse.com/#tag/projects/GET/api/public/projects (Basic auth public:secret key; data[].id, name)",
		Run:     traceLangfuse,
	}
	register(&Provider{
		ID: "langfuse", Name: "Langfuse", Category: Observability,
		RevokeURL: "https://cloud.langfuse.com",
		Kinds: []*Kind{
			{
				ID: "secret-key", Name: "Langfuse secret key",
				Capabilities: caps(aicred.CapTracing, aicred.CapFilesData),
				Liveness:     &Liveness{BaseURL: langfuseCloud, Path: "/api/public/projects", Probe: langfuseProbe(true)},
				Trace:        trace,
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
				Trace:        trace,
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
