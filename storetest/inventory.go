package storetest

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

func testRecordSightings(t *testing.T, b Backend) {
	s := open(t, b)
	g := NewGen(1)
	a, c := g.Secret(), g.Secret()
	t1, t2 := epoch, epoch.Add(24*time.Hour)

	obs := []aicred.Observation{
		Observation(a, "/src/app", ".env", "c1", t2),
		Observation(a, "/src/app", ".env", "c2", t1), // same place, another commit
		Observation(a, "/src/other", ".env", "c9", t2),
		Observation(c, "/src/app", "main.py", "", t1),
	}
	obs[3].Source = aicred.SourceFile
	obs[3].Locator = "cell 3"
	obs[3].AuthorDate = time.Time{}
	sum := must(s.RecordSightings(ctx(t), obs))(t)
	if sum != (aicred.RecordSummary{NewCredentials: 2, NewSightings: 4}) {
		t.Fatalf("summary %+v", sum)
	}

	d := must(s.GetCredential(ctx(t), a.Fingerprint()))(t)
	cr := d.Credential
	if cr.Provider != "openai" || cr.Kind != "project-key" || cr.Redacted != a.Redacted() {
		t.Fatalf("credential facts: %+v", cr)
	}
	if !slices.Equal(cr.Capabilities, []aicred.Capability{aicred.CapInference, aicred.CapFilesData}) {
		t.Fatalf("capabilities %v", cr.Capabilities)
	}
	if cr.SightingCount != 3 || cr.Sprawl != 2 {
		t.Fatalf("sighting count %d sprawl %d, want 3 and 2", cr.SightingCount, cr.Sprawl)
	}
	if !cr.FirstSeen.Equal(t1) || !cr.LastSeen.Equal(t2) {
		t.Fatalf("first/last seen %v %v", cr.FirstSeen, cr.LastSeen)
	}
	if cr.Verification != aicred.NotChecked || cr.Held || cr.RecordedAt.IsZero() {
		t.Fatalf("defaults: %+v", cr)
	}
	if len(d.Sightings) != 3 || len(d.Liveness) != 0 {
		t.Fatalf("%d sightings, %d checks", len(d.Sightings), len(d.Liveness))
	}
	// Oldest first.
	first := d.Sightings[0]
	if first.Commit != "c2" || !first.SeenAt.Equal(t1) {
		t.Fatalf("sightings not oldest first: %+v", d.Sightings)
	}
	want := obs[1].Sighting
	want.LastSeenAt = want.SeenAt
	if !sameSighting(first, want) {
		t.Fatalf("sighting round trip:\n got %+v\nwant %+v", first, want)
	}

	dc := must(s.GetCredential(ctx(t), c.Fingerprint()))(t)
	sc := dc.Sightings[0]
	if sc.Source != aicred.SourceFile || sc.Locator != "cell 3" || !sc.AuthorDate.IsZero() || sc.Commit != "" {
		t.Fatalf("file sighting: %+v", sc)
	}

	acts := auditActions(t, s)
	if count(acts, aicred.ActionCredentialDiscovered) != 2 || count(acts, aicred.ActionSightingRecorded) != 4 || len(acts) != 6 {
		t.Fatalf("audit actions %v", acts)
	}
	for _, e := range allAudit(t, s) {
		if e.Actor != "storetest" {
			t.Fatalf("actor from context: %+v", e)
		}
		if e.Action == aicred.ActionSightingRecorded && (e.Subject == "" || e.Data["path"] == "" || e.Data["rule"] == "") {
			t.Fatalf("sighting record lacks facts: %+v", e)
		}
	}
	verifyOK(t, s)
}

