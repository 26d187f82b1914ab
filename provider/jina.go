package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "jina", Name: "Jina AI", Category: ModelAPI,
		RevokeURL: "https://jina.ai/api-dashboard/key-manager",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Jina AI API key",
			Capabilities: caps(aicred.CapInference, aicred.CapSearch, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.jina.ai", Path: "/v1/flows", Auth: Bearer,
				Live: []int{200}, LiveBody: []string{`"data"`, `"_id"`},
			},
			Rule: Rule{
				Description: "Jina AI API key: jina_ + 60 alphanumerics (65 characters)",
				Keywords:    []string{"jina_"},
				Pattern:     `jina_[A-Za-z0-9]{60}`,
				MinEntropy:  3.5,
				Examples: func(g *Gen) []Example {
					k := "jina_" + g.Alnum(60)
					return append(assign("JINA_API_KEY", k),
						Ex(curl("https://api.jina.ai/v1/embeddings", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string { return append(nearMisses(g, "jina_", Alnum, 60), "jina-"+g.Alnum(60)) },
			},
		}},
	})
}
