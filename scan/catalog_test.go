package scan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// TestCatalog is the generic check over the whole catalog: every kind names
// its capabilities, every rule compiles with a bounded window, every
// example is found with exactly its secret (alone, and amid other text),
// and no negative is reported under that rule.
func TestCatalog(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, k := range provider.Kinds() {
		t.Run(k.Rule.ID, func(t *testing.T) {
			if ids[k.Rule.ID] {
				t.Fatalf("duplicate rule id %s", k.Rule.ID)
			}
			ids[k.Rule.ID] = true
			if k.Name == "" || k.Rule.Description == "" {
				t.Error("kind needs a name and its rule a description")
			}
			if len(k.Capabilities) == 0 {
				t.Error("kind declares no capabilities")
			}
			for _, c := range k.Capabilities {
				if !c.Valid() {
					t.Errorf("unknown capability %q", c)
				}
			}
			if k.Rule.Examples == nil || k.Rule.Negatives == nil {
				t.Fatal("rule needs positive and negative examples")
			}
			for seed := uint64(1); seed <= 3; seed++ {
				exs := k.Rule.Examples(provider.NewGen(seed))
				if len(exs) == 0 {
					t.Fatal("no examples")
				}
				for i, ex := range exs {
					if ex.Secret == "" || !strings.Contains(ex.Text, ex.Secret) {
						t.Fatalf("example %d: secret not in text", i)
					}
					for _, wrap := range []string{"%s", "# config\nline one\n%s\ntrailing text\n"} {
						text := fmt.Sprintf(wrap, ex.Text)
						got := matchesOf(e, text, k)
						if len(got) != 1 || got[0] != ex.Secret {
							t.Errorf("seed %d example %d: want exactly the secret %s, got %d matches %v in %q",
								seed, i, aicred.Redact(ex.Secret), len(got), redactAll(got), aicred.Redact(text))
						}
					}
				}
				negs := k.Rule.Negatives(provider.NewGen(seed))
				if len(negs) == 0 {
					t.Fatal("no negatives")
				}
				for i, neg := range negs {
					if got := matchesOf(e, neg, k); len(got) != 0 {
						t.Errorf("seed %d negative %d matched: %v", seed, i, redactAll(got))
					}
				}
			}
		})
	}
}

func matchesOf(e *Engine, text string, k *provider.Kind) []string {
	var out []string
	e.Scan([]byte(text), func(m Match) {
		if m.Kind == k {
			out = append(out, m.Secret)
		}
	})
	return out
}

func redactAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = aicred.Redact(s)
	}
	return out
}
