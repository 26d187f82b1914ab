package posture

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aicred/aicred"
)

// A Check is one posture rule: the signal it reads from a credential, the
// threshold it compares with, and what it means.
type Check struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	NHI   NHI    `json:"nhi"`
	CSF   []CSF  `json:"csf"`
	// Signal says which inventory facts the check reads.
	Signal string `json:"signal"`
	// Threshold says the configured threshold and the policy key that sets it.
	Threshold string `json:"threshold"`
	// Severity is the usual severity; Escalation says when it differs.
	Severity    Severity `json:"severity"`
	Escalation  string   `json:"escalation"`
	Remediation string   `json:"remediation"`

	// Eval looks at one credential at the instant now and says whether
	// the check fires, how badly and why.
	Eval func(d *aicred.CredentialDetail, now time.Time) (Hit, bool) `json:"-"`
}

// A Hit is a check firing on one credential.
type Hit struct {
	Severity Severity
	// Reason is one sentence with the numbers behind the finding.
	Reason string
	// Metrics holds those numbers by name (age_days, sprawl, ...).
	Metrics map[string]int
}

// policy is a Config made ready for the checks.
type policy struct {
	cfg        Config
	cl         *classifier
	leak       place
	thirdCats  []string
	thirdProvs []string
	federated  []string
	adminKinds []string
	humanKinds []string
	// manual holds, by fingerprint of a held credential, the grants
	// issued by hand whose tokens may use it (Inventory.HandIssued).
	manual map[aicred.Fingerprint][]*aicred.Grant
}

func newPolicy(cfg Config) *policy {
	cfg = cfg.withDefaults()
	return &policy{
		cfg: cfg, cl: newClassifier(&cfg), leak: placesOf(cfg.LeakPlaces),
		thirdCats: cfg.ThirdPartyCategories, thirdProvs: cfg.ThirdPartyProviders,
		federated: cfg.FederatedProviders, adminKinds: cfg.AdminKinds, humanKinds: cfg.HumanKinds,
	}
}

// Checks returns every check with the thresholds of cfg (zero fields take
// their defaults), ordered by NHI item.
func Checks(cfg Config) []Check { return newPolicy(cfg).checks() }

func (p *policy) checks() []Check {
	return []Check{
		p.stale(), p.noOwner(), p.rotatedLive(),
		p.leaked(), p.plaintext(), p.revokeSLO(),
		p.thirdParty(),
		p.staticKey(), p.bedrockLongTerm(),
		p.admin(), p.broad(),
		p.ciStatic(),
		p.age(), p.noExpiry(), p.expiredLive(),
		p.multiEnv(),
		p.sharedWorkloads(), p.sprawl(),
		p.humanCredential(), p.chat(), p.manualToken(),
	}
}

// checkIDs lists the ids of every check.
func checkIDs() []string {
	var ids []string
	for _, c := range Checks(Config{}) {
		ids = append(ids, c.ID)
	}
	return ids
}

func hit(s Severity, metrics map[string]int, format string, args ...any) (Hit, bool) {
	return Hit{Severity: s, Reason: fmt.Sprintf(format, args...), Metrics: metrics}, s != None
}

