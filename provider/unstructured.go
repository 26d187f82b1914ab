package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "unstructured", Name: "Unstructured", Category: AgentTools,
		RevokeURL: "https://platform.unstructured.io/",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Unstructured API key",
				Capabilities: caps(aicred.CapFilesData, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Unstructured API key: 30 alphanumerics after an Unstructured name", Env: "UNSTRUCTURED_API_KEY", Keywords: []string{"unstructured_api_key", "unstructuredapp.io", "unstructured-api-key"}, Set: Alnum, N: 30, Entropy: 4}),
			},
		},
	})
}
