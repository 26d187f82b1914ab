package scan

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/aicred/aicred/provider"
)

// TestNearNarrowWalk holds every shortcut find takes (the walk around the
// literal's occurrences, the anchored search from each head, the cache of
// occurrences shared by the windows of one buffer) to what a near pattern
// means: the first match of its regexp in the window that is not the
// secret itself. For every related and hint pattern of the catalog, in
// text dense with every kind's examples (cut and joined at random so
// values and literals stand at every distance), find gives that value
// from every secret-sized span.
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
	// The occurrences the keyword pass gives the near patterns whose
	// literals are keywords, as a scan of data fills them.
	fed := &nearCache{occ: make([]occCache, 64), gen: 1}
	e.nearOccurrences(fed, len(data), e.dfa.find(data, nil))
	checked, hits := 0, 0
	for _, r := range e.rules {
		for _, set := range [][]near{r.related, r.hints} {
			for _, n := range set {
				whole := n
				whole.narrow = false
				var occ []int
				if n.lit != nil || n.literals() != nil {
					for _, o := range n.occurrences(nil, 0, data, 0, len(data)) {
						occ = append(occ, o.q)
					}
				} else {
					for _, loc := range n.re.FindAllIndex(data, -1) {
						occ = append(occ, loc[0])
					}
				}
				if len(occ) == 0 {
					continue // this draw of examples never writes it
				}
				starts := make([]int, 300)
				for i := range starts {
					// Mostly near an occurrence of the literal.
					s := occ[rng.IntN(len(occ))] + rng.IntN(2*n.window) - n.window
					if rng.IntN(4) == 0 {
						s = rng.IntN(len(data))
					}
					starts[i] = min(max(s, 0), len(data)-64)
				}
				// The engine asks in order of position, through one cache;
				// the first half here does, the second half jumps about.
				slices.Sort(starts[:150])
				var c occCache
				if n.fromKeywords {
					c = fed.occ[n.id]
				}
				for i, s := range starts {
					t2 := s + 20 + rng.IntN(40)
					lo, hi := max(s-n.window, 0), min(t2+n.window, len(data))
					want, wok := refFind(&n, data, lo, hi, s, t2, r.boundary)
					got, ok := n.find(data, lo, hi, s, t2, r.boundary, &c, 1)
					if got != want || ok != wok {
						t.Fatalf("%s/%s at %d (query %d): cached find gives %q %v, the regexp over the window %q %v", r.kind.Rule.ID, n.name, s, i, got, ok, want, wok)
					}
					if got, ok = n.find(data, lo, hi, s, t2, r.boundary, nil, 0); got != want || ok != wok {
						t.Fatalf("%s/%s at %d: find gives %q %v, the regexp over the window %q %v", r.kind.Rule.ID, n.name, s, got, ok, want, wok)
					}
					if got, ok = whole.find(data, lo, hi, s, t2, r.boundary, nil, 0); got != want || ok != wok {
						t.Fatalf("%s/%s at %d: whole walk gives %q %v, the regexp over the window %q %v", r.kind.Rule.ID, n.name, s, got, ok, want, wok)
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

// refFind is what near.find means: the first match of the regexp in
// data[lo:hi] whose value is not the secret data[s:t], touches no
// boundary byte and, for secret material, is no placeholder.
func refFind(n *near, data []byte, lo, hi, s, t int, boundary charset) (string, bool) {
	for _, loc := range n.re.FindAllSubmatchIndex(data[lo:hi], -1) {
		a, b := loc[0], loc[1]
		if len(loc) > 2 && loc[2] >= 0 {
			a, b = loc[2], loc[3]
		}
		a, b = a+lo, b+lo
		if a < t && b > s || a > 0 && boundary[data[a-1]] || b < len(data) && boundary[data[b]] ||
			n.secret && IsPlaceholder(string(data[a:b])) {
			continue
		}
		return string(data[a:b]), true
	}
	return "", false
}
