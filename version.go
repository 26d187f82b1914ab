package aicred

import (
	"runtime/debug"
	"strings"
	"time"
)

// devVersion is Version when neither -ldflags nor the module system set one.
const devVersion = "0.1.0-dev"

// Version is the release of this build. A release build sets it with
// -ldflags "-X github.com/aicred/aicred.Version=v1.2.3"; otherwise, when the
// binary was built from a module version (go install ...@v1.2.3 or @latest),
// it is that module version; otherwise it is 0.1.0-dev.
var Version = devVersion

func init() {
	if Version != devVersion {
		return
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := moduleVersion(bi); v != "" {
			Version = v
		}
	}
}

// moduleVersion returns the main module's version when it is a real one
// (not "(devel)", which go build and go run report for a checkout).
func moduleVersion(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		return ""
	}
	return v
}

// Build describes this binary: its version and, when it was built from a
// VCS checkout with -buildvcs (the go build default in a repository), the
// commit it was built from.
type Build struct {
	Version   string    `json:"version"`
	Commit    string    `json:"commit,omitempty"`     // vcs.revision
	Modified  bool      `json:"modified,omitempty"`   // vcs.modified: the work tree had uncommitted changes
	Time      time.Time `json:"commit_time,omitzero"` // vcs.time: when that commit was made
	GoVersion string    `json:"go_version,omitempty"`
}

// BuildInfo returns what the Go toolchain recorded about this binary.
func BuildInfo() Build {
	bi, _ := debug.ReadBuildInfo()
	return buildFrom(bi, Version)
}

func buildFrom(bi *debug.BuildInfo, version string) Build {
	b := Build{Version: version}
	if bi == nil {
		return b
	}
	b.GoVersion = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				b.Time = t.UTC()
			}
		}
	}
	return b
}

// ShortCommit is the first 12 hex digits of the commit, or "".
func (b Build) ShortCommit() string {
	if len(b.Commit) > 12 {
		return b.Commit[:12]
	}
	return b.Commit
}

// String renders the build on one line, for example
// "v0.3.0 (commit 0123456789ab, modified, 2026-12-01T22:40:38Z, go1.26.8)".
func (b Build) String() string {
	var parts []string
	if c := b.ShortCommit(); c != "" {
		parts = append(parts, "commit "+c)
		if b.Modified {
			parts = append(parts, "modified")
		}
	}
	if !b.Time.IsZero() {
		parts = append(parts, b.Time.Format(time.RFC3339))
	}
	if b.GoVersion != "" {
		parts = append(parts, b.GoVersion)
	}
	if len(parts) == 0 {
		return b.Version
	}
	return b.Version + " (" + strings.Join(parts, ", ") + ")"
}
