package report

import (
	"strings"
	"testing"

	"github.com/aicred/aicred"
)

func TestPostureStyleShared(t *testing.T) {
	css := PostureStyle()
	for _, want := range []string{"body{", ".tile", ".sev.critical", "@media print"} {
		if !strings.Contains(css, want) {
			t.Errorf("style sheet lacks %q", want)
		}
	}
	if strings.Contains(css, "<style>") || strings.Contains(css, "</style>") {
		t.Fatal("the style sheet holds its element")
	}
	for _, c := range aicred.Capabilities() {
		if CapabilityText(c) == "" {
			t.Errorf("no text for capability %s", c)
		}
	}
}
