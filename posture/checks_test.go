package posture

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

func testNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

const day = 24 * time.Hour

type opt func(*aicred.CredentialDetail)

// builder makes credentials whose fingerprints come from secrets generated
// at test time; the secrets themselves are dropped.
func builder(seed uint64) func(prov, kind string, opts ...opt) aicred.CredentialDetail {
	g := provider.NewGen(seed)
	return func(prov, kind string, opts ...opt) aicred.CredentialDetail {
		s := aicred.NewSecret(g.Alnum(40))
		d := aicred.CredentialDetail{Credential: aicred.Credential{
			Fingerprint: s.Fingerprint(), Provider: prov, Kind: kind, Redacted: s.Redacted(),
			RecordedAt: testNow().Add(-10 * day), Verification: aicred.NotChecked, Owner: "ml-team",
			ExpiresAt: testNow().Add(30 * day), CreatedAt: testNow().Add(-5 * day),
		}}
		if k, ok := provider.LookupKind(prov, kind); ok {
			d.Capabilities = k.Capabilities
		}
		for _, o := range opts {
			o(&d)
		}
		d.SightingCount = len(d.Sightings)
		return d
	}
}

func verified(v aicred.Verification) opt {
	return func(d *aicred.CredentialDetail) {
		d.Verification, d.VerifiedAt = v, testNow().Add(-time.Hour)
		d.Liveness = append(d.Liveness, aicred.LivenessCheck{Fingerprint: d.Fingerprint, At: d.VerifiedAt, Result: v})
	}
}

func checkedAt(v aicred.Verification, at time.Time) opt {
	return func(d *aicred.CredentialDetail) {
		d.Verification, d.VerifiedAt = v, at
		d.Liveness = append(d.Liveness, aicred.LivenessCheck{Fingerprint: d.Fingerprint, At: at, Result: v})
	}
}

func seenAt(src aicred.SourceKind, path string, at time.Time) opt {
	return func(d *aicred.CredentialDetail) {
		d.Sightings = append(d.Sightings, aicred.Sighting{
			Fingerprint: d.Fingerprint, Rule: d.Provider + "-" + d.Kind, Origin: "/repo", Source: src, Path: path,
			Line: 3, Column: 7, SeenAt: at, LastSeenAt: at,
		})
		if d.FirstSeen.IsZero() || at.Before(d.FirstSeen) {
			d.FirstSeen = at
		}
		if at.After(d.LastSeen) {
			d.LastSeen = at
		}
		d.Sprawl = len(d.Sightings)
	}
}

func seen(src aicred.SourceKind, path string) opt { return seenAt(src, path, testNow().Add(-2*day)) }

func authored(at time.Time) opt {
	return func(d *aicred.CredentialDetail) { d.Sightings[len(d.Sightings)-1].AuthorDate = at }
}

func origin(o string) opt {
	return func(d *aicred.CredentialDetail) { d.Sightings[len(d.Sightings)-1].Origin = o }
}

func set(f func(d *aicred.CredentialDetail)) opt { return f }

func workloads(n int) opt {
	return func(d *aicred.CredentialDetail) {
		d.Workloads = nil
		for i := range n {
			d.Workloads = append(d.Workloads, "svc-"+string(rune('a'+i)))
		}
	}
}

func envs(e ...string) opt { return func(d *aicred.CredentialDetail) { d.Environments = e } }

func evalCheck(t *testing.T, id string, cfg Config, d aicred.CredentialDetail) (Hit, bool) {
	t.Helper()
	for _, c := range Checks(cfg) {
		if c.ID == id {
			return c.Eval(&d, testNow())
		}
	}
	t.Fatalf("no check %s", id)
	return Hit{}, false
}

