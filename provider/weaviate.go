package provider

import "github.com/aicred/aicred"

// format: Weaviate Cloud docs "Manage authentication" (Admin and ReadOnly
// keys, no format given); no scanner rule (gitleaks, TruffleHog, Nosey Parker,
// Kingfisher) exists, so the 48 alphanumerics are unverified. Context-gated;
// WCD_API_KEY, the name Weaviate's own examples use, counts as context.
func init() {
	register(&Provider{
		ID: "weaviate", Name: "Weaviate Cloud", Category: VectorDB,
		RevokeURL: "https://console.weaviate.cloud/",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Weaviate Cloud API key",
				Capabilities: caps(aicred.CapVectorRW),
				Liveness:     &Liveness{BaseURL: "https://{host}", Path: "/v1/schema", Auth: Bearer, Live: []int{200}, Dead: []int{401}, NoPermission: []int{403}},
				Rule: withHints(map[string]Near{"host": {Pattern: `([a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.weaviate\.(?:cloud|network))`, Window: 512}}, simple{Desc: "Weaviate Cloud API key: 48 alphanumerics after a Weaviate name", Env: "WEAVIATE_API_KEY", Keywords: []string{"weaviate", "wcd_api_key", "wcd-api-key"}, Set: Alnum, N: 48, Entropy: 4, Extra: func(g *Gen, k string) []Example {
					return []Example{Ex(`client = weaviate.connect_to_weaviate_cloud(cluster_url="https://`+g.LowerNum(10)+`.c0.europe-west3.gcp.weaviate.cloud", auth_credentials=Auth.api_key("`+k+`"))`, k)}
				}}),
			},
		},
	})
}
