// Package posturetest builds inventories for the tests and benchmarks of
// posture and its report writers. Secrets are generated at run time from
// the catalog's formats and only their fingerprints and redacted previews
// are kept, so nothing key-shaped is committed or leaves the process.
package posturetest

import (
	"fmt"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// Inventory returns n credentials of catalog kinds, deterministic for a
// seed, with one to four sightings each spread over the 30 months before
// now, a mix of liveness results, and some owners, environments,
// workloads, creation and expiry dates.
func Inventory(seed uint64, n int, now time.Time) []aicred.CredentialDetail {
	g := provider.NewGen(seed)
	kinds := provider.Kinds()
	shapes := make([]string, len(kinds)) // one example secret per kind, to vary
	out := make([]aicred.CredentialDetail, 0, n)
	for i := range n {
		ki := g.IntN(len(kinds))
		k := kinds[ki]
		if shapes[ki] == "" {
			shapes[ki] = exampleSecret(g, k)
		}
		shape := shapes[ki]
		secret := aicred.NewSecret(shape[:len(shape)-8] + g.Alnum(8))
		out = append(out, credential(g, i, k, secret, now))
	}
	return out
}

func exampleSecret(g *provider.Gen, k *provider.Kind) string {
	if k.Rule.Examples != nil {
		if ex := k.Rule.Examples(g); len(ex) > 0 && len(ex[0].Secret) >= 24 {
			return ex[0].Secret
		}
	}
	return g.Alnum(40)
}

func credential(g *provider.Gen, i int, k *provider.Kind, secret aicred.Secret, now time.Time) aicred.CredentialDetail {
	fp := secret.Fingerprint()
	d := aicred.CredentialDetail{Credential: aicred.Credential{
		Fingerprint: fp, Provider: k.Provider().ID, Kind: k.ID, Capabilities: k.Capabilities,
		Redacted: secret.Redacted(), RecordedAt: now.Add(-time.Duration(g.IntN(400*24)) * time.Hour),
	}}
	switch r := g.IntN(100); {
	case r < 25:
		d.Verification = aicred.Live
	case r < 50:
		d.Verification = aicred.Dead
	case r < 62:
		d.Verification = aicred.Unknown
	default:
		d.Verification = aicred.NotChecked
	}
	if d.Verification != aicred.NotChecked {
		d.VerifiedAt = now.Add(-time.Duration(g.IntN(240)) * time.Hour)
		d.Liveness = []aicred.LivenessCheck{{Fingerprint: fp, At: d.VerifiedAt, Result: d.Verification}}
	}
	if g.IntN(3) == 0 {
		d.Owner = fmt.Sprintf("team-%d", g.IntN(12))
	}
	if g.IntN(4) == 0 {
		d.CreatedAt = now.Add(-time.Duration(g.IntN(700*24)) * time.Hour)
	}
	if g.IntN(6) == 0 {
		d.ExpiresAt = now.Add(time.Duration(g.IntN(800*24)-100*24) * time.Hour)
	}
	envs := []string{"prod", "staging", "dev", "test"}
	if g.IntN(5) == 0 {
		d.Environments = []string{envs[g.IntN(4)]}
		if g.IntN(3) == 0 {
			d.Environments = append(d.Environments, envs[g.IntN(4)])
		}
	}
	for w := range g.IntN(8) - 4 { // mostly none, up to 3
		d.Workloads = append(d.Workloads, fmt.Sprintf("svc-%d-%d", i%97, w))
	}
	n := 1 + g.IntN(4)
	places := map[string]bool{}
	for range n {
		s := sighting(g, fp, k, now)
		d.Sightings = append(d.Sightings, s)
		places[s.Origin+"\x00"+s.Path] = true
		if d.FirstSeen.IsZero() || s.SeenAt.Before(d.FirstSeen) {
			d.FirstSeen = s.SeenAt
		}
		if s.LastSeenAt.After(d.LastSeen) {
			d.LastSeen = s.LastSeenAt
		}
	}
	d.SightingCount, d.Sprawl = len(d.Sightings), len(places)
	return d
}

// sighting is one place, drawn from the places credentials end up in.
func sighting(g *provider.Gen, fp aicred.Fingerprint, k *provider.Kind, now time.Time) aicred.Sighting {
	seen := now.Add(-time.Duration(g.IntN(900*24)) * time.Hour)
	repo := []string{"/srv/ml-platform", "https://git.example.com/acme/rag-service", "/home/dev/notebooks", "https://git.example.com/acme/infra"}[g.IntN(4)]
	s := aicred.Sighting{
		Fingerprint: fp, Rule: k.Rule.ID, Origin: repo, Source: aicred.SourceFile,
		Line: 1 + g.IntN(200), Column: 1 + g.IntN(40), SeenAt: seen, LastSeenAt: seen.Add(time.Duration(g.IntN(60*24)) * time.Hour),
	}
	switch g.IntN(10) {
	case 0, 1:
		s.Path = []string{".env", "config/prod/settings.yaml", "deploy/dev/.env.local"}[g.IntN(3)]
	case 2, 3, 4:
		s.Source = aicred.SourceGit
		s.Path = []string{"src/client.py", "app/llm.ts", "scripts/train.py", "tests/test_api.py"}[g.IntN(4)]
		s.Commit = g.Hex(40)
		s.AuthorDate = seen.Add(-time.Duration(g.IntN(30*24)) * time.Hour)
	case 5:
		s.Source = aicred.SourceNotebook
		s.Path = "notebooks/eval.ipynb"
		s.Locator = fmt.Sprintf("cell %d", g.IntN(20))
	case 6:
		s.Source = aicred.SourceChat
		s.Path = "slack-export.zip"
		s.Locator = fmt.Sprintf("#ml-eng message %d", 1700000000+g.IntN(50000000))
		s.Line = 0
	case 7:
		s.Source = aicred.SourceGit
		s.Path = []string{".github/workflows/deploy.yml", ".gitlab-ci.yml", "Jenkinsfile"}[g.IntN(3)]
		s.Commit = g.Hex(40)
		s.AuthorDate = seen.Add(-time.Duration(g.IntN(30*24)) * time.Hour)
	case 8:
		s.Path = "logs/worker.log"
	default:
		s.Source = aicred.SourceArchive
		s.Path = "backups/2024.tar.gz!app/.env"
	}
	return s
}
