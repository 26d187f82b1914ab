package report

import "testing"

func TestPlural(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "0 findings"}, {1, "1 finding"}, {2, "2 findings"}, {1000, "1000 findings"},
	}
	for _, tt := range tests {
		if got := Plural(tt.n, "finding", "findings"); got != tt.want {
			t.Errorf("Plural(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := pluralThousands(12345, "credential", "credentials"); got != "12,345 credentials" {
		t.Errorf("pluralThousands = %q", got)
	}
}
