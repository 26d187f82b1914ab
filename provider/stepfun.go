package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "stepfun", Name: "StepFun", Category: ModelAPI,
		RevokeURL: "https://platform.stepfun.com/interface-key",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "StepFun API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.stepfun.com", Path: "/v1/models", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "StepFun API key: 64 alphanumerics after a StepFun name", Env: "STEPFUN_API_KEY", Keywords: []string{"stepfun"}, Set: Alnum, N: 64, Entropy: 4}),
			},
		},
	})
}
