package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "fireworks", Name: "Fireworks AI", Category: ModelAPI,
		RevokeURL: "https://fireworks.ai/settings/users/api-keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Fireworks AI API key",
			Capabilities: caps(aicred.CapInference, aicred.CapFineTuning),
			// The reference knows no liveness check, and the format itself
			// comes from one unattributed copy of a Kingfisher rule.
			Rule: Rule{
				Description: "Fireworks AI API key: fw_ + 24 alphanumerics (shape unverified)",
				Keywords:    []string{"fw_"},
				Pattern:     `fw_[A-Za-z0-9]{24}`,
				MinEntropy:  3.5,
				Examples: func(g *Gen) []Example {
					k := "fw_" + g.Alnum(24)
					return append(assign("FIREWORKS_API_KEY", k),
						Ex(notebook(`llm = Fireworks(api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "fw_", Alnum, 24), "fw_"+g.Chars("ab", 24), "self.fw_"+g.Lower(10)+"_layer")
				},
			},
		}},
	})
}
