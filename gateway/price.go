package gateway

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// A Price is what one model costs, in US dollars per million tokens, or
// per unit for models billed by the image, the minute of audio or the
// character.
type Price struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	// Mode is "chat" (the default: input and output rates), "embedding"
	// (input only), "image" or "audio" (a unit rate, or token rates).
	Mode   string  `json:"mode,omitempty"`
	Input  float64 `json:"input,omitempty"`
	Output float64 `json:"output,omitempty"`
	// CachedInput is the rate for cache reads (OpenAI cached prompt
	// tokens, Anthropic cache_read_input_tokens); 0 means Input.
	CachedInput float64 `json:"cached_input,omitempty"`
	// CacheWrite is Anthropic's cache_creation_input_tokens rate; 0
	// means Input.
	CacheWrite float64 `json:"cache_write,omitempty"`
	// CacheWrite1h is the one-hour cache write rate; 0 means CacheWrite.
	CacheWrite1h float64 `json:"cache_write_1h,omitempty"`
	// PerImage is US dollars per generated image. Where the provider's
	// rate depends on size and quality, the table holds the highest, so
	// an image is never charged less than it costs.
	PerImage float64 `json:"per_image,omitempty"`
	// PerMinute is US dollars per minute of transcribed audio.
	PerMinute float64 `json:"per_minute,omitempty"`
	// PerMillionChars is US dollars per million characters of speech input.
	PerMillionChars float64 `json:"per_million_chars,omitempty"`
	// PerRequest is US dollars charged once per request whatever its
	// tokens: Perplexity Sonar's search fee, which depends on a search
	// context size the client may choose. The table holds the fee at the
	// largest size, so a request is never charged less than it costs.
	PerRequest float64 `json:"per_request,omitempty"`
	// MaxOutput is the most output tokens the provider lets one
	// completion of the model have; 0 = not known. The worst case of a
	// request that sets no limit is this (else Config.DefaultMaxOutput),
	// and a larger limit is taken as this, since the provider refuses it.
	MaxOutput int64 `json:"max_output,omitempty"`
	// ContextWindow is the most tokens (input and output together) one
	// request to the model may hold; 0 = not known. It bounds input the
	// gateway cannot see (an image URL, a file id, a previous response):
	// such a request is reserved and, without usage, charged as if its
	// input filled the window. It may overstate the window, never
	// understate it. A model without one (allowed in a configured price
	// file, not in the shipped table) is refused for requests whose input
	// the gateway cannot see.
	ContextWindow int64  `json:"context_window,omitempty"`
	Source        string `json:"source"`
	AsOf          string `json:"as_of"`
}

// Cost returns the cost in US dollars of u at p.
func (p Price) Cost(u Usage) float64 {
	cached, write := p.CachedInput, p.CacheWrite
	if cached == 0 {
		cached = p.Input
	}
	if write == 0 {
		write = p.Input
	}
	write1h := p.CacheWrite1h
	if write1h == 0 {
		write1h = write
	}
	h1 := min(max(u.CacheWrite1hTokens, 0), u.CacheWriteTokens)
	return (float64(u.InputTokens)*p.Input+float64(u.CachedTokens)*cached+
		float64(u.CacheWriteTokens-h1)*write+float64(h1)*write1h+float64(u.OutputTokens)*p.Output)/1e6 + p.PerRequest
}

// unitRate is the rate per unit (image, second, character) when p prices
// that unit.
func (p Price) unitRate(u unitKind) (float64, bool) {
	switch {
	case u == unitImages && p.PerImage > 0:
		return p.PerImage, true
	case u == unitSeconds && p.PerMinute > 0:
		return p.PerMinute / 60, true
	case u == unitChars && p.PerMillionChars > 0:
		return p.PerMillionChars / 1e6, true
	}
	return 0, false
}

// A PriceTable finds a model's price by provider and model id.
type PriceTable struct {
	m map[string]Price
}

