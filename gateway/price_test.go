package gateway

import (
	"encoding/json"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// datedSuffix matches the snapshot dates providers append to a model id.
var datedSuffix = regexp.MustCompile(`-(\d{4}-\d{2}-\d{2}|\d{8})$`)

// A dated snapshot is priced by its own entry or not at all: never at its
// undated id's price, which may be lower than what the provider charges
// for the snapshot.
func TestLookupDatedSnapshot(t *testing.T) {
	prices := DefaultPrices()
	for _, tc := range []struct {
		provider, model string
		priced          bool
		input, output   float64
	}{
		{"openai", "gpt-4o-2024-05-13", true, 5, 15},
		{"openai", "gpt-4o", true, 2.5, 10},
		{"openai", "gpt-4o-2024-08-06", true, 2.5, 10},
		{"openai", "gpt-4o-mini-2024-07-18", true, 0.15, 0.6},
		{"anthropic", "claude-haiku-4-5-20251001", true, 1, 5},
		// Snapshots the table does not list: refused, whatever the
		// undated id costs.
		{"openai", "gpt-4o-2099-01-01", false, 0, 0},
		{"openai", "gpt-4o-mini-2025-01-01", false, 0, 0},
		{"anthropic", "claude-3-5-sonnet-20240620", false, 0, 0},
		{"anthropic", "claude-sonnet-4-5-20990101", false, 0, 0},
		{"anthropic", "claude-haiku-4-5-20990101", false, 0, 0},
	} {
		p, ok := prices.Lookup(tc.provider, tc.model)
		if ok != tc.priced {
			t.Errorf("%s/%s: priced %v, want %v", tc.provider, tc.model, ok, tc.priced)
			continue
		}
		if ok && (p.Model != tc.model || p.Input != tc.input || p.Output != tc.output) {
			t.Errorf("%s/%s: priced as %s at %g/%g, want its own %g/%g", tc.provider, tc.model, p.Model, p.Input, p.Output, tc.input, tc.output)
		}
	}
	// gpt-4o-2024-05-13 costs its own price, twice gpt-4o's input rate.
	u := Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}
	dated, _ := prices.Lookup("openai", "gpt-4o-2024-05-13")
	undated, _ := prices.Lookup("openai", "gpt-4o")
	if got := dated.Cost(u); got != 20 {
		t.Errorf("gpt-4o-2024-05-13: 1M in + 1M out costs %g, want 20", got)
	}
	if dated.Cost(u) <= undated.Cost(u) {
		t.Errorf("gpt-4o-2024-05-13 costs %g, not more than gpt-4o's %g", dated.Cost(u), undated.Cost(u))
	}
}

// Every dated id that is not itself in the table is unpriced: for each
// shipped model, a snapshot date appended to it (or put in place of its
// own) finds nothing.
func TestLookupUnlistedSnapshotsUnpriced(t *testing.T) {
	prices := DefaultPrices()
	n := 0
	for _, p := range prices.All() {
		base := datedSuffix.ReplaceAllString(p.Model, "")
		for _, m := range []string{base + "-2099-12-31", base + "-20991231", p.Model + "-2099-12-31"} {
			if _, listed := prices.m[p.Provider+"/"+m]; listed {
				continue
			}
			n++
			if q, ok := prices.Lookup(p.Provider, m); ok {
				t.Errorf("%s/%s is not in the table but is priced as %s", p.Provider, m, q.Model)
			}
		}
	}
	if n < 500 {
		t.Errorf("only %d unlisted snapshot ids checked", n)
	}
}

