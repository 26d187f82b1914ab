package sqlite

import (
	"slices"
	"testing"
)

// TestPendingMigrations: versions need not be contiguous (0007 and 0008
// were written on separate branches); each is applied once, whatever
// order they land in; a version this aicred does not know is refused.
func TestPendingMigrations(t *testing.T) {
	ms := []migration{{version: 1}, {version: 2}, {version: 3}, {version: 5}, {version: 8}}
	cases := []struct {
		name    string
		applied []int
		want    []int
		bad     bool
	}{
		{"fresh", nil, []int{1, 2, 3, 5, 8}, false},
		{"some", []int{1, 2}, []int{3, 5, 8}, false},
		{"a later one first", []int{1, 2, 3, 8}, []int{5}, false},
		{"all", []int{1, 2, 3, 5, 8}, nil, false},
		{"unknown", []int{1, 2, 3, 4}, nil, true},
		{"newer", []int{1, 2, 3, 5, 8, 9}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := pendingMigrations(ms, c.applied)
			if (err != nil) != c.bad {
				t.Fatalf("err %v, want error %v", err, c.bad)
			}
			var vs []int
			for _, m := range got {
				vs = append(vs, m.version)
			}
			if !slices.Equal(vs, c.want) {
				t.Fatalf("pending %v, want %v", vs, c.want)
			}
		})
	}
	all, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(m migration) bool { return m.version == 9 && m.name == "audit_checkpoints" }) {
		t.Fatal("0009_audit_checkpoints is not embedded")
	}
}