func pluralize(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (p *policy) kindListed(list []string, d *aicred.CredentialDetail) bool {
	return slices.Contains(list, d.Provider+"/"+d.Kind)
}

// exposure summarises the sightings that fall in the given places.
type exposure struct {
	sightings int
	places    int
	where     place
	first     time.Time // earliest SeenAt: when aicred first knew
}

func (p *policy) exposed(d *aicred.CredentialDetail, want func(place) bool) exposure {
	var e exposure
	seen := map[placeKey]bool{}
	for i := range d.Sightings {
		s := &d.Sightings[i]
		pl := p.cl.place(s)
		if !want(pl) {
			continue
		}
		e.sightings++
		e.where |= pl
		if k := (placeKey{s.Origin, s.Path}); !seen[k] {
			seen[k] = true
			e.places++
		}
		if !s.SeenAt.IsZero() && (e.first.IsZero() || s.SeenAt.Before(e.first)) {
			e.first = s.SeenAt
		}
	}
	return e
}

func (p *policy) leaks(d *aicred.CredentialDetail) exposure {
	return p.exposed(d, func(pl place) bool { return pl&p.leak != 0 })
}

// NHI1 Improper Offboarding.

func (p *policy) stale() Check {
	return Check{
		ID: "AIC-NHI1-STALE", Title: "Unused credential still valid", NHI: NHI1, CSF: []CSF{PRAA01, PRAA05},
		Signal:      "last time any scan saw the credential (LastSeen, sightings' LastSeenAt), latest liveness result, Workloads; skipped for credentials a workload uses",
		Threshold:   fmt.Sprintf("not seen for more than %d days (unused_days)", p.cfg.UnusedDays),
		Severity:    High,
		Escalation:  "high when live, medium when never checked or unknown, no finding when dead",
		Remediation: "Confirm nobody needs it, then revoke it at the provider; give every credential an owner who is told when it goes unused.",
		Eval: func(d *aicred.CredentialDetail, now time.Time) (Hit, bool) {
			last := lastSeen(d)
			if last.IsZero() || len(d.Workloads) > 0 || now.Sub(last) <= time.Duration(p.cfg.UnusedDays)*24*time.Hour {
				return Hit{}, false
			}
			v := state(d)
			n := days(now.Sub(last))
			return hit(byLiveness(v, High, Medium, None),
				map[string]int{"days_unseen": n, "unused_days": p.cfg.UnusedDays},
				"Not seen by any scan for %d days (policy %d) and no workload uses it, yet it is %s.", n, p.cfg.UnusedDays, stillValid(v))
		},
	}
}

// span says a duration in hours up to three days, in days beyond.
func span(d time.Duration) string {
	if d < 72*time.Hour {
		return pluralize(int(d/time.Hour), "hour", "hours")
	}
	return pluralize(days(d), "day", "days")
}

func stillValid(v aicred.Verification) string {
	if isLive(v) {
		return "still live"
	}
	return "never proven dead (" + string(v) + ")"
}

func (p *policy) noOwner() Check {
	return Check{
		ID: "AIC-NHI1-NO-OWNER", Title: "No owner to offboard with", NHI: NHI1, CSF: []CSF{PRAA01, PRAA02},
		Signal:      "Owner is empty; latest liveness result",
		Threshold:   "no owner recorded",
		Severity:    Low,
		Escalation:  "medium when live, low otherwise, no finding when dead",
		Remediation: "Record an owner in the inventory so the credential is revoked when its owner or application goes away.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			if strings.TrimSpace(d.Owner) != "" {
				return Hit{}, false
			}
			v := state(d)
			return hit(byLiveness(v, Medium, Low, None), nil,
				"No owner recorded for this %s credential (%s): nobody will offboard it.", d.Provider, v)
		},
	}
}

func (p *policy) rotatedLive() Check {
	return Check{
		ID: "AIC-NHI1-ROTATED-LIVE", Title: "Replaced credential still works", NHI: NHI1, CSF: []CSF{PRAA01},
		Signal:      "RotatedAt and the liveness history after it",
		Threshold:   fmt.Sprintf("live more than %d hours after rotation (rotation_grace_hours)", p.cfg.RotationGraceHours),
		Severity:    High,
		Escalation:  "always high",
		Remediation: "Revoke the old key at the provider; a rotation is finished only when the replaced key stops working.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			if d.RotatedAt.IsZero() {
				return Hit{}, false
			}
			grace := time.Duration(p.cfg.RotationGraceHours) * time.Hour
			at, ok := liveAfter(d, d.RotatedAt.Add(grace))
			if !ok {
				return Hit{}, false
			}
			h := int(at.Sub(d.RotatedAt) / time.Hour)
			return hit(High, map[string]int{"hours_live_after_rotation": h, "rotation_grace_hours": p.cfg.RotationGraceHours},
				"Rotated on %s but still answered live %d hours later (grace %d hours).",
				d.RotatedAt.UTC().Format(time.DateOnly), h, p.cfg.RotationGraceHours)
		},
	}
}

// NHI2 Secret Leakage.

