package gateway

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Request body fields are allow-listed per route: a field reaches the
// provider only when the provider documents it for that call. A field
// that selects another model, a dearer tier or a tool billed per use is
// "gated": refused unless the token's role allows it by name
// (roles[].allow.fields). Anything else unknown is refused too, so a
// field the gateway has never heard of cannot change what the provider
// runs or bills.
//
// Names are compared as the provider's parser would read them: the JSON
// key unescaped ("mod\u0065ls" is "models"). A key that is not one of
// the documented spellings but folds to one (case, "_" and "-" removed:
// "Max_Tokens", "maxtokens") is refused as a look-alike: a lenient parser
// upstream could take it for the real field the gateway did not read.

// An api names a request shape; routes carry one.
type api uint8

const (
	apiNone api = iota
	apiChat
	apiResponses
	apiEmbeddings
	apiImagesGen
	apiImagesEdit // multipart: edits and variations
	apiSpeech
	apiTranscribe // multipart
	apiTranslate  // multipart
	apiFileUpload // multipart
	apiFineTune
	apiBatchCreate
	apiMessages
	apiCountTokens
	apiGeminiGenerate
	apiGeminiCount
	apiGeminiEmbed
	apiConverse
	apiInvoke
)

// fieldSet is the body fields one route's provider documents.
type fieldSet struct {
	allowed map[string]bool   // exact spellings forwarded
	gated   map[string]string // exact spelling -> why it needs the role's consent
	folded  map[string]string // folded spelling -> an exact one, for look-alikes
}

func fold(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_' || c == '-':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func newFieldSet(allowed []string, gated map[string]string) *fieldSet {
	s := &fieldSet{allowed: map[string]bool{}, gated: map[string]string{}, folded: map[string]string{}}
	for _, n := range allowed {
		s.allowed[n] = true
		s.folded[fold(n)] = n
	}
	for n, why := range gated {
		delete(s.allowed, n)
		s.gated[n] = why
		s.folded[fold(n)] = n
	}
	return s
}

// Why a gated field needs consent.
const (
	whyModels  = "selects other models to run on the held key"
	whyRouting = "changes which provider or price serves the call"
	whyTool    = "adds a tool or service billed per use, which no usage count covers"
	whyTier    = "selects a tier billed above the metered rates"
	whyOutput  = "asks for output billed at rates the usage count does not tell apart"
	whyUnseen  = "runs on input stored upstream"
)

