package report

import (
	"strings"

	"github.com/aicred/aicred"
)

// What other reports (the incident report of aicred trace) share with the
// posture report: the same look and the same words for capabilities.

// CapabilityText says what a capability lets a holder of a key do ("" for
// an unknown capability).
func CapabilityText(c aicred.Capability) string { return capabilityText[c] }

// PostureStyle returns the posture report's style sheet (the contents of
// its <style> element), so that another self-contained HTML report looks
// the same.
func PostureStyle() string {
	s := postureHTML
	i, j := strings.Index(s, "<style>"), strings.Index(s, "</style>")
	if i < 0 || j < i {
		return ""
	}
	return s[i+len("<style>") : j]
}
