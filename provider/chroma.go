package provider

import "github.com/aicred/aicred"

// format: no provider page or scanner rule (gitleaks, TruffleHog, Nosey
// Parker, Kingfisher) publishes it. Public setup notes say Chroma Cloud keys
// start ck-; keys seen in public code are ck- + 44 base58 characters, inside
// the 40-48 the rule takes. Context-gated: ck- is too short a marker.
func init() {
	register(&Provider{
		ID: "chroma", Name: "Chroma Cloud", Category: VectorDB,
		RevokeURL: "https://trychroma.com/",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Chroma Cloud API key",
				Capabilities: caps(aicred.CapVectorRW),
				Liveness:     &Liveness{BaseURL: "https://api.trychroma.com", Path: "/api/v2/auth/identity", Auth: HeaderAuth("x-chroma-token"), Live: []int{200}, Dead: []int{401, 403}},
				Rule: simpleRule(simple{Desc: "Chroma Cloud API key: ck- + 40-48 alphanumerics after a Chroma name", Env: "CHROMA_API_KEY", Keywords: []string{"chroma"}, Pattern: `ck-[A-Za-z0-9]{40,48}`, Gen: func(g *Gen) string { return "ck-" + g.Alnum(44) }, Neg: func(g *Gen) []string {
					return []string{"CHROMA_API_KEY=ck-" + g.Alnum(39), "CHROMA_API_KEY=ck-" + g.Alnum(49)}
				}, Entropy: 4, Extra: func(g *Gen, k string) []Example {
					return []Example{Ex(`client = chromadb.CloudClient(tenant="t", database="d", api_key="`+k+`")`, k)}
				}}),
			},
		},
	})
}
