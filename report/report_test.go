package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

func sampleFindings() ([]*aicred.Finding, string) {
	g := provider.NewGen(8)
	secret := "sk-ant-api03-" + g.URL64(93) + "AA"
	date := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s := aicred.NewSecret(secret)
	return []*aicred.Finding{
		{
			Provider: "anthropic", Kind: "api-key", Rule: "anthropic-api-key", Fingerprint: s.Fingerprint(),
			Redacted: s.Redacted(), Line: 3, Column: 9, EndColumn: 117, Capabilities: []aicred.Capability{aicred.CapInference},
			Verification: aicred.Live, Secret: s,
			Related:  map[string]aicred.Secret{"x": s},
			Location: aicred.Location{Path: "a/b.zip!c/d.txt", Source: aicred.SourceArchive, Commit: "0123456789abcdef", Date: &date},
		},
		{
			Provider: "anthropic", Kind: "api-key", Rule: "anthropic-api-key", Fingerprint: s.Fingerprint(),
			Redacted: s.Redacted(), Line: 1, Column: 1, Verification: aicred.NotChecked, Secret: s,
			Location: aicred.Location{Path: "-", Source: aicred.SourceStdin},
		},
	}, secret
}

func TestFormatsNeverCarryTheSecret(t *testing.T) {
	fs, secret := sampleFindings()
	for _, format := range Formats() {
		var buf bytes.Buffer
		if err := Write(&buf, format, fs); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if strings.Contains(buf.String(), secret) || strings.Contains(buf.String(), secret[13:40]) {
			t.Errorf("%s output holds the secret", format)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	fs, _ := sampleFindings()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, fs); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0].ID() != fs[0].ID() || back[0].Line != 3 || back[0].Date == nil {
		t.Errorf("round trip lost data: %+v", back[0])
	}
	var empty bytes.Buffer
	_ = WriteJSON(&empty, nil)
	if !strings.Contains(empty.String(), `"findings": []`) {
		t.Errorf("empty report: %s", empty.String())
	}
	for _, bad := range []string{"", "{", `{"findings":[{"rule":"x"}]}`, `[1,2]`} {
		if _, err := ReadJSON(strings.NewReader(bad)); err == nil || aicred.KindOf(err) != aicred.ErrInvalid {
			t.Errorf("ReadJSON(%q) = %v", bad, err)
		}
	}
}

func TestSARIFValidates(t *testing.T) {
	fs, _ := sampleFindings()
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, fs); err != nil {
		t.Fatal(err)
	}
	rep, err := sarif.FromBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Validate(); err != nil {
		t.Fatal(err)
	}
	res := rep.Runs[0].Results
	if len(res) != 2 || len(rep.Runs[0].Tool.Driver.Rules) != 1 {
		t.Fatalf("%d results", len(res))
	}
	uri := *res[0].Locations[0].PhysicalLocation.ArtifactLocation.URI
	if uri != "a/b.zip" {
		t.Errorf("archive member uri %q", uri)
	}
	if u := *res[1].Locations[0].PhysicalLocation.ArtifactLocation.URI; u != "stdin" {
		t.Errorf("stdin uri %q", u)
	}
	if err := Write(&buf, "xml", fs); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Errorf("unknown format: %v", err)
	}
}