func testRecordSightingsIdempotent(t *testing.T, b Backend) {
	s := open(t, b)
	g := NewGen(2)
	a := g.Secret()
	obs := []aicred.Observation{
		Observation(a, "/r", "a.env", "c1", epoch),
		Observation(a, "/r", "b.env", "c1", epoch),
	}
	must(s.RecordSightings(ctx(t), obs))(t)
	before := len(allAudit(t, s))

	// The same finding at the same place, a day later, moved down a line.
	again := slices.Clone(obs)
	for i := range again {
		again[i].SeenAt = epoch.Add(24 * time.Hour)
		again[i].Line++
		again[i].ScanID = "scan-2"
	}
	// Duplicates inside one call are fine too.
	again = append(again, again[0])
	sum := must(s.RecordSightings(ctx(t), again))(t)
	if sum != (aicred.RecordSummary{Refreshed: 3}) {
		t.Fatalf("summary %+v", sum)
	}
	d := must(s.GetCredential(ctx(t), a.Fingerprint()))(t)
	if d.SightingCount != 2 || len(d.Sightings) != 2 {
		t.Fatalf("re-recording added sightings: %d", d.SightingCount)
	}
	sg := d.Sightings[0]
	if !sg.SeenAt.Equal(epoch) || !sg.LastSeenAt.Equal(epoch.Add(24*time.Hour)) || sg.Line != 13 || sg.ScanID != "scan-2" {
		t.Fatalf("refreshed sighting %+v", sg)
	}
	if !d.LastSeen.Equal(epoch.Add(24*time.Hour)) || !d.FirstSeen.Equal(epoch) {
		t.Fatalf("first/last seen %v %v", d.FirstSeen, d.LastSeen)
	}
	evs := allAudit(t, s)
	if len(evs) != before+1 || evs[len(evs)-1].Action != aicred.ActionSightingsRefreshed ||
		evs[len(evs)-1].Data["count"] != "3" || evs[len(evs)-1].Data["scan"] != "scan-2" {
		t.Fatalf("refresh audit: %+v", evs[before:])
	}
	// An older observation does not move last seen back.
	old := Observation(a, "/r", "a.env", "c1", epoch.Add(-time.Hour))
	must(s.RecordSightings(ctx(t), []aicred.Observation{old}))(t)
	d = must(s.GetCredential(ctx(t), a.Fingerprint()))(t)
	if !d.Sightings[0].LastSeenAt.Equal(epoch.Add(24*time.Hour)) || !d.FirstSeen.Equal(epoch.Add(-time.Hour)) {
		t.Fatalf("after older observation: %+v first seen %v", d.Sightings[0], d.FirstSeen)
	}
	verifyOK(t, s)
}

func testRecordSightingsInvalid(t *testing.T, b Backend) {
	s := open(t, b)
	g := NewGen(3)
	good := Observation(g.Secret(), "/r", "a", "", epoch)
	bad := []func(*aicred.Observation){
		func(o *aicred.Observation) { o.Fingerprint = "sha256:nope" },
		func(o *aicred.Observation) { o.Provider = "" },
		func(o *aicred.Observation) { o.Rule = "" },
		func(o *aicred.Observation) { o.Source = "" },
		func(o *aicred.Observation) { o.Line = -1 },
		func(o *aicred.Observation) { o.Capabilities = []aicred.Capability{"root"} },
	}
	for i, mutate := range bad {
		o := Observation(g.Secret(), "/r", "b", "", epoch)
		mutate(&o)
		_, err := s.RecordSightings(ctx(t), []aicred.Observation{good, o})
		wantKind(t, err, aicred.ErrInvalid)
		if strings.Contains(err.Error(), "sk-proj-") {
			t.Fatalf("case %d: error message carries secret material: %v", i, err)
		}
	}
	if cs := must(s.ListCredentials(ctx(t), aicred.CredentialFilter{}))(t); len(cs) != 0 {
		t.Fatalf("a rejected batch recorded %d credentials", len(cs))
	}
	if n := len(allAudit(t, s)); n != 0 {
		t.Fatalf("a rejected batch wrote %d audit records", n)
	}
	if sum, err := s.RecordSightings(ctx(t), nil); err != nil || sum != (aicred.RecordSummary{}) {
		t.Fatalf("empty batch: %+v %v", sum, err)
	}
}