var (
	chatFields = []string{
		"model", "messages", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
		"max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
		"presence_penalty", "prompt_cache_key", "prompt_cache_retention", "reasoning_effort", "response_format",
		"safety_identifier", "seed", "service_tier", "stop", "store", "stream", "stream_options", "temperature",
		"tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
	}
	chatGated = map[string]string{"audio": whyOutput}

	responsesFields = []string{
		"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
		"max_tool_calls", "temperature", "top_p", "top_logprobs", "stream", "stream_options", "store", "metadata",
		"previous_response_id", "reasoning", "text", "truncation", "user", "background", "include", "service_tier",
		"prompt", "prompt_cache_key", "prompt_cache_retention", "safety_identifier", "conversation",
	}
	embeddingFields = []string{"model", "input", "dimensions", "encoding_format", "user"}
	imagesGenFields = []string{
		"model", "prompt", "n", "size", "quality", "style", "response_format", "user", "background", "moderation",
		"output_compression", "output_format", "partial_images", "stream",
	}
	imagesEditFields = []string{
		"image", "image[]", "mask", "prompt", "model", "n", "size", "quality", "response_format", "user",
		"background", "input_fidelity", "output_format", "output_compression", "partial_images", "stream",
	}
	speechFields     = []string{"model", "input", "voice", "instructions", "response_format", "speed", "stream_format"}
	transcribeFields = []string{
		"file", "model", "language", "prompt", "response_format", "temperature", "timestamp_granularities[]",
		"include[]", "stream", "chunking_strategy", "known_speaker_names[]", "known_speaker_references[]",
	}
	translateFields  = []string{"file", "model", "prompt", "response_format", "temperature"}
	fileUploadFields = []string{"file", "purpose", "expires_after[anchor]", "expires_after[seconds]"}
	fineTuneFields   = []string{
		"model", "training_file", "validation_file", "hyperparameters", "suffix", "integrations", "seed", "method", "metadata",
	}
	batchFields = []string{"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"}

	messagesFields = []string{
		"model", "messages", "system", "max_tokens", "metadata", "stop_sequences", "stream", "temperature", "top_k",
		"top_p", "tools", "tool_choice", "thinking", "service_tier", "mcp_servers", "context_management",
	}
	// speed "fast" bills Opus at several times the metered rates.
	messagesGated    = map[string]string{"container": whyTool, "speed": whyTier}
	countTokenFields = []string{
		"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers", "context_management",
	}

	// Gemini's JSON parser takes a proto field by its camelCase or its
	// snake_case name: both are documented spellings.
	geminiGenerateFields = []string{
		"model", "contents", "tools", "toolConfig", "tool_config", "safetySettings", "safety_settings",
		"systemInstruction", "system_instruction", "generationConfig", "generation_config",
		"cachedContent", "cached_content",
	}
	geminiCountFields = []string{"model", "contents", "generateContentRequest", "generate_content_request"}
	geminiEmbedFields = []string{
		"model", "content", "taskType", "task_type", "title", "outputDimensionality", "output_dimensionality",
	}

	converseFields = []string{
		"messages", "system", "inferenceConfig", "toolConfig", "additionalModelRequestFields",
		"additionalModelResponseFieldPaths", "requestMetadata", "serviceTier",
	}
	converseGated = map[string]string{
		"performanceConfig": whyTier, "guardrailConfig": whyTool, "promptVariables": whyUnseen,
	}
	// InvokeModel takes the model's native body: the union of the
	// documented bodies of the model families Bedrock serves (Anthropic
	// Claude, Meta Llama, Amazon Titan and Nova, Mistral, Cohere, AI21).
	invokeFields = []string{
		"anthropic_version", "anthropic_beta", "messages", "system", "max_tokens", "stop_sequences", "temperature",
		"top_p", "top_k", "tools", "tool_choice", "thinking", "metadata",
		"prompt", "max_gen_len", "images",
		"inputText", "textGenerationConfig", "dimensions", "normalize", "embeddingTypes",
		"schemaVersion", "inferenceConfig", "toolConfig",
		"stop", "n", "frequency_penalty", "presence_penalty", "response_format", "seed",
		"message", "chat_history", "documents", "preamble", "k", "p", "return_prompt", "raw_prompting",
		"search_queries_only", "texts", "input_type", "truncate", "embedding_types", "safety_mode",
	}

	// compatExtras are fields the OpenAI-compatible providers document on
	// top of OpenAI's (sampling, reasoning and formatting options), none
	// of which changes the model run or adds a billed service.
	compatExtras = []string{
		"top_k", "min_p", "top_a", "repetition_penalty", "reasoning", "reasoning_format", "include_reasoning",
		"thinking", "safe_prompt", "random_seed", "prompt_mode", "echo", "context_length_exceeded_behavior",
		"prompt_truncate_len", "mirostat_target", "mirostat_lr", "perf_metrics_in_response", "transforms", "usage",
		"search_domain_filter", "search_recency_filter", "search_after_date_filter", "search_before_date_filter",
		"return_images", "return_related_questions", "search_mode", "disable_search", "documents",
		"citation_options", "chat_template_kwargs", "input_type", "truncate", "encoding_format",
	}
	// compatGated select other models or providers, or add billed
	// services: OpenRouter's fallbacks, routing, presets and plugins,
	// Together's safety model, Groq's compound settings, xAI's Live
	// Search, Azure's On Your Data.
	compatGated = map[string]string{
		"models": whyModels, "route": whyModels, "preset": whyModels, "safety_model": whyModels,
		"compound_custom": whyModels, "provider": whyRouting, "plugins": whyTool, "search_settings": whyTool,
		"search_parameters": whyTool, "data_sources": whyTool,
	}
)