//go:embed prices.json
var pricesJSON []byte

// DefaultPrices returns the table shipped in the repository.
func DefaultPrices() *PriceTable {
	t, err := ParsePrices(pricesJSON)
	if err != nil {
		panic("gateway: prices.json: " + err.Error())
	}
	return t
}

// Price file formats ParsePriceFile tells apart.
const (
	FormatAicred  = "aicred"  // {"models": [Price, ...]}, as gateway/prices.json
	FormatLiteLLM = "litellm" // LiteLLM's model_prices_and_context_window.json
)

// A PriceFileReport says what ParsePriceFile made of a file.
type PriceFileReport struct {
	Format string
	// Taken is the number of rows priced; Skipped the rows left out (a
	// LiteLLM row of a provider the gateway does not front, of a mode it
	// does not meter, or without a usable positive rate). An aicred file
	// skips nothing: a bad row is an error.
	Taken, Skipped int
}

// ParsePrices reads a price table in either format ParsePriceFile reads.
func ParsePrices(b []byte) (*PriceTable, error) {
	t, _, err := ParsePriceFile(b)
	return t, err
}

// ParsePriceFile reads a price table and tells its format and how many
// rows it took. A top-level object with a "models" array is the aicred
// format (gateway/prices.json); any other object is LiteLLM's
// model_prices_and_context_window.json.
//
// In the aicred format every entry needs the positive rates of its mode,
// a source and a date; max_output and context_window, where given, are
// whole numbers of tokens, not negative. A LiteLLM file is read row by
// row: see parseLiteLLM.
func ParsePriceFile(b []byte) (*PriceTable, PriceFileReport, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, PriceFileReport{}, fmt.Errorf("price file: %w", err)
	}
	if top == nil {
		return nil, PriceFileReport{}, errors.New("price file: want a JSON object")
	}
	if raw, ok := top["models"]; ok && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		t, err := parseAicred(b)
		if err != nil {
			return nil, PriceFileReport{Format: FormatAicred}, err
		}
		return t, PriceFileReport{Format: FormatAicred, Taken: len(t.m)}, nil
	}
	return parseLiteLLM(top)
}