func testStorableText(t *testing.T, b Backend) {
	s := open(t, b)
	o := Observation(NewGen(4).Secret(), "/r\x00", "bad\xffname\x00.env", "", epoch)
	o.Locator = "message \xfe"
	must(s.RecordSightings(ctx(t), []aicred.Observation{o}))(t)
	d := must(s.GetCredential(ctx(t), o.Fingerprint))(t)
	sg := d.Sightings[0]
	if sg.Path != "bad\uFFFDname\uFFFD.env" || sg.Origin != "/r\uFFFD" || sg.Locator != "message \uFFFD" {
		t.Fatalf("text not made storable: %q %q %q", sg.Path, sg.Origin, sg.Locator)
	}
	// Recording the raw form again finds the same sighting.
	sum := must(s.RecordSightings(ctx(t), []aicred.Observation{o}))(t)
	if sum.Refreshed != 1 {
		t.Fatalf("raw form made a new sighting: %+v", sum)
	}
	verifyOK(t, s)
}

func testRecordLiveness(t *testing.T, b Backend) {
	s := open(t, b)
	g := NewGen(5)
	a, other := g.Secret(), g.Secret()
	must(s.RecordSightings(ctx(t), []aicred.Observation{Observation(a, "/r", "a", "", epoch)}))(t)
	before := len(allAudit(t, s))

	t1, t2 := epoch.Add(time.Hour), epoch.Add(2*time.Hour)
	// Out of order: the later check wins the latest verification.
	if err := s.RecordLiveness(ctx(t), []aicred.LivenessCheck{
		{Fingerprint: a.Fingerprint(), At: t2, Result: aicred.Dead, Detail: "401 invalid_api_key"},
		{Fingerprint: a.Fingerprint(), At: t1, Result: aicred.Live},
	}); err != nil {
		t.Fatal(err)
	}
	d := must(s.GetCredential(ctx(t), a.Fingerprint()))(t)
	if d.Verification != aicred.Dead || !d.VerifiedAt.Equal(t2) {
		t.Fatalf("latest verification %s at %v", d.Verification, d.VerifiedAt)
	}
	if len(d.Liveness) != 2 || d.Liveness[0].Result != aicred.Live || d.Liveness[1].Detail != "401 invalid_api_key" {
		t.Fatalf("history %+v", d.Liveness)
	}
	if n := len(allAudit(t, s)) - before; n != 2 {
		t.Fatalf("%d audit records for 2 checks", n)
	}

	// Unknown credential: nothing of the batch is recorded.
	err := s.RecordLiveness(ctx(t), []aicred.LivenessCheck{
		{Fingerprint: a.Fingerprint(), At: t2.Add(time.Hour), Result: aicred.Live},
		{Fingerprint: other.Fingerprint(), Result: aicred.Live},
	})
	wantKind(t, err, aicred.ErrNotFound)
	d = must(s.GetCredential(ctx(t), a.Fingerprint()))(t)
	if len(d.Liveness) != 2 || d.Verification != aicred.Dead {
		t.Fatalf("a failed batch left %d checks, verification %s", len(d.Liveness), d.Verification)
	}
	if n := len(allAudit(t, s)) - before; n != 2 {
		t.Fatalf("a failed batch left audit records")
	}
	for _, r := range []aicred.Verification{aicred.NotChecked, "maybe"} {
		wantKind(t, s.RecordLiveness(ctx(t), []aicred.LivenessCheck{{Fingerprint: a.Fingerprint(), Result: r}}), aicred.ErrInvalid)
	}
	verifyOK(t, s)
}

