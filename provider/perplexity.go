package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "perplexity", Name: "Perplexity", Category: ModelAPI,
		RevokeURL: "https://www.perplexity.ai/account/api/keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Perplexity API key",
			Capabilities: caps(aicred.CapInference, aicred.CapSearch, aicred.CapBilling),
			// A chat call naming a model that does not exist: authentication
			// is checked first, and nothing is generated or billed. Any
			// answer past authentication (200, 400, 404, 422) means live.
			Liveness: &Liveness{
				Method: "POST", BaseURL: "https://api.perplexity.ai", Path: "/chat/completions", Auth: Bearer,
				Body: `{"model":"aicred-liveness-check","messages":[{"role":"user","content":"ping"}],"max_tokens":1}`,
				Live: []int{200, 400, 404, 422}, Dead: []int{401, 403}, DeadBody: []string{"invalid_api_key"},
			},
			Rule: Rule{
				Description: "Perplexity API key: pplx- + 48 alphanumerics (53 characters)",
				Keywords:    []string{"pplx-"},
				Pattern:     `pplx-[A-Za-z0-9]{48}`,
				MinEntropy:  4,
				Examples: func(g *Gen) []Example {
					k := "pplx-" + g.Alnum(48)
					return append(assign("PERPLEXITY_API_KEY", k),
						Ex(notebook(`client = OpenAI(api_key="`+k+`", base_url="https://api.perplexity.ai")`), k),
						Ex(curl("https://api.perplexity.ai/chat/completions", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "pplx-", Alnum, 48), "pplx_"+g.Alnum(48), "pplx-"+g.Chars("ab12", 48))
				},
			},
		}},
	})
}
