package gateway

import "net/http"

// azureOpenAI is Azure OpenAI: OpenAI's API shape with the key in the
// api-key header, at a per-resource host (Upstreams["azure-openai"], no
// default). On the deployment routes the deployment name in the path is
// the model for authorization and pricing: Azure runs the deployment
// whatever "model" the body names, so the body's model is not used there
// (authorizing it would let a token name an allowed model and run any
// deployment). On the v1 routes the body's "model" is the deployment.
// Prices are looked up as azure-openai/<deployment>.
var azureOpenAI = &surface{
	provider: "azure-openai",
	inject: func(out *http.Request, key *keyEntry, _ []byte) {
		out.Header.Set("Api-Key", key.key.Reveal())
	},
	writeError: openAIError,
	requestID:  "Apim-Request-Id",
	// stream_options is accepted since api-version 2024-09-01-preview.
	askUsage: true,
	headers:  azureHeaders,
}
