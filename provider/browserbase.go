package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "browserbase", Name: "Browserbase", Category: Compute,
		RevokeURL: "https://www.browserbase.com/settings",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Browserbase API key",
			Capabilities: caps(aicred.CapCompute, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.browserbase.com", Path: "/v1/sessions", Auth: HeaderAuth("X-BB-API-Key"),
				Live: []int{200}, Dead: []int{401},
			},
			Rule: Rule{
				Description: "Browserbase API key: bb_live_ or bb_test_ + 27 url-safe characters",
				Keywords:    []string{"bb_live_", "bb_test_"},
				Pattern:     `bb_(?:live|test)_[A-Za-z0-9_-]{27}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "bb_live_" + g.URL64(27)
					k2 := "bb_test_" + g.Alnum(27)
					return append(assign("BROWSERBASE_API_KEY", k),
						Ex(notebook(`bb = Browserbase(api_key="`+k2+`")`), k2))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "bb_live_", Alnum, 27), "bb_prod_"+g.Alnum(27))
				},
			},
		}},
	})
}
