package provider

import "github.com/aicred/aicred"

func init() {
	// Only a 401 saying the key is invalid proves it dead; 403 means the
	// key is live but refused here.
	files := &Liveness{
		BaseURL: "https://api.voyageai.com", Path: "/v1/files", Auth: Bearer,
		Live: []int{200}, Dead: []int{}, NoPermission: []int{403}, DeadBody: []string{"Provided API key is invalid"},
	}
	kind := func(id, prefix string) *Kind {
		return &Kind{
			ID: id, Name: "Voyage AI API key (" + prefix + ")",
			Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling),
			Liveness:     files,
			Rule: Rule{
				Description: "Voyage AI API key: " + prefix + " + 43 url-safe characters (46 characters)",
				Keywords:    []string{prefix},
				Pattern:     prefix + `[A-Za-z0-9_-]{43}`,
				MinEntropy:  4,
				Examples: func(g *Gen) []Example {
					k := prefix + g.URL64(43)
					return append(assign("VOYAGE_API_KEY", k),
						Ex(notebook(`vo = voyageai.Client(api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, prefix, Alnum, 43),
						prefix+"some-long-kebab-case-identifier-for-a-thing", // words, not a key
						"internal"+prefix+g.URL64(43))
				},
			},
		}
	}
	register(&Provider{
		ID: "voyage", Name: "Voyage AI", Category: ModelAPI,
		RevokeURL: "https://dashboard.voyageai.com/api-keys",
		Kinds:     []*Kind{kind("api-key", "pa-"), kind("api-key-al", "al-")},
	})
}
