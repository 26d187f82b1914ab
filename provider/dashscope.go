package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "dashscope", Name: "Alibaba Cloud Model Studio (DashScope)", Category: ModelAPI,
		RevokeURL: "https://bailian.console.aliyun.com/?apiKey=1",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "DashScope API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://dashscope-intl.aliyuncs.com", Path: "/compatible-mode/v1/models", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule: simpleRule(simple{Desc: "DashScope API key: sk- + 32 hex after a DashScope, Qwen or Bailian name", Env: "DASHSCOPE_API_KEY", Keywords: []string{"dashscope", "qwen", "bailian"}, Pattern: `sk-[0-9a-f]{32}`, Gen: func(g *Gen) string { return "sk-" + g.Hex(32) }, Neg: func(g *Gen) []string {
					return []string{"DASHSCOPE_API_KEY=sk-" + g.Hex(31), "DASHSCOPE_API_KEY=sk-" + g.Hex(33)}
				}}),
			},
		},
	})
}
