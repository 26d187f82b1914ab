package broker

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A Policy trusts the workloads of one proof whose claims meet every
// condition, and names the role their tokens get.
//
//   - name: api-deploy
//     issuer: github          # a proof's name
//     role: ci-inference
//     claims:
//     repository: acme/api                   # exact
//     ref: {glob: "refs/heads/release/*"}    # glob
//     environment: {one_of: [prod, staging]} # one of
type Policy struct {
	Name   string               `yaml:"name" json:"name"`
	Issuer string               `yaml:"issuer" json:"issuer"`
	Role   string               `yaml:"role" json:"role"`
	Claims map[string]Condition `yaml:"claims" json:"claims"`

	conds []namedCondition // compiled, sorted by claim
}

type namedCondition struct {
	claim string
	c     *Condition
}

// A Condition constrains one claim: exactly one of Exact, Glob and OneOf.
// In YAML a plain string is Exact and a list is OneOf.
type Condition struct {
	Exact string   `yaml:"exact,omitempty" json:"exact,omitempty"`
	Glob  string   `yaml:"glob,omitempty" json:"glob,omitempty"`
	OneOf []string `yaml:"one_of,omitempty" json:"one_of,omitempty"`

	g *glob
}

// UnmarshalYAML accepts "value", [a, b] and {exact|glob|one_of: ...}.
func (c *Condition) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&c.Exact)
	case yaml.SequenceNode:
		return n.Decode(&c.OneOf)
	case yaml.MappingNode:
		type plain Condition
		var p plain
		if err := checkKnownKeys(n, reflect.TypeFor[plain]()); err != nil {
			return err
		}
		if err := n.Decode(&p); err != nil {
			return err
		}
		*c = Condition(p)
		return nil
	}
	return fmt.Errorf("line %d: a condition is a string, a list or {exact|glob|one_of}", n.Line)
}

// compile checks the condition; claim names it in errors.
func (c *Condition) compile() error {
	set := 0
	for _, b := range []bool{c.Exact != "", c.Glob != "", c.OneOf != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return errors.New("want exactly one of exact, glob or one_of (and not empty)")
	}
	switch {
	case c.Glob != "":
		g, err := compileGlob(c.Glob)
		if err != nil {
			return err
		}
		if !g.wild {
			// A glob without wildcards is an exact match; say so plainly.
			c.Exact, c.Glob = c.Glob, ""
			return nil
		}
		if meaningfulPrefix(g.prefix) == "" {
			return fmt.Errorf("glob %q admits any value: a glob must start with literal text that pins the workload (OWASP NHI6); use exact or one_of", c.Glob)
		}
		c.g = g
	case c.OneOf != nil:
		if len(c.OneOf) == 0 {
			return errors.New("one_of is empty")
		}
		for _, v := range c.OneOf {
			if v == "" {
				return errors.New("one_of holds an empty value")
			}
		}
	}
	return nil
}

// meaningfulPrefix strips a known scheme from a glob's literal prefix.
// The schemes are the fixed starts of subject formats: a glob that pins
// nothing beyond one of them (repo:*, system:serviceaccount:*, spiffe://*)
// admits every workload of the issuer.
func meaningfulPrefix(prefix string) string {
	for _, s := range [...]string{"repo:", "system:serviceaccount:", "spiffe://", "https://", "http://"} {
		if p, ok := strings.CutPrefix(prefix, s); ok {
			return p
		}
	}
	return prefix
}

// Match reports whether v meets the condition.
func (c *Condition) Match(v string) bool {
	switch {
	case c.g != nil:
		return c.g.Match(v)
	case c.OneOf != nil:
		return slices.Contains(c.OneOf, v)
	}
	return c.Exact != "" && v == c.Exact
}

// pins reports whether every value the condition admits starts with
// literal text accepted by ok: the exact value, each one_of value, or the
// glob's literal prefix (with wild true).
func (c *Condition) pins(ok func(literal string, wild bool) bool) bool {
	switch {
	case c.g != nil:
		return ok(c.g.prefix, true)
	case c.OneOf != nil:
		for _, v := range c.OneOf {
			if !ok(v, false) {
				return false
			}
		}
		return true
	}
	return ok(c.Exact, false)
}

// A fieldError names where in a config a problem is, for line numbers.
type fieldError struct {
	path []any // mapping keys (string) and sequence indexes (int)
	err  error
}

func (e *fieldError) Error() string {
	var b strings.Builder
	for i, p := range e.path {
		switch p := p.(type) {
		case string:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		}
	}
	if b.Len() == 0 {
		return e.err.Error()
	}
	return b.String() + ": " + e.err.Error()
}

func (e *fieldError) Unwrap() error { return e.err }

func fieldErrorf(path []any, format string, args ...any) *fieldError {
	return &fieldError{path: path, err: fmt.Errorf(format, args...)}
}

// compile checks the policy's own shape and compiles its conditions.
// Whether it pins a workload is the proof's judgement (Proof.CheckPolicy).
func (p *Policy) compile() error {
	switch {
	case p.Name == "":
		return fieldErrorf([]any{"name"}, "a policy needs a name")
	case p.Issuer == "":
		return fieldErrorf([]any{"issuer"}, "policy %q names no issuer (proof)", p.Name)
	case p.Role == "":
		return fieldErrorf([]any{"role"}, "policy %q names no role", p.Name)
	case len(p.Claims) == 0:
		return fieldErrorf([]any{"claims"}, "policy %q has no claim conditions: it would trust every token of %s (OWASP NHI6)", p.Name, p.Issuer)
	}
	p.conds = make([]namedCondition, 0, len(p.Claims))
	for _, claim := range sortedKeys(p.Claims) {
		c := p.Claims[claim]
		if claim == "" {
			return fieldErrorf([]any{"claims"}, "empty claim name")
		}
		if err := c.compile(); err != nil {
			return &fieldError{path: []any{"claims", claim}, err: err}
		}
		p.Claims[claim] = c
		p.conds = append(p.conds, namedCondition{claim: claim, c: &c})
	}
	return nil
}

// Match reports whether the identity meets every condition. A claim the
// identity lacks never matches.
func (p *Policy) Match(id *Identity) bool {
	if id.Proof != p.Issuer || len(p.conds) == 0 {
		return false
	}
	for _, nc := range p.conds {
		v, ok := id.Claims[nc.claim]
		if !ok || !nc.c.Match(v) {
			return false
		}
	}
	return true
}

// Condition returns the compiled condition on a claim.
func (p *Policy) Condition(claim string) (*Condition, bool) {
	for _, nc := range p.conds {
		if nc.claim == claim {
			return nc.c, true
		}
	}
	return nil, false
}

// requireSubject is the check shared by the proofs: a condition on sub,
// each of whose admitted values passes pinsSubject.
func requireSubject(p *Policy, proofKind string, pinsSubject func(literal string, wild bool) bool) error {
	c, ok := p.Condition("sub")
	if !ok {
		return fieldErrorf([]any{"claims"}, "policy %q has no sub condition: it would trust every %s workload (OWASP NHI6)", p.Name, proofKind)
	}
	if !c.pins(pinsSubject) {
		return fieldErrorf([]any{"claims", "sub"}, "policy %q: the sub condition does not pin a %s workload", p.Name, proofKind)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
