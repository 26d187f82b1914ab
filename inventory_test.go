package aicred_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

func testSecret(seed uint64) aicred.Secret {
	return aicred.NewSecret("sk-proj-" + provider.NewGen(seed).URL64(64))
}

func TestSightingKeyIgnoresLineAndColumn(t *testing.T) {
	s := aicred.Sighting{Fingerprint: testSecret(1).Fingerprint(), Rule: "r", Origin: "/repo", Source: aicred.SourceGit, Path: "a.env", Commit: "c1", Line: 3, Column: 4}
	moved := s
	moved.Line, moved.Column, moved.ScanID, moved.SeenAt = 30, 1, "scan-2", time.Now()
	if s.Key() != moved.Key() {
		t.Fatal("moving the secret within the file made a new sighting")
	}
	for name, change := range map[string]func(*aicred.Sighting){
		"rule":    func(x *aicred.Sighting) { x.Rule = "other" },
		"origin":  func(x *aicred.Sighting) { x.Origin = "/other" },
		"source":  func(x *aicred.Sighting) { x.Source = aicred.SourceFile },
		"path":    func(x *aicred.Sighting) { x.Path = "b.env" },
		"commit":  func(x *aicred.Sighting) { x.Commit = "c2" },
		"locator": func(x *aicred.Sighting) { x.Locator = "cell 2" },
	} {
		o := s
		change(&o)
		if o.Key() == s.Key() {
			t.Errorf("%s is not part of the sighting key", name)
		}
	}
	// Fields are separated: moving a byte from one field to the next
	// changes the key.
	a, b := s, s
	a.Origin, a.Path = "/repo/x", "y"
	b.Origin, b.Path = "/repo/", "xy"
	if a.Key() == b.Key() || a.Place() == b.Place() {
		t.Fatal("field boundaries are ambiguous")
	}
	other := s
	other.Commit, other.Rule = "c9", "r2"
	if other.Place() != s.Place() {
		t.Fatal("place depends on more than origin and path")
	}
}

func TestObservationOfCarriesNoSecret(t *testing.T) {
	sec := testSecret(2)
	date := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	f := &aicred.Finding{
		Provider: "openai", Kind: "project-key", Rule: "openai-project-key",
		Fingerprint: sec.Fingerprint(), Redacted: sec.Redacted(), Line: 7, Column: 3,
		Capabilities: []aicred.Capability{aicred.CapInference},
		Location:     aicred.Location{Path: "x.py", Source: aicred.SourceGit, Commit: "abc", Date: &date, Locator: "cell 1"},
		Secret:       sec,
	}
	o := aicred.ObservationOf(f, "/repo", "scan-1", date)
	b, _ := json.Marshal(o)
	if strings.Contains(string(b), sec.Reveal()) {
		t.Fatal("observation carries the secret")
	}
	if o.Fingerprint != sec.Fingerprint() || o.Path != "x.py" || !o.AuthorDate.Equal(date) || o.Locator != "cell 1" || o.Origin != "/repo" {
		t.Fatalf("observation %+v", o)
	}
	f.Capabilities[0] = aicred.CapBilling
	if o.Capabilities[0] != aicred.CapInference {
		t.Fatal("observation shares the finding's capability slice")
	}
}

func TestObservationPrepare(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 123456789, time.FixedZone("x", 3600))
	o := aicred.Observation{Provider: "p", Kind: "k", Sighting: aicred.Sighting{
		Fingerprint: testSecret(3).Fingerprint(), Rule: "r", Source: aicred.SourceFile, Path: "a\xffb\x00",
	}}
	if err := o.Prepare(now); err != nil {
		t.Fatal(err)
	}
	if o.Path != "a\uFFFDb\uFFFD" {
		t.Fatalf("path %q", o.Path)
	}
	if o.SeenAt.Location() != time.UTC || o.SeenAt.Nanosecond() != 123456000 || !o.LastSeenAt.Equal(o.SeenAt) {
		t.Fatalf("seen at %v", o.SeenAt)
	}
	bad := o
	bad.Fingerprint = "md5:x"
	if err := bad.Prepare(now); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("bad fingerprint: %v", err)
	}
}

func TestHeldCredential(t *testing.T) {
	old, next := testSecret(4), testSecret(5)
	h := aicred.HeldCredential{ID: aicred.NewHeldID(), Provider: "openai", Kind: "project-key",
		Fingerprint: old.Fingerprint(), Redacted: old.Redacted(), KeyID: "mk_1", Sealed: []byte{1}}
	if err := h.Prepare(time.Now()); err != nil {
		t.Fatal(err)
	}
	if h.CreatedAt.IsZero() {
		t.Fatal("created at not defaulted")
	}
	if id2 := aicred.NewHeldID(); id2 == h.ID || !strings.HasPrefix(id2, "hc_") {
		t.Fatalf("ids: %s %s", h.ID, id2)
	}
	other := h
	other.ID = aicred.NewHeldID()
	if string(h.AAD()) == string(other.AAD()) {
		t.Fatal("AAD does not bind the id")
	}
	other = h
	other.Fingerprint = next.Fingerprint()
	if string(h.AAD()) == string(other.AAD()) {
		t.Fatal("AAD does not bind the fingerprint")
	}

	now := time.Now()
	n, err := h.Rotated(&aicred.HeldCredential{ID: h.ID, Fingerprint: next.Fingerprint(), Redacted: next.Redacted(), KeyID: "mk_2", Sealed: []byte{2}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if n.Fingerprint != next.Fingerprint() || n.KeyID != "mk_2" || n.Provider != "openai" || !n.CreatedAt.Equal(h.CreatedAt) || n.RotatedAt.IsZero() {
		t.Fatalf("rotated %+v", n)
	}
	if _, err := h.Rotated(&h, now); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("rotation to the same secret: %v", err)
	}
	b, _ := json.Marshal(h)
	if strings.Contains(string(b), "sealed") {
		t.Fatal("the sealed blob serialises")
	}
}

func TestCredentialUpdatePrepare(t *testing.T) {
	envs := []string{"prod", " dev", "prod"}
	u := aicred.CredentialUpdate{Environments: &envs}
	if err := u.Prepare(); err != nil {
		t.Fatal(err)
	}
	if got := *u.Environments; len(got) != 2 || got[0] != "dev" || got[1] != "prod" {
		t.Fatalf("environments %v", got)
	}
	if got := u.Changed(); len(got) != 1 || got[0] != "environments" {
		t.Fatalf("changed %v", got)
	}
	empty := []string{" "}
	if err := (&aicred.CredentialUpdate{Workloads: &empty}).Prepare(); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("empty workload: %v", err)
	}
}

func TestActor(t *testing.T) {
	ctx := context.Background()
	if aicred.ActorFrom(ctx) != aicred.DefaultActor {
		t.Fatal("default actor")
	}
	if aicred.ActorFrom(aicred.WithActor(ctx, "cli:alice")) != "cli:alice" {
		t.Fatal("actor from context")
	}
	if !(aicred.AuditVerification{}).OK() || (aicred.AuditVerification{BadSeq: 3}).OK() {
		t.Fatal("OK")
	}
}
