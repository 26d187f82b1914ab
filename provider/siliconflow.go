package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "siliconflow", Name: "SiliconFlow", Category: ModelAPI,
		RevokeURL: "https://cloud.siliconflow.cn/account/ak",
		Kinds: []*Kind{{
			ID: "api-key", Name: "SiliconFlow API key",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.siliconflow.com", Path: "/v1/models", Auth: Bearer,
				Live: []int{200}, Dead: []int{401},
			},
			Rule: Rule{
				Description:   "SiliconFlow API key: sk- + 48 alphanumerics after a SiliconFlow name",
				Keywords:      []string{"siliconflow", "silicon_flow"},
				ContextWindow: 48,
				Pattern:       `sk-[A-Za-z0-9]{48}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := "sk-" + g.LowerNum(48)
					return append(assign("SILICONFLOW_API_KEY", k),
						Ex(notebook(`client = OpenAI(base_url="https://api.siliconflow.com/v1", api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=sk-" + g.LowerNum(48),
						"SILICONFLOW_API_KEY=sk-" + g.LowerNum(47),
						"SILICONFLOW_API_KEY=sk-" + g.LowerNum(49),
						"SILICONFLOW_API_KEY=sk-" + g.URL64(20) + "_" + g.Alnum(27),
					}
				},
			},
		}},
	})
}
