package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aicred/aicred/broker"
)

func TestParseRequestCounts(t *testing.T) {
	for _, tc := range []struct {
		body            string
		max, choices, n int64
		err             string // a part of the error; "" = accepted
	}{
		{body: `{"model":"gpt-4o","n":128,"max_tokens":4096}`, max: 4096, choices: 128, n: 128},
		{body: `{"max_tokens":64000.0}`, max: 64000},
		{body: `{"max_completion_tokens":1.6e4}`, max: 16000},
		{body: `{"max_output_tokens":16E+3}`, max: 16000},
		{body: `{"max_tokens":100.5}`, max: 101},
		{body: `{"max_tokens":0.001}`, max: 1},
		{body: `{"max_tokens":"2048"}`, max: 2048},
		{body: `{"max_tokens":" 2.5e3 "}`, max: 2500},
		{body: `{"max_tokens":null,"n":null}`},
		{body: `{"max_tokens":0,"n":0}`},
		{body: `{"max_tokens":-0}`},
		{body: `{"max_tokens":10000000,"n":128}`, max: 10000000, choices: 128, n: 128},
		{body: `{"max_tokens":10,"max_completion_tokens":30,"max_output_tokens":20}`, max: 30},
		{body: `{"n":2.5}`, choices: 3, n: 3},
		// Gemini: either spelling of a proto field, numbers as strings.
		{body: `{"contents":[],"generationConfig":{"temperature":1,"maxOutputTokens":60000,"candidateCount":4}}`, max: 60000, choices: 4},
		{body: `{"generation_config":{"max_output_tokens":8192,"candidate_count":"2"}}`, max: 8192, choices: 2},
		{body: `{"generationConfig":{"max\u004futputTokens":7}}`, max: 7},
		{body: `{"generationConfig":null}`},
		{body: `{"generationConfig":{}}`},
		{body: `{"generationConfig":{"responseSchema":{"type":"object","properties":{"maxOutputTokens":{"type":"integer"}}},"maxOutputTokens":5}}`, max: 5},
		{body: `{"n":2,"generationConfig":{"candidateCount":3}}`, choices: 3, n: 2},
		{body: `{"max_tokens":10,"generationConfig":{"maxOutputTokens":20}}`, max: 20},
		// Bedrock Converse; Nova's InvokeModel body.
		{body: `{"messages":[],"inferenceConfig":{"maxTokens":2000,"temperature":0.5}}`, max: 2000},
		{body: `{"inferenceConfig":{"max_new_tokens":3000}}`, max: 3000},
		{body: `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1.5e3}`, max: 1500},
		// Only top-level keys (and the two configs' own members) count.
		{body: `{"messages":[{"role":"user","max_tokens":99999,"n":500}],"metadata":{"n":"x","max_tokens":-1}}`},
		{body: `{"tools":[{"inferenceConfig":{"maxTokens":1}}],"x":{"generationConfig":5}}`},

		{body: `{"max_tokens":-1}`, err: `"max_tokens" must be a number from 0 to 10000000`},
		{body: `{"max_tokens":1e300}`, err: `"max_tokens" must be`},
		{body: `{"max_tokens":1e400}`, err: `"max_tokens" must be`},
		{body: `{"max_completion_tokens":10000001}`, err: `"max_completion_tokens" must be`},
		{body: `{"max_output_tokens":-0.5}`, err: `"max_output_tokens" must be`},
		{body: `{"max_tokens":true}`, err: `"max_tokens" must be`},
		{body: `{"max_tokens":[4096]}`, err: `"max_tokens" must be`},
		{body: `{"max_tokens":{"n":1}}`, err: `"max_tokens" must be`},
		{body: `{"max_tokens":"NaN"}`, err: `"max_tokens" must be`},
		{body: `{"max_tokens":"Infinity"}`, err: `"max_tokens" must be`},
		{body: `{"max_tokens":"0x1000"}`, err: `"max_tokens" must be`},
		{body: `{"max_tokens":""}`, err: `"max_tokens" must be`},
		{body: `{"max_tokens":"\"5\""}`, err: `"max_tokens" must be`},
		{body: `{"n":1000}`, err: `"n" must be a number from 0 to 128`},
		{body: `{"n":129}`, err: `"n" must be`},
		{body: `{"n":-2}`, err: `"n" must be`},
		{body: `{"n":"many"}`, err: `"n" must be`},
		{body: `{"generationConfig":{"candidateCount":200}}`, err: `"generationConfig.candidateCount" must be a number from 0 to 128`},
		{body: `{"generation_config":{"max_output_tokens":-5}}`, err: `"generationConfig.maxOutputTokens" must be`},
		{body: `{"inferenceConfig":{"maxTokens":2e7}}`, err: `"inferenceConfig.maxTokens" must be`},
		{body: `{"generationConfig":5}`, err: `"generationConfig" must be an object`},
		{body: `{"generation_config":[]}`, err: `"generation_config" must be an object`},
		{body: `{"inferenceConfig":"big"}`, err: `"inferenceConfig" must be an object`},
		// Repeats of what the gateway acts on, at either level.
		{body: `{"n":1,"n":100}`, err: `repeats the key "n"`},
		{body: `{"n":1,"\u006e":100}`, err: `repeats the key "n"`},
		{body: `{"generationConfig":{"maxOutputTokens":1,"maxOutputTokens":60000}}`, err: `repeats the key "generationConfig.maxOutputTokens"`},
		{body: `{"generationConfig":{"maxOutputTokens":1,"max_output_tokens":60000}}`, err: `repeats the key "generationConfig.maxOutputTokens"`},
		{body: `{"generationConfig":{"candidateCount":1,"candidate_count":8}}`, err: `repeats the key "generationConfig.candidateCount"`},
		{body: `{"generationConfig":{},"generation_config":{"maxOutputTokens":60000}}`, err: `repeats the key "generationConfig"`},
		{body: `{"inferenceConfig":{"maxTokens":1,"maxTokens":900000}}`, err: `repeats the key "inferenceConfig.maxTokens"`},
		{body: `{"inferenceConfig":{"maxTokens":1},"inferenceConfig":{"maxTokens":900000}}`, err: `repeats the key "inferenceConfig"`},
	} {
		f, err := parseRequest([]byte(tc.body))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.body, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.body, err, tc.err)
		case tc.err == "" && (f.MaxTokens != tc.max || f.Choices != tc.choices || f.N != tc.n):
			t.Errorf("%s: max %d choices %d n %d, want %d %d %d", tc.body, f.MaxTokens, f.Choices, f.N, tc.max, tc.choices, tc.n)
		}
	}
}