// The shipped table: every row sourced and dated, every token-priced
// chat and embedding model with a context window (the bound for input the
// gateway cannot see), no window smaller than the model's output limit.
func TestDefaultPricesComplete(t *testing.T) {
	prices := DefaultPrices()
	all := prices.All()
	if len(all) < 250 || prices.Len() != len(all) {
		t.Fatalf("%d models (Len %d), want at least 250", len(all), prices.Len())
	}
	perProvider := map[string]int{}
	for i, p := range all {
		perProvider[p.Provider]++
		key := p.Provider + "/" + p.Model
		if i > 0 {
			prev := all[i-1]
			if prev.Provider > p.Provider || (prev.Provider == p.Provider && prev.Model >= p.Model) {
				t.Errorf("All is not sorted: %s/%s before %s", prev.Provider, prev.Model, key)
			}
		}
		if !p.rated() {
			t.Errorf("%s: no positive rate for mode %q", key, p.Mode)
		}
		if p.Source == "" || p.AsOf == "" {
			t.Errorf("%s: no source or as_of", key)
		}
		if _, ok := DefaultUpstreams()[p.Provider]; !ok {
			t.Errorf("%s: provider %q is not one the gateway fronts", key, p.Provider)
		}
		tokenPriced := p.Mode == "" || p.Mode == "chat" || p.Mode == "embedding"
		if tokenPriced && p.ContextWindow <= 0 {
			t.Errorf("%s: no context_window", key)
		}
		if p.ContextWindow > 0 && p.ContextWindow < p.MaxOutput {
			t.Errorf("%s: context_window %d below max_output %d", key, p.ContextWindow, p.MaxOutput)
		}
		if (p.Mode == "" || p.Mode == "chat") && p.MaxOutput <= 0 {
			t.Errorf("%s: no max_output", key)
		}
	}
	// Every provider the gateway fronts is priced, but for those whose
	// prices no source the table was built from gives.
	unsourced := map[string]string{
		"nvidia":      "NVIDIA's hosted NIM API lists no per-token prices",
		"huggingface": "the router bills the serving provider's price, per model and provider",
	}
	for prov := range DefaultUpstreams() {
		if perProvider[prov] == 0 && unsourced[prov] == "" {
			t.Errorf("provider %s has no priced model", prov)
		}
	}
	t.Logf("%d models: %v", len(all), perProvider)
}

// ParsePrices keeps context_window optional: an operator's file without it
// still loads, and the model is refused only for requests whose input the
// gateway cannot see.
func TestParsePricesContextWindow(t *testing.T) {
	const entry = `{"models":[{"provider":"p","model":"m","input":1,"output":1,"source":"s","as_of":"d"%s}]}`
	for _, tc := range []struct {
		field string
		want  int64
		ok    bool
	}{
		{"", 0, true}, {`,"context_window":128000`, 128000, true},
		{`,"context_window":-1`, 0, false}, {`,"context_window":1.5`, 0, false}, {`,"context_window":"128000"`, 0, false},
	} {
		tab, err := ParsePrices([]byte(strings.Replace(entry, "%s", tc.field, 1)))
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v", tc.field, err)
			continue
		}
		if err == nil {
			if p, _ := tab.Lookup("p", "m"); p.ContextWindow != tc.want {
				t.Errorf("%q: context_window %d, want %d", tc.field, p.ContextWindow, tc.want)
			}
		}
	}
}

func TestParsePriceFileFormat(t *testing.T) {
	for _, tc := range []struct {
		name, in, format string
		ok               bool
	}{
		{"aicred", `{"models":[{"provider":"p","model":"m","input":1,"output":1,"source":"s","as_of":"d"}]}`, FormatAicred, true},
		{"aicred, empty", `{"models":[]}`, FormatAicred, true},
		{"aicred, bad row", `{"models":[{"provider":"p","model":"m","input":0,"output":1,"source":"s","as_of":"d"}]}`, FormatAicred, false},
		{"aicred, twice", `{"models":[{"provider":"p","model":"m","input":1,"output":1,"source":"s","as_of":"d"},{"provider":"p","model":"m","input":2,"output":2,"source":"s","as_of":"d"}]}`, FormatAicred, false},
		{"litellm", `{"gpt-4o":{"litellm_provider":"openai","mode":"chat","input_cost_per_token":2.5e-06,"output_cost_per_token":1e-05}}`, FormatLiteLLM, true},
		{"models not an array: litellm, no row", `{"models":{"x":1}}`, FormatLiteLLM, false},
		{"litellm, nothing usable", `{"sample_spec":{},"x":{"litellm_provider":"openai","input_cost_per_token":0}}`, FormatLiteLLM, false},
		{"not an object", `[1,2]`, "", false},
		{"null", `null`, "", false},
		{"not json", `{"models":`, "", false},
	} {
		_, r, err := ParsePriceFile([]byte(tc.in))
		if (err == nil) != tc.ok || r.Format != tc.format {
			t.Errorf("%s: format %q, error %v; want format %q, ok %v", tc.name, r.Format, err, tc.format, tc.ok)
		}
	}
}

