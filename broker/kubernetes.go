package broker

import (
	"context"
	"strings"

	"github.com/aicred/aicred"
)

// Kubernetes verifies projected service-account tokens. The issuer is the
// API server's --service-account-issuer; keys come from its discovery
// document or, for clusters whose discovery is not reachable, a JWKS
// copied from /openid/v1/jwks (StaticKeys).
//
// sub is system:serviceaccount:NAMESPACE:NAME and the private claim
// kubernetes.io repeats the namespace and names the service account and
// the pod (or secret) the token is bound to. Both must agree. Policies
// match the derived claims namespace, service_account, service_account_uid,
// pod, pod_uid, node, node_uid, secret and secret_uid, or sub.
//
// An external verifier cannot see a pod's deletion (the API server checks
// that itself): keep the projected token's expirationSeconds short.
type Kubernetes struct {
	name string
	v    *Verifier
}

const k8sSubjectPrefix = "system:serviceaccount:"

// NewKubernetes returns a Kubernetes service-account proof. cfg.Issuer and
// cfg.Audiences are required: a projected token must be requested with
// this broker's audience, never the API server's. Errors: ErrInvalid.
func NewKubernetes(name string, cfg VerifierConfig) (*Kubernetes, error) {
	if err := checkProofName(name); err != nil {
		return nil, err
	}
	if cfg.Issuer == "" {
		return nil, aicred.Errorf(aicred.ErrInvalid, "proof %s: issuer (the cluster's service-account issuer) is required", name)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "proof %s: %w", name, err)
	}
	return &Kubernetes{name: name, v: v}, nil
}

// Name implements Proof.
func (p *Kubernetes) Name() string { return p.name }

// Issuer implements Proof.
func (p *Kubernetes) Issuer() string { return p.v.Issuer() }

// Verify implements Proof.
func (p *Kubernetes) Verify(ctx context.Context, raw string) (*Identity, error) {
	t, err := p.v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	bad := func(what string) error {
		return refuse(CodeInvalidGrant, ReasonSubject, "not a service-account token: "+what, nil)
	}
	ns, sa, ok := splitK8sSubject(t.Subject)
	if !ok {
		return nil, bad("sub is not system:serviceaccount:NAMESPACE:NAME")
	}
	k8s, ok := t.Claims["kubernetes.io"].(map[string]any)
	if !ok {
		return nil, bad("no kubernetes.io claim")
	}
	claimNS, _ := k8s["namespace"].(string)
	if claimNS != ns {
		return nil, bad("kubernetes.io namespace does not match sub")
	}
	claims := make(map[string]string, 10)
	if err := addDerived(claims, "iss", t.Issuer, "sub", t.Subject, "namespace", ns, "service_account", sa); err != nil {
		return nil, err
	}
	saObj, _ := k8s["serviceaccount"].(map[string]any)
	if saName, _ := saObj["name"].(string); saName != sa {
		return nil, bad("kubernetes.io service account does not match sub")
	}
	// Bound objects: the pod (projected volumes), a secret (legacy
	// TokenRequest) and, on newer clusters, the node.
	for _, b := range []struct{ obj, claim string }{
		{"serviceaccount", "service_account"}, {"pod", "pod"}, {"secret", "secret"}, {"node", "node"},
	} {
		o, ok := k8s[b.obj].(map[string]any)
		if !ok {
			continue
		}
		if n, ok := o["name"].(string); ok && n != "" && b.obj != "serviceaccount" {
			if err := addDerived(claims, b.claim, n); err != nil {
				return nil, err
			}
		}
		if u, ok := o["uid"].(string); ok && u != "" {
			if err := addDerived(claims, b.claim+"_uid", u); err != nil {
				return nil, err
			}
		}
	}
	return identityFrom(p.name, t, claims), nil
}

// splitK8sSubject parses system:serviceaccount:NS:NAME.
func splitK8sSubject(sub string) (ns, name string, ok bool) {
	rest, ok := strings.CutPrefix(sub, k8sSubjectPrefix)
	if !ok {
		return "", "", false
	}
	ns, name, ok = strings.Cut(rest, ":")
	if !ok || ns == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return ns, name, true
}

// CheckPolicy implements Proof: the policy pins a service account, either
// through sub (a glob must fix the namespace and start the name) or
// through both namespace and service_account.
func (p *Kubernetes) CheckPolicy(pol *Policy) error {
	if _, ok := pol.Condition("sub"); ok {
		return requireSubject(pol, "Kubernetes", func(lit string, wild bool) bool {
			if !wild {
				_, _, ok := splitK8sSubject(lit)
				return ok
			}
			rest, ok := strings.CutPrefix(lit, k8sSubjectPrefix)
			ns, name, ok2 := strings.Cut(rest, ":")
			return ok && ok2 && ns != "" && name != ""
		})
	}
	_, hasNS := pol.Condition("namespace")
	_, hasSA := pol.Condition("service_account")
	if !hasNS || !hasSA {
		return fieldErrorf([]any{"claims"}, "policy %q pins no service account: give sub, or both namespace and service_account (OWASP NHI6)", pol.Name)
	}
	return nil
}