// TestParseRequestErrorsDoNotQuote: a refused value never comes back in
// the error (it may be a secret pasted in the wrong place).
func TestParseRequestErrorsDoNotQuote(t *testing.T) {
	for _, body := range []string{
		`{"max_tokens":"sk-secret-98765"}`, `{"n":98765e3}`, `{"max_tokens":-98765}`,
		`{"generationConfig":{"maxOutputTokens":"sk-secret-98765"}}`,
		`{"inferenceConfig":{"maxTokens":[98765]}}`, `{"generationConfig":"sk-secret-98765"}`,
	} {
		_, err := parseRequest([]byte(body))
		if err == nil {
			t.Fatalf("%s: accepted", body)
		}
		if strings.Contains(err.Error(), "98765") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error quotes the value: %v", body, err)
		}
	}
}

func TestEstimateWorstCase(t *testing.T) {
	prices := DefaultPrices()
	price := func(provider, model string) Price {
		p, ok := prices.Lookup(provider, model)
		if !ok {
			t.Fatalf("no price for %s/%s", provider, model)
		}
		return p
	}
	unknown := Price{Provider: "bedrock", Model: "some-model", Input: 1, Output: 1}
	for _, tc := range []struct {
		name       string
		price      Price
		body       string
		defaultOut int64
		out        int64
	}{
		{"n=128 on gpt-4o", price("openai", "gpt-4o"), `{"model":"gpt-4o","n":128,"max_tokens":4096}`, 0, 128 * 4096},
		{"no limit: the model's maximum", price("openai", "gpt-4o"), `{"model":"gpt-4o"}`, 0, 16384},
		{"no limit, n=2", price("openai", "gpt-4o-mini"), `{"model":"gpt-4o-mini","n":2}`, 0, 2 * 16384},
		{"limit over the table's maximum: the request's", price("openai", "gpt-4o"), `{"max_tokens":50000}`, 0, 50000},
		{"float limit", price("openai", "gpt-4o"), `{"max_completion_tokens":1.6e4}`, 0, 16000},
		{"claude no limit", price("anthropic", "claude-sonnet-4-5"), `{"model":"claude-sonnet-4-5"}`, 4096, 64000},
		{"claude float", price("anthropic", "claude-haiku-4-5-20251001"), `{"max_tokens":64000.0}`, 0, 64000},
		{"gemini candidates", price("google", "gemini-2.5-pro"), `{"generationConfig":{"maxOutputTokens":100000,"candidateCount":4}}`, 0, 4 * 100000},
		{"gemini no limit", price("google", "gemini-2.5-flash"), `{"contents":[]}`, 0, 65536},
		{"gemini snake case", price("google", "gemini-2.5-flash"), `{"generation_config":{"max_output_tokens":1000,"candidate_count":2}}`, 0, 2000},
		{"unknown maximum: the request's limit", unknown, `{"inferenceConfig":{"maxTokens":50000}}`, 0, 50000},
		{"unknown maximum, no limit: the default", unknown, `{"messages":[]}`, 0, defaultMaxOutput},
		{"unknown maximum, no limit: the configured default", unknown, `{"messages":[]}`, 8000, 8000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			x := &exchange{body: []byte(tc.body), facts: f, price: tc.price, defaultOut: tc.defaultOut}
			u := x.estimate()
			in := int64(len(tc.body)) + textOverheadTokens
			if cw := tc.price.ContextWindow; cw > 0 {
				in = min(in, cw)
			}
			if u.OutputTokens != tc.out || u.InputTokens != in {
				t.Errorf("estimate %+v, want output %d, input %d", u, tc.out, in)
			}
		})
	}
	// Unit-priced and free routes are not token estimates.
	x := &exchange{route: &route{unit: unitImages}, units: true, facts: requestFacts{N: 3, Choices: 3, MaxTokens: 100}}
	if u := x.estimate(); u != (Usage{InputTokens: 3}) {
		t.Errorf("images: %+v", u)
	}
	x = &exchange{route: &route{free: true}, facts: requestFacts{Choices: 3, MaxTokens: 100}, body: []byte("{}")}
	if u := x.estimate(); u != (Usage{}) {
		t.Errorf("free: %+v", u)
	}
}

