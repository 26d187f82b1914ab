package provider

import "github.com/aicred/aicred"

// format: Qdrant Cloud docs "Database Authentication" (database API keys
// with granular access are JWTs starting eyJhb; the older admin database
// keys are opaque URL-safe strings) and GitGuardian's detector page "Qdrant
// API Key" (JWT, not prefixed). No gitleaks, TruffleHog, Nosey Parker or
// Kingfisher rule exists. Opaque keys seen in public code are 54 URL-safe
// characters; the UUID|secret form is kept from the earlier catalog without
// a published source. Context-gated: none of the shapes names Qdrant.
func init() {
	register(&Provider{
		ID: "qdrant", Name: "Qdrant Cloud", Category: VectorDB,
		RevokeURL: "https://cloud.qdrant.io/",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Qdrant Cloud database API key",
				Capabilities: caps(aicred.CapVectorRW),
				Liveness:     &Liveness{BaseURL: "https://{host}:6333", Path: "/collections", Auth: HeaderAuth("api-key"), Live: []int{200}, Dead: []int{401, 403}},
				Rule: withHints(map[string]Near{"host": {Pattern: `([a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.cloud\.qdrant\.io)`, Window: 512}}, simple{Desc: "Qdrant Cloud API key: a JWT (granular database key), UUID|43 URL-safe characters, or 32-64 URL-safe characters (admin database key), after a Qdrant name", Env: "QDRANT_API_KEY", Keywords: []string{"qdrant"}, Pattern: jwtPattern + `|` + uuidPattern + `\|[A-Za-z0-9_-]{40,50}|[A-Za-z0-9_-]{32,64}`, Gen: func(g *Gen) string { return g.UUID() + "|" + g.URL64(43) }, Neg: func(g *Gen) []string { return []string{"QDRANT_API_KEY=" + g.URL64(31)} }, Entropy: 4, Extra: func(g *Gen, k string) []Example {
					jwt := genJWT(g)
					return []Example{
						Ex(`client = QdrantClient(url="https://`+g.UUID()+`.us-east4-0.gcp.cloud.qdrant.io:6333", api_key="`+k+`")`, k),
						Ex("QDRANT_API_KEY="+jwt+"\n", jwt),
					}
				}}),
			},
		},
	})
}
