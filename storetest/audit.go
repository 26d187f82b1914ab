package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

func testAuditAppendListExport(t *testing.T, b Backend) {
	s := open(t, b)
	if v := verifyOK(t, s); v.Records != 0 || v.Head.Seq != 0 {
		t.Fatalf("empty log: %+v", v)
	}
	e := must(s.AppendAudit(ctx(t), aicred.AuditEvent{Action: "export.done", Subject: "audit", Data: map[string]string{"to": "siem", "n": "3"}}))(t)
	if e.Seq != 1 || e.PrevHash != audit.Genesis || e.Hash != audit.Hash(&e) || e.Actor != "storetest" || e.Time.IsZero() {
		t.Fatalf("first event: %+v", e)
	}
	e2 := must(s.AppendAudit(aicred.WithActor(ctx(t), "cli:bob"), aicred.AuditEvent{Action: "login"}))(t)
	if e2.Seq != 2 || e2.PrevHash != e.Hash || e2.Actor != "cli:bob" {
		t.Fatalf("second event: %+v", e2)
	}
	e3 := must(s.AppendAudit(ctx(t), aicred.AuditEvent{Action: "x", Actor: "explicit", Seq: 99, Hash: "forged", PrevHash: "forged"}))(t)
	if e3.Seq != 3 || e3.Actor != "explicit" || e3.PrevHash != e2.Hash {
		t.Fatalf("store must set seq and hashes: %+v", e3)
	}
	_, err := s.AppendAudit(ctx(t), aicred.AuditEvent{})
	wantKind(t, err, aicred.ErrInvalid)

	for range 7 {
		must(s.AppendAudit(ctx(t), aicred.AuditEvent{Action: "tick"}))(t)
	}
	evs := allAudit(t, s)
	if len(evs) != 10 {
		t.Fatalf("%d events", len(evs))
	}
	if evs[0].Data["to"] != "siem" || evs[0].Subject != "audit" || !evs[0].Time.Equal(e.Time) || evs[0].Hash != e.Hash {
		t.Fatalf("stored event differs: %+v vs %+v", evs[0], e)
	}
	if v := audit.Verify(evs, nil); !v.OK() {
		t.Fatalf("listed events do not verify: %+v", v)
	}
	page := must(s.ListAudit(ctx(t), 4, 3))(t)
	if len(page) != 3 || page[0].Seq != 4 || page[2].Seq != 6 {
		t.Fatalf("page: %+v", page)
	}
	if rest := must(s.ListAudit(ctx(t), 11, 5))(t); len(rest) != 0 {
		t.Fatalf("past the end: %d", len(rest))
	}
	_, err = s.ListAudit(ctx(t), 1, 0)
	wantKind(t, err, aicred.ErrInvalid)

	v := verifyOK(t, s)
	if v.Records != 10 || v.Head.Seq != 10 || v.Head.Hash != evs[9].Hash {
		t.Fatalf("verification: %+v", v)
	}
	var buf bytes.Buffer
	n, err := audit.Export(ctx(t), &buf, s, 1)
	if err != nil || n != 10 {
		t.Fatalf("export: %d %v", n, err)
	}
	if got, err := audit.VerifyJSONL(&buf, &v.Head); err != nil || !got.OK() || got.Records != 10 {
		t.Fatalf("exported log: %+v %v", got, err)
	}
}

