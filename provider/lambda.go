package provider

import "github.com/aicred/aicred"

// format: no provider page or scanner rule (gitleaks, TruffleHog, Nosey
// Parker, Kingfisher, GitGuardian) publishes it. Lambda's key page and
// public setup notes show keys as secret_ + a key name and id + . + a token
// (a placeholder "secret_<id>.<token>"); the lengths are unverified, so the
// kind stays context-gated.
func init() {
	register(&Provider{
		ID: "lambda", Name: "Lambda Cloud", Category: Compute,
		RevokeURL: "https://cloud.lambda.ai/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Lambda Cloud API key",
				Capabilities: caps(aicred.CapCompute, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://cloud.lambdalabs.com", Path: "/api/v1/instance-types", Auth: Auth{BasicUser: "-"}, Live: []int{200}, Dead: []int{401, 403}},
				Rule: simpleRule(simple{Desc: "Lambda Cloud API key: secret_ + name + random part after a Lambda Cloud name", Env: "LAMBDA_API_KEY", Keywords: []string{"lambda_api_key", "lambdalabs", "lambda_cloud", "lambda-cloud", "lambda.ai"}, Pattern: `secret_[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9]{32,64}`, Gen: func(g *Gen) string { return "secret_" + g.Lower(6) + "_" + g.Hex(32) + "." + g.Alnum(32) }, Neg: func(g *Gen) []string {
					return []string{"LAMBDA_API_KEY=secret_" + g.Lower(6) + "_" + g.Hex(32) + "." + g.Alnum(31)}
				}, Entropy: 4, Extra: func(g *Gen, k string) []Example {
					return []Example{Ex(`curl -u `+k+`: https://cloud.lambdalabs.com/api/v1/instances`, k)}
				}}),
			},
		},
	})
}
