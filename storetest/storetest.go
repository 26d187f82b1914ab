// Package storetest is the conformance suite every aicred.Store passes:
// sqlite and postgres run the same tests, from their own test files, with
// Run. Key-shaped data is generated at test time (provider.Gen); nothing
// key-shaped is committed.
package storetest

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// Backend is what the suite needs from a store implementation.
type Backend struct {
	// Open returns a new, empty store. The suite closes it.
	Open func(tb testing.TB) aicred.Store
	// Exec runs one SQL statement against the database behind s,
	// bypassing the store, with the audit log's append-only guards
	// removed: tamper tests use it to do what an attacker with database
	// access would.
	Exec func(tb testing.TB, s aicred.Store, query string)
	// Dump returns every byte the backend has written for s (database
	// files, or a dump of every table), for the canary test. Nil skips it.
	Dump func(tb testing.TB, s aicred.Store) []byte
	// Reopen opens a second Store on the database behind s, sharing
	// nothing with s in memory, as a second aicred process would. The
	// caller closes it. Nil skips the tests across stores.
	Reopen func(tb testing.TB, s aicred.Store) aicred.Store
}

// Run runs the whole suite against b.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"RecordSightings", testRecordSightings},
		{"RecordSightingsIdempotent", testRecordSightingsIdempotent},
		{"RecordSightingsInvalid", testRecordSightingsInvalid},
		{"StorableText", testStorableText},
		{"RecordLiveness", testRecordLiveness},
		{"ListCredentialsFilters", testListCredentialsFilters},
		{"GetCredentialErrors", testGetCredentialErrors},
		{"ListCredentialDetails", testListCredentialDetails},
		{"SetCredentialMeta", testSetCredentialMeta},
		{"HeldCredentials", testHeldCredentials},
		{"RotateHeld", testRotateHeld},
		{"RewrapHeld", testRewrapHeld},
		{"HeldStatus", testHeldStatus},
		{"AuditAppendListExport", testAuditAppendListExport},
		{"AuditSearch", testAuditSearch},
		{"AuditRecordsEveryChange", testAuditRecordsEveryChange},
		{"AuditTamper", testAuditTamper},
		{"AuditCheckpoints", testAuditCheckpoints},
		{"AuditCheckpointTamper", testAuditCheckpointTamper},
		{"Prune", testPrune},
		{"ConcurrentWriters", testConcurrentWriters},
		{"GrantsIssueLookupList", testGrantsIssueLookupList},
		{"GrantsConflictInvalid", testGrantsConflictInvalid},
		{"RevokeKinds", testRevokeKinds},
		{"TokenAudit", testTokenAudit},
		{"WatchRevocations", testWatchRevocations},
		{"WatchAcrossStores", testWatchAcrossStores},
		{"UsageRecordList", testUsageRecordList},
		{"UsageSummaries", testUsageSummaries},
		{"UsageIdempotent", testUsageIdempotent},
		{"UsageInvalid", testUsageInvalid},
		{"UsageCanary", testUsageCanary},
		{"BudgetTakeReturn", testBudgetTakeReturn},
		{"BudgetInvalid", testBudgetInvalid},
		{"BudgetExpiry", testBudgetExpiry},
		{"BudgetConcurrent", testBudgetConcurrent},
		{"GatewayObjectRecordGet", testGatewayObjectRecordGet},
		{"GatewayObjectList", testGatewayObjectList},
		{"GatewayObjectAcrossStores", testGatewayObjectAcrossStores},
		{"WorkloadHolds", testWorkloadHolds},
		{"RevokeHolds", testRevokeHolds},
		{"ReplayRemember", testReplayRemember},
		{"ReplayAcrossStores", testReplayAcrossStores},
		{"ConsoleSessions", testConsoleSessions},
		{"ConsoleSessionsAcrossStores", testConsoleSessionsAcrossStores},
		{"Rotations", testRotations},
		{"RotationRace", testRotationRace},
		{"RevokeHeldKey", testRevokeHeldKey},
		{"Canary", testCanary},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

// open opens a store that is closed when the test ends.
func open(tb testing.TB, b Backend) aicred.Store {
	tb.Helper()
	s := b.Open(tb)
	tb.Cleanup(func() { s.Close() })
	return s
}