func (p *policy) leaked() Check {
	return Check{
		ID: "AIC-NHI2-LEAK", Title: "Credential leaked where others can read it", NHI: NHI2, CSF: []CSF{PRAA01},
		Signal:      "sightings whose source or path is a leak place (git history, notebooks, chat, archives, logs, source code, CI files); latest liveness result",
		Threshold:   fmt.Sprintf("at least one sighting in %s (leak_places)", strings.Join(p.cfg.LeakPlaces, ", ")),
		Severity:    Critical,
		Escalation:  "critical when live, high when never checked or unknown, low when dead",
		Remediation: "Revoke the credential now, then remove it from the file and its history; issue a replacement through a secret manager or federation.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			e := p.leaks(d)
			if e.sightings == 0 {
				return Hit{}, false
			}
			v := state(d)
			return hit(byLiveness(v, Critical, High, Low),
				map[string]int{"leak_sightings": e.sightings, "leak_places": e.places},
				"Found %s at %s (%s); liveness: %s.",
				pluralize(e.sightings, "time", "times"), pluralize(e.places, "place", "places"), e.where, v)
		},
	}
}

func (p *policy) plaintext() Check {
	return Check{
		ID: "AIC-NHI2-PLAINTEXT", Title: "Credential in plaintext configuration", NHI: NHI2, CSF: []CSF{PRAA01},
		Signal:      "sightings outside the leak places (.env and other config files on disk, stdin); latest liveness result",
		Threshold:   "at least one such sighting",
		Severity:    Medium,
		Escalation:  "medium unless dead, info when dead",
		Remediation: "Move the credential into a secret manager or the aicred gateway, and keep .env files out of backups and images.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			e := p.exposed(d, func(pl place) bool { return pl&p.leak == 0 })
			if e.sightings == 0 {
				return Hit{}, false
			}
			v := state(d)
			return hit(byLiveness(v, Medium, Medium, Info),
				map[string]int{"plaintext_sightings": e.sightings, "plaintext_places": e.places},
				"Stored in plaintext at %s (%s); liveness: %s.", pluralize(e.places, "place", "places"), e.where, v)
		},
	}
}

func (p *policy) revokeSLO() Check {
	return Check{
		ID: "AIC-NHI2-REVOKE-SLO", Title: "Leaked credential not revoked in time", NHI: NHI2, CSF: []CSF{PRAA01},
		Signal:      "earliest SeenAt of a leak sighting; latest liveness result",
		Threshold:   fmt.Sprintf("still live more than %d hours after the leak was found (revoke_slo_hours)", p.cfg.RevokeSLOHours),
		Severity:    Critical,
		Escalation:  "always critical",
		Remediation: "Revoke it now and review why the response took longer than the objective.",
		Eval: func(d *aicred.CredentialDetail, now time.Time) (Hit, bool) {
			if !isLive(state(d)) {
				return Hit{}, false
			}
			e := p.leaks(d)
			slo := time.Duration(p.cfg.RevokeSLOHours) * time.Hour
			if e.sightings == 0 || e.first.IsZero() || now.Sub(e.first) <= slo {
				return Hit{}, false
			}
			h := int(now.Sub(e.first) / time.Hour)
			return hit(Critical, map[string]int{"exposed_hours": h, "revoke_slo_hours": p.cfg.RevokeSLOHours},
				"Leak found %s (%s ago) and the credential is still live; objective %d hours.",
				e.first.UTC().Format(time.DateOnly), span(now.Sub(e.first)), p.cfg.RevokeSLOHours)
		},
	}
}

// NHI3 Vulnerable Third-Party NHI.

