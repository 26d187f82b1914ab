package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "cartesia", Name: "Cartesia", Category: ModelAPI,
		RevokeURL: "https://play.cartesia.ai/keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Cartesia API key",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.cartesia.ai", Path: "/voices?limit=1", Auth: Bearer,
				Header: map[string]string{"Cartesia-Version": "2024-06-10"},
				Live:   []int{200}, Dead: []int{401},
			},
			Rule: Rule{
				Description: "Cartesia API key: sk_car_ + 20 letters, digits or underscores",
				Keywords:    []string{"sk_car_"},
				Pattern:     `sk_car_[A-Za-z0-9_]{20}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "sk_car_" + g.Alnum(20)
					return append(assign("CARTESIA_API_KEY", k),
						Ex(notebook(`client = Cartesia(api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string { return nearMisses(g, "sk_car_", Alnum, 20) },
			},
		}},
	})
}