func TestChecks(t *testing.T) {
	mk := builder(1)
	now := testNow()
	live, dead, unknown := verified(aicred.Live), verified(aicred.Dead), verified(aicred.Unknown)
	git := aicred.SourceGit
	file := aicred.SourceFile
	type tc struct {
		name string
		cfg  Config
		d    aicred.CredentialDetail
		want Severity // None: must not fire
	}
	cases := map[string][]tc{
		"AIC-NHI1-STALE": {
			{name: "seen exactly 90 days ago", d: mk("openai", "project-key", live, seenAt(file, ".env", now.Add(-90*day)))},
			{name: "91 days, live", d: mk("openai", "project-key", live, seenAt(file, ".env", now.Add(-90*day-time.Hour))), want: High},
			{name: "91 days, never checked", d: mk("openai", "project-key", seenAt(file, ".env", now.Add(-91*day))), want: Medium},
			{name: "91 days, unknown", d: mk("openai", "project-key", unknown, seenAt(file, ".env", now.Add(-91*day))), want: Medium},
			{name: "91 days, dead", d: mk("openai", "project-key", dead, seenAt(file, ".env", now.Add(-91*day)))},
			{name: "a workload uses it", d: mk("openai", "project-key", live, workloads(1), seenAt(file, ".env", now.Add(-200*day)))},
			{name: "custom threshold", cfg: Config{UnusedDays: 30}, d: mk("openai", "project-key", live, seenAt(file, ".env", now.Add(-31*day))), want: High},
			{name: "never seen (held)", d: mk("openai", "project-key", live)},
		},
		"AIC-NHI1-NO-OWNER": {
			{name: "owner", d: mk("groq", "api-key", live)},
			{name: "no owner, live", d: mk("groq", "api-key", live, set(func(d *aicred.CredentialDetail) { d.Owner = " " })), want: Medium},
			{name: "no owner, unchecked", d: mk("groq", "api-key", set(func(d *aicred.CredentialDetail) { d.Owner = "" })), want: Low},
			{name: "no owner, dead", d: mk("groq", "api-key", dead, set(func(d *aicred.CredentialDetail) { d.Owner = "" }))},
		},
		"AIC-NHI1-ROTATED-LIVE": {
			{name: "not rotated", d: mk("openai", "project-key", live)},
			{name: "live exactly at grace", d: mk("openai", "project-key", set(func(d *aicred.CredentialDetail) { d.RotatedAt = now.Add(-10 * day) }),
				checkedAt(aicred.Live, now.Add(-10*day+24*time.Hour)))},
			{name: "live an hour past grace", d: mk("openai", "project-key", set(func(d *aicred.CredentialDetail) { d.RotatedAt = now.Add(-10 * day) }),
				checkedAt(aicred.Live, now.Add(-10*day+25*time.Hour))), want: High},
			{name: "dead after rotation", d: mk("openai", "project-key", set(func(d *aicred.CredentialDetail) { d.RotatedAt = now.Add(-10 * day) }),
				checkedAt(aicred.Dead, now.Add(-day)))},
		},
		"AIC-NHI2-LEAK": {
			{name: "git, live", d: mk("anthropic", "api-key", live, seen(git, "src/app.py")), want: Critical},
			{name: "git, unchecked", d: mk("anthropic", "api-key", seen(git, "src/app.py")), want: High},
			{name: "git, unknown", d: mk("anthropic", "api-key", unknown, seen(git, ".env")), want: High},
			{name: "git, dead", d: mk("anthropic", "api-key", dead, seen(git, "src/app.py")), want: Low},
			{name: "source file on disk", d: mk("anthropic", "api-key", live, seen(file, "svc/main.go")), want: Critical},
			{name: "log file", d: mk("anthropic", "api-key", live, seen(file, "var/logs/app.txt")), want: Critical},
			{name: "notebook", d: mk("anthropic", "api-key", live, seen(aicred.SourceNotebook, "eval.ipynb")), want: Critical},
			{name: "chat", d: mk("anthropic", "api-key", live, seen(aicred.SourceChat, "slack.zip")), want: Critical},
			{name: "archive member", d: mk("anthropic", "api-key", live, seen(aicred.SourceArchive, "b.zip!x/.env")), want: Critical},
			{name: ".env on disk is plaintext, not a leak", d: mk("anthropic", "api-key", live, seen(file, ".env"))},
			{name: "stdin is not a leak", d: mk("anthropic", "api-key", live, seen(aicred.SourceStdin, "-"))},
			{name: "no sightings", d: mk("anthropic", "api-key", live)},
			{name: "leak places narrowed", cfg: Config{LeakPlaces: []string{"git"}}, d: mk("anthropic", "api-key", live, seen(aicred.SourceNotebook, "eval.ipynb"))},
			{name: "leak places widened", cfg: Config{LeakPlaces: []string{"config"}}, d: mk("anthropic", "api-key", live, seen(file, ".env")), want: Critical},
		},
		"AIC-NHI2-PLAINTEXT": {
			{name: ".env, live", d: mk("mistral", "api-key", live, seen(file, ".env")), want: Medium},
			{name: ".env, unchecked", d: mk("mistral", "api-key", seen(file, "conf/settings.yaml")), want: Medium},
			{name: ".env, dead", d: mk("mistral", "api-key", dead, seen(file, ".env")), want: Info},
			{name: "only leaks", d: mk("mistral", "api-key", live, seen(git, ".env"))},
		},
		"AIC-NHI2-REVOKE-SLO": {
			{name: "found exactly 24 hours ago", d: mk("openai", "project-key", live, seenAt(git, "a.py", now.Add(-24*time.Hour)))},
			{name: "found 25 hours ago", d: mk("openai", "project-key", live, seenAt(git, "a.py", now.Add(-25*time.Hour))), want: Critical},
			{name: "not live", d: mk("openai", "project-key", unknown, seenAt(git, "a.py", now.Add(-25*day)))},
			{name: "plaintext only", d: mk("openai", "project-key", live, seenAt(file, ".env", now.Add(-25*day)))},
			{name: "custom SLO", cfg: Config{RevokeSLOHours: 48}, d: mk("openai", "project-key", live, seenAt(git, "a.py", now.Add(-25*time.Hour)))},
		},
		"AIC-NHI3-THIRD-PARTY": {
			{name: "agent tool, live", d: mk("tavily", "api-key", live), want: Medium},
			{name: "agent tool reaching data, live", d: mk("devin", "service-api-key", live), want: High},
			{name: "agent tool reaching data, unchecked", d: mk("devin", "service-api-key"), want: Medium},
			{name: "agent tool, dead", d: mk("tavily", "api-key", dead)},
			{name: "aggregator", d: mk("openrouter", "api-key", live), want: Medium},
			{name: "model API", d: mk("openai", "project-key", live)},
			{name: "policy without aggregators", cfg: Config{ThirdPartyProviders: []string{}}, d: mk("openrouter", "api-key", live)},
		},
		"AIC-NHI4-STATIC-KEY": {
			{name: "openai project key", d: mk("openai", "project-key", live), want: Medium},
			{name: "aws access key", d: mk("aws", "access-key-id"), want: Medium},
			{name: "gcp service account", d: mk("gcp", "service-account", unknown), want: Medium},
			{name: "dead", d: mk("openai", "project-key", dead)},
			{name: "no federation", d: mk("mistral", "api-key", live)},
			{name: "short-lived by design", d: mk("aws", "bedrock-short-term-key", live)},
			{name: "human kind is NHI10's", d: mk("gcp", "user-adc-json", live)},
			{name: "bedrock long-term has its own check", d: mk("aws", "bedrock-api-key", live)},
		},
		"AIC-NHI4-BEDROCK-LONG-TERM": {
			{name: "live", d: mk("aws", "bedrock-api-key", live), want: High},
			{name: "unchecked", d: mk("aws", "bedrock-api-key"), want: Medium},
			{name: "dead", d: mk("aws", "bedrock-api-key", dead)},
			{name: "short-term", d: mk("aws", "bedrock-short-term-key", live)},
		},
		"AIC-NHI5-ADMIN": {
			{name: "admin key in code, live", d: mk("openai", "admin-key", live, seen(git, "ops/keys.py")), want: Critical},
			{name: "admin key in code, unchecked", d: mk("anthropic", "admin-key", seen(file, ".env")), want: High},
			{name: "admin key in code, dead", d: mk("openai", "admin-key", dead, seen(git, "ops/keys.py")), want: Low},
			{name: "admin key used by a workload", d: mk("openai", "admin-key", live, workloads(1)), want: Critical},
			{name: "admin key held, unused", d: mk("openai", "admin-key", live)},
			{name: "broad but not admin-class", d: mk("aws", "access-key-id", live, seen(git, "a.py"))},
			{name: "listed by policy", cfg: Config{AdminKinds: []string{"mistral/api-key"}}, d: mk("mistral", "api-key", live, workloads(2)), want: Critical},
		},
		"AIC-NHI5-BROAD": {
			{name: "aws access key (7 capabilities)", d: mk("aws", "access-key-id", live), want: Medium},
			{name: "exactly four", d: mk("openai", "project-key", live)},
			{name: "raised threshold", cfg: Config{MaxCapabilities: 7}, d: mk("aws", "access-key-id", live)},
			{name: "dead", d: mk("aws", "access-key-id", dead)},
		},
		"AIC-NHI6-CI-STATIC": {
			{name: "github workflow, live", d: mk("openai", "project-key", live, seen(git, ".github/workflows/deploy.yml")), want: Critical},
			{name: "Jenkinsfile, unchecked", d: mk("aws", "access-key-id", seen(file, "ci/Jenkinsfile")), want: High},
			{name: "gitlab in an archive, dead", d: mk("aws", "access-key-id", dead, seen(aicred.SourceArchive, "r.zip!.gitlab-ci.yml")), want: Low},
			{name: "circleci dir", d: mk("groq", "api-key", live, seen(git, ".circleci/config.yml")), want: Critical},
			{name: "looks like but is not", d: mk("groq", "api-key", live, seen(git, "src/github/workflows.py"))},
			{name: "short-lived", d: mk("aicred", "workload-token", live, seen(git, ".github/workflows/x.yml"))},
		},
		"AIC-NHI7-AGE": {
			{name: "created exactly 90 days ago", d: mk("groq", "api-key", live, set(func(d *aicred.CredentialDetail) { d.CreatedAt = now.Add(-90 * day) }))},
			{name: "90 days and an hour", d: mk("groq", "api-key", live, set(func(d *aicred.CredentialDetail) { d.CreatedAt = now.Add(-90*day - time.Hour) })), want: Medium},
			{name: "over a year", d: mk("groq", "api-key", set(func(d *aicred.CredentialDetail) { d.CreatedAt = now.Add(-366 * day) })), want: High},
			{name: "dead", d: mk("groq", "api-key", dead, set(func(d *aicred.CredentialDetail) { d.CreatedAt = now.Add(-366 * day) }))},
			{name: "from author date", d: mk("groq", "api-key", set(func(d *aicred.CredentialDetail) { d.CreatedAt = time.Time{} }),
				seen(git, "a.py"), authored(now.Add(-100*day))), want: Medium},
			{name: "from first seen", d: mk("groq", "api-key", set(func(d *aicred.CredentialDetail) { d.CreatedAt = time.Time{} }),
				seenAt(file, ".env", now.Add(-100*day))), want: Medium},
			{name: "short-lived", d: mk("anthropic", "oauth-token", set(func(d *aicred.CredentialDetail) { d.CreatedAt = now.Add(-366 * day) }))},
			{name: "custom", cfg: Config{MaxAgeDays: 30, AgeHighDays: 60}, d: mk("groq", "api-key", set(func(d *aicred.CredentialDetail) { d.CreatedAt = now.Add(-61 * day) })), want: High},
		},
		"AIC-NHI7-NO-EXPIRY": {
			{name: "expires in 30 days", d: mk("groq", "api-key", live)},
			{name: "no expiry", d: mk("groq", "api-key", live, set(func(d *aicred.CredentialDetail) { d.ExpiresAt = time.Time{} })), want: Low},
			{name: "exactly 365 days away", d: mk("groq", "api-key", live, set(func(d *aicred.CredentialDetail) { d.ExpiresAt = now.Add(365 * day) }))},
			{name: "366 days away", d: mk("groq", "api-key", live, set(func(d *aicred.CredentialDetail) { d.ExpiresAt = now.Add(366 * day) })), want: Low},
			{name: "dead", d: mk("groq", "api-key", dead, set(func(d *aicred.CredentialDetail) { d.ExpiresAt = time.Time{} }))},
			{name: "short-lived", d: mk("aws", "bedrock-short-term-key", set(func(d *aicred.CredentialDetail) { d.ExpiresAt = time.Time{} }))},
		},
		"AIC-NHI7-EXPIRED-LIVE": {
			{name: "expired, live since", d: mk("groq", "api-key", set(func(d *aicred.CredentialDetail) { d.ExpiresAt = now.Add(-5 * day) }), live), want: High},
			{name: "expired, live before", d: mk("groq", "api-key", set(func(d *aicred.CredentialDetail) { d.ExpiresAt = now.Add(-5 * day) }),
				checkedAt(aicred.Live, now.Add(-6*day)))},
			{name: "expired, dead", d: mk("groq", "api-key", set(func(d *aicred.CredentialDetail) { d.ExpiresAt = now.Add(-5 * day) }), dead)},
			{name: "not yet expired", d: mk("groq", "api-key", live)},
		},
		"AIC-NHI8-MULTI-ENV": {
			{name: "one environment", d: mk("groq", "api-key", live, envs("prod"))},
			{name: "two non-prod", d: mk("groq", "api-key", live, envs("dev", "staging")), want: Medium},
			{name: "prod and dev", d: mk("groq", "api-key", live, envs("prod", "dev")), want: High},
			{name: "prod and test paths", d: mk("groq", "api-key", seen(file, "deploy/prod/.env"), seen(git, "tests/test_api.py")), want: High},
			{name: "prod origin and dev path", d: mk("groq", "api-key", seen(file, ".env"), origin("/srv/prod-api"), seen(file, "config/dev.yaml")), want: High},
			{name: "words, not substrings", d: mk("groq", "api-key", seen(file, "product/.env"), seen(file, "devices/.env"))},
			{name: "dead", d: mk("groq", "api-key", dead, envs("prod", "dev"))},
			{name: "raised limit", cfg: Config{MaxEnvironments: 2}, d: mk("groq", "api-key", live, envs("dev", "staging"))},
		},
		"AIC-NHI9-WORKLOADS": {
			{name: "one workload", d: mk("groq", "api-key", live, workloads(1))},
			{name: "two workloads", d: mk("groq", "api-key", live, workloads(2)), want: Medium},
			{name: "dead", d: mk("groq", "api-key", dead, workloads(3))},
			{name: "raised limit", cfg: Config{MaxWorkloads: 2}, d: mk("groq", "api-key", live, workloads(2))},
		},
		"AIC-NHI9-SPRAWL": {
			{name: "two places", d: mk("groq", "api-key", live, seen(file, "a/.env"), seen(file, "b/.env"))},
			{name: "three places", d: mk("groq", "api-key", live, seen(file, "a/.env"), seen(file, "b/.env"), seen(file, "c/.env")), want: Medium},
			{name: "three places, dead", d: mk("groq", "api-key", dead, seen(file, "a/.env"), seen(file, "b/.env"), seen(file, "c/.env")), want: Low},
			{name: "stored sprawl", d: mk("groq", "api-key", set(func(d *aicred.CredentialDetail) { d.Sprawl = 5 })), want: Medium},
			{name: "same place in many commits", d: mk("groq", "api-key", seen(git, ".env"), seen(git, ".env"), seen(git, ".env"),
				set(func(d *aicred.CredentialDetail) { d.Sprawl = 1 }))},
		},
		"AIC-NHI10-HUMAN-CRED": {
			{name: "gcloud ADC used by a workload", d: mk("gcp", "user-adc-json", live, workloads(1)), want: High},
			{name: "anthropic oauth in CI", d: mk("anthropic", "oauth-token", seen(git, ".github/workflows/review.yml")), want: High},
			{name: "committed", d: mk("gcp", "user-adc-json", seen(git, "creds/adc.json")), want: Medium},
			{name: "on the person's laptop", d: mk("gcp", "user-adc-json", live, seen(file, ".config/gcloud/application_default_credentials.json"))},
			{name: "dead", d: mk("gcp", "user-adc-json", dead, workloads(1))},
			{name: "service credential", d: mk("openai", "service-account-key", live, workloads(1))},
		},
		// The tokens this check reads come beside the credential
		// (Inventory.HandIssued): TestManualToken drives it.
		"AIC-NHI10-MANUAL-TOKEN": {
			{name: "no hand-issued token", d: mk("openai", "project-key", live, set(func(d *aicred.CredentialDetail) { d.Held = true }))},
		},
		"AIC-NHI10-CHAT": {
			{name: "chat, live", d: mk("groq", "api-key", live, seen(aicred.SourceChat, "slack.zip")), want: High},
			{name: "chat, unchecked", d: mk("groq", "api-key", seen(aicred.SourceChat, "slack.zip")), want: Medium},
			{name: "chat, dead", d: mk("groq", "api-key", dead, seen(aicred.SourceChat, "slack.zip")), want: Low},
			{name: "git", d: mk("groq", "api-key", live, seen(git, "a.py"))},
		},
	}
	for _, c := range Checks(Config{}) {
		if len(cases[c.ID]) == 0 {
			t.Errorf("check %s has no test cases", c.ID)
		}
	}
	for id, tcs := range cases {
		for _, tc := range tcs {
			t.Run(id+"/"+tc.name, func(t *testing.T) {
				h, ok := evalCheck(t, id, tc.cfg, tc.d)
				if ok != (tc.want != None) || ok && h.Severity != tc.want {
					t.Fatalf("fired=%v severity=%s reason=%q; want %s", ok, h.Severity, h.Reason, tc.want)
				}
				if ok && (h.Reason == "" || !strings.HasSuffix(h.Reason, ".")) {
					t.Errorf("reason %q is not a sentence", h.Reason)
				}
			})
		}
	}
}

