package scan

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aicred/aicred/provider"
)

// TestNearNarrowWalk holds the walk around the literal's occurrences to
// the walk over the whole window: for every related and hint pattern of
// the catalog, in text dense with every kind's examples (cut and joined at
// random so values and literals stand at every distance), find gives the
// same value from every secret-sized span.
func TestNearNarrowWalk(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	var parts []string
	for _, k := range provider.Kinds() {
		for _, ex := range k.Rule.Examples(provider.NewGen(21)) {
			parts = append(parts, ex.Text)
		}
	}
	// Names and values as far apart as the near patterns allow, where a
	// walk cut a byte short would miss them.
	g := provider.NewGen(22)
	for range 20 {
		parts = append(parts,
			`"client_secret"    :    "`+g.URL64(20+g.IntN(40))+`"`,
			`project_id'    =    '`+g.Lower(1)+g.LowerNum(10)+`'`,
			`"SECURITY_TOKEN"    =   "`+g.B64(20+g.IntN(300))+`=="`,
			`Tenant_Id'  :    '`+g.UUID()+`'`,
			`APPLICATION-ID"   =   "`+g.UUID()+`"`,
			"Directory_ID\t:\t\t\t\t\t"+g.UUID(),
		)
	}
	var sb strings.Builder
	for sb.Len() < 1<<18 {
		p := parts[rng.IntN(len(parts))]
		if rng.IntN(2) == 0 {
			i, j := rng.IntN(len(p)+1), rng.IntN(len(p)+1)
			p = p[min(i, j):max(i, j)]
		}
		sb.WriteString(p)
		sb.WriteString([]string{"\n", " ", "", "\n\n", `", "`}[rng.IntN(5)])
	}
	data := []byte(sb.String())
	checked, hits := 0, 0
	for _, r := range e.rules {
		for _, set := range [][]near{r.related, r.hints} {
			for _, n := range set {
				if n.rf == nil || n.lit == nil && n.folds == nil {
					continue
				}
				whole := n
				whole.narrow = false
				var occ []int
				for from := 0; ; {
					q, _ := n.next(data, from, len(data))
					if q < 0 {
						break
					}
					occ = append(occ, q)
					from = q + 1
				}
				if len(occ) == 0 {
					continue // this draw of examples never writes it
				}
				for range 300 {
					// Mostly near an occurrence of the literal.
					s := occ[rng.IntN(len(occ))] + rng.IntN(2*n.window) - n.window
					if rng.IntN(4) == 0 {
						s = rng.IntN(len(data))
					}
					s = min(max(s, 0), len(data)-64)
					t2 := s + 20 + rng.IntN(40)
					lo, hi := max(s-n.window, 0), min(t2+n.window, len(data))
					got, ok := n.find(data, lo, hi, s, t2, r.boundary)
					want, wok := whole.find(data, lo, hi, s, t2, r.boundary)
					if got != want || ok != wok {
						t.Fatalf("%s/%s at %d: narrow walk gives %q %v, whole walk %q %v", r.kind.Rule.ID, n.name, s, got, ok, want, wok)
					}
					checked++
					if ok {
						hits++
					}
				}
			}
		}
	}
	if hits < checked/5 {
		t.Fatalf("%d of %d spans found a value: the text does not exercise the patterns", hits, checked)
	}
	t.Logf("%d spans, %d with a value", checked, hits)
}
