package provider

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/aicred/aicred"
)

// nvidiaCallerInfo asks NGC who owns a key. The key travels as a form field,
// with no Authorization header; nothing runs and nothing is billed.
func nvidiaCallerInfo(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error) {
	status, _, err := postForm(ctx, c, strings.TrimRight(base, "/")+"/v3/keys/get-caller-info",
		url.Values{"credentials": {f.Secret.Reveal()}})
	switch {
	case err != nil:
		return unreachable(err)
	case status == http.StatusOK:
		return aicred.Live, "NGC knows the key's owner", nil
	case status == http.StatusUnauthorized:
		return aicred.Dead, "NGC rejected the key", nil
	}
	return aicred.Unknown, answered(status), nil
}

func init() {
	callerInfo := &Liveness{Method: "POST", BaseURL: "https://api.ngc.nvidia.com", Path: "/v3/keys/get-caller-info", Probe: nvidiaCallerInfo}
	register(&Provider{
		ID: "nvidia", Name: "NVIDIA (NIM, NGC)", Category: ModelAPI,
		RevokeURL: "https://build.nvidia.com/settings/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "NVIDIA API key (nvapi-)",
				Capabilities: caps(aicred.CapInference, aicred.CapModelRegistry, aicred.CapCompute),
				Liveness:     callerInfo,
				Rule: Rule{
					Description: "NVIDIA API key: nvapi- + 64 url-safe characters (70 characters)",
					Keywords:    []string{"nvapi-"},
					Pattern:     `nvapi-[A-Za-z0-9_-]{64}`,
					MinEntropy:  3.5,
					Examples: func(g *Gen) []Example {
						k := "nvapi-" + g.URL64(64)
						return append(assign("NVIDIA_API_KEY", k),
							Ex(notebook(`client = OpenAI(base_url="https://integrate.api.nvidia.com/v1", api_key="`+k+`")`), k),
							Ex("export NGC_API_KEY="+k, k))
					},
					Negatives: func(g *Gen) []string {
						return append(nearMisses(g, "nvapi-", Alnum, 64), "nvapi_"+g.Alnum(64))
					},
				},
			},
			{
				ID: "ngc-key", Name: "NVIDIA NGC API key (legacy)",
				RevokeURL:    "https://org.ngc.nvidia.com/setup/api-keys",
				Capabilities: caps(aicred.CapModelRegistry),
				// Docker-style login to the NGC registry; nothing is pulled.
				Liveness: &Liveness{
					BaseURL: "https://authn.nvidia.com", Path: "/token?service=ngc", Auth: Auth{BasicUser: "$oauthtoken"},
					Live: []int{200},
				},
				Rule: Rule{
					Description:   "NVIDIA NGC legacy key: 84 alphanumerics, or 26 + : + a UUID-shaped alphanumeric id, after an NGC name",
					Keywords:      []string{"ngc"},
					ContextWindow: 48,
					Pattern: `[A-Za-z0-9]{84}|[A-Za-z0-9]{26}:[A-Za-z0-9]{8}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-` +
						`[A-Za-z0-9]{4}-[A-Za-z0-9]{12}`,
					MinEntropy: 4,
					Examples: func(g *Gen) []Example {
						k := g.Alnum(84)
						k2 := g.Alnum(26) + ":" + g.UUID()
						return append(assign("NGC_API_KEY", k),
							Ex("ngc config set --api-key "+k2, k2),
							Ex("# NGC registry login\necho "+k+" | docker login nvcr.io --username '$oauthtoken' --password-stdin", k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"API_KEY=" + g.Alnum(84),
							"NGC_API_KEY=" + g.Alnum(83),
							"NGC_API_KEY=" + g.Alnum(85),
							"NGC_API_KEY=" + g.Alnum(25) + ":" + g.UUID(),
						}
					},
				},
			},
		},
	})
}