func testAuditRecordsEveryChange(t *testing.T, b Backend) {
	s := open(t, b)
	k := ring(t)
	g := NewGen(20)
	a, c, heldSec, next := g.Secret(), g.Secret(), g.Secret(), g.Secret()
	seen := 0
	step := func(name string, want int, fn func() error) {
		t.Helper()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		evs := allAudit(t, s)
		if got := len(evs) - seen; got != want {
			t.Fatalf("%s wrote %d audit records, want %d: %+v", name, got, want, evs[seen:])
		}
		seen = len(evs)
	}
	obs := []aicred.Observation{
		Observation(a, "/r", "x.env", "c1", epoch),
		Observation(a, "/r", "y.env", "c1", epoch),
		Observation(c, "/r", "x.env", "c1", epoch),
	}
	step("new sightings", 5, func() error { _, err := s.RecordSightings(ctx(t), obs); return err })
	step("same sightings", 1, func() error { _, err := s.RecordSightings(ctx(t), obs); return err })
	step("liveness", 2, func() error {
		return s.RecordLiveness(ctx(t), []aicred.LivenessCheck{{Fingerprint: a.Fingerprint(), Result: aicred.Live}, {Fingerprint: c.Fingerprint(), Result: aicred.Dead}})
	})
	step("meta", 1, func() error {
		_, err := s.SetCredentialMeta(ctx(t), a.Fingerprint(), aicred.CredentialUpdate{Owner: ptr("ops")})
		return err
	})
	var h *aicred.HeldCredential
	step("held", 1, func() error { h = held(t, k, heldSec, "prod"); return s.PutHeldCredential(ctx(t), h) })
	step("rotate", 1, func() error {
		n := &aicred.HeldCredential{ID: h.ID, Fingerprint: next.Fingerprint(), Redacted: next.Redacted()}
		var err error
		if n.Sealed, n.KeyID, err = k.Seal(next, n.AAD()); err != nil {
			return err
		}
		_, err = s.RotateHeld(ctx(t), n)
		return err
	})
	step("master key", 1, func() error {
		if _, err := k.Rotate(); err != nil {
			return err
		}
		_, err := s.RewrapHeld(ctx(t), func(h *aicred.HeldCredential) ([]byte, string, error) { return k.Rewrap(h.Sealed, h.AAD()) })
		return err
	})
	step("append", 1, func() error { _, err := s.AppendAudit(ctx(t), aicred.AuditEvent{Action: "report.written"}); return err })

	// No record carries secret material: only fingerprints.
	evs := allAudit(t, s)
	raw, _ := json.Marshal(evs)
	for _, sec := range []aicred.Secret{a, c, heldSec, next} {
		for _, form := range Forms(sec) {
			if bytes.Contains(raw, form) {
				t.Fatal("an audit record carries secret material")
			}
		}
		if !bytes.Contains(raw, []byte(sec.Fingerprint())) {
			t.Fatalf("no audit record names %s", sec.Fingerprint().Short())
		}
	}
	if v := verifyOK(t, s); v.Records != int64(len(evs)) || v.Head.Seq != int64(len(evs)) {
		t.Fatalf("verification: %+v (%d events)", v, len(evs))
	}
}

// seedAudit appends n events and returns them.
func seedAudit(tb testing.TB, s aicred.Store, n int) []aicred.AuditEvent {
	tb.Helper()
	for i := range n {
		must(s.AppendAudit(ctx(tb), aicred.AuditEvent{Action: "test.event", Subject: fmt.Sprintf("s%d", i+1), Data: map[string]string{"i": fmt.Sprint(i + 1)}}))(tb)
	}
	return allAudit(tb, s)
}

