// Package posture judges the inventory against the OWASP Non-Human Identity
// Top 10 (2025) and NIST CSF 2.0 PR.AA. Each check reads one signal the
// inventory already holds (sightings, liveness, age, expiry, environments,
// workloads, the catalog's capabilities and category), compares it with a
// configurable threshold and, when it fires, says why with the numbers.
//
// Evaluate is pure: no I/O, no clock (the caller passes now), and the same
// input always gives the same report. The report carries fingerprints and
// redacted previews only, never secret material.
package posture

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Severity ranks a finding. The zero value, None, means nothing fired.
type Severity int8

// Severities, in increasing order.
const (
	None Severity = iota
	Info
	Low
	Medium
	High
	Critical
)

// Severities lists the finding severities from the worst down.
func Severities() []Severity { return []Severity{Critical, High, Medium, Low, Info} }

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	case Critical:
		return "critical"
	}
	return "none"
}

// ParseSeverity reads a severity name (case-insensitive).
func ParseSeverity(name string) (Severity, error) {
	for _, s := range append(Severities(), None) {
		if strings.EqualFold(name, s.String()) {
			return s, nil
		}
	}
	return None, fmt.Errorf("unknown severity %q (want critical, high, medium, low or info)", name)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalYAML reads a severity's name and reports a bad one with its line.
func (s *Severity) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSeverity(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode || v == None {
		if err == nil {
			err = fmt.Errorf("severity %q is not a finding severity", n.Value)
		}
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*s = v
	return nil
}

// SARIFScore is the security-severity GitHub code scanning reads: above 9
// critical, 7 to 8.9 high, 4 to 6.9 medium, below 4 low.
func (s Severity) SARIFScore() float64 {
	switch s {
	case Critical:
		return 9.5
	case High:
		return 8.0
	case Medium:
		return 5.5
	case Low:
		return 3.0
	case Info:
		return 1.0
	}
	return 0
}

// weight is what one finding of this severity adds to a credential's risk.
func (s Severity) weight() float64 {
	switch s {
	case Critical:
		return 40
	case High:
		return 20
	case Medium:
		return 8
	case Low:
		return 3
	case Info:
		return 1
	}
	return 0
}

// SeverityCounts counts credentials or findings per severity.
type SeverityCounts struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Info     int `json:"info"`
}

// Add counts one more of s; None is not counted.
func (c *SeverityCounts) Add(s Severity) {
	if p := c.ptr(s); p != nil {
		*p++
	}
}

// Get returns the count for s.
func (c *SeverityCounts) Get(s Severity) int {
	if p := c.ptr(s); p != nil {
		return *p
	}
	return 0
}

// Total is the sum over all severities.
func (c *SeverityCounts) Total() int { return c.Critical + c.High + c.Medium + c.Low + c.Info }

func (c *SeverityCounts) ptr(s Severity) *int {
	switch s {
	case Critical:
		return &c.Critical
	case High:
		return &c.High
	case Medium:
		return &c.Medium
	case Low:
		return &c.Low
	case Info:
		return &c.Info
	}
	return nil
}

// NHI names an item of the OWASP Top 10 Non-Human Identities Risks 2025.
type NHI string

// The OWASP NHI Top 10 (2025) items.
const (
	NHI1  NHI = "NHI1"
	NHI2  NHI = "NHI2"
	NHI3  NHI = "NHI3"
	NHI4  NHI = "NHI4"
	NHI5  NHI = "NHI5"
	NHI6  NHI = "NHI6"
	NHI7  NHI = "NHI7"
	NHI8  NHI = "NHI8"
	NHI9  NHI = "NHI9"
	NHI10 NHI = "NHI10"
)

// NHIItems lists the ten items in order.
func NHIItems() []NHI { return []NHI{NHI1, NHI2, NHI3, NHI4, NHI5, NHI6, NHI7, NHI8, NHI9, NHI10} }

// Name is OWASP's title of the item.
func (n NHI) Name() string {
	switch n {
	case NHI1:
		return "Improper Offboarding"
	case NHI2:
		return "Secret Leakage"
	case NHI3:
		return "Vulnerable Third-Party NHI"
	case NHI4:
		return "Insecure Authentication"
	case NHI5:
		return "Overprivileged NHI"
	case NHI6:
		return "Insecure Cloud Deployment Configurations"
	case NHI7:
		return "Long-Lived Secrets"
	case NHI8:
		return "Environment Isolation"
	case NHI9:
		return "NHI Reuse"
	case NHI10:
		return "Human Use of NHI"
	}
	return string(n)
}

// Ref is the item's reference as OWASP writes it: "NHI7:2025".
func (n NHI) Ref() string { return string(n) + ":2025" }

// CSF names a NIST CSF 2.0 subcategory of PR.AA (Identity Management,
// Authentication and Access Control).
type CSF string

// The PR.AA subcategories posture maps to (PR.AA-06, physical access, is
// out of scope).
const (
	PRAA01 CSF = "PR.AA-01"
	PRAA02 CSF = "PR.AA-02"
	PRAA03 CSF = "PR.AA-03"
	PRAA04 CSF = "PR.AA-04"
	PRAA05 CSF = "PR.AA-05"
)

// CSFSubcategories lists PR.AA-01 to PR.AA-05 in order.
func CSFSubcategories() []CSF { return []CSF{PRAA01, PRAA02, PRAA03, PRAA04, PRAA05} }

// Title says the subcategory in one line.
func (c CSF) Title() string {
	switch c {
	case PRAA01:
		return "Identities and credentials for authorized users, services and hardware are managed"
	case PRAA02:
		return "Identities are proofed and bound to credentials based on the context of use"
	case PRAA03:
		return "Users, services and hardware are authenticated"
	case PRAA04:
		return "Identity assertions are protected, conveyed and verified"
	case PRAA05:
		return "Access permissions are defined, managed, enforced and reviewed (least privilege)"
	}
	return string(c)
}
