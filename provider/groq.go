package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "groq", Name: "Groq", Category: ModelAPI,
		RevokeURL: "https://console.groq.com/keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Groq API key",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.groq.com", Path: "/openai/v1/models", Auth: Bearer,
				Live: []int{200}, Dead: []int{401},
			},
			Rule: Rule{
				Description: "Groq API key: gsk_ + 52 alphanumerics (56 characters)",
				Keywords:    []string{"gsk_"},
				Pattern:     `gsk_[A-Za-z0-9]{52}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "gsk_" + g.Alnum(52)
					return append(assign("GROQ_API_KEY", k),
						Ex(notebook(`client = Groq(api_key="`+k+`")`), k),
						Ex(curl("https://api.groq.com/openai/v1/models", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "gsk_", Alnum, 52), "gsk-"+g.Alnum(52), "msk_"+g.Alnum(52))
				},
			},
		}},
	})
}
