package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "vastai", Name: "Vast.ai", Category: Compute,
		RevokeURL: "https://cloud.vast.ai/manage-keys/",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Vast.ai API key",
			Capabilities: caps(aicred.CapCompute, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://console.vast.ai", Path: "/api/v0/users/current/", Auth: Bearer,
				Live: []int{200}, LiveBody: []string{`"id"`, `"email"`, `"balance"`},
			},
			Rule: Rule{
				// "vast" alone is an English word; only product and key names count.
				Description:   "Vast.ai API key: 64 hex after a Vast.ai key name",
				Keywords:      []string{"vastai", "vast_ai", "vast.ai", "vast-ai", "vast_api", "vast_key"},
				ContextWindow: 48,
				Pattern:       `[0-9a-f]{64}`,
				MinEntropy:    3,
				Examples: func(g *Gen) []Example {
					k := g.Hex(64)
					return append(assign("VAST_API_KEY", k),
						Ex("vastai set api-key "+k, k),
						Ex(curl("https://console.vast.ai/api/v0/instances/", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"sha256 " + g.Hex(64),
						"the vast majority of hashes look like " + g.Hex(64),
						"VAST_API_KEY=" + g.Hex(63),
						"VAST_API_KEY=" + g.Hex(65),
					}
				},
			},
		}},
	})
}
