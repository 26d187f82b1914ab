package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "falai", Name: "fal.ai", Category: ModelAPI,
		RevokeURL: "https://fal.ai/dashboard/keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "fal.ai key (key id:secret)",
			Capabilities: caps(aicred.CapInference, aicred.CapKeyAdmin, aicred.CapBilling),
			// A pricing lookup: it needs a valid key and runs no model.
			Liveness: &Liveness{
				BaseURL: "https://api.fal.ai", Path: "/v1/models/pricing?endpoint_id=fal-ai/flux/dev", Auth: Auth{Scheme: "Key"},
				Live: []int{200}, Dead: []int{401},
			},
			Rule: Rule{
				Description:   "fal.ai key: UUID key id + : + 32 hex secret, after a fal name",
				Keywords:      []string{"fal_key", "fal-key", "falai", "fal.ai", "fal-ai", "fal_api", "fal-api", "fal_client"},
				ContextWindow: 48,
				Pattern:       `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9a-f]{32}`,
				MinEntropy:    3,
				Examples: func(g *Gen) []Example {
					k := g.UUID() + ":" + g.Hex(32)
					return append(assign("FAL_KEY", k),
						Ex(notebook(`os.environ["FAL_KEY"] = "`+k+`"`), k),
						Ex(curl("https://fal.run/fal-ai/flux/dev", "Authorization", "Key "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"KEY=" + g.UUID() + ":" + g.Hex(32),
						"FAL_KEY=" + g.UUID() + ":" + g.Hex(31),
						"FAL_KEY=" + g.UUID() + ":" + g.Hex(33),
						"FAL_KEY=" + g.UUID(),
					}
				},
			},
		}},
	})
}
