package broker

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestRoleAnomalyPolicy: a role's anomaly.suspend list loads from YAML,
// and an unknown alert kind is refused naming its line.
func TestRoleAnomalyPolicy(t *testing.T) {
	base := configWith(t, "  - {name: p, issuer: corp, role: r, claims: {sub: a}}\n")
	cases := []struct {
		name    string
		anomaly string // inserted after the role's operations line
		want    []string
		err     string // substring of the error; "" accepted
		line    string // the text on the line the error must name
	}{
		{"absent", "", nil, "", ""},
		{"empty list", "    anomaly: {suspend: []}\n", nil, "", ""},
		{"two kinds", "    anomaly:\n      suspend: [spend_spike, expensive_model]\n", []string{AnomalySpendSpike, AnomalyExpensiveModel}, "", ""},
		{"every kind", "    anomaly: {suspend: [" + strings.Join(AnomalyKinds(), ", ") + "]}\n", AnomalyKinds(), "", ""},
		{"unknown kind", "    anomaly:\n      suspend:\n        - spend_spike\n        - crypto_mining\n", nil, `unknown alert kind "crypto_mining"`, "- crypto_mining"},
		{"unknown key", "    anomaly:\n      suspends: [spend_spike]\n", nil, `unknown field "suspends"`, "suspends:"},
		{"wrong type", "    anomaly: {suspend: spend_spike}\n", nil, "cannot unmarshal", "anomaly:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(base, "    operations: [chat]\n", "    operations: [chat]\n"+c.anomaly, 1)
			cfg, err := ParseConfig([]byte(doc))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				want := 0
				for i, l := range strings.Split(doc, "\n") {
					if strings.Contains(l, c.line) {
						want = i + 1
						break
					}
				}
				if !strings.Contains(err.Error(), "line "+strconv.Itoa(want)+":") {
					t.Errorf("error %q does not name line %d", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			x, err := cfg.Build(BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r, ok := x.Role("r")
			if !ok {
				t.Fatal("role r not built")
			}
			if !slices.Equal(r.Anomaly.Suspend, c.want) {
				t.Fatalf("suspend %v, want %v", r.Anomaly.Suspend, c.want)
			}
			for _, k := range AnomalyKinds() {
				if got, want := r.Anomaly.Suspends(k), slices.Contains(c.want, k); got != want {
					t.Errorf("Suspends(%s) = %v, want %v", k, got, want)
				}
			}
		})
	}
}
