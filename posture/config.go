package posture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/aicred/aicred"
)

// Config holds the thresholds of the checks. The zero value of a field
// means its default (DefaultConfig), so Config{} is the default policy; a
// list given in YAML replaces the default list.
type Config struct {
	// NHI1: a credential no scan has seen for this many days that still
	// works (or was never checked) is a candidate for offboarding.
	UnusedDays int `yaml:"unused_days" json:"unused_days"`
	// NHI1: how long a replaced credential may keep working after
	// RotatedAt (the overlap of a rotation).
	RotationGraceHours int `yaml:"rotation_grace_hours" json:"rotation_grace_hours"`

	// NHI2: the places where a sighting counts as a leak. Places are git
	// (history and staged changes), notebook, chat, archive, stdin, file
	// (any other file) and, from the path, log, code, ci and config.
	LeakPlaces []string `yaml:"leak_places" json:"leak_places"`
	// NHI2: a leaked credential still live this many hours after it was
	// first seen has missed the revocation objective.
	RevokeSLOHours int `yaml:"revoke_slo_hours" json:"revoke_slo_hours"`

	// NHI3: provider categories and providers whose credentials are held by
	// or give access to third-party agent and integration tools.
	ThirdPartyCategories []string `yaml:"third_party_categories" json:"third_party_categories"`
	ThirdPartyProviders  []string `yaml:"third_party_providers" json:"third_party_providers"`

	// NHI4: providers that support workload identity federation, so a
	// static key is avoidable.
	FederatedProviders []string `yaml:"federated_providers" json:"federated_providers"`

	// NHI5: kinds ("provider/kind") to treat as admin-class besides those
	// whose capabilities say so (org-admin, or key-admin without inference).
	AdminKinds []string `yaml:"admin_kinds" json:"admin_kinds,omitempty"`
	// NHI5: a credential that unlocks more capabilities than this is broad.
	MaxCapabilities int `yaml:"max_capabilities" json:"max_capabilities"`

	// NHI6: CI/CD configuration paths. An entry ending in "/" matches a
	// directory anywhere in the path; any other entry matches the end of
	// the path (a file name or a trailing part of it). Case-insensitive.
	CIPaths []string `yaml:"ci_paths" json:"ci_paths"`

	// NHI7: age in days above which a credential is long-lived, and above
	// which that is high rather than medium.
	MaxAgeDays  int `yaml:"max_age_days" json:"max_age_days"`
	AgeHighDays int `yaml:"age_high_days" json:"age_high_days"`
	// NHI7: an expiry further away than this many days is no expiry.
	MaxLifetimeDays int `yaml:"max_lifetime_days" json:"max_lifetime_days"`

	// NHI8: a credential may serve this many environments; more, or prod
	// and non-prod together, is a finding. Markers are words matched
	// against declared environment names and the words of sighting paths.
	MaxEnvironments int      `yaml:"max_environments" json:"max_environments"`
	ProdMarkers     []string `yaml:"prod_markers" json:"prod_markers"`
	NonProdMarkers  []string `yaml:"nonprod_markers" json:"nonprod_markers"`

	// NHI9: more workloads than this share one credential; a credential
	// found at this many distinct places or more has sprawled.
	MaxWorkloads    int `yaml:"max_workloads" json:"max_workloads"`
	SprawlThreshold int `yaml:"sprawl_threshold" json:"sprawl_threshold"`

	// NHI10: kinds ("provider/kind") bound to a person rather than a
	// service.
	HumanKinds []string `yaml:"human_kinds" json:"human_kinds"`

	// TimelineMonths is how many months the leak timeline shows; earlier
	// sightings are summed.
	TimelineMonths int `yaml:"timeline_months" json:"timeline_months"`

	// Disable lists check ids not to run.
	Disable []string `yaml:"disable" json:"disable,omitempty"`
	// Severity pins the severity of a check's findings (by check id),
	// replacing its own escalation rules.
	Severity map[string]Severity `yaml:"severity" json:"severity,omitempty"`
}

