package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "helicone", Name: "Helicone", Category: Observability,
		RevokeURL: "https://us.helicone.ai/settings/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Helicone API key",
				Capabilities: caps(aicred.CapTracing, aicred.CapInference),
				Rule: simpleRule(simple{Desc: "Helicone API key: sk-helicone- (or pk-helicone-) + four groups of 7 lower-case alphanumerics", Env: "HELICONE_API_KEY", Prefix: "-helicone-", Pattern: `(?:sk|pk)-helicone-(?:eu-)?[a-z0-9]{7}-[a-z0-9]{7}-[a-z0-9]{7}-[a-z0-9]{7}`, Gen: func(g *Gen) string {
					return "sk-helicone-" + g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(7)
				}, Neg: func(g *Gen) []string {
					return []string{"sk-helicone-" + g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(6), "sk-helicone-" + g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(7)}
				}, Extra: func(g *Gen, k string) []Example {
					return []Example{Ex(`default_headers={"Helicone-Auth": "Bearer `+k+`"}`, k)}
				}}),
			},
		},
	})
}
