package gateway

import (
	_ "embed"
	"encoding/json"
	"fmt"
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
	// MaxOutput is the most output tokens the provider lets one
	// completion of the model have; 0 = not known. The worst case of a
	// request that sets no limit is this (else Config.DefaultMaxOutput),
	// and a larger limit is taken as this, since the provider refuses it.
	MaxOutput int64 `json:"max_output,omitempty"`
	// ContextWindow is the most tokens (input and output together) one
	// request to the model may hold; 0 = not known. It bounds input the
	// gateway cannot see (an image URL, a file id, a previous response):
	// such a request is reserved and, without usage, charged as if its
	// input filled the window.
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
	return (float64(u.InputTokens)*p.Input + float64(u.CachedTokens)*cached +
		float64(u.CacheWriteTokens-h1)*write + float64(h1)*write1h + float64(u.OutputTokens)*p.Output) / 1e6
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

// ParsePrices reads a table in the prices.json format. Every entry needs
// a positive input and output rate, a source and a date; max_output, where
// given, is a whole number of tokens, not negative.
func ParsePrices(b []byte) (*PriceTable, error) {
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
			p.PerImage < 0 || p.PerMinute < 0 || p.PerMillionChars < 0:
			return nil, fmt.Errorf("models[%d] %s/%s: a price is negative", i, p.Provider, p.Model)
		case p.MaxOutput < 0 || p.ContextWindow < 0:
			return nil, fmt.Errorf("models[%d] %s/%s: max_output or context_window is negative", i, p.Provider, p.Model)
		case !p.rated():
			return nil, fmt.Errorf("models[%d] %s/%s: mode %q needs positive rates (chat: input and output; embedding: input; image, audio: a unit rate or input and output)", i, p.Provider, p.Model, p.Mode)
		case p.Source == "" || p.AsOf == "":
			return nil, fmt.Errorf("models[%d] %s/%s: source and as_of are required", i, p.Provider, p.Model)
		}
		t.m[p.Provider+"/"+p.Model] = p
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

// Lookup returns the price of provider's model; a dated snapshot
// ("gpt-4o-2024-08-06", "claude-haiku-4-5-20251001") falls back to its
// undated id.
func (t *PriceTable) Lookup(provider, model string) (Price, bool) {
	if p, ok := t.m[provider+"/"+model]; ok {
		return p, true
	}
	if base, ok := undated(model); ok {
		p, ok := t.m[provider+"/"+base]
		return p, ok
	}
	return Price{}, false
}

// undated strips a trailing -YYYY-MM-DD or -YYYYMMDD.
func undated(m string) (string, bool) {
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return s != ""
	}
	if n := len(m); n > 11 && m[n-11] == '-' && m[n-6] == '-' && m[n-3] == '-' &&
		digits(m[n-10:n-6]+m[n-5:n-3]+m[n-2:]) {
		return m[:n-11], true
	}
	if n := len(m); n > 9 && m[n-9] == '-' && digits(m[n-8:]) {
		return m[:n-9], true
	}
	return "", false
}
