package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "zai", Name: "Z.ai (Zhipu GLM)", Category: ModelAPI,
		RevokeURL: "https://z.ai/manage-apikey/apikey-list",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Z.ai / Zhipu GLM API key",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			// The tokenizer counts tokens and generates nothing. The reference
			// names no request body; a body the API does not accept answers
			// 400, which stays indeterminate.
			Liveness: &Liveness{
				Method: "POST", BaseURL: "https://api.z.ai", Path: "/api/paas/v4/tokenizer", Auth: Bearer,
				Body: `{"model":"glm-4.6","messages":[{"role":"user","content":"ping"}]}`,
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"usage"`},
			},
			Rule: Rule{
				Description:   "Z.ai / Zhipu API key: 32 hex + . + 16 lower-case letters or digits, after a Z.ai, Zhipu or GLM name",
				Keywords:      []string{"zai", "z.ai", "z_ai", "zhipu", "bigmodel", "glm", "zlm"},
				ContextWindow: 48,
				Pattern:       `[0-9a-f]{32}\.[a-z0-9]{16}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := g.Hex(32) + "." + g.LowerNum(16)
					return append(assign("ZAI_API_KEY", k),
						Ex("export ZHIPUAI_API_KEY="+k, k),
						Ex(notebook(`client = ZhipuAI(api_key="`+k+`")`), k),
						Ex("glm:\n  api_key: "+k+"\n", k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.Hex(32) + "." + g.LowerNum(16),
						"ZAI_API_KEY=" + g.Hex(32) + "." + g.LowerNum(15),
						"ZAI_API_KEY=" + g.Hex(32) + "." + g.LowerNum(17),
						"ZAI_API_KEY=" + g.Hex(31) + "." + g.LowerNum(16),
						"ZAI_API_KEY=" + g.Hex(32) + "-" + g.LowerNum(16),
					}
				},
			},
		}},
	})
}
