package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

const informationURI = "https://github.com/aicred/aicred"

// BuildSARIF returns a SARIF 2.1.0 log of the findings in the shape GitHub
// code scanning accepts: one run, one rule per detection rule, one result
// per finding with a relative URI, a region and a partial fingerprint so
// alerts track across commits.
func BuildSARIF(findings []*aicred.Finding) *sarif.Report {
	run := sarif.NewRunWithInformationURI("aicred", informationURI)
	run.Tool.Driver.WithVersion(aicred.Version).WithSemanticVersion(strings.TrimSuffix(aicred.Version, "-dev"))
	for _, f := range findings {
		rule := run.AddRule(f.Rule)
		if rule.Name == nil {
			name, desc := f.Rule, f.Description
			if k, ok := provider.LookupKind(f.Provider, f.Kind); ok {
				name, desc = k.Name, k.Rule.Description
			}
			if desc == "" {
				desc = name
			}
			rule.WithName(ruleName(f.Rule)).
				WithShortDescription(sarif.NewMultiformatMessageString().WithText(name)).
				WithFullDescription(sarif.NewMultiformatMessageString().WithText(desc)).
				WithHelp(sarif.NewMultiformatMessageString().WithText(
					"Revoke or rotate the credential at the provider, remove it from the file and its history, " +
						"and replace static keys with short-lived federated tokens.")).
				WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel("error")).
				WithProperties(sarif.NewPropertyBag().
					Add("tags", []string{"security", "secret", "ai-ml-credential"}).
					Add("security-severity", "9.0"))
		}
		msg := fmt.Sprintf("%s/%s credential %s found; it unlocks %s.", f.Provider, f.Kind, f.Redacted, joinCaps(f.Capabilities))
		if f.Verification != "" && f.Verification != aicred.NotChecked {
			msg += " Liveness: " + string(f.Verification) + "."
		}
		region := sarif.NewRegion().WithStartLine(max(f.Line, 1)).WithStartColumn(max(f.Column, 1))
		if f.EndColumn > f.Column {
			region.WithEndColumn(f.EndColumn)
		}
		props := sarif.NewPropertyBag().
			Add("provider", f.Provider).Add("kind", f.Kind).
			Add("fingerprint", string(f.Fingerprint)).
			Add("verification", string(f.Verification)).
			Add("source", string(f.Source))
		if f.Commit != "" {
			props.Add("commit", f.Commit)
		}
		if f.Locator != "" {
			props.Add("locator", f.Locator)
		}
		run.AddResult(sarif.NewRuleResult(f.Rule).
			WithRuleIndex(run.GetRuleIndex(f.Rule)).
			WithLevel("error").
			WithMessage(sarif.NewTextMessage(msg)).
			AddLocation(sarif.NewLocationWithPhysicalLocation(
				sarif.NewPhysicalLocation().
					WithArtifactLocation(sarif.NewSimpleArtifactLocation(sarifURI(f))).
					WithRegion(region))).
			WithPartialFingerprints(map[string]string{"aicredFingerprint/v1": f.Fingerprint.Short() + ":" + f.Rule}).
			WithProperties(props))
	}
	rep := sarif.NewReport()
	rep.AddRun(run)
	return rep
}

// WriteSARIF writes the SARIF log as indented JSON.
func WriteSARIF(w io.Writer, findings []*aicred.Finding) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(BuildSARIF(findings)); err != nil {
		return fmt.Errorf("report: write sarif: %w", err)
	}
	return nil
}

// sarifURI is the file a result points at: for an archive member, the
// archive itself (the member path is in the message and locator).
func sarifURI(f *aicred.Finding) string {
	p := f.Path
	if i := strings.IndexByte(p, '!'); i >= 0 {
		p = p[:i]
	}
	if p == "" || p == "-" {
		p = "stdin"
	}
	return strings.TrimPrefix(strings.ReplaceAll(p, "\\", "/"), "./")
}

// ruleName turns "openai-project-key" into "OpenaiProjectKey", the
// PascalCase form SARIF viewers expect for reportingDescriptor.name.
func ruleName(id string) string {
	var b strings.Builder
	up := true
	for _, r := range id {
		if r == '-' || r == '_' || r == '.' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}
