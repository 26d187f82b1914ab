package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "mixedbread", Name: "Mixedbread", Category: VectorDB,
		RevokeURL: "https://www.platform.mixedbread.com/",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Mixedbread API key",
				Capabilities: caps(aicred.CapInference, aicred.CapVectorRW, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Mixedbread API key: mxb_ + 32 alphanumerics", Env: "MXBAI_API_KEY", Prefix: "mxb_", Set: Alnum, N: 32, Entropy: 4}),
			},
		},
	})
}
