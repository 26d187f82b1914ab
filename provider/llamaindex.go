package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "llamaindex", Name: "LlamaIndex (LlamaCloud)", Category: AgentTools,
		RevokeURL: "https://cloud.llamaindex.ai/api-key",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "LlamaCloud API key",
				Capabilities: caps(aicred.CapFilesData, aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.cloud.llamaindex.ai", Path: "/api/v1/projects", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "LlamaCloud API key: llx- + 48 alphanumerics", Env: "LLAMA_CLOUD_API_KEY", Prefix: "llx-", Set: Alnum, N: 48, Entropy: 4}),
			},
		},
	})
}
