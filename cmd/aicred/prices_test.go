package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// A LiteLLM-shaped price file: an Azure deployment named after its model,
// a Groq model, a row with no usable rate and the sample_spec.
const liteLLMPrices = `{
  "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of https://docs.litellm.ai/docs/providers"},
  "azure/prod-4o-mini": {"litellm_provider": "azure", "mode": "chat", "input_cost_per_token": 1.65e-07, "output_cost_per_token": 6.6e-07,
    "max_input_tokens": 128000, "max_output_tokens": 16384},
  "groq/llama-3.1-8b-instant": {"litellm_provider": "groq", "mode": "chat", "input_cost_per_token": 1e-07, "output_cost_per_token": 2e-07,
    "max_input_tokens": 128000, "max_output_tokens": 8192},
  "ollama/llama3": {"litellm_provider": "ollama", "mode": "chat", "input_cost_per_token": 0.0, "output_cost_per_token": 0.0}
}`

type pricesJSON struct {
	Count  int `json:"count"`
	Models []struct {
		Provider      string  `json:"provider"`
		Model         string  `json:"model"`
		Input         float64 `json:"input"`
		Output        float64 `json:"output"`
		ContextWindow int64   `json:"context_window"`
	} `json:"models"`
}

func TestPricesList(t *testing.T) {
	dir := t.TempDir()
	litellm := filepath.Join(dir, "litellm.json")
	writeFile(t, litellm, liteLLMPrices)
	config := filepath.Join(dir, "server.yaml")
	writeFile(t, config, "gateway:\n  prices: "+litellm+"\n")

	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, got pricesJSON)
	}{
		{"a dated snapshot at its own price", []string{"--model", "gpt-4o-2024-05-13"}, func(t *testing.T, got pricesJSON) {
			if got.Count != 1 || got.Models[0].Input != 5 || got.Models[0].Output != 15 {
				t.Errorf("%+v", got)
			}
		}},
		{"a provider, a glob", []string{"--provider", "anthropic", "--model", "claude-haiku-*"}, func(t *testing.T, got pricesJSON) {
			if got.Count < 2 || got.Count != len(got.Models) {
				t.Errorf("%+v", got)
			}
			for _, m := range got.Models {
				if m.Provider != "anthropic" || !strings.HasPrefix(m.Model, "claude-haiku-") || m.ContextWindow <= 0 {
					t.Errorf("%+v", m)
				}
			}
		}},
		{"an unpriced model", []string{"--provider", "openai", "--model", "gpt-4o-2099-01-01"}, func(t *testing.T, got pricesJSON) {
			if got.Count != 0 {
				t.Errorf("%+v", got)
			}
		}},
		{"the configured file over the shipped table", []string{"--config", config, "--provider", "groq", "--model", "llama-3.1-8b-instant"}, func(t *testing.T, got pricesJSON) {
			if got.Count != 1 || got.Models[0].Input != 0.1 || got.Models[0].Output != 0.2 {
				t.Errorf("%+v", got)
			}
		}},
		{"an Azure deployment from the configured file", []string{"--config", config, "--provider", "azure-openai"}, func(t *testing.T, got pricesJSON) {
			if got.Count != 1 || got.Models[0].Model != "prod-4o-mini" || got.Models[0].ContextWindow != 128000+16384 {
				t.Errorf("%+v", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"prices", "--format", "json"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got pricesJSON
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("%v: %s", err, r.stdout)
			}
			tc.check(t, got)
		})
	}

	r := runCLI(t, "", "prices", "--provider", "openai", "--model", "gpt-4o")
	if r.code != 0 || !strings.Contains(r.stdout, "PROVIDER") || !strings.Contains(r.stdout, "144384") || !strings.Contains(r.stdout, "\n1 models") {
		t.Errorf("text: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "", "prices", "--format", "yaml"); r.code != exitError {
		t.Errorf("--format yaml: exit %d", r.code)
	}
	if r := runCLI(t, "", "prices", "--config", filepath.Join(dir, "missing.yaml")); r.code != exitError {
		t.Errorf("missing config: exit %d", r.code)
	}
}

func TestPricesCheck(t *testing.T) {
	dir := t.TempDir()
	litellm := filepath.Join(dir, "litellm.json")
	writeFile(t, litellm, liteLLMPrices)
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, `{"models":[{"provider":"openai","model":"free","input":0,"output":0,"source":"s","as_of":"d"}]}`)
	empty := filepath.Join(dir, "empty.json")
	writeFile(t, empty, `{"sample_spec":{}}`)

	for _, tc := range []struct {
		name, file string
		code       int
		out        []string
	}{
		{"LiteLLM", litellm, 0, []string{"litellm format, 2 models priced, 1 rows skipped", "azure-openai", "groq"}},
		{"the shipped table", filepath.Join("..", "..", "gateway", "prices.json"), 0, []string{"aicred format", "anthropic", "aws"}},
		{"a $0 price", bad, exitError, []string{"models[0] openai/free"}},
		{"no usable row", empty, exitError, []string{"no row"}},
		{"no such file", filepath.Join(dir, "nope.json"), exitError, []string{"nope.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", "prices", "--check", tc.file)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d: %s%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, s := range tc.out {
				if !strings.Contains(r.stdout+r.stderr, s) {
					t.Errorf("output lacks %q:\n%s%s", s, r.stdout, r.stderr)
				}
			}
		})
	}
	r := runCLI(t, "", "prices", "--check", litellm, "--format", "json")
	var got struct {
		Format    string         `json:"format"`
		Models    int            `json:"models"`
		Skipped   int            `json:"skipped"`
		Providers map[string]int `json:"providers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Format != "litellm" || got.Models != 2 || got.Skipped != 1 || got.Providers["groq"] != 1 {
		t.Errorf("json: %v %+v %s", err, got, r.stdout)
	}
	if r := runCLI(t, "", "prices", "--check", litellm, "--provider", "groq"); r.code != exitError {
		t.Errorf("--check with --provider: exit %d", r.code)
	}
}