func (p *policy) thirdParty() Check {
	return Check{
		ID: "AIC-NHI3-THIRD-PARTY", Title: "Credential of a third-party agent or integration", NHI: NHI3, CSF: []CSF{PRAA05, PRAA01},
		Signal:      "the provider's catalog category and id; the kind's capabilities; latest liveness result",
		Threshold:   fmt.Sprintf("category in [%s] or provider in [%s] (third_party_categories, third_party_providers)", strings.Join(p.thirdCats, ", "), strings.Join(p.thirdProvs, ", ")),
		Severity:    Medium,
		Escalation:  "high when live and it reaches data or administration (files/data, key-admin, org-admin), medium otherwise, no finding when dead",
		Remediation: "Review what the integration can reach, narrow its scopes, and revoke it when the tool is no longer used; a breach of the vendor becomes yours.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			ki := lookupKind(d)
			if !slices.Contains(p.thirdCats, ki.category) && !slices.Contains(p.thirdProvs, d.Provider) {
				return Hit{}, false
			}
			v := state(d)
			sev := byLiveness(v, Medium, Medium, None)
			reach := slices.ContainsFunc(ki.caps, func(c aicred.Capability) bool {
				return c == aicred.CapFilesData || c == aicred.CapKeyAdmin || c == aicred.CapOrgAdmin
			})
			if reach && isLive(v) {
				sev = High
			}
			what := ki.category
			if what == "" {
				what = "third-party"
			}
			return hit(sev, map[string]int{"capabilities": len(ki.caps)},
				"%s (%s) is a third-party tool credential that unlocks %s; liveness: %s.", ki.name, what, joinCaps(ki.caps), v)
		},
	}
}

func joinCaps(caps []aicred.Capability) string {
	if len(caps) == 0 {
		return "unknown capabilities"
	}
	s := make([]string, len(caps))
	for i, c := range caps {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// NHI4 Insecure Authentication.

func (p *policy) staticKey() Check {
	return Check{
		ID: "AIC-NHI4-STATIC-KEY", Title: "Static key where federation is available", NHI: NHI4, CSF: []CSF{PRAA03, PRAA04},
		Signal:      "provider id; kind (short-lived, human and Bedrock long-term kinds are left to their own checks); latest liveness result",
		Threshold:   fmt.Sprintf("provider in [%s] (federated_providers)", strings.Join(p.federated, ", ")),
		Severity:    Medium,
		Escalation:  "medium unless dead, no finding when dead",
		Remediation: "Replace the static key with workload identity federation (OIDC/JWT exchange for a short-lived token) or an aicred workload token.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			if !slices.Contains(p.federated, d.Provider) || isShortLived(d.Provider, d.Kind) ||
				p.kindListed(p.humanKinds, d) || d.Provider+"/"+d.Kind == "aws/bedrock-api-key" {
				return Hit{}, false
			}
			v := state(d)
			return hit(byLiveness(v, Medium, Medium, None), nil,
				"A static credential (%s); %s supports workload identity federation, which issues short-lived tokens instead.", lookupKind(d).name, d.Provider)
		},
	}
}

func (p *policy) bedrockLongTerm() Check {
	return Check{
		ID: "AIC-NHI4-BEDROCK-LONG-TERM", Title: "Long-term Amazon Bedrock API key", NHI: NHI4, CSF: []CSF{PRAA03},
		Signal:      "kind aws/bedrock-api-key; latest liveness result",
		Threshold:   "any long-term Bedrock key",
		Severity:    Medium,
		Escalation:  "high when live, medium when never checked or unknown, no finding when dead",
		Remediation: "Use short-term Bedrock keys or IAM roles; AWS recommends long-term keys for exploration only.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			if d.Provider != "aws" || d.Kind != "bedrock-api-key" {
				return Hit{}, false
			}
			v := state(d)
			return hit(byLiveness(v, High, Medium, None), nil,
				"A long-term Bedrock API key (an IAM user credential) instead of a role or a short-term key; liveness: %s.", v)
		},
	}
}

// NHI5 Overprivileged NHI.

func (p *policy) admin() Check {
	return Check{
		ID: "AIC-NHI5-ADMIN", Title: "Admin credential in code or used by a workload", NHI: NHI5, CSF: []CSF{PRAA05},
		Signal:      "the kind's capabilities (org-admin, or key-admin without inference) or admin_kinds; sightings; Workloads; latest liveness result",
		Threshold:   "an admin-class credential with at least one sighting or one workload",
		Severity:    High,
		Escalation:  "critical when live, high when never checked or unknown, low when dead",
		Remediation: "Keep admin keys out of applications: workloads need inference, so give them a scoped project or service-account key; store admin keys in a vault with break-glass access.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			ki := lookupKind(d)
			if !isAdminClass(ki.caps) && !p.kindListed(p.adminKinds, d) {
				return Hit{}, false
			}
			if len(d.Sightings) == 0 && len(d.Workloads) == 0 {
				return Hit{}, false
			}
			v := state(d)
			var where []string
			if len(d.Sightings) > 0 {
				where = append(where, "found "+pluralize(len(d.Sightings), "time", "times")+" in scanned content")
			}
			if len(d.Workloads) > 0 {
				where = append(where, "used by "+pluralize(len(d.Workloads), "workload", "workloads"))
			}
			return hit(byLiveness(v, Critical, High, Low),
				map[string]int{"sightings": len(d.Sightings), "workloads": len(d.Workloads)},
				"%s (unlocks %s) is %s; liveness: %s.", ki.name, joinCaps(ki.caps), strings.Join(where, " and "), v)
		},
	}
}