func TestCheckMetrics(t *testing.T) {
	mk := builder(2)
	now := testNow()
	live := verified(aicred.Live)
	d := mk("groq", "api-key", set(func(d *aicred.CredentialDetail) { d.CreatedAt = now.Add(-120*day - time.Hour) }))
	h, ok := evalCheck(t, "AIC-NHI7-AGE", Config{}, d)
	if !ok || h.Metrics["age_days"] != 120 || h.Metrics["max_age_days"] != 90 || !strings.Contains(h.Reason, "120 days old") {
		t.Errorf("age: %+v", h)
	}
	d = mk("groq", "api-key", seen(aicred.SourceFile, "a/.env"), seen(aicred.SourceFile, "b/.env"), seen(aicred.SourceFile, "c/.env"),
		origin("/other"))
	h, _ = evalCheck(t, "AIC-NHI9-SPRAWL", Config{}, d)
	if h.Metrics["sprawl"] != 3 || h.Metrics["origins"] != 2 {
		t.Errorf("sprawl: %+v", h)
	}
	d = mk("groq", "api-key", live, seen(aicred.SourceGit, "a.py"), seen(aicred.SourceGit, "a.py"), seen(aicred.SourceNotebook, "n.ipynb"))
	h, _ = evalCheck(t, "AIC-NHI2-LEAK", Config{}, d)
	if h.Metrics["leak_sightings"] != 3 || h.Metrics["leak_places"] != 2 || !strings.Contains(h.Reason, "git+notebook+code") {
		t.Errorf("leak: %+v", h)
	}
}

