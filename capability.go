package aicred

// A Capability is what a credential unlocks, at the level of a product
// surface. The set of capabilities of a credential is its blast radius.
type Capability string

// The capability tags. They describe categories; a given key may be narrower.
const (
	CapInference     Capability = "inference"
	CapFineTuning    Capability = "fine-tuning"
	CapFilesData     Capability = "files/data"
	CapModelRegistry Capability = "model-registry"
	CapTracking      Capability = "tracking"
	CapTracing       Capability = "tracing"
	CapVectorRW      Capability = "vector-rw"
	CapCompute       Capability = "compute"
	CapSearch        Capability = "search"
	CapKeyAdmin      Capability = "key-admin"
	CapOrgAdmin      Capability = "org-admin"
	CapBilling       Capability = "billing"
)

// Capabilities lists every known capability in a stable order.
func Capabilities() []Capability {
	return []Capability{
		CapInference, CapFineTuning, CapFilesData, CapModelRegistry, CapTracking,
		CapTracing, CapVectorRW, CapCompute, CapSearch, CapKeyAdmin, CapOrgAdmin, CapBilling,
	}
}

// Valid reports whether c is one of the known capability tags.
func (c Capability) Valid() bool {
	for _, k := range Capabilities() {
		if c == k {
			return true
		}
	}
	return false
}