func testListCredentialsFilters(t *testing.T, b Backend) {
	s := open(t, b)
	g := NewGen(6)
	var secrets []aicred.Secret
	var obs []aicred.Observation
	for i := range 6 {
		sec := g.Secret()
		secrets = append(secrets, sec)
		o := Observation(sec, "/r", "f", "", epoch.Add(time.Duration(i)*time.Hour))
		if i%2 == 1 {
			o.Provider, o.Kind, o.Rule = "anthropic", "api-key", "anthropic-api-key"
			o.Capabilities = []aicred.Capability{aicred.CapInference}
		}
		if i == 5 {
			o.Kind = "admin-key"
			o.Capabilities = []aicred.Capability{aicred.CapKeyAdmin, aicred.CapOrgAdmin}
		}
		obs = append(obs, o)
	}
	must(s.RecordSightings(ctx(t), obs))(t)
	must(s.SetCredentialMeta(ctx(t), secrets[0].Fingerprint(), aicred.CredentialUpdate{
		Owner: ptr("team-ml"), Environments: &[]string{"prod", "dev"},
	}))(t)
	must(s.SetCredentialMeta(ctx(t), secrets[1].Fingerprint(), aicred.CredentialUpdate{Environments: &[]string{"dev"}}))(t)
	if err := s.RecordLiveness(ctx(t), []aicred.LivenessCheck{{Fingerprint: secrets[2].Fingerprint(), Result: aicred.Live}}); err != nil {
		t.Fatal(err)
	}
	putHeld(t, s, ring(t), secrets[3])

	fps := func(f aicred.CredentialFilter) []int {
		t.Helper()
		var out []int
		for _, c := range must(s.ListCredentials(ctx(t), f))(t) {
			out = append(out, slices.IndexFunc(secrets, func(x aicred.Secret) bool { return x.Fingerprint() == c.Fingerprint }))
		}
		slices.Sort(out)
		return out
	}
	yes, no := true, false
	cases := []struct {
		name string
		f    aicred.CredentialFilter
		want []int
	}{
		{"all", aicred.CredentialFilter{}, []int{0, 1, 2, 3, 4, 5}},
		{"provider", aicred.CredentialFilter{Provider: "anthropic"}, []int{1, 3, 5}},
		{"provider+kind", aicred.CredentialFilter{Provider: "anthropic", Kind: "admin-key"}, []int{5}},
		{"environment", aicred.CredentialFilter{Environment: "dev"}, []int{0, 1}},
		{"environment-prod", aicred.CredentialFilter{Environment: "prod"}, []int{0}},
		{"owner", aicred.CredentialFilter{Owner: "team-ml"}, []int{0}},
		{"capability", aicred.CredentialFilter{Capability: aicred.CapKeyAdmin}, []int{5}},
		{"capability-files", aicred.CredentialFilter{Capability: aicred.CapFilesData}, []int{0, 2, 4}},
		{"live", aicred.CredentialFilter{Verification: aicred.Live}, []int{2}},
		{"not-checked", aicred.CredentialFilter{Verification: aicred.NotChecked}, []int{0, 1, 3, 4, 5}},
		{"held", aicred.CredentialFilter{Held: &yes}, []int{3}},
		{"not-held", aicred.CredentialFilter{Held: &no, Provider: "anthropic"}, []int{1, 5}},
		{"seen-since", aicred.CredentialFilter{SeenSince: epoch.Add(4 * time.Hour)}, []int{4, 5}},
		{"nothing", aicred.CredentialFilter{Provider: "nobody"}, nil},
	}
	for _, c := range cases {
		if got := fps(c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}

	// Order and paging.
	all := must(s.ListCredentials(ctx(t), aicred.CredentialFilter{}))(t)
	if !slices.IsSortedFunc(all, func(x, y aicred.Credential) int {
		return strings.Compare(x.Provider+"\x00"+x.Kind+"\x00"+string(x.Fingerprint), y.Provider+"\x00"+y.Kind+"\x00"+string(y.Fingerprint))
	}) {
		t.Fatal("not ordered by provider, kind, fingerprint")
	}
	page := must(s.ListCredentials(ctx(t), aicred.CredentialFilter{Limit: 2, Offset: 1}))(t)
	if len(page) != 2 || page[0].Fingerprint != all[1].Fingerprint || page[1].Fingerprint != all[2].Fingerprint {
		t.Fatalf("paging: %d", len(page))
	}
	if rest := must(s.ListCredentials(ctx(t), aicred.CredentialFilter{Offset: 4}))(t); len(rest) != 2 {
		t.Fatalf("offset without limit: %d", len(rest))
	}
	for _, f := range []aicred.CredentialFilter{{Limit: -1}, {Offset: -1}, {Capability: "root"}, {Verification: "maybe"}} {
		_, err := s.ListCredentials(ctx(t), f)
		wantKind(t, err, aicred.ErrInvalid)
	}
	// Facts on the listed credential.
	c0 := all[slices.IndexFunc(all, func(c aicred.Credential) bool { return c.Fingerprint == secrets[0].Fingerprint() })]
	if c0.Owner != "team-ml" || !slices.Equal(c0.Environments, []string{"dev", "prod"}) || c0.SightingCount != 1 || c0.Sprawl != 1 {
		t.Fatalf("listed credential: %+v", c0)
	}
}

func testGetCredentialErrors(t *testing.T, b Backend) {
	s := open(t, b)
	_, err := s.GetCredential(ctx(t), "sha256:xyz")
	wantKind(t, err, aicred.ErrInvalid)
	_, err = s.GetCredential(ctx(t), NewGen(7).Secret().Fingerprint())
	wantKind(t, err, aicred.ErrNotFound)
}

func testSetCredentialMeta(t *testing.T, b Backend) {
	s := open(t, b)
	a := NewGen(8).Secret()
	must(s.RecordSightings(ctx(t), []aicred.Observation{Observation(a, "/r", "a", "", epoch)}))(t)
	created, expires := epoch.Add(-90*24*time.Hour), epoch.Add(365*24*time.Hour)
	before := len(allAudit(t, s))
	c := must(s.SetCredentialMeta(ctx(t), a.Fingerprint(), aicred.CredentialUpdate{
		Owner:        ptr("alice@example.com"),
		Environments: &[]string{"prod", " staging ", "prod"},
		Workloads:    &[]string{"svc-b", "svc-a"},
		CreatedAt:    &created,
		ExpiresAt:    &expires,
	}))(t)
	if c.Owner != "alice@example.com" || !slices.Equal(c.Environments, []string{"prod", "staging"}) ||
		!slices.Equal(c.Workloads, []string{"svc-a", "svc-b"}) || !c.CreatedAt.Equal(created) || !c.ExpiresAt.Equal(expires) || !c.RotatedAt.IsZero() {
		t.Fatalf("after update: %+v", c)
	}
	evs := allAudit(t, s)[before:]
	if len(evs) != 1 || evs[0].Action != aicred.ActionCredentialUpdated || evs[0].Subject != string(a.Fingerprint()) ||
		evs[0].Data["fields"] != "owner,environments,workloads,created_at,expires_at" {
		t.Fatalf("audit: %+v", evs)
	}

	// Nil fields stay; zero values clear.
	rotated := epoch
	c = must(s.SetCredentialMeta(ctx(t), a.Fingerprint(), aicred.CredentialUpdate{
		Owner: ptr(""), Workloads: &[]string{}, ExpiresAt: &time.Time{}, RotatedAt: &rotated,
	}))(t)
	if c.Owner != "" || c.Workloads != nil || !c.ExpiresAt.IsZero() || !c.RotatedAt.Equal(rotated) ||
		!slices.Equal(c.Environments, []string{"prod", "staging"}) || !c.CreatedAt.Equal(created) {
		t.Fatalf("after clearing: %+v", c)
	}
	got := must(s.GetCredential(ctx(t), a.Fingerprint()))(t)
	if got.Credential.Owner != "" || !slices.Equal(got.Environments, c.Environments) {
		t.Fatalf("get after update: %+v", got.Credential)
	}

	_, err := s.SetCredentialMeta(ctx(t), NewGen(9).Secret().Fingerprint(), aicred.CredentialUpdate{Owner: ptr("x")})
	wantKind(t, err, aicred.ErrNotFound)
	_, err = s.SetCredentialMeta(ctx(t), a.Fingerprint(), aicred.CredentialUpdate{Environments: &[]string{""}})
	wantKind(t, err, aicred.ErrInvalid)
	_, err = s.SetCredentialMeta(ctx(t), "nope", aicred.CredentialUpdate{})
	wantKind(t, err, aicred.ErrInvalid)
	verifyOK(t, s)
}

func ptr[T any](v T) *T { return &v }

// sameSighting compares sightings, times by instant.
func sameSighting(a, b aicred.Sighting) bool {
	times := func(s *aicred.Sighting) []time.Time {
		t := []time.Time{s.AuthorDate, s.SeenAt, s.LastSeenAt}
		s.AuthorDate, s.SeenAt, s.LastSeenAt = time.Time{}, time.Time{}, time.Time{}
		return t
	}
	ta, tb := times(&a), times(&b)
	for i := range ta {
		if !ta[i].Equal(tb[i]) {
			return false
		}
	}
	return a == b
}

// testListCredentialDetails checks that the bulk read returns exactly what
// one GetCredential per credential returns, in ListCredentials order, and
// honours filters.
func testListCredentialDetails(t *testing.T, b Backend) {
	s := open(t, b)
	g := NewGen(61)
	obs := g.Observations(300, 40, epoch)
	must(s.RecordSightings(ctx(t), obs))(t)
	var checks []aicred.LivenessCheck
	for i, o := range obs[:10] {
		checks = append(checks, aicred.LivenessCheck{Fingerprint: o.Fingerprint, At: epoch.Add(time.Duration(i) * time.Minute),
			Result: []aicred.Verification{aicred.Live, aicred.Dead, aicred.Unknown}[i%3], Detail: "HTTP test"})
	}
	if err := s.RecordLiveness(ctx(t), checks); err != nil {
		t.Fatal(err)
	}
	all := must(s.ListCredentialDetails(ctx(t), aicred.CredentialFilter{}))(t)
	list := must(s.ListCredentials(ctx(t), aicred.CredentialFilter{}))(t)
	if len(all) != len(list) || len(all) == 0 {
		t.Fatalf("%d details, %d credentials", len(all), len(list))
	}
	sightings := 0
	for i, d := range all {
		if d.Fingerprint != list[i].Fingerprint {
			t.Fatalf("order differs at %d", i)
		}
		one := must(s.GetCredential(ctx(t), d.Fingerprint))(t)
		if !reflect.DeepEqual(&d, one) {
			t.Fatalf("detail of %s differs from GetCredential:\n%+v\n%+v", d.Fingerprint.Short(), d, *one)
		}
		sightings += len(d.Sightings)
	}
	if sightings != 300 {
		t.Errorf("%d sightings in details, want 300", sightings)
	}
	p := all[0].Provider
	some := must(s.ListCredentialDetails(ctx(t), aicred.CredentialFilter{Provider: p, Limit: 2}))(t)
	if len(some) == 0 || len(some) > 2 || some[0].Provider != p {
		t.Errorf("filtered: %d details", len(some))
	}
	none := must(s.ListCredentialDetails(ctx(t), aicred.CredentialFilter{Provider: "no-such-provider"}))(t)
	if len(none) != 0 {
		t.Errorf("want none, got %d", len(none))
	}
	_, err := s.ListCredentialDetails(ctx(t), aicred.CredentialFilter{Limit: -1})
	wantKind(t, err, aicred.ErrInvalid)
}
