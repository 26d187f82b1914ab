package provider

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/aicred/aicred"
)

// ibmIAMProbe exchanges the API key for an IAM access token, the first step
// of every watsonx.ai call; the exchange runs nothing and bills nothing. An
// unknown or deleted key is refused with 400 (BXNIM0415E).
func ibmIAMProbe(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error) {
	form := url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:apikey"}, "apikey": {f.Secret.Reveal()}}
	status, body, err := postForm(ctx, c, strings.TrimRight(base, "/")+"/identity/token", form)
	if err != nil {
		return unreachable(err)
	}
	switch {
	case status == http.StatusOK:
		return aicred.Live, "IBM Cloud IAM issued a token for the key", nil
	case (status == http.StatusBadRequest || status == http.StatusUnauthorized) && strings.Contains(string(body), "BXNIM0415E"):
		return aicred.Dead, "IBM Cloud IAM does not know the key (BXNIM0415E)", nil
	case status == http.StatusBadRequest || status == http.StatusUnauthorized:
		return aicred.Dead, answered(status), nil
	}
	return aicred.Unknown, answered(status), nil
}

// format: TruffleHog detector ibmclouduserkey (44 URL-safe characters after
// "ibm") and Kingfisher rule "IBM Cloud User Key" (42-44 characters near
// "ibm"). The rule keeps 44 and a narrower list of IBM and watsonx names
// than the bare "ibm" both scanners use. Context-gated.
func init() {
	register(&Provider{
		ID: "ibm", Name: "IBM Cloud (watsonx.ai)", Category: CloudML,
		RevokeURL: "https://cloud.ibm.com/iam/apikeys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "IBM Cloud API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData, aicred.CapCompute, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://iam.cloud.ibm.com", Probe: ibmIAMProbe},
				Rule: simpleRule(simple{Desc: "IBM Cloud API key: 44 URL-safe characters after an IBM or watsonx name", Env: "WATSONX_APIKEY", Keywords: []string{"ibm_cloud", "ibmcloud", "ibm-cloud", "cloud.ibm.com", "ibm_api_key", "ibm_apikey", "watsonx", "iam_apikey", "wml_apikey"}, Set: URL64, N: 44, Entropy: 4, Extra: func(g *Gen, k string) []Example {
					return []Example{Ex(`from ibm_watsonx_ai import Credentials\ncreds = Credentials(url="https://us-south.ml.cloud.ibm.com", api_key="`+k+`")`, k)}
				}}),
			},
		},
	})
}
