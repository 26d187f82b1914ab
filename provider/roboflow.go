package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "roboflow", Name: "Roboflow", Category: MLOps,
		RevokeURL: "https://app.roboflow.com/settings/api",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Roboflow API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapModelRegistry),
				Rule:         simpleRule(simple{Desc: "Roboflow API key: 20 alphanumerics after a Roboflow name", Env: "ROBOFLOW_API_KEY", Keywords: []string{"roboflow"}, Set: Alnum, N: 20, Entropy: 3.5}),
			},
		},
	})
}