func (p *policy) broad() Check {
	return Check{
		ID: "AIC-NHI5-BROAD", Title: "Credential with a wide blast radius", NHI: NHI5, CSF: []CSF{PRAA05},
		Signal:      "number of capabilities the kind unlocks (catalog, or recorded); latest liveness result",
		Threshold:   fmt.Sprintf("more than %d capabilities (max_capabilities)", p.cfg.MaxCapabilities),
		Severity:    Medium,
		Escalation:  "medium unless dead, no finding when dead",
		Remediation: "Scope the credential to what its user does (a role or policy allowing only inference on the models in use).",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			ki := lookupKind(d)
			if len(ki.caps) <= p.cfg.MaxCapabilities {
				return Hit{}, false
			}
			v := state(d)
			return hit(byLiveness(v, Medium, Medium, None),
				map[string]int{"capabilities": len(ki.caps), "max_capabilities": p.cfg.MaxCapabilities},
				"Unlocks %d capabilities (%s), policy allows %d.", len(ki.caps), joinCaps(ki.caps), p.cfg.MaxCapabilities)
		},
	}
}

// NHI6 Insecure Cloud Deployment Configurations.

func (p *policy) ciStatic() Check {
	return Check{
		ID: "AIC-NHI6-CI-STATIC", Title: "Static key in a CI/CD pipeline", NHI: NHI6, CSF: []CSF{PRAA03, PRAA01},
		Signal:      "sighting paths matching CI/CD configuration (.github/workflows, .gitlab-ci.yml, Jenkinsfile, .circleci, ...); provider category; latest liveness result",
		Threshold:   "at least one sighting in a ci_paths entry",
		Severity:    High,
		Escalation:  "critical when live, high when never checked or unknown, low when dead",
		Remediation: "Let the pipeline exchange its OIDC token for short-lived credentials (cloud federation or aicred), with a trust policy pinned to repository and branch.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			if isShortLived(d.Provider, d.Kind) {
				return Hit{}, false
			}
			e := p.exposed(d, func(pl place) bool { return pl&placeCI != 0 })
			if e.sightings == 0 {
				return Hit{}, false
			}
			v := state(d)
			return hit(byLiveness(v, Critical, High, Low),
				map[string]int{"ci_sightings": e.sightings, "ci_places": e.places},
				"A static %s key sits in CI/CD configuration at %s; liveness: %s.", d.Provider, pluralize(e.places, "place", "places"), v)
		},
	}
}

// NHI7 Long-Lived Secrets.

func (p *policy) age() Check {
	return Check{
		ID: "AIC-NHI7-AGE", Title: "Credential older than the rotation policy", NHI: NHI7, CSF: []CSF{PRAA01},
		Signal:      "age from CreatedAt, else the earliest sighting's commit author date, else first seen, else recorded; latest liveness result",
		Threshold:   fmt.Sprintf("older than %d days, high beyond %d days (max_age_days, age_high_days)", p.cfg.MaxAgeDays, p.cfg.AgeHighDays),
		Severity:    Medium,
		Escalation:  "high beyond age_high_days, medium otherwise, no finding when dead or short-lived by design",
		Remediation: "Rotate the credential, and automate rotation (aicred rotates held credentials) or move to federation.",
		Eval: func(d *aicred.CredentialDetail, now time.Time) (Hit, bool) {
			b, from := born(d)
			if b.IsZero() || isShortLived(d.Provider, d.Kind) || now.Sub(b) <= time.Duration(p.cfg.MaxAgeDays)*24*time.Hour {
				return Hit{}, false
			}
			n := days(now.Sub(b))
			sev := Medium
			if now.Sub(b) > time.Duration(p.cfg.AgeHighDays)*24*time.Hour {
				sev = High
			}
			if state(d) == aicred.Dead {
				sev = None
			}
			return hit(sev, map[string]int{"age_days": n, "max_age_days": p.cfg.MaxAgeDays},
				"%d days old (from %s %s), policy %d days.", n, from, b.UTC().Format(time.DateOnly), p.cfg.MaxAgeDays)
		},
	}
}