func sqlText(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func insertSQL(e *aicred.AuditEvent) string {
	data, _ := json.Marshal(e.Data)
	if e.Data == nil {
		data = []byte("{}")
	}
	return fmt.Sprintf("INSERT INTO audit_log (seq, at, actor, action, subject, data, prev_hash, hash) VALUES (%d, %s, %s, %s, %s, %s, %s, %s)",
		e.Seq, sqlText(audit.FormatTime(e.Time)), sqlText(e.Actor), sqlText(e.Action), sqlText(e.Subject), sqlText(string(data)), sqlText(e.PrevHash), sqlText(e.Hash))
}

func testAuditTamper(t *testing.T, b Backend) {
	if b.Exec == nil {
		t.Skip("backend offers no raw SQL access")
	}
	cases := []struct {
		name   string
		tamper func(evs []aicred.AuditEvent) []string
		bad    int64
	}{
		{"modified", func([]aicred.AuditEvent) []string {
			return []string{"UPDATE audit_log SET actor = 'mallory' WHERE seq = 4"}
		}, 4},
		{"modified-data", func([]aicred.AuditEvent) []string {
			return []string{`UPDATE audit_log SET data = '{"i":"40"}' WHERE seq = 4`}
		}, 4},
		{"modified-time", func([]aicred.AuditEvent) []string {
			return []string{"UPDATE audit_log SET at = '2001-01-01T00:00:00.000000Z' WHERE seq = 4"}
		}, 4},
		{"modified-and-rehashed", func(evs []aicred.AuditEvent) []string {
			e := evs[3]
			e.Actor = "mallory"
			return []string{"UPDATE audit_log SET actor = 'mallory', hash = " + sqlText(audit.Hash(&e)) + " WHERE seq = 4"}
		}, 5},
		{"deleted", func([]aicred.AuditEvent) []string {
			return []string{"DELETE FROM audit_log WHERE seq = 4"}
		}, 4},
		{"deleted-last", func([]aicred.AuditEvent) []string {
			return []string{"DELETE FROM audit_log WHERE seq = 10"}
		}, 10},
		{"inserted", func(evs []aicred.AuditEvent) []string {
			// Make room at 4 and insert a well-formed record there that
			// chains onto record 3; move the head to match.
			forged := aicred.AuditEvent{Seq: 4, Time: evs[2].Time, Actor: "mallory", Action: "credential.discovered", PrevHash: evs[2].Hash}
			forged.Hash = audit.Hash(&forged)
			return []string{
				"UPDATE audit_log SET seq = -seq WHERE seq >= 4",
				"UPDATE audit_log SET seq = 1 - seq WHERE seq < 0",
				insertSQL(&forged),
				"UPDATE audit_head SET seq = 11, hash = " + sqlText(evs[9].Hash),
			}
		}, 5},
		{"inserted-naive", func(evs []aicred.AuditEvent) []string {
			forged := evs[2]
			forged.Seq = 4
			return []string{
				"UPDATE audit_log SET seq = -seq WHERE seq >= 4",
				"UPDATE audit_log SET seq = 1 - seq WHERE seq < 0",
				insertSQL(&forged),
			}
		}, 4},
		{"appended", func(evs []aicred.AuditEvent) []string {
			forged := aicred.AuditEvent{Seq: 11, Time: evs[9].Time, Actor: "mallory", Action: "x", PrevHash: evs[9].Hash}
			forged.Hash = audit.Hash(&forged)
			return []string{insertSQL(&forged)}
		}, 11},
		{"reordered", func([]aicred.AuditEvent) []string {
			return []string{
				"UPDATE audit_log SET seq = -1 WHERE seq = 4",
				"UPDATE audit_log SET seq = 4 WHERE seq = 5",
				"UPDATE audit_log SET seq = 5 WHERE seq = -1",
			}
		}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, b)
			evs := seedAudit(t, s, 10)
			verifyOK(t, s)
			for _, q := range c.tamper(evs) {
				b.Exec(t, s, q)
			}
			v := must(s.VerifyAudit(ctx(t)))(t)
			if v.OK() || v.BadSeq != c.bad {
				t.Fatalf("want the first bad record at %d, got %+v", c.bad, v)
			}
			if v.Problem == "" {
				t.Fatal("verification names no problem")
			}
			t.Logf("seq %d: %s", v.BadSeq, v.Problem)
		})
	}
}

