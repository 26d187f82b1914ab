package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "turbopuffer", Name: "turbopuffer", Category: VectorDB,
		RevokeURL: "https://turbopuffer.com/dashboard",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "turbopuffer API key",
				Capabilities: caps(aicred.CapVectorRW),
				Liveness:     &Liveness{BaseURL: "https://api.turbopuffer.com", Path: "/v1/namespaces", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "turbopuffer API key: tpuf_ + 32 alphanumerics", Env: "TURBOPUFFER_API_KEY", Prefix: "tpuf_", Set: Alnum, N: 32, Entropy: 4}),
			},
		},
	})
}
