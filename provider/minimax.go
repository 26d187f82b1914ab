package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "minimax", Name: "MiniMax", Category: ModelAPI,
		RevokeURL: "https://www.minimax.io/platform/user-center/basic-information/interface-key",
		Kinds: []*Kind{{
			ID: "api-key", Name: "MiniMax API key",
			Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.minimax.io", Path: "/v1/models", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"data"`},
			},
			Rule: Rule{
				Description: "MiniMax API key: sk-api- + 119 url-safe characters (126 characters)",
				Keywords:    []string{"sk-api-"},
				Pattern:     `sk-api-[A-Za-z0-9_-]{119}`,
				MinEntropy:  3.5,
				Examples: func(g *Gen) []Example {
					k := "sk-api-" + g.URL64(119)
					return append(assign("MINIMAX_API_KEY", k),
						Ex(curl("https://api.minimax.io/v1/models", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "sk-api-", Alnum, 119), "sk-apx-"+g.URL64(119))
				},
			},
		}},
	})
}
