package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

func gatewayObject(id, kind, workload, role string, at time.Time) aicred.GatewayObject {
	o := aicred.GatewayObject{
		Provider: "openai", Kind: kind, ID: id, Purpose: "batch",
		TokenID: "tok_" + id, Workload: workload, Role: role, CreatedAt: at,
	}
	if kind == aicred.ObjectFile {
		o.Calls = []string{"chat gpt-4o-mini", "embeddings text-embedding-3-small"}
	}
	return o
}

func sameObject(tb testing.TB, got *aicred.GatewayObject, want aicred.GatewayObject) {
	tb.Helper()
	want.CreatedAt = aicred.StoreTime(want.CreatedAt)
	if got.Provider != want.Provider || got.Kind != want.Kind || got.ID != want.ID || got.Purpose != want.Purpose ||
		got.TokenID != want.TokenID || got.Workload != want.Workload || got.Role != want.Role ||
		!slices.Equal(got.Calls, want.Calls) || !got.CreatedAt.Equal(want.CreatedAt) {
		tb.Fatalf("gateway object:\n got %+v\nwant %+v", *got, want)
	}
}

const (
	wlA = "https://token.actions.githubusercontent.com repo:acme/a:ref:refs/heads/main"
	wlB = "https://token.actions.githubusercontent.com repo:acme/b:ref:refs/heads/main"
)

func testGatewayObjectRecordGet(t *testing.T, b Backend) {
	s := open(t, b)
	before := len(allAudit(t, s))
	file := gatewayObject("file-abc", aicred.ObjectFile, wlA, "ci", epoch)
	if err := s.RecordGatewayObject(ctx(t), file); err != nil {
		t.Fatal(err)
	}
	sameObject(t, must(s.GetGatewayObject(ctx(t), "openai", aicred.ObjectFile, "file-abc"))(t), file)

	// CreatedAt defaults to now; a batch without calls reads back nil.
	batch := gatewayObject("batch_1", aicred.ObjectBatch, wlA, "ci", time.Time{})
	start := time.Now().Add(-time.Second)
	if err := s.RecordGatewayObject(ctx(t), batch); err != nil {
		t.Fatal(err)
	}
	got := must(s.GetGatewayObject(ctx(t), "openai", aicred.ObjectBatch, "batch_1"))(t)
	if got.CreatedAt.Before(start) || got.CreatedAt.After(time.Now().Add(time.Second)) || got.Calls != nil {
		t.Fatalf("defaulted object: %+v", got)
	}

	// The same id under another kind or provider is another object.
	other := gatewayObject("file-abc", aicred.ObjectBatch, wlB, "ci", epoch)
	if err := s.RecordGatewayObject(ctx(t), other); err != nil {
		t.Fatalf("same id, other kind: %v", err)
	}
	anth := gatewayObject("file-abc", aicred.ObjectFile, wlB, "ci", epoch)
	anth.Provider = "anthropic"
	if err := s.RecordGatewayObject(ctx(t), anth); err != nil {
		t.Fatalf("same id, other provider: %v", err)
	}

	// A second recording of an existing id keeps the first owner.
	thief := gatewayObject("file-abc", aicred.ObjectFile, wlB, "attacker", epoch.Add(time.Hour))
	thief.Calls = []string{"chat gpt-4o"}
	wantKind(t, s.RecordGatewayObject(ctx(t), thief), aicred.ErrConflict)
	sameObject(t, must(s.GetGatewayObject(ctx(t), "openai", aicred.ObjectFile, "file-abc"))(t), file)

	for _, c := range []struct {
		name   string
		mutate func(*aicred.GatewayObject)
	}{
		{"no provider", func(o *aicred.GatewayObject) { o.Provider = "" }},
		{"no id", func(o *aicred.GatewayObject) { o.ID = "" }},
		{"bad kind", func(o *aicred.GatewayObject) { o.Kind = "model" }},
		{"no token", func(o *aicred.GatewayObject) { o.TokenID = "" }},
		{"no workload", func(o *aicred.GatewayObject) { o.Workload = "" }},
		{"no role", func(o *aicred.GatewayObject) { o.Role = "" }},
		{"space in id", func(o *aicred.GatewayObject) { o.ID = "file abc" }},
		{"long id", func(o *aicred.GatewayObject) { o.ID = string(make([]byte, 257)) }},
		{"invalid utf-8 id", func(o *aicred.GatewayObject) { o.ID = "file-\xff" }},
		{"nul in workload", func(o *aicred.GatewayObject) { o.Workload = "iss sub\x00x" }},
		{"invalid utf-8 call", func(o *aicred.GatewayObject) { o.Calls = []string{"chat \xfe"} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := gatewayObject("file-new", aicred.ObjectFile, wlA, "ci", epoch)
			c.mutate(&o)
			wantKind(t, s.RecordGatewayObject(ctx(t), o), aicred.ErrInvalid)
		})
	}
	if _, err := s.GetGatewayObject(ctx(t), "openai", aicred.ObjectFile, "file-new"); aicred.KindOf(err) != aicred.ErrNotFound {
		t.Fatalf("an invalid object was stored: %v", err)
	}
	for _, k := range [][3]string{
		{"openai", aicred.ObjectFile, "file-missing"},
		{"openai", aicred.ObjectFile, "file-ab\xff"},
		{"azure", aicred.ObjectFile, "file-abc"},
	} {
		_, err := s.GetGatewayObject(ctx(t), k[0], k[1], k[2])
		wantKind(t, err, aicred.ErrNotFound)
	}
	if n := len(allAudit(t, s)); n != before {
		t.Fatalf("gateway objects wrote %d audit records; the service writes none", n-before)
	}
}