func TestParsePricesMaxOutput(t *testing.T) {
	const entry = `{"models":[{"provider":"p","model":"m","input":1,"output":1,"source":"s","as_of":"d"%s}]}`
	for _, tc := range []struct {
		field string
		want  int64
		ok    bool
	}{
		{"", 0, true}, {`,"max_output":64000`, 64000, true}, {`,"max_output":0`, 0, true},
		{`,"max_output":-1`, 0, false}, {`,"max_output":1.5`, 0, false}, {`,"max_output":"64000"`, 0, false},
	} {
		tab, err := ParsePrices([]byte(fmt.Sprintf(entry, tc.field)))
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v", tc.field, err)
			continue
		}
		if err == nil {
			if p, _ := tab.Lookup("p", "m"); p.MaxOutput != tc.want {
				t.Errorf("%q: max_output %d", tc.field, p.MaxOutput)
			}
		}
	}
	for _, m := range []struct {
		provider, model string
		max             int64
	}{
		{"openai", "gpt-4o", 16384}, {"openai", "gpt-4o-mini", 16384},
		{"anthropic", "claude-sonnet-4-5", 64000}, {"anthropic", "claude-haiku-4-5", 64000},
		{"google", "gemini-2.5-pro", 65536}, {"google", "gemini-2.5-flash", 65536},
	} {
		if p, _ := DefaultPrices().Lookup(m.provider, m.model); p.MaxOutput != m.max {
			t.Errorf("%s/%s: max_output %d, want %d", m.provider, m.model, p.MaxOutput, m.max)
		}
	}
}

// TestChoicesRefusedOverBudget: with a budget that covers one n=1
// request, the same request with n=8 (or its limit as a float, or over
// the gateway's bounds) is refused before the provider is called, and the
// n=1 request still goes through.
func TestChoicesRefusedOverBudget(t *testing.T) {
	const one = `{"model":"gpt-4o-mini","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`
	var adm *MemoryAdmission
	r := reservation(t, "openai", "gpt-4o-mini", one)
	f := newFixture(t, 210, withRole(broker.Budget{PerTokenUSD: r * 1.5}, broker.RateLimits{}, &adm))
	f.openai = exactUsage(false)
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"n=8", strings.Replace(one, `"max_tokens"`, `"n":8,"max_tokens"`, 1), http.StatusTooManyRequests},
		{"float limit", strings.Replace(one, `1000`, `1.6e4`, 1), http.StatusTooManyRequests},
		{"no limit", strings.Replace(one, `"max_tokens":1000,`, ``, 1), http.StatusTooManyRequests},
		{"n over the cap", strings.Replace(one, `"max_tokens"`, `"n":1000,"max_tokens"`, 1), http.StatusBadRequest},
		{"negative limit", strings.Replace(one, `1000`, `-1000`, 1), http.StatusBadRequest},
		{"repeated n", strings.Replace(one, `"max_tokens"`, `"n":1,"n":8,"max_tokens"`, 1), http.StatusBadRequest},
	} {
		st, body, _ := f.postH(t, "/v1/chat/completions", f.token, tc.body)
		if st != tc.status {
			t.Fatalf("%s: status %d, want %d: %s", tc.name, st, tc.status, body)
		}
		openAIShaped(t, body)
		if strings.Contains(body, `"hi"`) || strings.Contains(body, "messages") {
			t.Errorf("%s: the refusal quotes the request: %s", tc.name, body)
		}
		if n := f.upstreamCalls(); n != 0 {
			t.Fatalf("%s: upstream called %d times", tc.name, n)
		}
		if s, res := adm.Spent(f.grantID); s != 0 || res != 0 {
			t.Errorf("%s: spent %v reserved %v after a refusal", tc.name, s, res)
		}
	}
	if st, body, _ := f.postH(t, "/v1/chat/completions", f.token, one); st != 200 {
		t.Fatalf("n=1: status %d: %s", st, body)
	}
	if n := f.upstreamCalls(); n != 1 {
		t.Errorf("upstream called %d times, want 1", n)
	}
}
