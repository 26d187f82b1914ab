package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "cerebras", Name: "Cerebras", Category: ModelAPI,
		RevokeURL: "https://cloud.cerebras.ai/platform",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Cerebras API key",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.cerebras.ai", Path: "/v1/models", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"object"`, `"data"`},
			},
			Rule: Rule{
				Description: "Cerebras API key: csk- + 48 lower-case letters or digits (52 characters)",
				Keywords:    []string{"csk-"},
				Pattern:     `csk-[a-z0-9]{48}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "csk-" + g.LowerNum(48)
					return append(assign("CEREBRAS_API_KEY", k),
						Ex(notebook(`client = Cerebras(api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "csk-", LowerNum, 48), "csk-"+g.Chars(Upper, 48))
				},
			},
		}},
	})
}