// DefaultConfig returns the default policy.
func DefaultConfig() Config {
	return Config{
		UnusedDays:           90,
		RotationGraceHours:   24,
		LeakPlaces:           []string{"git", "notebook", "chat", "archive", "log", "code", "ci"},
		RevokeSLOHours:       24,
		ThirdPartyCategories: []string{"agent-tools"},
		ThirdPartyProviders:  []string{"openrouter"},
		FederatedProviders:   []string{"openai", "anthropic", "openrouter", "aws", "gcp", "azure", "azure-openai", "google"},
		MaxCapabilities:      4,
		CIPaths: []string{
			".github/workflows/", ".github/actions/", ".gitlab-ci.yml", ".gitlab-ci.yaml", ".gitlab/ci/",
			"jenkinsfile", ".circleci/", "azure-pipelines.yml", "azure-pipelines.yaml", "bitbucket-pipelines.yml",
			".travis.yml", ".buildkite/", ".drone.yml", "cloudbuild.yaml", "cloudbuild.yml", "buildspec.yml",
			"buildspec.yaml", ".tekton/", "codemagic.yaml", "bitrise.yml", ".woodpecker.yml", ".woodpecker/",
		},
		MaxAgeDays:      90,
		AgeHighDays:     365,
		MaxLifetimeDays: 365,
		MaxEnvironments: 1,
		ProdMarkers:     []string{"prod", "production", "prd"},
		NonProdMarkers: []string{
			"dev", "develop", "development", "test", "tests", "testing", "qa", "staging", "stage", "stg",
			"sandbox", "uat", "preview", "local", "demo",
		},
		MaxWorkloads:    1,
		SprawlThreshold: 3,
		HumanKinds: []string{
			"gcp/user-adc-json", "anthropic/oauth-token", "anthropic/oauth-refresh-token", "openai/api-key",
			"huggingface/access-token", "langsmith/api-key", "devin/personal-api-key", "clarifai/pat",
			"databricks/access-token", "friendli/api-key",
		},
		TimelineMonths: 24,
	}
}

// withDefaults fills every zero field from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	for _, f := range []struct{ v, def *int }{
		{&c.UnusedDays, &d.UnusedDays}, {&c.RotationGraceHours, &d.RotationGraceHours},
		{&c.RevokeSLOHours, &d.RevokeSLOHours}, {&c.MaxCapabilities, &d.MaxCapabilities},
		{&c.MaxAgeDays, &d.MaxAgeDays}, {&c.AgeHighDays, &d.AgeHighDays},
		{&c.MaxLifetimeDays, &d.MaxLifetimeDays}, {&c.MaxEnvironments, &d.MaxEnvironments},
		{&c.MaxWorkloads, &d.MaxWorkloads}, {&c.SprawlThreshold, &d.SprawlThreshold},
		{&c.TimelineMonths, &d.TimelineMonths},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *[]string }{
		{&c.LeakPlaces, &d.LeakPlaces}, {&c.ThirdPartyCategories, &d.ThirdPartyCategories},
		{&c.ThirdPartyProviders, &d.ThirdPartyProviders}, {&c.FederatedProviders, &d.FederatedProviders},
		{&c.CIPaths, &d.CIPaths}, {&c.ProdMarkers, &d.ProdMarkers}, {&c.NonProdMarkers, &d.NonProdMarkers},
		{&c.HumanKinds, &d.HumanKinds},
	} {
		if *f.v == nil {
			*f.v = *f.def
		}
	}
	return c
}

// LoadConfig reads a posture policy file. Errors are ErrInvalid and name
// the file and the line.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		kind := aicred.ErrInvalid
		if errors.Is(err, os.ErrNotExist) {
			kind = aicred.ErrNotFound
		}
		return Config{}, aicred.Errorf(kind, "posture config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, aicred.Errorf(aicred.ErrInvalid, "%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig reads a posture policy in YAML over the defaults and checks
// it. Unknown keys, wrong types and out-of-range values are errors
// (ErrInvalid) that name their line.
func ParseConfig(data []byte) (Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, aicred.Errorf(aicred.ErrInvalid, "posture config: %w", err)
	}
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, aicred.Errorf(aicred.ErrInvalid, "posture config: %w", err)
	}
	if err := c.validate(&root); err != nil {
		return Config{}, aicred.Errorf(aicred.ErrInvalid, "posture config: %w", err)
	}
	return c, nil
}

// Validate checks a configuration built in Go (zero fields take their
// defaults). Errors are ErrInvalid.
func (c Config) Validate() error {
	if err := c.withDefaults().validate(nil); err != nil {
		return aicred.Errorf(aicred.ErrInvalid, "posture config: %w", err)
	}
	return nil
}