// Gen makes key-shaped test data from a seed.
type Gen struct{ g *provider.Gen }

// NewGen returns a generator; the same seed gives the same data.
func NewGen(seed uint64) *Gen { return &Gen{provider.NewGen(seed)} }

// Secret returns a fresh OpenAI-project-key-shaped secret.
func (g *Gen) Secret() aicred.Secret {
	return aicred.NewSecret("sk-proj-" + g.g.URL64(48) + "T3BlbkFJ" + g.g.URL64(48))
}

// Observation returns an observation of s at path in commit, seen at t.
func Observation(s aicred.Secret, origin, path, commit string, t time.Time) aicred.Observation {
	return aicred.Observation{
		Provider:     "openai",
		Kind:         "project-key",
		Capabilities: []aicred.Capability{aicred.CapInference, aicred.CapFilesData},
		Redacted:     s.Redacted(),
		Sighting: aicred.Sighting{
			Fingerprint: s.Fingerprint(),
			Rule:        "openai-project-key",
			Origin:      origin,
			Source:      aicred.SourceGit,
			Path:        path,
			Line:        12,
			Column:      9,
			Commit:      commit,
			Author:      "Dev Example <dev@example.test>",
			AuthorDate:  t.Add(-time.Hour),
			ScanID:      "scan-1",
			SeenAt:      t,
		},
	}
}

// Observations returns n observations of creds distinct credentials, each
// seen in several places and commits, for load tests and benchmarks.
func (g *Gen) Observations(n, creds int, at time.Time) []aicred.Observation {
	fps := make([]aicred.Secret, creds)
	for i := range fps {
		fps[i] = g.Secret()
	}
	out := make([]aicred.Observation, n)
	for i := range out {
		s := fps[i%creds]
		o := Observation(s, "/src/repo-"+fmt.Sprint(g.g.IntN(20)), "cfg/"+g.g.Lower(8)+".env", g.g.Hex(40), at)
		o.ScanID = "bench"
		out[i] = o
	}
	return out
}

// Forms returns the ways a secret may leak into bytes: raw, base64 (three
// alphabets) and hex (both cases).
func Forms(s aicred.Secret) [][]byte {
	raw := []byte(s.Reveal())
	h := hex.EncodeToString(raw)
	var upper []byte
	for _, c := range []byte(h) {
		if c >= 'a' && c <= 'f' {
			c -= 'a' - 'A'
		}
		upper = append(upper, c)
	}
	return [][]byte{
		raw,
		[]byte(base64.StdEncoding.EncodeToString(raw)),
		[]byte(base64.RawURLEncoding.EncodeToString(raw)),
		[]byte(h),
		upper,
	}
}

var epoch = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

func ctx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(aicred.WithActor(context.Background(), "storetest"), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// must returns v, failing the test given to the result when err is set:
// must(s.GetCredential(ctx, fp))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(tb testing.TB) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

func wantKind(tb testing.TB, err error, kind aicred.ErrorKind) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("want a %s error, got nil", kind)
	}
	if got := aicred.KindOf(err); got != kind {
		tb.Fatalf("want a %s error, got %s: %v", kind, got, err)
	}
}

// auditActions returns the actions of every audit record, in order.
func auditActions(tb testing.TB, s aicred.Store) []string {
	tb.Helper()
	var out []string
	for _, e := range allAudit(tb, s) {
		out = append(out, e.Action)
	}
	return out
}

func allAudit(tb testing.TB, s aicred.Store) []aicred.AuditEvent {
	tb.Helper()
	var out []aicred.AuditEvent
	from := int64(1)
	for {
		page := must(s.ListAudit(ctx(tb), from, 500))(tb)
		out = append(out, page...)
		if len(page) < 500 {
			return out
		}
		from = page[len(page)-1].Seq + 1
	}
}

func verifyOK(tb testing.TB, s aicred.Store) aicred.AuditVerification {
	tb.Helper()
	v := must(s.VerifyAudit(ctx(tb)))(tb)
	if !v.OK() {
		tb.Fatalf("audit chain broken: %+v", v)
	}
	return v
}

func count(actions []string, action string) int {
	n := 0
	for _, a := range actions {
		if a == action {
			n++
		}
	}
	return n
}