func (p *policy) noExpiry() Check {
	return Check{
		ID: "AIC-NHI7-NO-EXPIRY", Title: "No expiry, or a far-future one", NHI: NHI7, CSF: []CSF{PRAA01, PRAA03},
		Signal:      "ExpiresAt; latest liveness result",
		Threshold:   fmt.Sprintf("no expiry, or one more than %d days away (max_lifetime_days)", p.cfg.MaxLifetimeDays),
		Severity:    Low,
		Escalation:  "low unless dead, no finding when dead or short-lived by design",
		Remediation: "Issue credentials with an expiry (or short-lived tokens) so a leak is bounded in time.",
		Eval: func(d *aicred.CredentialDetail, now time.Time) (Hit, bool) {
			if isShortLived(d.Provider, d.Kind) {
				return Hit{}, false
			}
			v := state(d)
			if d.ExpiresAt.IsZero() {
				return hit(byLiveness(v, Low, Low, None), nil, "No expiry recorded: a leak gives open-ended access.")
			}
			left := d.ExpiresAt.Sub(now)
			if left <= time.Duration(p.cfg.MaxLifetimeDays)*24*time.Hour {
				return Hit{}, false
			}
			n := days(left)
			return hit(byLiveness(v, Low, Low, None), map[string]int{"expires_in_days": n, "max_lifetime_days": p.cfg.MaxLifetimeDays},
				"Expires in %d days (%s), beyond the %d-day limit.", n, d.ExpiresAt.UTC().Format(time.DateOnly), p.cfg.MaxLifetimeDays)
		},
	}
}

func (p *policy) expiredLive() Check {
	return Check{
		ID: "AIC-NHI7-EXPIRED-LIVE", Title: "Past its expiry yet still works", NHI: NHI7, CSF: []CSF{PRAA01, PRAA03},
		Signal:      "ExpiresAt and the liveness history after it",
		Threshold:   "a live answer after ExpiresAt",
		Severity:    High,
		Escalation:  "always high",
		Remediation: "The recorded expiry is not enforced: revoke the credential and correct the inventory.",
		Eval: func(d *aicred.CredentialDetail, now time.Time) (Hit, bool) {
			if d.ExpiresAt.IsZero() || !d.ExpiresAt.Before(now) {
				return Hit{}, false
			}
			at, ok := liveAfter(d, d.ExpiresAt)
			if !ok {
				return Hit{}, false
			}
			n := days(at.Sub(d.ExpiresAt))
			return hit(High, map[string]int{"days_live_after_expiry": n},
				"Expired on %s but answered live on %s.", d.ExpiresAt.UTC().Format(time.DateOnly), at.UTC().Format(time.DateOnly))
		},
	}
}

// NHI8 Environment Isolation.