func testGatewayObjectList(t *testing.T, b Backend) {
	s := open(t, b)
	_, err := s.ListGatewayObjects(ctx(t), aicred.GatewayObjectFilter{Limit: -1})
	wantKind(t, err, aicred.ErrInvalid)
	if got := must(s.ListGatewayObjects(ctx(t), aicred.GatewayObjectFilter{}))(t); len(got) != 0 {
		t.Fatalf("empty store lists %d objects", len(got))
	}
	// Recorded out of time order; two share a time (recording order breaks the tie).
	objs := []aicred.GatewayObject{
		gatewayObject("file-3", aicred.ObjectFile, wlA, "ci", epoch.Add(3*time.Minute)),
		gatewayObject("file-1", aicred.ObjectFile, wlA, "ci", epoch.Add(time.Minute)),
		gatewayObject("batch-2", aicred.ObjectBatch, wlB, "ci", epoch.Add(2*time.Minute)),
		gatewayObject("file-2b", aicred.ObjectFile, wlB, "eval", epoch.Add(2*time.Minute)),
		gatewayObject("file-4", aicred.ObjectFile, wlB, "eval", epoch.Add(4*time.Minute)),
	}
	objs[4].Provider = "anthropic"
	for _, o := range objs {
		if err := s.RecordGatewayObject(ctx(t), o); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(os []aicred.GatewayObject) []string {
		var out []string
		for _, o := range os {
			out = append(out, o.ID)
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    aicred.GatewayObjectFilter
		want []string
	}{
		{"all, oldest first", aicred.GatewayObjectFilter{}, []string{"file-1", "batch-2", "file-2b", "file-3", "file-4"}},
		{"provider", aicred.GatewayObjectFilter{Provider: "openai"}, []string{"file-1", "batch-2", "file-2b", "file-3"}},
		{"kind", aicred.GatewayObjectFilter{Kind: aicred.ObjectBatch}, []string{"batch-2"}},
		{"workload", aicred.GatewayObjectFilter{Workload: wlA}, []string{"file-1", "file-3"}},
		{"role", aicred.GatewayObjectFilter{Role: "eval"}, []string{"file-2b", "file-4"}},
		{"workload and role", aicred.GatewayObjectFilter{Workload: wlB, Role: "ci"}, []string{"batch-2"}},
		{"limit", aicred.GatewayObjectFilter{Limit: 2}, []string{"file-1", "batch-2"}},
		{"filter and limit", aicred.GatewayObjectFilter{Kind: aicred.ObjectFile, Limit: 3}, []string{"file-1", "file-2b", "file-3"}},
		{"no match", aicred.GatewayObjectFilter{Workload: "nobody here"}, nil},
		{"unstorable filter", aicred.GatewayObjectFilter{Workload: wlA + "\xff"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := must(s.ListGatewayObjects(ctx(t), c.f))(t)
			if !slices.Equal(ids(got), c.want) {
				t.Fatalf("got %v, want %v", ids(got), c.want)
			}
		})
	}
	got := must(s.ListGatewayObjects(ctx(t), aicred.GatewayObjectFilter{Workload: wlA, Limit: 1}))(t)
	sameObject(t, &got[0], objs[1])
}

// Two processes on one database see each other's objects, and the first
// recording wins across them.
func testGatewayObjectAcrossStores(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("backend cannot reopen")
	}
	s1 := open(t, b)
	s2 := b.Reopen(t, s1)
	t.Cleanup(func() { s2.Close() })
	o := gatewayObject("file-shared", aicred.ObjectFile, wlA, "ci", epoch)
	if err := s1.RecordGatewayObject(ctx(t), o); err != nil {
		t.Fatal(err)
	}
	sameObject(t, must(s2.GetGatewayObject(ctx(t), "openai", aicred.ObjectFile, "file-shared"))(t), o)
	thief := gatewayObject("file-shared", aicred.ObjectFile, wlB, "ci", epoch)
	wantKind(t, s2.RecordGatewayObject(ctx(t), thief), aicred.ErrConflict)
	o2 := gatewayObject("batch-9", aicred.ObjectBatch, wlB, "ci", epoch.Add(time.Minute))
	if err := s2.RecordGatewayObject(ctx(t), o2); err != nil {
		t.Fatal(err)
	}
	for _, s := range []aicred.Store{s1, s2} {
		got := must(s.ListGatewayObjects(ctx(t), aicred.GatewayObjectFilter{}))(t)
		if len(got) != 2 || got[0].Workload != wlA || got[1].ID != "batch-9" {
			t.Fatalf("listing across stores: %+v", got)
		}
	}
}