func TestCheckCatalogue(t *testing.T) {
	checks := Checks(Config{})
	seen := map[string]bool{}
	items := map[NHI]bool{}
	subs := map[CSF]bool{}
	for _, c := range checks {
		if seen[c.ID] {
			t.Errorf("duplicate check %s", c.ID)
		}
		seen[c.ID] = true
		if !strings.HasPrefix(c.ID, "AIC-"+string(c.NHI)+"-") {
			t.Errorf("%s: id does not name its item %s", c.ID, c.NHI)
		}
		if !slices.Contains(NHIItems(), c.NHI) || len(c.CSF) == 0 {
			t.Errorf("%s: bad mapping %s %v", c.ID, c.NHI, c.CSF)
		}
		for _, s := range c.CSF {
			if !slices.Contains(CSFSubcategories(), s) {
				t.Errorf("%s: unknown CSF %s", c.ID, s)
			}
			subs[s] = true
		}
		items[c.NHI] = true
		if c.Title == "" || c.Signal == "" || c.Threshold == "" || c.Escalation == "" || c.Remediation == "" || c.Severity == None || c.Eval == nil {
			t.Errorf("%s: incomplete metadata %+v", c.ID, c)
		}
	}
	for _, n := range NHIItems() {
		if !items[n] {
			t.Errorf("no check for %s %s", n, n.Name())
		}
		if n.Name() == string(n) {
			t.Errorf("%s has no name", n)
		}
	}
	for _, s := range CSFSubcategories() {
		if !subs[s] {
			t.Errorf("no check maps to %s", s)
		}
	}
	// Thresholds show the configured values.
	for _, c := range Checks(Config{MaxAgeDays: 45, AgeHighDays: 400}) {
		if c.ID == "AIC-NHI7-AGE" && !strings.Contains(c.Threshold, "45 days") {
			t.Errorf("threshold text %q", c.Threshold)
		}
	}
}

func TestSeverity(t *testing.T) {
	for _, s := range append(Severities(), None) {
		b, _ := s.MarshalText()
		var back Severity
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%s: round trip %v %v", s, back, err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("unknown severity accepted")
	}
	if Critical.SARIFScore() <= 9 || High.SARIFScore() < 7 || Medium.SARIFScore() < 4 || Low.SARIFScore() >= 4 {
		t.Error("security-severity bands")
	}
	var c SeverityCounts
	for _, s := range []Severity{Critical, Critical, Low, None} {
		c.Add(s)
	}
	if c.Total() != 3 || c.Get(Critical) != 2 || c.Get(None) != 0 {
		t.Errorf("counts %+v", c)
	}
}
