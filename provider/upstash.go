package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "upstash", Name: "Upstash Vector", Category: VectorDB,
		RevokeURL: "https://console.upstash.com/vector",
		Kinds: []*Kind{
			{
				ID: "vector-token", Name: "Upstash Vector REST token",
				Capabilities: caps(aicred.CapVectorRW),
				Rule:         simpleRule(simple{Desc: "Upstash Vector REST token: 60-100 base64 characters after an Upstash Vector name", Env: "UPSTASH_VECTOR_REST_TOKEN", Keywords: []string{"upstash_vector", "upstash.io"}, Pattern: `[A-Za-z0-9+/_-]{60,100}={0,2}`, Gen: func(g *Gen) string { return "AB" + g.URL64(70) + "=" }, Neg: func(g *Gen) []string { return []string{"UPSTASH_VECTOR_REST_TOKEN=" + g.Alnum(40)} }, Entropy: 4}),
			},
		},
	})
}
