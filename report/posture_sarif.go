package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/posture"
)

const nhiTop10URI = "https://owasp.org/www-project-non-human-identities-top-10/2025/top-10-2025/"

// BuildPostureSARIF returns a SARIF 2.1.0 log of a posture report: one rule
// per check that ran, one result per credential and check that fired,
// located at the credential's sightings (or, for a credential never seen
// in files, at a logical location naming its fingerprint).
func BuildPostureSARIF(r *posture.Report) *sarif.Report {
	run := sarif.NewRunWithInformationURI("aicred", informationURI)
	run.Tool.Driver.WithVersion(aicred.Version).WithSemanticVersion(strings.TrimSuffix(aicred.Version, "-dev"))
	for _, c := range r.Checks {
		tags := []string{"security", "non-human-identity", "owasp-nhi-top10-2025:" + string(c.NHI)}
		for _, s := range c.CSF {
			tags = append(tags, "nist-csf-2.0:"+string(s))
		}
		run.AddRule(c.ID).
			WithName(checkName(c.ID)).
			WithShortDescription(sarif.NewMultiformatMessageString().WithText(c.Title)).
			WithFullDescription(sarif.NewMultiformatMessageString().WithText(
				fmt.Sprintf("%s %s. Signal: %s. Threshold: %s.", c.NHI.Ref(), c.NHI.Name(), c.Signal, c.Threshold))).
			WithHelp(sarif.NewMultiformatMessageString().WithText(c.Remediation).WithMarkdown(
				fmt.Sprintf("**%s %s** (%s)\n\n%s\n\nSeverity: %s; %s.", c.NHI.Ref(), c.NHI.Name(), joinCSF(c.CSF), c.Remediation, c.Severity, c.Escalation))).
			WithHelpURI(nhiTop10URI).
			WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(sarifLevel(c.Severity))).
			WithProperties(sarif.NewPropertyBag().
				Add("tags", tags).
				Add("security-severity", fmt.Sprintf("%.1f", c.Severity.SARIFScore())))
	}
	for i := range r.Credentials {
		cp := &r.Credentials[i]
		for _, f := range cp.Findings {
			props := sarif.NewPropertyBag().
				Add("fingerprint", string(cp.Fingerprint)).
				Add("provider", cp.Provider).Add("kind", cp.Kind).
				Add("verification", string(cp.Verification)).
				Add("severity", f.Severity.String()).
				Add("risk", cp.Risk).
				Add("nhi", f.NHI.Ref()).
				Add("csf", joinCSF(f.CSF))
			if len(f.Metrics) > 0 {
				props.Add("metrics", f.Metrics)
			}
			res := sarif.NewRuleResult(f.Check).
				WithRuleIndex(run.GetRuleIndex(f.Check)).
				WithLevel(sarifLevel(f.Severity)).
				WithRank(float64(cp.Risk)).
				WithMessage(sarif.NewTextMessage(fmt.Sprintf("[%s] %s/%s %s (%s): %s",
					f.Severity, cp.Provider, cp.Kind, cp.Redacted, cp.Fingerprint.Short(), f.Reason))).
				WithPartialFingerprints(map[string]string{"aicredPosture/v1": cp.Fingerprint.Short() + ":" + f.Check}).
				WithProperties(props)
			for _, l := range cp.Locations {
				res.AddLocation(postureLocation(l))
			}
			if len(cp.Locations) == 0 {
				res.AddLocation(sarif.NewLocation().AddLogicalLocation(sarif.NewLogicalLocation().
					WithName(cp.Fingerprint.Short()).
					WithFullyQualifiedName(cp.Provider + "/" + cp.Kind + "/" + string(cp.Fingerprint)).
					WithKind("object")))
			}
			run.AddResult(res)
		}
	}
	rep := sarif.NewReport()
	rep.AddRun(run)
	return rep
}

func writePostureSARIF(w io.Writer, r *posture.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(BuildPostureSARIF(r))
}

// checkName turns "AIC-NHI7-AGE" into "AicNhi7Age", the PascalCase form
// SARIF viewers expect for reportingDescriptor.name.
func checkName(id string) string { return ruleName(strings.ToLower(id)) }

// sarifLevel maps a severity to a SARIF level.
func sarifLevel(s posture.Severity) string {
	switch s {
	case posture.Critical, posture.High:
		return "error"
	case posture.Medium:
		return "warning"
	}
	return "note"
}

func postureLocation(l posture.Location) *sarif.Location {
	pl := sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(artifactURI(l.Path)))
	if l.Line > 0 {
		region := sarif.NewRegion().WithStartLine(l.Line)
		if l.Column > 0 {
			region.WithStartColumn(l.Column)
		}
		pl.WithRegion(region)
	}
	loc := sarif.NewLocationWithPhysicalLocation(pl)
	props := sarif.NewPropertyBag().Add("source", string(l.Source))
	for _, kv := range [][2]string{{"origin", l.Origin}, {"commit", l.Commit}, {"locator", l.Locator}, {"member", archiveMember(l.Path)}} {
		if kv[1] != "" {
			props.Add(kv[0], kv[1])
		}
	}
	return loc.WithProperties(props)
}

// artifactURI is the file a location points at, as in the scan's SARIF:
// the archive itself for a member, "stdin" for piped input.
func artifactURI(p string) string {
	return sarifURI(&aicred.Finding{Location: aicred.Location{Path: p}})
}

func archiveMember(p string) string {
	if _, member, ok := strings.Cut(p, "!"); ok {
		return member
	}
	return ""
}
