package provider

import "github.com/aicred/aicred"

// format: Zilliz Cloud docs "RESTful API Overview" send the API key as a
// Bearer token but show only a placeholder; no scanner rule (gitleaks,
// TruffleHog, Nosey Parker, Kingfisher) exists. Keys seen in public code are
// 104 lower-case hex, inside the 64-128 the rule takes. Context-gated.
func init() {
	register(&Provider{
		ID: "zilliz", Name: "Zilliz Cloud (managed Milvus)", Category: VectorDB,
		RevokeURL: "https://cloud.zilliz.com/",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Zilliz Cloud API key",
				Capabilities: caps(aicred.CapVectorRW, aicred.CapCompute),
				Liveness:     &Liveness{BaseURL: "https://api.cloud.zilliz.com", Path: "/v2/clusters", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Zilliz Cloud API key: 64-128 hex after a Zilliz or Milvus name", Env: "ZILLIZ_API_KEY", Keywords: []string{"zilliz", "milvus_token", "milvus_api_key"}, Pattern: `[0-9a-f]{64,128}`, Gen: func(g *Gen) string { return g.Hex(104) }, Neg: func(g *Gen) []string { return []string{"ZILLIZ_API_KEY=" + g.Hex(63)} }, Entropy: 3.5}),
			},
		},
	})
}