func testConcurrentWriters(t *testing.T, b Backend) {
	s := open(t, b)
	// Writers share one credential (so they race to discover it) and
	// each has its own.
	shared := NewGen(30).Secret()
	const writers, rounds, batch = 6, 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			g := NewGen(uint64(1000 + w))
			own := g.Secret()
			for r := range rounds {
				var obs []aicred.Observation
				for i := range batch {
					sec := own
					if i%2 == 0 {
						sec = shared
					}
					obs = append(obs, Observation(sec, fmt.Sprintf("/w%d", w), fmt.Sprintf("r%d/f%d", r, i), "", epoch.Add(time.Duration(r)*time.Minute)))
				}
				if _, err := s.RecordSightings(ctx(t), obs); err != nil {
					errs <- err
					return
				}
				if err := s.RecordLiveness(ctx(t), []aicred.LivenessCheck{{Fingerprint: own.Fingerprint(), Result: aicred.Live}}); err != nil {
					errs <- err
					return
				}
				if _, err := s.AppendAudit(ctx(t), aicred.AuditEvent{Action: "writer.round"}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// Readers run alongside.
	stop := make(chan struct{})
	var rg sync.WaitGroup
	rg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.ListCredentials(ctx(t), aicred.CredentialFilter{}); err != nil {
				errs <- err
				return
			}
			if _, err := s.VerifyAudit(ctx(t)); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkConsistent(t, s, writers+1, writers*rounds*batch)
}

// CheckConsistent checks that the inventory and the audit log agree and the
// chain verifies, and returns the number of credentials and sightings. It
// expects an inventory filled by RecordSightings only: a credential that
// enters through PutHeldCredential is recorded as held.added, not
// credential.discovered.
func CheckConsistent(tb testing.TB, s aicred.Store) (creds, sightings int) {
	tb.Helper()
	cs := must(s.ListCredentials(ctx(tb), aicred.CredentialFilter{}))(tb)
	for _, c := range cs {
		sightings += c.SightingCount
	}
	v := verifyOK(tb, s)
	acts := auditActions(tb, s)
	if int64(len(acts)) != v.Records || v.Head.Seq != v.Records {
		tb.Fatalf("%d records listed, %d verified, head %d", len(acts), v.Records, v.Head.Seq)
	}
	if n := count(acts, aicred.ActionCredentialDiscovered); n != len(cs) {
		tb.Fatalf("%d credential.discovered records for %d credentials", n, len(cs))
	}
	if n := count(acts, aicred.ActionSightingRecorded); n != sightings {
		tb.Fatalf("%d sighting.recorded records for %d sightings", n, sightings)
	}
	return len(cs), sightings
}

func checkConsistent(tb testing.TB, s aicred.Store, wantCreds, wantSightings int) {
	tb.Helper()
	creds, sightings := CheckConsistent(tb, s)
	if creds != wantCreds || sightings != wantSightings {
		tb.Fatalf("%d credentials and %d sightings, want %d and %d", creds, sightings, wantCreds, wantSightings)
	}
}

func testCanary(t *testing.T, b Backend) {
	if b.Dump == nil {
		t.Skip("backend cannot dump what it wrote")
	}
	s := open(t, b)
	secrets, exported := RecordCanary(t, s)
	dump := append(b.Dump(t, s), exported...)
	if !bytes.Contains(dump, []byte(secrets[0].Fingerprint())) {
		t.Fatal("the dump does not hold the canary's fingerprint: it is not looking at the data")
	}
	AssertNoSecrets(t, dump, secrets...)
}

// RecordCanary takes fresh canary secrets through every store method that
// writes (sightings, liveness, metadata, holding it sealed, rotating it,
// re-wrapping under a new master key) and exports the audit log. It
// returns the secrets and the export, for the caller to search whatever the
// store wrote.
func RecordCanary(tb testing.TB, s aicred.Store) ([]aicred.Secret, []byte) {
	tb.Helper()
	k := ring(tb)
	g := NewGen(40)
	canary, next := g.Secret(), g.Secret()
	o := Observation(canary, "/src/app", "settings.py", "c0ffee", epoch)
	must(s.RecordSightings(ctx(tb), []aicred.Observation{o}))(tb)
	if err := s.RecordLiveness(ctx(tb), []aicred.LivenessCheck{{Fingerprint: canary.Fingerprint(), Result: aicred.Live, Detail: "200 from /v1/models"}}); err != nil {
		tb.Fatal(err)
	}
	must(s.SetCredentialMeta(ctx(tb), canary.Fingerprint(), aicred.CredentialUpdate{Owner: ptr("ml-team"), Environments: &[]string{"prod"}}))(tb)
	h := putHeld(tb, s, k, canary)
	n := &aicred.HeldCredential{ID: h.ID, Fingerprint: next.Fingerprint(), Redacted: next.Redacted()}
	var err error
	if n.Sealed, n.KeyID, err = k.Seal(next, n.AAD()); err != nil {
		tb.Fatal(err)
	}
	must(s.RotateHeld(ctx(tb), n))(tb)
	if _, err := k.Rotate(); err != nil {
		tb.Fatal(err)
	}
	must(s.RewrapHeld(ctx(tb), func(h *aicred.HeldCredential) ([]byte, string, error) { return k.Rewrap(h.Sealed, h.AAD()) }))(tb)
	var exported bytes.Buffer
	if _, err := audit.Export(ctx(tb), &exported, s, 1); err != nil {
		tb.Fatal(err)
	}
	return []aicred.Secret{canary, next}, exported.Bytes()
}

// AssertNoSecrets fails if any form of any secret (see Forms) is in b.
func AssertNoSecrets(tb testing.TB, b []byte, secrets ...aicred.Secret) {
	tb.Helper()
	for i, sec := range secrets {
		for j, form := range Forms(sec) {
			if bytes.Contains(b, form) {
				tb.Fatalf("form %d of secret %d is in the store's bytes", j, i)
			}
		}
	}
}

func testClosed(t *testing.T, b Backend) {
	s := b.Open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListCredentials(ctx(t), aicred.CredentialFilter{}); err == nil {
		t.Fatal("a closed store answered")
	}
	if _, err := s.AppendAudit(ctx(t), aicred.AuditEvent{Action: "x"}); err == nil {
		t.Fatal("a closed store wrote")
	}
}

// testAuditSearch: SearchAudit filters by action, subject, actor, time and
// sequence, newest first, and refuses a bad limit.
func testAuditSearch(t *testing.T, b Backend) {
	s := open(t, b)
	for i := range 12 {
		action, actor := "tick", "cli:alice"
		if i%3 == 0 {
			action = "anomaly.detected"
		}
		if i%4 == 0 {
			actor = "cli:bob"
		}
		must(s.AppendAudit(aicred.WithActor(ctx(t), actor), aicred.AuditEvent{Action: action, Subject: fmt.Sprintf("w%d", i%2)}))(t)
	}
	seqs := func(evs []aicred.AuditEvent) string {
		var out []string
		for _, e := range evs {
			out = append(out, fmt.Sprint(e.Seq))
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		name string
		q    aicred.AuditQuery
		want string
	}{
		{"all newest first", aicred.AuditQuery{Limit: 4}, "12,11,10,9"},
		{"by action", aicred.AuditQuery{Actions: []string{"anomaly.detected"}, Limit: 10}, "10,7,4,1"},
		{"two actions", aicred.AuditQuery{Actions: []string{"anomaly.detected", "tick"}, Limit: 2}, "12,11"},
		{"by subject", aicred.AuditQuery{Subject: "w1", Limit: 3}, "12,10,8"},
		{"by actor", aicred.AuditQuery{Actor: "cli:bob", Limit: 10}, "9,5,1"},
		{"before", aicred.AuditQuery{BeforeSeq: 5, Limit: 10}, "4,3,2,1"},
		{"action and before", aicred.AuditQuery{Actions: []string{"anomaly.detected"}, BeforeSeq: 7, Limit: 10}, "4,1"},
		{"since the future", aicred.AuditQuery{Since: time.Now().Add(time.Hour), Limit: 10}, ""},
		{"since the past", aicred.AuditQuery{Since: time.Now().Add(-time.Hour), Limit: 2}, "12,11"},
	}
	for _, c := range cases {
		got := must(s.SearchAudit(ctx(t), c.q))(t)
		if seqs(got) != c.want {
			t.Errorf("%s: got %q, want %q", c.name, seqs(got), c.want)
		}
	}
	if got := must(s.SearchAudit(ctx(t), aicred.AuditQuery{Limit: 1}))(t); len(got) != 1 || got[0].Hash != allAudit(t, s)[11].Hash || got[0].Actor != "cli:alice" {
		t.Errorf("newest record differs from the listed one: %+v", got)
	}
	for _, q := range []aicred.AuditQuery{{}, {Limit: aicred.MaxAuditQuery + 1}, {Limit: 1, BeforeSeq: -1}} {
		_, err := s.SearchAudit(ctx(t), q)
		wantKind(t, err, aicred.ErrInvalid)
	}
}
