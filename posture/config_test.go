package posture

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aicred/aicred"
)

func TestParseConfig(t *testing.T) {
	for _, empty := range []string{"", "# only a comment\n", "---\n"} {
		c, err := ParseConfig([]byte(empty))
		if err != nil || !reflect.DeepEqual(c, DefaultConfig()) {
			t.Errorf("ParseConfig(%q) = %+v, %v; want the defaults", empty, c, err)
		}
	}
	c, err := ParseConfig([]byte(`
max_age_days: 30
age_high_days: 180
leak_places: [git, chat]
third_party_providers: []
admin_kinds: [mistral/api-key]
disable: [AIC-NHI1-NO-OWNER]
severity:
  AIC-NHI7-NO-EXPIRY: info
  AIC-NHI9-SPRAWL: High
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxAgeDays != 30 || c.AgeHighDays != 180 || c.UnusedDays != 90 {
		t.Errorf("numbers: %+v", c)
	}
	if !reflect.DeepEqual(c.LeakPlaces, []string{"git", "chat"}) || c.ThirdPartyProviders == nil || len(c.ThirdPartyProviders) != 0 {
		t.Errorf("lists replace the defaults, an empty list stays empty: %q %q", c.LeakPlaces, c.ThirdPartyProviders)
	}
	if c.Severity["AIC-NHI7-NO-EXPIRY"] != Info || c.Severity["AIC-NHI9-SPRAWL"] != High {
		t.Errorf("severity: %v", c.Severity)
	}
	if got := c.withDefaults(); len(got.ThirdPartyProviders) != 0 {
		t.Errorf("withDefaults refilled an empty list: %q", got.ThirdPartyProviders)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"syntax", "max_age_days: 30\n  bad: [\n", "line "},
		{"unknown key", "max_age_days: 30\nmax_agedays: 5\n", "line 2: field max_agedays not found"},
		{"wrong type", "unused_days: 30\nmax_age_days: ninety\n", "line 2:"},
		{"zero", "max_age_days: 0\n", "line 1: max_age_days must be at least 1"},
		{"negative", "\nmax_workloads: -1\n", "line 2: max_workloads must be at least 1"},
		{"sprawl of one", "sprawl_threshold: 1\n", "line 1: sprawl_threshold must be at least 2"},
		{"age bands", "max_age_days: 200\nage_high_days: 100\n", "line 2: age_high_days (100) must not be below max_age_days (200)"},
		{"unknown place", "leak_places:\n  - git\n  - wiki\n", `line 3: leak_places: unknown place "wiki"`},
		{"kind without provider", "human_kinds: [git, gcp/user-adc-json]\n", `line 1: human_kinds: "git" is not provider/kind`},
		{"empty marker", "prod_markers: [prod, '']\n", "line 1: prod_markers: empty entry"},
		{"marker both ways", "prod_markers: [prod, dev]\n", `line 1: prod_markers: "dev" is also a non-prod marker`},
		{"unknown check", "disable:\n  - AIC-NHI7-AGE\n  - AIC-NHI7-OLD\n", `line 3: disable: unknown check "AIC-NHI7-OLD"`},
		{"severity of unknown check", "severity:\n  AIC-NHI0-X: high\n", `line 2: severity: unknown check "AIC-NHI0-X"`},
		{"bad severity", "severity:\n  AIC-NHI7-AGE: severe\n", `line 2: unknown severity "severe"`},
		{"none severity", "severity:\n  AIC-NHI7-AGE: none\n", "line 2:"},
		{"timeline", "timeline_months: 1000\n", "line 1: timeline_months must be at most 240"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if aicred.KindOf(err) != aicred.ErrInvalid {
				t.Errorf("kind %v", aicred.KindOf(err))
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "posture.yaml")
	if err := os.WriteFile(good, []byte("unused_days: 60\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(good)
	if err != nil || c.UnusedDays != 60 {
		t.Fatalf("%+v %v", c, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("\n\nunused_days: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line 3") || aicred.KindOf(err) != aicred.ErrInvalid {
		t.Errorf("bad file: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); aicred.KindOf(err) != aicred.ErrNotFound {
		t.Errorf("missing file: %v", err)
	}
}

func TestValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	err := Config{MaxWorkloads: -2}.Validate()
	if err == nil || aicred.KindOf(err) != aicred.ErrInvalid || strings.Contains(err.Error(), "line") {
		t.Errorf("Go config: %v", err)
	}
	if err := (Config{Severity: map[string]Severity{"AIC-NHI7-AGE": None}}).Validate(); err == nil {
		t.Error("severity none accepted")
	}
}