func (p *policy) multiEnv() Check {
	return Check{
		ID: "AIC-NHI8-MULTI-ENV", Title: "One credential across environments", NHI: NHI8, CSF: []CSF{PRAA05, PRAA02},
		Signal:      "Environments, and prod/non-prod words in the environment names and in sighting origins and paths; latest liveness result",
		Threshold:   fmt.Sprintf("more than %d environments (max_environments), or prod and non-prod together (prod_markers, nonprod_markers)", p.cfg.MaxEnvironments),
		Severity:    Medium,
		Escalation:  "high when it spans prod and non-prod, medium otherwise, no finding when dead",
		Remediation: "Issue one credential per environment so a compromise of dev or test cannot reach prod.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			var cls envClass
			for _, e := range d.Environments {
				cls |= p.cl.env(e)
			}
			var prodPlaces, nonProdPlaces int
			for i := range d.Sightings {
				s := &d.Sightings[i]
				c := p.cl.env(s.Origin + "/" + s.Path)
				if c&envProd != 0 {
					prodPlaces++
				}
				if c&envNonProd != 0 {
					nonProdPlaces++
				}
				cls |= c
			}
			both := cls&envProd != 0 && cls&envNonProd != 0
			if len(d.Environments) <= p.cfg.MaxEnvironments && !both {
				return Hit{}, false
			}
			v := state(d)
			sev := byLiveness(v, Medium, Medium, None)
			if both && sev != None {
				sev = High
			}
			metrics := map[string]int{"environments": len(d.Environments), "max_environments": p.cfg.MaxEnvironments,
				"prod_sightings": prodPlaces, "nonprod_sightings": nonProdPlaces}
			if both {
				return hit(sev, metrics, "Used in prod and non-prod (environments: %s; %d prod and %d non-prod sightings).",
					listOrNone(d.Environments), prodPlaces, nonProdPlaces)
			}
			return hit(sev, metrics, "Shared by %d environments (%s), policy %d.", len(d.Environments), listOrNone(d.Environments), p.cfg.MaxEnvironments)
		},
	}
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none declared"
	}
	return strings.Join(s, ", ")
}

// NHI9 NHI Reuse.

func (p *policy) sharedWorkloads() Check {
	return Check{
		ID: "AIC-NHI9-WORKLOADS", Title: "One credential shared by several workloads", NHI: NHI9, CSF: []CSF{PRAA02},
		Signal:      "Workloads (filled by the gateway); latest liveness result",
		Threshold:   fmt.Sprintf("more than %d workloads (max_workloads)", p.cfg.MaxWorkloads),
		Severity:    Medium,
		Escalation:  "medium unless dead, no finding when dead",
		Remediation: "Give each workload its own credential (or an aicred workload token) so access can be traced and revoked per workload.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			if len(d.Workloads) <= p.cfg.MaxWorkloads {
				return Hit{}, false
			}
			return hit(byLiveness(state(d), Medium, Medium, None),
				map[string]int{"workloads": len(d.Workloads), "max_workloads": p.cfg.MaxWorkloads},
				"Used by %d workloads (policy %d): %s.", len(d.Workloads), p.cfg.MaxWorkloads, clip(d.Workloads, 5))
		},
	}
}

func clip(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}

func (p *policy) sprawl() Check {
	return Check{
		ID: "AIC-NHI9-SPRAWL", Title: "Credential copied to many places", NHI: NHI9, CSF: []CSF{PRAA02, PRAA01},
		Signal:      "Sprawl (distinct origin and path) and distinct origins of the sightings; latest liveness result",
		Threshold:   fmt.Sprintf("%d places or more (sprawl_threshold)", p.cfg.SprawlThreshold),
		Severity:    Medium,
		Escalation:  "medium unless dead, low when dead",
		Remediation: "Find who copies it and why; replace the copies with one reference to a secret manager, then rotate.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			n := sprawl(d)
			if n < p.cfg.SprawlThreshold {
				return Hit{}, false
			}
			origins := map[string]bool{}
			for i := range d.Sightings {
				origins[d.Sightings[i].Origin] = true
			}
			return hit(byLiveness(state(d), Medium, Medium, Low),
				map[string]int{"sprawl": n, "sprawl_threshold": p.cfg.SprawlThreshold, "origins": len(origins)},
				"Found at %d distinct places across %s (policy %d).", n, pluralize(len(origins), "origin", "origins"), p.cfg.SprawlThreshold)
		},
	}
}

// NHI10 Human Use of NHI.

