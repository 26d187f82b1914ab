package provider

import (
	"context"
	"net/http"

	"github.com/aicred/aicred"
)

// What aicred does about a leaked credential lives with its provider too:
// a deep trace (read-only calls made with the credential itself to tell
// what it reaches) and a rotation (the provider's admin API calls that
// create a replacement and revoke the original). The respond package runs
// them; it never knows a provider by name.

// A Reach is what one credential reaches, as the provider answers
// read-only calls made with it. It holds names and ids, never secret
// material.
type Reach struct {
	// Principal is who the credential acts as ("user jdoe",
	// "arn:aws:iam::123456789012:user/ci", "svc@proj.iam.gserviceaccount.com").
	Principal string `json:"principal,omitempty"`
	// Account is the organization, project, workspace or cloud account.
	Account string `json:"account,omitempty"`
	// Scopes are the permissions, roles or token scopes the provider
	// reports for it.
	Scopes []string `json:"scopes,omitempty"`
	// Resources are the things it can see (projects, indexes, models ...).
	Resources []Resource `json:"resources,omitempty"`
	// Notes say what could not be read and why ("policies: access denied").
	Notes []string `json:"notes,omitempty"`
}

// A Resource is one thing a credential reaches.
type Resource struct {
	Type   string `json:"type"` // "organization", "project", "index", "workspace", "model", "bucket" ...
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Access string `json:"access,omitempty"` // "read", "write", "admin"; "" when not told
}

// A Tracer makes read-only calls with secret to tell what it reaches.
// base is the configured or default API base URL (tests point it at a
// local server answering as the provider documents); hints are the
// finding's non-secret hints (an API host, a region). A Tracer never
// changes anything at the provider and returns no secret material; an
// error is for a call that could not be made or answered, not for a
// credential that turns out to reach little (a Reach with Notes).
type Tracer func(ctx context.Context, c *http.Client, base string, secret aicred.Secret, hints map[string]string) (*Reach, error)

// A Trace is a kind's deep trace.
type Trace struct {
	BaseURL string // default API base
	// Docs cites the provider's documentation of the calls made.
	Docs string
	Run  Tracer
}

// A RotationTarget is the credential a rotation replaces.
type RotationTarget struct {
	// Secret is the credential itself (the old one).
	Secret aicred.Secret
	// ID is the provider's id for it where one exists and is known (an
	// OpenAI key id, an AWS access key id, a GCP key name); a Rotation
	// may look it up with the admin credential.
	ID string
	// Attrs are provider-specific non-secret facts (project id, service
	// account, user name) the rotation needs or learned; a rotation
	// returns the new credential's in Replacement.Attrs.
	Attrs map[string]string
}

// A Replacement is the credential a rotation created.
type Replacement struct {
	Secret aicred.Secret
	ID     string
	Attrs  map[string]string
}

// A Rotation replaces and revokes credentials of a kind through the
// provider's admin API. Every call is authenticated with admin: a
// separate admin credential (an OpenAI admin key, an Anthropic admin
// key), or the target's own secret where the provider lets a credential
// manage itself (SelfAdmin: an AWS IAM user's access keys, a GCP service
// account's keys).
type Rotation struct {
	BaseURL string // default admin API base
	// Docs cites the provider's documentation of the API used.
	Docs string
	// SelfAdmin: the credential itself may create and revoke its kind.
	SelfAdmin bool
	// AdminKind names the kind ("openai/admin-key") an admin credential
	// must be when SelfAdmin is false.
	AdminKind string
	// Create makes a new credential equivalent to old (same project,
	// user or service account, same permissions where the API takes
	// them) and returns it. It must be safe to call again after a crash:
	// respond records the replacement's id before anything else happens.
	Create func(ctx context.Context, c *http.Client, base string, admin aicred.Secret, old RotationTarget) (*Replacement, error)
	// Revoke disables or deletes the target at the provider. Revoking a
	// credential that is already gone succeeds.
	Revoke func(ctx context.Context, c *http.Client, base string, admin aicred.Secret, target RotationTarget) error
}
