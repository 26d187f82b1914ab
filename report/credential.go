package report

import (
	"slices"
	"strings"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/posture"
	"github.com/aicred/aicred/provider"
)

// A Credential is one secret seen in one or more places: the findings that
// share a fingerprint, with what the catalog says about the kind.
type Credential struct {
	Fingerprint  aicred.Fingerprint
	Provider     string
	Kind         string
	Name         string // the kind's display name: "Anthropic API key"
	Redacted     string
	Capabilities []aicred.Capability
	Verification aicred.Verification
	VerifyDetail string
	// RevokeURL is the provider's page to revoke or rotate this kind; empty
	// for a custom rule.
	RevokeURL string
	Severity  posture.Severity
	// Findings are the places it was seen, in report order.
	Findings []*aicred.Finding
}

// Group gathers findings by secret fingerprint, in the order each secret
// was first found. Findings must be sorted (Sort) for a stable order.
func Group(findings []*aicred.Finding) []*Credential {
	var out []*Credential
	byFP := map[aicred.Fingerprint]*Credential{}
	for _, f := range findings {
		c := byFP[f.Fingerprint]
		if c == nil {
			c = &Credential{
				Fingerprint: f.Fingerprint, Provider: f.Provider, Kind: f.Kind, Name: f.Description,
				Redacted: f.Redacted, Capabilities: f.Capabilities, Verification: aicred.NotChecked,
			}
			if k, ok := provider.LookupKind(f.Provider, f.Kind); ok {
				c.Name, c.RevokeURL = k.Name, k.RevokeURL
				if len(c.Capabilities) == 0 {
					c.Capabilities = k.Capabilities
				}
			}
			if c.Name == "" {
				c.Name = f.Provider + " " + f.Kind
			}
			byFP[f.Fingerprint] = c
			out = append(out, c)
		}
		// The most telling liveness result of any sighting stands.
		if verificationRank(f.Verification) > verificationRank(c.Verification) {
			c.Verification, c.VerifyDetail = f.Verification, f.VerifyDetail
		}
		c.Findings = append(c.Findings, f)
	}
	for _, c := range out {
		c.Severity = Severity(c.Capabilities, c.Verification)
	}
	return out
}

func verificationRank(v aicred.Verification) int {
	switch v {
	case aicred.Live:
		return 4
	case aicred.LiveNoPermission:
		return 3
	case aicred.Dead:
		return 2
	case aicred.Unknown:
		return 1
	}
	return 0
}

// Severity ranks a found credential: one proven dead is low; one that
// administers keys or the organisation, or is proven live, is critical;
// one that spends money or reaches data is high; the rest are medium.
func Severity(caps []aicred.Capability, v aicred.Verification) posture.Severity {
	switch {
	case v == aicred.Dead:
		return posture.Low
	case slices.Contains(caps, aicred.CapKeyAdmin) || slices.Contains(caps, aicred.CapOrgAdmin) || v == aicred.Live:
		return posture.Critical
	}
	for _, c := range caps {
		switch c {
		case aicred.CapInference, aicred.CapBilling, aicred.CapCompute, aicred.CapFineTuning,
			aicred.CapFilesData, aicred.CapVectorRW, aicred.CapTracing:
			return posture.High
		}
	}
	return posture.Medium
}

// capabilityText says what each capability lets a holder of the key do.
var capabilityText = map[aicred.Capability]string{
	aicred.CapInference:     "call models, billed to the owner",
	aicred.CapFineTuning:    "train and deploy fine-tuned models",
	aicred.CapFilesData:     "read and write uploaded files and datasets",
	aicred.CapModelRegistry: "read and publish models",
	aicred.CapTracking:      "read and write experiment tracking",
	aicred.CapTracing:       "read LLM traces, prompts and outputs included",
	aicred.CapVectorRW:      "read and write vector indexes",
	aicred.CapCompute:       "start compute (GPUs, sandboxes) on the owner's account",
	aicred.CapSearch:        "run paid searches",
	aicred.CapKeyAdmin:      "create and revoke keys",
	aicred.CapOrgAdmin:      "administer the organisation",
	aicred.CapBilling:       "spend on the owner's account",
}

// Unlocks describes capabilities for people: "inference (call models,
// billed to the owner); billing (...)".
func Unlocks(caps []aicred.Capability) string {
	if len(caps) == 0 {
		return "unknown"
	}
	parts := make([]string, len(caps))
	for i, c := range caps {
		parts[i] = string(c)
		if t := capabilityText[c]; t != "" {
			parts[i] += " (" + t + ")"
		}
	}
	return strings.Join(parts, "; ")
}

// places counts the distinct places (path and commit) among findings.
func places(fs []*aicred.Finding) int {
	seen := map[string]bool{}
	for _, f := range fs {
		seen[f.Path+"\x00"+f.Commit] = true
	}
	return len(seen)
}
