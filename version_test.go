package aicred

import (
	"runtime/debug"
	"testing"
)

func TestBuildFrom(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "v1.0.0"},
		{"no vcs", &debug.BuildInfo{GoVersion: "go1.26.8"}, "v1.0.0 (go1.26.8)"},
		{"clean checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs(
			"vcs.revision", "0123456789abcdef0123", "vcs.modified", "false", "vcs.time", "2026-12-01T22:40:38Z")},
			"v1.0.0 (commit 0123456789ab, 2026-12-01T22:40:38Z, go1.26.8)"},
		{"dirty checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs(
			"vcs.revision", "0123456789abcdef0123", "vcs.modified", "true")},
			"v1.0.0 (commit 0123456789ab, modified, go1.26.8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildFrom(tt.bi, "v1.0.0").String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestModuleVersion(t *testing.T) {
	for _, tt := range []struct{ main, want string }{
		{"(devel)", ""}, {"", ""}, {"v0.3.0", "v0.3.0"}, {"v0.0.0-20261201224038-0123456789ab", "v0.0.0-20261201224038-0123456789ab"},
	} {
		if got := moduleVersion(&debug.BuildInfo{Main: debug.Module{Version: tt.main}}); got != tt.want {
			t.Errorf("moduleVersion(%q) = %q, want %q", tt.main, got, tt.want)
		}
	}
}