// fieldsFor returns the field set of a route shape on a surface; nil for
// routes that forward no body.
func fieldsFor(s *surface, a api) *fieldSet {
	var allowed []string
	gated := map[string]string{}
	compat := s != openAI && s != anthropicAPI && s.provider != "google" && s.provider != "aws"
	switch a {
	case apiNone:
		return nil
	case apiChat:
		allowed = chatFields
		for k, v := range chatGated {
			gated[k] = v
		}
	case apiResponses:
		allowed = responsesFields
	case apiEmbeddings:
		allowed = embeddingFields
	case apiImagesGen:
		allowed = imagesGenFields
	case apiImagesEdit:
		allowed = imagesEditFields
	case apiSpeech:
		allowed = speechFields
	case apiTranscribe:
		allowed = transcribeFields
	case apiTranslate:
		allowed = translateFields
	case apiFileUpload:
		allowed = fileUploadFields
	case apiFineTune:
		allowed = fineTuneFields
	case apiBatchCreate:
		allowed = batchFields
	case apiMessages:
		allowed, gated = messagesFields, messagesGated
	case apiCountTokens:
		allowed = countTokenFields
	case apiGeminiGenerate:
		allowed = geminiGenerateFields
	case apiGeminiCount:
		allowed = geminiCountFields
	case apiGeminiEmbed:
		allowed = geminiEmbedFields
	case apiConverse:
		allowed, gated = converseFields, converseGated
	case apiInvoke:
		allowed = invokeFields
	}
	if compat && (a == apiChat || a == apiResponses || a == apiEmbeddings) {
		allowed = append(append([]string(nil), allowed...), compatExtras...)
		for k, v := range compatGated {
			gated[k] = v
		}
	}
	return newFieldSet(allowed, gated)
}

// checkFields refuses a body field the route does not forward: unknown,
// a look-alike of a known one, or gated and not allowed by the role.
// Errors name the field (quoted, bounded), never a value.
func checkFields(x *exchange) error {
	set := x.route.fields
	if set == nil {
		return nil
	}
	deny := func(code, msg string) error {
		return refuse(http.StatusForbidden, "permission_error", code, "aicred gateway: "+msg)
	}
	for _, k := range x.facts.Keys {
		if set.allowed[k] {
			continue
		}
		if why, ok := set.gated[k]; ok {
			if x.role != nil && x.role.Allow.Field(k) {
				continue
			}
			return deny("field_not_allowed", "the field "+quoteModel(k)+" "+why+"; its role must allow it (allow.fields)")
		}
		if real, ok := set.folded[fold(k)]; ok {
			return refuse(http.StatusBadRequest, "invalid_request_error", "ambiguous_field",
				"aicred gateway: the field "+quoteModel(k)+" is a look-alike of "+strconv.Quote(real)+"; send the documented spelling")
		}
		if x.role != nil && x.role.Allow.Field(k) {
			continue
		}
		return deny("field_not_allowed", "the field "+quoteModel(k)+" is not one the gateway forwards for this call; its role may allow it (allow.fields)")
	}
	for _, g := range x.facts.Gated {
		if x.role != nil && x.role.Allow.Field(g.field) {
			continue
		}
		return deny("field_not_allowed", g.field+" "+g.why+"; its role must allow it (allow.fields)")
	}
	return nil
}

// Query parameters are allow-listed per provider as well: list paging,
// Azure's api-version, Gemini's stream format, Anthropic's beta flag.
// Everything else is dropped before the provider sees it: a key or token
// ("key"), and response shaping such as Google's "fields" / "$fields"
// masks, which can drop the usage the gateway meters from.
var queryAllowed = map[string]map[string]bool{
	"openai":       {"after": true, "before": true, "limit": true, "order": true, "purpose": true},
	"azure-openai": {"api-version": true, "after": true, "limit": true, "order": true, "purpose": true},
	"anthropic":    {"beta": true, "limit": true, "before_id": true, "after_id": true},
	"google":       {"alt": true, "pageSize": true, "pageToken": true},
	"aws":          {},
}

// forwardQuery encodes the parameters of q the surface's provider takes
// ("" when none). The OpenAI-compatible providers take OpenAI's.
func forwardQuery(s *surface, q url.Values) string {
	allowed, ok := queryAllowed[s.provider]
	if !ok {
		allowed = queryAllowed["openai"]
	}
	for k := range q {
		if !allowed[k] {
			delete(q, k)
		}
	}
	return q.Encode()
}
