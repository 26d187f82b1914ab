package provider

import "github.com/aicred/aicred"

// heliconeGroups generates the body Helicone's key generator produces: four
// groups of seven lower-case base32 characters joined by dashes.
func heliconeGroups(g *Gen) string {
	return g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(7)
}

// format: Helicone's own gateway code (the API key patterns its worker
// accepts, and the proxy-key generator): sk-/pk-helicone- with an optional
// eu-, cp- (customer portal), eu-cp-, rl- (rate limited) or eu-rl- marker and
// four groups of 7 [a-z0-9]; proxy keys are sk-helicone-proxy- + the same four
// groups + - + a UUID. No gitleaks, TruffleHog, Nosey Parker or Kingfisher
// rule exists. Self-identifying (the -helicone- marker).
func init() {
	register(&Provider{
		ID: "helicone", Name: "Helicone", Category: Observability,
		RevokeURL: "https://us.helicone.ai/settings/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Helicone API key",
				Capabilities: caps(aicred.CapTracing, aicred.CapInference),
				Rule: simpleRule(simple{Desc: "Helicone API key: sk-helicone- or pk-helicone- (optionally eu-, cp-, rl-, or a proxy- key ending in a UUID) + four groups of 7 lower-case alphanumerics", Env: "HELICONE_API_KEY", Prefix: "-helicone-",
					Pattern: `(?:sk|pk)-helicone-(?:proxy-[a-z0-9]{7}-[a-z0-9]{7}-[a-z0-9]{7}-[a-z0-9]{7}-` + uuidPattern + `|(?:eu-)?(?:cp-|rl-)?[a-z0-9]{7}-[a-z0-9]{7}-[a-z0-9]{7}-[a-z0-9]{7})`,
					Gen: func(g *Gen) string {
						return "sk-helicone-" + heliconeGroups(g)
					}, Neg: func(g *Gen) []string {
						return []string{
							"sk-helicone-" + g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(6),
							"sk-helicone-" + g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(7),
							"sk-helicone-us-" + heliconeGroups(g),
							"sk-helicone-proxy-" + heliconeGroups(g),
						}
					}, Extra: func(g *Gen, k string) []Example {
						eu := "sk-helicone-eu-" + heliconeGroups(g)
						rl := "pk-helicone-eu-rl-" + heliconeGroups(g)
						cp := "sk-helicone-cp-" + heliconeGroups(g)
						proxy := "sk-helicone-proxy-" + heliconeGroups(g) + "-" + g.UUID()
						return []Example{
							Ex(`default_headers={"Helicone-Auth": "Bearer `+k+`"}`, k),
							Ex("HELICONE_API_KEY="+eu+"\n", eu),
							Ex(`helicone_write_key: "`+rl+`"`, rl),
							Ex(`Authorization: Bearer `+cp, cp),
							Ex(`openai.api_key = "`+proxy+`"`, proxy),
						}
					}}),
			},
		},
	})
}
