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
	return New(findings).BuildSARIF()
}

// BuildSARIF returns the report as a SARIF 2.1.0 log (see BuildSARIF).
func (r *Report) BuildSARIF() *sarif.Report {
	run := sarif.NewRunWithInformationURI("aicred", informationURI)
	run.Tool.Driver.WithVersion(r.Tool.Version).WithSemanticVersion(strings.TrimPrefix(strings.TrimSuffix(r.Tool.Version, "-dev"), "v"))
	for _, f := range r.Findings {
		rule := run.AddRule(f.Rule)
		if rule.Name == nil {
			addRuleHelp(rule, f)
		}
		msg := fmt.Sprintf("%s/%s credential %s (fingerprint %s) found; it unlocks %s.",
			f.Provider, f.Kind, f.Redacted, f.Fingerprint.Short(), joinCaps(f.Capabilities))
		if f.Locator != "" {
			msg += " Inside: " + f.Locator + "."
		}
		if f.Image != "" {
			msg += " Image: " + f.Image
			if f.Layer != "" {
				msg += ", layer " + f.Layer
			}
			if f.RemovedIn != "" {
				msg += ", removed in layer " + f.RemovedIn + " but still in the image's history"
			}
			msg += "."
		}
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
		for k, v := range map[string]string{"image": f.Image, "layer": f.Layer, "removed_in": f.RemovedIn} {
			if v != "" {
				props.Add(k, v)
			}
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

// addRuleHelp describes a rule from the catalog: what the kind is, what it
// unlocks and where to revoke or rotate it.
func addRuleHelp(rule *sarif.ReportingDescriptor, f *aicred.Finding) {
	name, desc, caps, revoke := f.Rule, f.Description, f.Capabilities, ""
	if k, ok := provider.LookupKind(f.Provider, f.Kind); ok {
		name, desc, caps, revoke = k.Name, k.Rule.Description, k.Capabilities, k.RevokeURL
	}
	if desc == "" {
		desc = name
	}
	if name == "" {
		name = f.Rule
	}
	where := "at the provider"
	whereMD := where
	if revoke != "" {
		where = "at " + revoke
		whereMD = "at [" + revoke + "](" + revoke + ")"
	}
	text := fmt.Sprintf("%s. It unlocks: %s. To respond: revoke or rotate it %s; remove it from the file "+
		"and from git history; then record it with `aicred scan --record` and follow it with `aicred inventory show FINGERPRINT`. "+
		"Replace static keys with short-lived tokens from aicred serve.", desc, Unlocks(caps), where)
	md := fmt.Sprintf("**%s**\n\n%s\n\n**Unlocks:** %s\n\n**To respond**\n\n1. Revoke or rotate it %s.\n"+
		"2. Remove it from the file and from git history (clones keep it: rotating matters more).\n"+
		"3. Record it with `aicred scan --record` and follow it with `aicred inventory show FINGERPRINT`.\n"+
		"4. Replace static keys with short-lived tokens from `aicred serve`.\n", name, desc, Unlocks(caps), whereMD)
	rule.WithName(ruleName(f.Rule)).
		WithShortDescription(sarif.NewMultiformatMessageString().WithText(name)).
		WithFullDescription(sarif.NewMultiformatMessageString().WithText(desc)).
		WithHelp(sarif.NewMultiformatMessageString().WithText(text).WithMarkdown(md)).
		WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel("error")).
		WithProperties(sarif.NewPropertyBag().
			Add("tags", []string{"security", "secret", "ai-ml-credential"}).
			Add("security-severity", fmt.Sprintf("%.1f", Severity(caps, aicred.NotChecked).SARIFScore())))
	if revoke != "" {
		rule.WithHelpURI(revoke)
	}
}

// WriteSARIF writes the SARIF log of findings as indented JSON.
func WriteSARIF(w io.Writer, findings []*aicred.Finding) error {
	return New(findings).WriteSARIF(w)
}

// WriteSARIF writes the report's SARIF log as indented JSON, without the
// empty arrays and -1 placeholders the SARIF library fills in.
func (r *Report) WriteSARIF(w io.Writer) error {
	raw, err := json.Marshal(r.BuildSARIF())
	if err != nil {
		return fmt.Errorf("report: write sarif: %w", err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("report: write sarif: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(pruneSARIF(doc)); err != nil {
		return fmt.Errorf("report: write sarif: %w", err)
	}
	return nil
}

// sarifPlaceholders are the integer properties the library sets to -1 to
// mean "absent"; SARIF's own default is to leave them out.
var sarifPlaceholders = map[string]bool{"id": true, "index": true, "byteOffset": true, "charOffset": true, "rank": true, "parentIndex": true}

// sarifKeep are arrays kept when empty: a run's results (an empty array
// says the scan found nothing, absence that it did not run) and the runs.
var sarifKeep = map[string]bool{"results": true, "runs": true}

// pruneSARIF removes empty arrays, empty objects and -1 placeholders from
// a decoded SARIF document.
func pruneSARIF(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			e = pruneSARIF(e)
			switch e := e.(type) {
			case []any:
				if len(e) == 0 && !sarifKeep[k] {
					delete(v, k)
					continue
				}
			case map[string]any:
				if len(e) == 0 {
					delete(v, k)
					continue
				}
			case float64:
				if e == -1 && sarifPlaceholders[k] {
					delete(v, k)
					continue
				}
			}
			v[k] = e
		}
		return v
	case []any:
		for i := range v {
			v[i] = pruneSARIF(v[i])
		}
		return v
	}
	return v
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