// validate checks the values; root, when set, is the YAML document that
// supplied them, used to name the line of a bad value.
func (c Config) validate(root *yaml.Node) error {
	bad := func(msg string, path ...any) error {
		if l := lineOf(root, path...); l > 0 {
			return fmt.Errorf("line %d: %s", l, msg)
		}
		return errors.New(msg)
	}
	for _, f := range []struct {
		key string
		v   int
		min int
	}{
		{"unused_days", c.UnusedDays, 1}, {"rotation_grace_hours", c.RotationGraceHours, 1},
		{"revoke_slo_hours", c.RevokeSLOHours, 1}, {"max_capabilities", c.MaxCapabilities, 1},
		{"max_age_days", c.MaxAgeDays, 1}, {"age_high_days", c.AgeHighDays, 1},
		{"max_lifetime_days", c.MaxLifetimeDays, 1}, {"max_environments", c.MaxEnvironments, 1},
		{"max_workloads", c.MaxWorkloads, 1}, {"sprawl_threshold", c.SprawlThreshold, 2},
		{"timeline_months", c.TimelineMonths, 1},
	} {
		if f.v < f.min {
			return bad(fmt.Sprintf("%s must be at least %d, got %d", f.key, f.min, f.v), f.key)
		}
	}
	if c.TimelineMonths > 240 {
		return bad(fmt.Sprintf("timeline_months must be at most 240, got %d", c.TimelineMonths), "timeline_months")
	}
	if c.AgeHighDays < c.MaxAgeDays {
		return bad(fmt.Sprintf("age_high_days (%d) must not be below max_age_days (%d)", c.AgeHighDays, c.MaxAgeDays), "age_high_days")
	}
	for i, p := range c.LeakPlaces {
		if placeByName(p) == 0 {
			return bad(fmt.Sprintf("leak_places: unknown place %q (want one of %s)", p, strings.Join(placeNames(), ", ")), "leak_places", i)
		}
	}
	for _, list := range []struct {
		key   string
		items []string
	}{
		{"third_party_categories", c.ThirdPartyCategories}, {"third_party_providers", c.ThirdPartyProviders},
		{"federated_providers", c.FederatedProviders}, {"ci_paths", c.CIPaths},
		{"prod_markers", c.ProdMarkers}, {"nonprod_markers", c.NonProdMarkers},
	} {
		for i, s := range list.items {
			if strings.TrimSpace(s) == "" {
				return bad(list.key+": empty entry", list.key, i)
			}
		}
	}
	for _, list := range []struct {
		key   string
		items []string
	}{{"admin_kinds", c.AdminKinds}, {"human_kinds", c.HumanKinds}} {
		for i, s := range list.items {
			if p, k, ok := strings.Cut(s, "/"); !ok || p == "" || k == "" {
				return bad(fmt.Sprintf("%s: %q is not provider/kind", list.key, s), list.key, i)
			}
		}
	}
	for i, m := range c.ProdMarkers {
		if slices.Contains(c.NonProdMarkers, m) {
			return bad(fmt.Sprintf("prod_markers: %q is also a non-prod marker", m), "prod_markers", i)
		}
	}
	ids := checkIDs()
	for i, id := range c.Disable {
		if !slices.Contains(ids, id) {
			return bad(fmt.Sprintf("disable: unknown check %q", id), "disable", i)
		}
	}
	for _, id := range sortedKeys(c.Severity) {
		if !slices.Contains(ids, id) {
			return bad(fmt.Sprintf("severity: unknown check %q", id), "severity", id)
		}
		if c.Severity[id] == None {
			return bad(fmt.Sprintf("severity: %s: none is not a finding severity (use disable)", id), "severity", id)
		}
	}
	return nil
}

// lineOf finds the line of a value in a YAML document: a path of mapping
// keys (string) and sequence indexes (int). It returns 0 when root is nil
// or the path is not there.
func lineOf(root *yaml.Node, path ...any) int {
	if root == nil {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, step := range path {
		switch s := step.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s {
					line, next = n.Content[i].Line, n.Content[i+1]
				}
			}
			if next == nil {
				return line
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || s >= len(n.Content) {
				return line
			}
			n = n.Content[s]
			line = n.Line
		}
	}
	return line
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