func (p *policy) humanCredential() Check {
	return Check{
		ID: "AIC-NHI10-HUMAN-CRED", Title: "Personal credential used by machines", NHI: NHI10, CSF: []CSF{PRAA02, PRAA03},
		Signal:      "kind in human_kinds (user OAuth tokens, personal access tokens, gcloud user ADC); Workloads; sightings in CI files or shared places (git, notebook, archive, code); latest liveness result",
		Threshold:   "a human kind used by a workload, in CI, or committed or shared",
		Severity:    Medium,
		Escalation:  "high when a workload or a pipeline uses it, medium when it is committed or shared, no finding when dead",
		Remediation: "Give the automation its own service identity; a person's credential carries their rights, bypasses MFA and leaves with them.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			if !p.kindListed(p.humanKinds, d) {
				return Hit{}, false
			}
			ci := p.exposed(d, func(pl place) bool { return pl&placeCI != 0 })
			shared := p.exposed(d, func(pl place) bool { return pl&(placeGit|placeNotebook|placeArchive|placeCode) != 0 })
			if len(d.Workloads) == 0 && ci.sightings == 0 && shared.sightings == 0 {
				return Hit{}, false
			}
			sev := Medium
			var how []string
			if len(d.Workloads) > 0 {
				sev = High
				how = append(how, "used by "+pluralize(len(d.Workloads), "workload", "workloads"))
			}
			if ci.sightings > 0 {
				sev = High
				how = append(how, "in CI/CD configuration")
			}
			if shared.sightings > 0 {
				how = append(how, "committed or shared at "+pluralize(shared.places, "place", "places"))
			}
			if state(d) == aicred.Dead {
				sev = None
			}
			return hit(sev, map[string]int{"workloads": len(d.Workloads), "ci_sightings": ci.sightings, "shared_sightings": shared.sightings},
				"%s is a person's credential, %s.", lookupKind(d).name, strings.Join(how, ", "))
		},
	}
}

func (p *policy) chat() Check {
	return Check{
		ID: "AIC-NHI10-CHAT", Title: "Credential pasted in chat", NHI: NHI10, CSF: []CSF{PRAA02, PRAA01},
		Signal:      "sightings from chat exports (source chat); latest liveness result",
		Threshold:   "at least one chat sighting",
		Severity:    Medium,
		Escalation:  "high when live, medium when never checked or unknown, low when dead",
		Remediation: "People are handing machine credentials around by hand: revoke it, and give each person or tool its own access.",
		Eval: func(d *aicred.CredentialDetail, _ time.Time) (Hit, bool) {
			e := p.exposed(d, func(pl place) bool { return pl&placeChat != 0 })
			if e.sightings == 0 {
				return Hit{}, false
			}
			v := state(d)
			return hit(byLiveness(v, High, Medium, Low), map[string]int{"chat_sightings": e.sightings},
				"Pasted in chat %s; liveness: %s.", pluralize(e.sightings, "time", "times"), v)
		},
	}
}

// ManualTokenDays is how far back AIC-NHI10-MANUAL-TOKEN looks for tokens
// issued by hand.
const ManualTokenDays = 30

func (p *policy) manualToken() Check {
	return Check{
		ID: "AIC-NHI10-MANUAL-TOKEN", Title: "Held credential reached by hand-issued tokens", NHI: NHI10, CSF: []CSF{PRAA02, PRAA03},
		Signal:      "workload tokens issued by a person ('aicred token create', issuer aicred:manual) whose role may use this held credential, issued in the last 30 days",
		Threshold:   "at least one such token",
		Severity:    Medium,
		Escalation:  "medium while one is still valid, low when all have expired or been revoked",
		Remediation: "Give the caller a workload identity (an OIDC, Kubernetes, GitHub Actions or SPIFFE issuer and a trust policy) and let it exchange for its tokens; keep hand-issued tokens to local development.",
		Eval: func(d *aicred.CredentialDetail, now time.Time) (Hit, bool) {
			var recent, active int
			var names []string
			for _, g := range p.manual[d.Fingerprint] {
				if now.Sub(g.IssuedAt) > ManualTokenDays*24*time.Hour || g.IssuedAt.After(now) {
					continue
				}
				recent++
				if g.Active(now) {
					active++
				}
				if !slices.Contains(names, g.Subject) {
					names = append(names, g.Subject)
				}
			}
			if recent == 0 {
				return Hit{}, false
			}
			sev := Low
			if active > 0 {
				sev = Medium
			}
			slices.Sort(names)
			return hit(sev, map[string]int{"hand_issued_tokens": recent, "active": active},
				"%s issued by hand in the last %d days may use it (%d still valid), for %s.",
				pluralize(recent, "token", "tokens"), ManualTokenDays, active, clip(names, 5))
		},
	}
}
