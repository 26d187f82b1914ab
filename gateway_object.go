package aicred

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Kinds of provider-side objects the gateway creates on a workload's
// behalf and keeps track of, so that only their owner reaches them again.
const (
	ObjectFile  = "file"  // an uploaded file (OpenAI-shaped /files)
	ObjectBatch = "batch" // a batch job
	// What the ML stack surfaces learn from answers, so that a later call
	// naming only an id is scoped by the name it stands for: an MLflow
	// experiment (Purpose: its name), an MLflow run (Purpose: its
	// experiment id), a Pinecone index's data-plane host (ID: the host,
	// Purpose: the index name), a W&B artifact (Purpose: its
	// "entity/project").
	ObjectMLflowExperiment = "mlflow-experiment"
	ObjectMLflowRun        = "mlflow-run"
	ObjectPineconeIndex    = "pinecone-index"
	ObjectWandbArtifact    = "wandb-artifact"
)

// objectKinds are the kinds a GatewayObject may have.
var objectKinds = []string{ObjectFile, ObjectBatch, ObjectMLflowExperiment, ObjectMLflowRun, ObjectPineconeIndex, ObjectWandbArtifact}

// A GatewayObject is a provider-side object (a file, a batch) created
// through the gateway. The gateway records it when the provider answers
// the create call, and afterwards serves reads, listings, deletes and
// uses of it (a batch naming it as input) only to the same workload, or
// the same role where the role shares its objects.
type GatewayObject struct {
	Provider string `json:"provider"` // catalog provider id
	Kind     string `json:"kind"`     // ObjectFile or ObjectBatch
	ID       string `json:"id"`       // the provider's id ("file-abc")
	// Purpose is a file's upload purpose as sent ("batch", "fine-tune").
	Purpose  string `json:"purpose,omitempty"`
	TokenID  string `json:"token_id"`
	Workload string `json:"workload"` // issuer + " " + subject
	Role     string `json:"role"`
	// Calls lists what a batch input file asks the provider to run, one
	// "operation model" pair per distinct line shape; a batch created
	// from it must be within the creating token's scope for each.
	Calls     []string  `json:"calls,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks an object before it is stored.
func (o *GatewayObject) Validate() error {
	switch {
	case o.Provider == "" || o.ID == "":
		return Errorf(ErrInvalid, "gateway object: provider and id are required")
	case !slices.Contains(objectKinds, o.Kind):
		return Errorf(ErrInvalid, "gateway object %s: unknown kind %q (want one of %s)", o.ID, o.Kind, strings.Join(objectKinds, ", "))
	case o.TokenID == "" || o.Workload == "" || o.Role == "":
		return Errorf(ErrInvalid, "gateway object %s: token, workload and role are required", o.ID)
	case len(o.ID) > 256 || strings.ContainsAny(o.ID, " \t\r\n"):
		return Errorf(ErrInvalid, "gateway object: malformed id")
	}
	return nil
}

// A GatewayObjectFilter selects objects; empty fields match all.
type GatewayObjectFilter struct {
	Provider string
	Kind     string
	Workload string
	Role     string
	Limit    int // 0: no limit
}

// GatewayObjectService records who created which provider-side object
// through the gateway. Every gateway process sharing a store sees the
// same records, so an object created through one is owned on all. It
// writes no audit records: the usage record of the create call is the
// trace.
type GatewayObjectService interface {
	// RecordGatewayObject stores o (CreatedAt defaults to now). Recording
	// the same provider, kind and id again keeps the first owner and
	// fails with ErrConflict, so a second upload answer naming an
	// existing id cannot take the object over.
	// Errors: ErrInvalid, ErrConflict.
	RecordGatewayObject(ctx context.Context, o GatewayObject) error

	// GetGatewayObject returns the object with the given provider, kind
	// and id. Errors: ErrNotFound.
	GetGatewayObject(ctx context.Context, provider, kind, id string) (*GatewayObject, error)

	// ListGatewayObjects returns the objects matching f, oldest first.
	// Errors: ErrInvalid (a negative limit).
	ListGatewayObjects(ctx context.Context, f GatewayObjectFilter) ([]GatewayObject, error)
}