// liteLLMFixture is a small file in LiteLLM's format, as the tests build
// it: the fields and conventions of model_prices_and_context_window.json.
func liteLLMFixture(t testing.TB) []byte {
	rows := map[string]any{
		"sample_spec": map[string]any{"input_cost_per_token": 0.0, "litellm_provider": "one of https://docs.litellm.ai/docs/providers", "max_input_tokens": "max input tokens"},
		// Taken.
		"gpt-4o": map[string]any{"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
			"cache_read_input_token_cost": 1.25e-06, "input_cost_per_token_batches": 1.25e-06, "max_input_tokens": 128000, "max_output_tokens": 16384, "max_tokens": 16384},
		"gpt-5.4": map[string]any{"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06, "input_cost_per_token_above_272k_tokens": 5e-06,
			"output_cost_per_token": 1.5e-05, "output_cost_per_token_above_272k_tokens": 2.25e-05, "input_cost_per_token_priority": 5e-06,
			"max_input_tokens": 1050000, "max_output_tokens": 128000},
		"claude-haiku-4-5": map[string]any{"litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06,
			"cache_creation_input_token_cost": 1.25e-06, "cache_creation_input_token_cost_above_1hr": 2e-06, "cache_read_input_token_cost": 1e-07,
			"max_input_tokens": 200000, "max_output_tokens": 64000},
		"groq/llama-3.1-8b-instant": map[string]any{"litellm_provider": "groq", "mode": "chat", "input_cost_per_token": 5e-08, "output_cost_per_token": 8e-08,
			"max_input_tokens": 128000, "max_output_tokens": 8192},
		"openrouter/openai/gpt-4o": map[string]any{"litellm_provider": "openrouter", "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
			"max_input_tokens": 128000, "max_output_tokens": 4096, "source": "https://openrouter.ai/openai/gpt-4o"},
		"xai/grok-4-1-fast": map[string]any{"litellm_provider": "xai", "mode": "chat", "input_cost_per_token": 2e-07, "output_cost_per_token": 5e-07,
			"max_input_tokens": 2000000.0, "max_output_tokens": 2000000.0},
		"anthropic.claude-haiku-4-5-20251001-v1:0": map[string]any{"litellm_provider": "bedrock_converse", "mode": "chat",
			"input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06, "max_input_tokens": 200000, "max_output_tokens": 64000},
		"azure/gpt-4o-mini": map[string]any{"litellm_provider": "azure", "mode": "chat", "input_cost_per_token": 1.65e-07, "output_cost_per_token": 6.6e-07,
			"max_input_tokens": 128000, "max_output_tokens": 16384},
		"fireworks_ai/accounts/fireworks/models/llama-v3p2-3b-instruct": map[string]any{"litellm_provider": "fireworks_ai", "mode": "chat",
			"input_cost_per_token": 1e-07, "output_cost_per_token": 1e-07, "max_input_tokens": 16384, "max_output_tokens": 16384},
		"text-embedding-3-small": map[string]any{"litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 2e-08, "output_cost_per_token": 0.0, "max_input_tokens": 8191},
		"whisper-1":              map[string]any{"litellm_provider": "openai", "mode": "audio_transcription", "input_cost_per_second": 0.0001},
		"tts-1":                  map[string]any{"litellm_provider": "openai", "mode": "audio_speech", "input_cost_per_character": 1.5e-05},
		"dall-e-3-hd":            map[string]any{"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.12},
		// A fee per request at the dearest search context size; the
		// dearest kind of token for all tokens.
		"perplexity/sonar-pro": map[string]any{"litellm_provider": "perplexity", "mode": "chat", "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
			"search_context_cost_per_query": map[string]any{"search_context_size_high": 0.014, "search_context_size_low": 0.006, "search_context_size_medium": 0.01},
			"max_input_tokens":              200000, "max_output_tokens": 8000},
		"perplexity/pplx-7b-online-2": map[string]any{"litellm_provider": "perplexity", "mode": "chat", "input_cost_per_request": 0.005, "input_cost_per_token": 1e-07,
			"output_cost_per_token": 2.8e-07, "max_input_tokens": 4096, "max_output_tokens": 4096},
		"gpt-4o-audio-preview": map[string]any{"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06, "input_cost_per_audio_token": 4e-05,
			"output_cost_per_token": 1e-05, "output_cost_per_audio_token": 8e-05, "max_input_tokens": 128000, "max_output_tokens": 16384},
		// One model under two keys: the Gemini API's row wins over
		// Vertex AI's, whatever their order.
		"gemini/gemini-2.5-flash": map[string]any{"litellm_provider": "gemini", "mode": "chat", "input_cost_per_token": 3e-07, "output_cost_per_token": 2.5e-06,
			"max_input_tokens": 1048576, "max_output_tokens": 65535},
		"gemini-2.5-flash": map[string]any{"litellm_provider": "vertex_ai-language-models", "mode": "chat", "input_cost_per_token": 1e-07, "output_cost_per_token": 1e-07,
			"max_input_tokens": 1048576, "max_output_tokens": 65535},
		// Skipped.
		"bedrock/us-east-1/anthropic.claude-haiku-4-5-20251001-v1:0": map[string]any{"litellm_provider": "bedrock", "input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06},
		"azure/us/gpt-4o-mini":       map[string]any{"litellm_provider": "azure", "input_cost_per_token": 1e-07, "output_cost_per_token": 1e-07},
		"ollama/llama3":              map[string]any{"litellm_provider": "ollama", "mode": "chat", "input_cost_per_token": 0.0, "output_cost_per_token": 0.0},
		"together_ai/free-model":     map[string]any{"litellm_provider": "together_ai", "mode": "chat", "input_cost_per_token": 0, "output_cost_per_token": 0},
		"groq/half-priced":           map[string]any{"litellm_provider": "groq", "mode": "chat", "input_cost_per_token": 1e-07},
		"cohere.rerank-v3-5:0":       map[string]any{"litellm_provider": "bedrock", "mode": "rerank", "input_cost_per_query": 0.002},
		"mistral/mistral-ocr-latest": map[string]any{"litellm_provider": "mistral", "mode": "ocr", "ocr_cost_per_page": 0.004},
		"deepseek/negative":          map[string]any{"litellm_provider": "deepseek", "mode": "chat", "input_cost_per_token": -1e-06, "output_cost_per_token": 1e-06},
		"1024-x-1024/dall-e-2":       map[string]any{"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_pixel": 1.9e-08},
		"cerebras/not-an-object":     "nope",
		// Citation tokens and searches a deep research makes are not
		// bounded before the call.
		"perplexity/sonar-deep-research": map[string]any{"litellm_provider": "perplexity", "mode": "chat", "citation_cost_per_token": 2e-06,
			"input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06, "output_cost_per_reasoning_token": 3e-06,
			"search_context_cost_per_query": map[string]any{"search_context_size_high": 0.005}},
		"perplexity/bad-fee": map[string]any{"litellm_provider": "perplexity", "mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06,
			"search_context_cost_per_query": map[string]any{"search_context_size_high": -1}},
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsePriceFileLiteLLM(t *testing.T) {
	tab, r, err := ParsePriceFile(liteLLMFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	// 17 models taken (gemini-2.5-flash once); the Vertex duplicate and
	// the 12 unusable rows skipped; sample_spec is not a row.
	if r.Format != FormatLiteLLM || r.Taken != 17 || r.Skipped != 13 || tab.Len() != 17 {
		t.Fatalf("report %+v, %d models", r, tab.Len())
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for _, tc := range []struct {
		provider, model string
		want            Price
	}{
		{"openai", "gpt-4o", Price{Mode: "chat", Input: 2.5, Output: 10, CachedInput: 1.25, MaxOutput: 16384, ContextWindow: 128000 + 16384}},
		// The long-prompt tier is the rate; priority and batch rates are not.
		{"openai", "gpt-5.4", Price{Mode: "chat", Input: 5, Output: 22.5, MaxOutput: 128000, ContextWindow: 1050000 + 128000}},
		{"anthropic", "claude-haiku-4-5", Price{Mode: "chat", Input: 1, Output: 5, CachedInput: 0.1, CacheWrite: 1.25, CacheWrite1h: 2, MaxOutput: 64000, ContextWindow: 264000}},
		{"groq", "llama-3.1-8b-instant", Price{Mode: "chat", Input: 0.05, Output: 0.08, MaxOutput: 8192, ContextWindow: 128000 + 8192}},
		{"openrouter", "openai/gpt-4o", Price{Mode: "chat", Input: 2.5, Output: 10, MaxOutput: 4096, ContextWindow: 132096}},
		{"xai", "grok-4-1-fast", Price{Mode: "chat", Input: 0.2, Output: 0.5, MaxOutput: 2000000, ContextWindow: 4000000}},
		{"aws", "anthropic.claude-haiku-4-5-20251001-v1:0", Price{Mode: "chat", Input: 1, Output: 5, MaxOutput: 64000, ContextWindow: 264000}},
		{"azure-openai", "gpt-4o-mini", Price{Mode: "chat", Input: 0.165, Output: 0.66, MaxOutput: 16384, ContextWindow: 128000 + 16384}},
		{"fireworks", "accounts/fireworks/models/llama-v3p2-3b-instruct", Price{Mode: "chat", Input: 0.1, Output: 0.1, MaxOutput: 16384, ContextWindow: 32768}},
		{"openai", "text-embedding-3-small", Price{Mode: "embedding", Input: 0.02, ContextWindow: 8191}},
		{"openai", "whisper-1", Price{Mode: "audio", PerMinute: 0.006}},
		{"openai", "tts-1", Price{Mode: "audio", PerMillionChars: 15}},
		{"openai", "dall-e-3-hd", Price{Mode: "image", PerImage: 0.12}},
		{"google", "gemini-2.5-flash", Price{Mode: "chat", Input: 0.3, Output: 2.5, MaxOutput: 65535, ContextWindow: 1048576 + 65535}},
		{"perplexity", "sonar-pro", Price{Mode: "chat", Input: 3, Output: 15, PerRequest: 0.014, MaxOutput: 8000, ContextWindow: 208000}},
		{"perplexity", "pplx-7b-online-2", Price{Mode: "chat", Input: 0.1, Output: 0.28, PerRequest: 0.005, MaxOutput: 4096, ContextWindow: 8192}},
		{"openai", "gpt-4o-audio-preview", Price{Mode: "chat", Input: 40, Output: 80, MaxOutput: 16384, ContextWindow: 128000 + 16384}},
	} {
		p, ok := tab.Lookup(tc.provider, tc.model)
		if !ok {
			t.Errorf("%s/%s: not taken", tc.provider, tc.model)
			continue
		}
		w := tc.want
		if p.Mode != w.Mode || !near(p.Input, w.Input) || !near(p.Output, w.Output) || !near(p.CachedInput, w.CachedInput) ||
			!near(p.CacheWrite, w.CacheWrite) || !near(p.CacheWrite1h, w.CacheWrite1h) || !near(p.PerImage, w.PerImage) ||
			!near(p.PerMinute, w.PerMinute) || !near(p.PerMillionChars, w.PerMillionChars) || !near(p.PerRequest, w.PerRequest) ||
			p.MaxOutput != w.MaxOutput || p.ContextWindow != w.ContextWindow {
			t.Errorf("%s/%s: %+v, want %+v", tc.provider, tc.model, p, w)
		}
		if p.Source == "" || p.AsOf != "" {
			t.Errorf("%s/%s: source %q, as_of %q (LiteLLM rows are sourced, not dated)", tc.provider, tc.model, p.Source, p.AsOf)
		}
	}
	if p, _ := tab.Lookup("openrouter", "openai/gpt-4o"); p.Source != "https://openrouter.ai/openai/gpt-4o" {
		t.Errorf("the row's own source is not kept: %q", p.Source)
	}
	for _, m := range [][2]string{{"aws", "us-east-1/anthropic.claude-haiku-4-5-20251001-v1:0"}, {"azure-openai", "us/gpt-4o-mini"},
		{"together", "free-model"}, {"groq", "half-priced"}, {"deepseek", "negative"}, {"openai", "1024-x-1024/dall-e-2"},
		{"perplexity", "sonar-deep-research"}, {"perplexity", "bad-fee"}} {
		if p, ok := tab.Lookup(m[0], m[1]); ok {
			t.Errorf("%s/%s: taken as %+v", m[0], m[1], p)
		}
	}
	// The shipped table overlaid with a LiteLLM file, as serve does it.
	merged := DefaultPrices().Over(tab)
	if p, _ := merged.Lookup("azure-openai", "gpt-4o-mini"); p.Input != 0.165 {
		t.Errorf("overlay: %+v", p)
	}
}

// The shipped table reads back the same through ParsePriceFile.
func TestParsePriceFileShipped(t *testing.T) {
	tab, r, err := ParsePriceFile(pricesJSON)
	if err != nil || r.Format != FormatAicred || r.Taken != tab.Len() || r.Skipped != 0 {
		t.Fatalf("report %+v, error %v", r, err)
	}
}

// FuzzParsePrices: whatever the input, no panic, and a table that parses
// prices every model it holds at positive, finite rates.
func FuzzParsePrices(f *testing.F) {
	f.Add(pricesJSON)
	f.Add(liteLLMFixture(f))
	f.Add([]byte(`{"models":[{"provider":"p","model":"m","input":1,"output":1,"source":"s","as_of":"d","context_window":5}]}`))
	f.Add([]byte(`{"x/y":{"litellm_provider":"groq","input_cost_per_token":1e300,"output_cost_per_token":1e300,"max_input_tokens":1e300}}`))
	f.Add([]byte(`{"models":{}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, r, err := ParsePriceFile(b)
		if err != nil {
			return
		}
		all := tab.All()
		if len(all) != tab.Len() || (r.Format == FormatLiteLLM && r.Taken != len(all)) {
			t.Fatalf("report %+v, %d models", r, len(all))
		}
		for _, p := range all {
			if !p.rated() {
				t.Fatalf("%s/%s: unrated %+v", p.Provider, p.Model, p)
			}
			for _, v := range []float64{p.Input, p.Output, p.CachedInput, p.CacheWrite, p.CacheWrite1h, p.PerImage, p.PerMinute, p.PerMillionChars} {
				if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%s/%s: rate %g", p.Provider, p.Model, v)
				}
			}
			if p.MaxOutput < 0 || p.ContextWindow < 0 {
				t.Fatalf("%s/%s: max_output %d, context_window %d", p.Provider, p.Model, p.MaxOutput, p.ContextWindow)
			}
			if q, ok := tab.Lookup(p.Provider, p.Model); !ok || q != p {
				t.Fatalf("%s/%s: Lookup gives %+v", p.Provider, p.Model, q)
			}
		}
	})
}

// The models the gateway's own tests send are priced by the shipped table,
// so a route test meters at real prices rather than at a price it made up:
// every model id in a request body ("model":"…"), a Gemini path
// (models/…:) or a Bedrock path (model/…/) of gateway/*_test.go is priced,
// but for the ids listed here, which tests send to be refused or price
// with a table of their own.
func TestTestModelsPriced(t *testing.T) {
	notShipped := map[string]string{
		"m": "parser tests", "a": "parser tests", "b": "parser tests", "model": "parser tests",
		"yes": "parser tests", "no": "parser tests", "other": "metrics label tests",
		"some-model":                     "estimate tests with a Price of their own",
		"gpt-unpriced":                   "tests of the refusal of unpriced models",
		"my-finetune":                    "tests of a configured price table",
		"in-house-7b":                    "tests of a configured price table",
		"prod-4o-mini":                   "an Azure deployment, priced by a test table",
		"gpt-4o-search-preview":          "a server-tool parser test: the gateway refuses web_search_options",
		"anthropic.claude-opus-4-1-v1:0": "a Bedrock refusal test (the token may not use the model)",
	}
	models := regexp.MustCompile(`\\?"model\\?"\s*:\s*\\?"([^"\\]+)|/models/([A-Za-z0-9.-]+):|/model/([^/"?]+)/`)
	files, err := filepath.Glob("*_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("test files: %v", err)
	}
	priced := map[string]bool{}
	for _, p := range DefaultPrices().All() {
		priced[p.Model] = true
	}
	seen := map[string]bool{}
	for _, file := range files {
		if file == "price_test.go" {
			continue // this file: price fixtures, not requests
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range models.FindAllSubmatch(b, -1) {
			id := string(m[1]) + string(m[2]) + string(m[3])
			if id, err = url.PathUnescape(id); err != nil || strings.ContainsAny(id, "`+ ") {
				continue // built by the test at run time
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			if !priced[id] && notShipped[id] == "" {
				t.Errorf("%s sends model %q, which the shipped table does not price", file, id)
			}
		}
	}
	for _, id := range []string{"gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash", "amazon.nova-lite-v1:0"} {
		if !seen[id] {
			t.Errorf("the scan found no %q: it no longer reads the tests", id)
		}
	}
}
