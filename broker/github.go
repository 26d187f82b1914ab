package broker

import (
	"context"
	"strings"

	"github.com/aicred/aicred"
)

// GitHubActionsIssuer is the issuer of GitHub-hosted Actions OIDC tokens.
// GitHub Enterprise Server uses https://HOSTNAME/_services/token.
const GitHubActionsIssuer = "https://token.actions.githubusercontent.com"

// GitHubActions verifies the OIDC tokens of GitHub Actions jobs
// (permissions: id-token: write). Every scalar claim is offered to
// policies: repository, repository_id, repository_owner,
// repository_owner_id, ref, ref_type, environment, job_workflow_ref,
// workflow, event_name, actor, runner_environment, sub ...
//
// GitHub signs for every repository on GitHub, so a policy must name the
// repository (OWASP NHI6); prefer repository_id and repository_owner_id,
// since names can be recycled.
type GitHubActions struct {
	name string
	v    *Verifier
}

// NewGitHubActions returns a GitHub Actions proof. cfg.Issuer defaults to
// GitHubActionsIssuer; cfg.Audiences is required (the job sets it with
// core.getIDToken(audience)). Errors: ErrInvalid.
func NewGitHubActions(name string, cfg VerifierConfig) (*GitHubActions, error) {
	if err := checkProofName(name); err != nil {
		return nil, err
	}
	if cfg.Issuer == "" {
		cfg.Issuer = GitHubActionsIssuer
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "proof %s: %w", name, err)
	}
	return &GitHubActions{name: name, v: v}, nil
}

// Name implements Proof.
func (p *GitHubActions) Name() string { return p.name }

// Issuer implements Proof.
func (p *GitHubActions) Issuer() string { return p.v.Issuer() }

// Verify implements Proof.
func (p *GitHubActions) Verify(ctx context.Context, raw string) (*Identity, error) {
	t, err := p.v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	claims, err := topLevelStrings(t.Claims)
	if err != nil {
		return nil, err
	}
	repo, owner := claims["repository"], claims["repository_owner"]
	switch {
	case t.Subject == "":
		return nil, refuse(CodeInvalidGrant, ReasonSubject, "token has no subject (sub)", nil)
	case repo == "" || owner == "":
		return nil, refuse(CodeInvalidGrant, ReasonSubject, "not a GitHub Actions token: no repository or repository_owner", nil)
	case !strings.HasPrefix(repo, owner+"/"):
		return nil, refuse(CodeInvalidGrant, ReasonSubject, "not a GitHub Actions token: repository is not under repository_owner", nil)
	}
	return identityFrom(p.name, t, claims), nil
}

// CheckPolicy implements Proof: the policy names the repository, by
// repository (OWNER/REPO, or a glob fixing at least OWNER/) or
// repository_id (exact or one_of).
func (p *GitHubActions) CheckPolicy(pol *Policy) error {
	if c, ok := pol.Condition("repository_id"); ok {
		if c.g != nil {
			return fieldErrorf([]any{"claims", "repository_id"}, "policy %q: repository_id takes exact values, not a glob", pol.Name)
		}
		return nil
	}
	c, ok := pol.Condition("repository")
	if !ok {
		return fieldErrorf([]any{"claims"}, "policy %q has no repository condition: GitHub signs for every repository (OWASP NHI6)", pol.Name)
	}
	if !c.pins(func(lit string, wild bool) bool {
		owner, name, ok := strings.Cut(lit, "/")
		return ok && owner != "" && (wild || name != "" && !strings.Contains(name, "/"))
	}) {
		return fieldErrorf([]any{"claims", "repository"}, "policy %q: repository must be OWNER/REPO, or a glob fixing OWNER/", pol.Name)
	}
	return nil
}