func parseAicred(b []byte) (*PriceTable, error) {
	var f struct {
		Models []Price `json:"models"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	t := &PriceTable{m: make(map[string]Price, len(f.Models))}
	for i, p := range f.Models {
		switch {
		case p.Provider == "" || p.Model == "":
			return nil, fmt.Errorf("models[%d]: provider and model are required", i)
		case p.Input < 0 || p.Output < 0 || p.CachedInput < 0 || p.CacheWrite < 0 || p.CacheWrite1h < 0 ||
			p.PerImage < 0 || p.PerMinute < 0 || p.PerMillionChars < 0 || p.PerRequest < 0:
			return nil, fmt.Errorf("models[%d] %s/%s: a price is negative", i, p.Provider, p.Model)
		case p.MaxOutput < 0 || p.ContextWindow < 0:
			return nil, fmt.Errorf("models[%d] %s/%s: max_output or context_window is negative", i, p.Provider, p.Model)
		case !p.rated():
			return nil, fmt.Errorf("models[%d] %s/%s: mode %q needs positive rates (chat: input and output; embedding: input; image, audio: a unit rate or input and output)", i, p.Provider, p.Model, p.Mode)
		case p.Source == "" || p.AsOf == "":
			return nil, fmt.Errorf("models[%d] %s/%s: source and as_of are required", i, p.Provider, p.Model)
		}
		k := p.Provider + "/" + p.Model
		if _, dup := t.m[k]; dup {
			return nil, fmt.Errorf("models[%d] %s: listed twice", i, k)
		}
		t.m[k] = p
	}
	return t, nil
}

// rated reports whether p has the positive rates its mode needs, so that
// no model call is ever priced at $0.
func (p Price) rated() bool {
	tokens := p.Input > 0 && p.Output > 0
	switch p.Mode {
	case "", "chat":
		return tokens
	case "embedding":
		return p.Input > 0
	case "image":
		return tokens || p.PerImage > 0
	case "audio":
		return tokens || p.PerMinute > 0 || p.PerMillionChars > 0
	}
	return false
}

// liteLLMProviders maps LiteLLM's litellm_provider to the gateway's
// provider id, and ranks the sources of one provider: where two rows name
// the same model, the lower rank wins (the Gemini API's own rows over
// Vertex AI's).
var liteLLMProviders = map[string]struct {
	id   string
	rank int
}{
	"openai":                    {"openai", 0},
	"anthropic":                 {"anthropic", 0},
	"gemini":                    {"google", 0},
	"vertex_ai-language-models": {"google", 1},
	"groq":                      {"groq", 0},
	"mistral":                   {"mistral", 0},
	"together_ai":               {"together", 0},
	"deepseek":                  {"deepseek", 0},
	"openrouter":                {"openrouter", 0},
	"xai":                       {"xai", 0},
	"perplexity":                {"perplexity", 0},
	"fireworks_ai":              {"fireworks", 0},
	"nvidia_nim":                {"nvidia", 0},
	"cerebras":                  {"cerebras", 0},
	"huggingface":               {"huggingface", 0},
	"bedrock_converse":          {"aws", 0},
	"bedrock":                   {"aws", 0},
	"azure":                     {"azure-openai", 0},
}

// liteLLMModes maps LiteLLM's mode to a Price mode; other modes (rerank,
// moderation, search, video) are not metered by the table.
var liteLLMModes = map[string]string{
	"":                    "chat",
	"chat":                "chat",
	"completion":          "chat",
	"responses":           "chat",
	"embedding":           "embedding",
	"image_generation":    "image",
	"audio_transcription": "audio",
	"audio_speech":        "audio",
}

// parseLiteLLM reads LiteLLM's model_prices_and_context_window.json: an
// object keyed by model name ("sample_spec" documents the fields). A row
// is taken when its litellm_provider is one the gateway fronts, its mode
// is one the table meters and it has the positive rates that mode needs;
// every other row is skipped and counted, never priced at $0.
//
// The key, less a "<litellm_provider>/" prefix ("groq/llama3-8b-8192"
// becomes "llama3-8b-8192", "openrouter/openai/gpt-4o" "openai/gpt-4o"),
// is the model id the gateway sees. For Bedrock, Azure and Gemini the
// model is a path segment, so a key still holding a "/" after the prefix
// (LiteLLM's per-region or per-commitment variants) is skipped.
//
// Rates are per token and become per million. Where LiteLLM gives a
// higher rate for long prompts (input_cost_per_token_above_200k_tokens
// and the like), the highest rate is taken: the gateway cannot tell the
// tiers apart before the call, and must never charge less than it costs.
// context_window is max_input_tokens plus max_output_tokens, which never
// understates the window whichever of the two conventions a row follows
// (max_input_tokens the whole window or the input part); a row without
// max_input_tokens has none. Rows carry their own "source" where LiteLLM
// gives one and no as_of: LiteLLM rows are not dated.
func parseLiteLLM(top map[string]json.RawMessage) (*PriceTable, PriceFileReport, error) {
	r := PriceFileReport{Format: FormatLiteLLM}
	t := &PriceTable{m: map[string]Price{}}
	ranks := map[string]int{}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if key == "sample_spec" {
			continue
		}
		p, rank, ok := liteLLMRow(key, top[key])
		if !ok {
			r.Skipped++
			continue
		}
		k := p.Provider + "/" + p.Model
		if old, dup := t.m[k]; dup {
			// One model under two keys: the better source, else the
			// dearer row, so the choice never depends on map order and
			// never undercharges.
			r.Skipped++
			if rank > ranks[k] || (rank == ranks[k] && !dearer(p, old)) {
				continue
			}
		}
		t.m[k], ranks[k] = p, rank
	}
	r.Taken = len(t.m)
	if r.Taken == 0 {
		return nil, r, fmt.Errorf("price file: no row in the aicred format (a \"models\" array) or a LiteLLM row with a usable price for a provider the gateway fronts (%d rows skipped)", r.Skipped)
	}
	return t, r, nil
}

// unboundedFees are LiteLLM fields of fees counted in things the gateway
// cannot bound before the call; a row holding one is not priced.
var unboundedFees = []string{
	"citation_cost_per_token", "search_queries_cost_per_query", "file_search_cost_per_1k_calls",
	"code_interpreter_cost_per_session", "computer_use_input_cost_per_1k_tokens", "computer_use_output_cost_per_1k_tokens",
	"tiered_pricing",
}

// dearer orders two prices of one model by their rates, most expensive
// first.
func dearer(a, b Price) bool {
	x := [...]float64{a.Input, a.Output, a.CachedInput, a.CacheWrite, a.CacheWrite1h, a.PerImage, a.PerMinute, a.PerMillionChars, a.PerRequest}
	y := [...]float64{b.Input, b.Output, b.CachedInput, b.CacheWrite, b.CacheWrite1h, b.PerImage, b.PerMinute, b.PerMillionChars, b.PerRequest}
	for i := range x {
		if x[i] != y[i] {
			return x[i] > y[i]
		}
	}
	return false
}

// liteLLMRow converts one LiteLLM row; ok is false for a row to skip.
func liteLLMRow(key string, raw json.RawMessage) (p Price, rank int, ok bool) {
	var row map[string]json.RawMessage
	if json.Unmarshal(raw, &row) != nil || row == nil {
		return Price{}, 0, false
	}
	var lp, mode, source string
	_ = json.Unmarshal(row["litellm_provider"], &lp)
	_ = json.Unmarshal(row["mode"], &mode)
	_ = json.Unmarshal(row["source"], &source)
	prov, known := liteLLMProviders[lp]
	pmode, metered := liteLLMModes[mode]
	if !known || !metered {
		return Price{}, 0, false
	}
	model := strings.TrimPrefix(key, lp+"/")
	switch prov.id {
	case "aws", "azure-openai", "google":
		model = strings.TrimPrefix(model, "vertex_ai/")
		if strings.Contains(model, "/") {
			return Price{}, 0, false
		}
	}
	if model == "" || strings.TrimSpace(model) != model {
		return Price{}, 0, false
	}
	// rate is the highest rate among name and its long-prompt tiers
	// (name_above_200k_tokens and the like), times scale; a negative
	// value spoils the row, a non-numeric one is ignored.
	bad := false
	rate := func(name string, scale float64) float64 {
		var most float64
		for k, v := range row {
			if k != name && (!strings.HasPrefix(k, name+"_above_") || !strings.HasSuffix(k, "k_tokens")) {
				continue
			}
			var f float64
			if json.Unmarshal(v, &f) != nil {
				continue
			}
			if f < 0 || math.IsInf(f*scale, 0) {
				bad = true
				continue
			}
			most = max(most, f*scale)
		}
		// 1e-07 per token is 0.1 per million, not 0.09999999999999999.
		most, _ = strconv.ParseFloat(strconv.FormatFloat(most, 'g', 12, 64), 64)
		return most
	}
	tokens := func(name string) int64 {
		var f float64
		if json.Unmarshal(row[name], &f) != nil || f <= 0 || f > 1<<40 || f != math.Trunc(f) {
			return 0
		}
		return int64(f)
	}
	// Fees whose count the gateway cannot bound before the call (citation
	// tokens and searches of a deep research, tool sessions and calls):
	// the row is not priced, so its model is refused.
	for _, k := range unboundedFees {
		if _, has := row[k]; has {
			return Price{}, 0, false
		}
	}
	// A fee per request: the dearest search context size.
	var perRequest float64
	var search map[string]float64
	if raw, has := row["search_context_cost_per_query"]; has {
		if json.Unmarshal(raw, &search) != nil {
			return Price{}, 0, false
		}
	}
	for _, f := range search {
		if f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return Price{}, 0, false
		}
		perRequest = max(perRequest, f)
	}
	perRequest = max(perRequest, rate("input_cost_per_request", 1))
	p = Price{
		Provider: prov.id, Model: model, Mode: pmode,
		// The dearest kind of input and output token counts for all: the
		// gateway does not know before the call how many of each there
		// will be (audio, image and reasoning tokens). The priority tier
		// is refused (body.go), so its rates are not.
		Input: max(rate("input_cost_per_token", 1e6), rate("input_cost_per_audio_token", 1e6),
			rate("input_cost_per_image_token", 1e6)),
		Output: max(rate("output_cost_per_token", 1e6), rate("output_cost_per_audio_token", 1e6),
			rate("output_cost_per_image_token", 1e6), rate("output_cost_per_reasoning_token", 1e6)),
		PerRequest:      perRequest,
		CachedInput:     rate("cache_read_input_token_cost", 1e6),
		CacheWrite:      rate("cache_creation_input_token_cost", 1e6),
		CacheWrite1h:    rate("cache_creation_input_token_cost_above_1hr", 1e6),
		PerImage:        rate("output_cost_per_image", 1),
		PerMinute:       rate("input_cost_per_second", 60),
		PerMillionChars: rate("input_cost_per_character", 1e6),
		MaxOutput:       tokens("max_output_tokens"),
		Source:          "LiteLLM model_prices_and_context_window.json: " + key,
	}
	if source != "" {
		p.Source = source
	}
	if in := tokens("max_input_tokens"); in > 0 {
		p.ContextWindow = in + p.MaxOutput
	}
	if p.CacheWrite1h != 0 && p.CacheWrite1h < p.CacheWrite {
		p.CacheWrite1h = p.CacheWrite
	}
	if pmode == "chat" && p.Input == 0 && p.Output == 0 {
		return Price{}, 0, false
	}
	if bad || !p.rated() {
		return Price{}, 0, false
	}
	return p, prov.rank, true
}

// Over returns a table with every entry of over and, for the models over
// does not price, t's: a configured price file corrects or extends the
// shipped table without repeating it.
func (t *PriceTable) Over(over *PriceTable) *PriceTable {
	m := make(map[string]Price, len(t.m)+len(over.m))
	for k, p := range t.m {
		m[k] = p
	}
	for k, p := range over.m {
		m[k] = p
	}
	return &PriceTable{m: m}
}

// Lookup returns the price of provider's model, by its exact id. A dated
// snapshot ("gpt-4o-2024-05-13") is priced by its own entry or not at
// all: snapshots of one model are often priced differently, and falling
// back to the undated id would let a client pick the snapshot that is
// billed below what the provider charges.
//
// Azure OpenAI is looked up as azure-openai/<deployment>: the deployment
// name is the operator's, and so is the model version behind it, so the
// shipped table prices no Azure deployment; the configured price file
// does, one entry per deployment (a LiteLLM file's azure/<model> rows
// price deployments named exactly like the model).
func (t *PriceTable) Lookup(provider, model string) (Price, bool) {
	p, ok := t.m[provider+"/"+model]
	return p, ok
}

// Len is the number of models the table prices.
func (t *PriceTable) Len() int { return len(t.m) }

// All returns every price in the table, by provider and then model.
func (t *PriceTable) All() []Price {
	all := make([]Price, 0, len(t.m))
	for _, p := range t.m {
		all = append(all, p)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Provider != all[j].Provider {
			return all[i].Provider < all[j].Provider
		}
		return all[i].Model < all[j].Model
	})
	return all
}
