package main

import (
	"strings"
	"testing"

	"github.com/aicred/aicred"
)

// TestVersionCommandAndFlagAgree: "aicred version" and "aicred --version"
// print the same line, naming the version and the build.
func TestVersionCommandAndFlagAgree(t *testing.T) {
	cmd := runCLI(t, "", "version")
	flag := runCLI(t, "", "--version")
	if cmd.code != exitOK || flag.code != exitOK {
		t.Fatalf("exit codes %d, %d", cmd.code, flag.code)
	}
	if cmd.stdout != flag.stdout {
		t.Errorf("version prints %q, --version prints %q", cmd.stdout, flag.stdout)
	}
	want := "aicred " + aicred.BuildInfo().String() + "\n"
	if cmd.stdout != want {
		t.Errorf("got %q, want %q", cmd.stdout, want)
	}
	if !strings.HasPrefix(cmd.stdout, "aicred "+aicred.Version) {
		t.Errorf("%q does not start with the version %s", cmd.stdout, aicred.Version)
	}
}
