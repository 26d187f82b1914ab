package discover

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/bmatcuk/doublestar/v4"
	"go.yaml.in/yaml/v3"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/scan"
)

// ConfigFile is the name of the per-repository configuration file.
const ConfigFile = ".aicred.yaml"

// Config is the content of .aicred.yaml: custom rules in the same shape as
// built-in ones, allowlists and disabled rules.
type Config struct {
	Rules   []RuleConfig `yaml:"rules"`
	Allow   AllowConfig  `yaml:"allow"`
	Disable []string     `yaml:"disable"`
	Exclude []string     `yaml:"exclude"`
}

// RuleConfig is a custom detection rule.
type RuleConfig struct {
	ID            string   `yaml:"id"`
	Provider      string   `yaml:"provider"`
	Kind          string   `yaml:"kind"`
	Name          string   `yaml:"name"`
	Description   string   `yaml:"description"`
	Keywords      []string `yaml:"keywords"`
	Pattern       string   `yaml:"pattern"`
	ContextWindow int      `yaml:"context_window"`
	Boundary      string   `yaml:"boundary"`
	MinEntropy    float64  `yaml:"min_entropy"`
	Capabilities  []string `yaml:"capabilities"`
}

// AllowConfig suppresses findings.
type AllowConfig struct {
	Paths        []string `yaml:"paths"`        // doublestar globs on the finding's path
	Fingerprints []string `yaml:"fingerprints"` // sha256:... of deliberate test values
	Patterns     []string `yaml:"patterns"`     // regular expressions matched against the secret
	Rules        []string `yaml:"rules"`        // alias of disable
}

// LoadConfig reads a configuration file. A missing file is not an error
// when optional is true. Errors name the line and the reason.
func LoadConfig(path string, optional bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return &Config{}, nil
		}
		return nil, aicred.Errorf(aicred.ErrInvalid, "config %s: %v", path, err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "config %s: %v", path, err)
	}
	return c, nil
}

// ParseConfig parses and checks configuration bytes.
func ParseConfig(data []byte) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if _, err := c.kinds(); err != nil {
		return nil, err
	}
	for _, g := range append(append([]string{}, c.Allow.Paths...), c.Exclude...) {
		if !doublestar.ValidatePattern(g) {
			return nil, fmt.Errorf("bad glob %q", g)
		}
	}
	for i, fp := range c.Allow.Fingerprints {
		if !aicred.Fingerprint(fp).Valid() {
			// The entry may be a pasted raw key: never echo it.
			return nil, fmt.Errorf("allow.fingerprints[%d] (%s) is not sha256:<64 hex>", i, aicred.Redact(fp))
		}
	}
	for _, p := range c.Allow.Patterns {
		if _, err := regexp.Compile(p); err != nil {
			return nil, fmt.Errorf("allow.patterns: %w", err)
		}
	}
	return c, nil
}

// kinds turns custom rules into kinds, checking each like a built-in rule.
func (c *Config) kinds() ([]*provider.Kind, error) {
	var out []*provider.Kind
	seen := map[string]bool{}
	for i, r := range c.Rules {
		where := fmt.Sprintf("rules[%d]", i)
		if r.ID == "" || r.Provider == "" || r.Kind == "" || r.Pattern == "" || len(r.Keywords) == 0 {
			return nil, fmt.Errorf("%s: id, provider, kind, keywords and pattern are required", where)
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("%s: duplicate rule id %q", where, r.ID)
		}
		seen[r.ID] = true
		var caps []aicred.Capability
		for _, s := range r.Capabilities {
			cp := aicred.Capability(s)
			if !cp.Valid() {
				return nil, fmt.Errorf("%s: unknown capability %q", where, s)
			}
			caps = append(caps, cp)
		}
		if len(caps) == 0 {
			return nil, fmt.Errorf("%s: capabilities are required (what does the credential unlock?)", where)
		}
		name := r.Name
		if name == "" {
			name = r.Provider + " " + r.Kind
		}
		p := &provider.Provider{ID: r.Provider, Name: r.Provider, Category: "custom"}
		if cat, ok := provider.Lookup(r.Provider); ok {
			p.Name, p.Category = cat.Name, cat.Category
		}
		k := provider.NewCustomKind(p, &provider.Kind{
			ID: r.Kind, Name: name, Capabilities: caps,
			Rule: provider.Rule{
				ID: r.ID, Description: r.Description, Keywords: r.Keywords, Pattern: r.Pattern,
				ContextWindow: r.ContextWindow, Boundary: r.Boundary, MinEntropy: r.MinEntropy,
			},
		})
		if _, err := scan.New(scan.Options{Kinds: []*provider.Kind{k}}); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, k)
	}
	return out, nil
}
