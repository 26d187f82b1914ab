package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
)

// Files and batches live at the provider under the held key, which every
// workload using that key shares. The gateway therefore keeps its own
// record of who created each one (aicred.GatewayObjectService, in the
// store so every gateway process shares it) and serves an object only to
// its owner: the workload that created it, or any workload of its role
// when the role sets shared_objects. An object the gateway did not see
// created is nobody's: it cannot be read, listed, deleted or used.
//
// A batch runs later on the held key, outside the gateway's budgets, so
// creating one requires an input file uploaded through the gateway whose
// every line was checked against the uploading token's scope, and whose
// lines are within the creating token's scope too.

// An objectUse says what a route does with provider-side objects.
type objectUse struct {
	kind string // aicred.ObjectFile or aicred.ObjectBatch; "" = none
	op   uint8
}

const (
	objCreate uint8 = iota + 1 // the answer names a new object: recorded
	objOwn                     // the path's {id} must be owned
	objList                    // the answer lists objects: filtered
)

// maxObjectAnswer bounds an answer read to record or filter objects.
const maxObjectAnswer = 16 << 20

// Upload purposes the gateway forwards, folded (lower case, '_' as '-').
// Every purpose that feeds a batch has its lines inspected.
var uploadPurposes = map[string]bool{
	"batch": true, "batch-api": true, "fine-tune": true, "assistants": true, "vision": true,
	"user-data": true, "evals": true, "ocr": true,
}

func foldPurpose(p string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(p)), "_", "-")
}

// batchPurpose reports whether a file of purpose p can be a batch's input.
func batchPurpose(p string) bool { return strings.Contains(foldPurpose(p), "batch") }

// MemoryObjects is an aicred.GatewayObjectService in memory, for one
// gateway process (the default when Config.Objects is nil). Several
// processes must share the store's.
type MemoryObjects struct {
	mu sync.Mutex
	m  map[string]aicred.GatewayObject
	n  []string // keys in insertion order
}

// NewMemoryObjects returns an empty MemoryObjects.
func NewMemoryObjects() *MemoryObjects { return &MemoryObjects{m: map[string]aicred.GatewayObject{}} }

func objectKey(provider, kind, id string) string { return provider + "\x00" + kind + "\x00" + id }

// RecordGatewayObject implements aicred.GatewayObjectService.
func (s *MemoryObjects) RecordGatewayObject(_ context.Context, o aicred.GatewayObject) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = time.Now().UTC()
	}
	o.Calls = slices.Clone(o.Calls)
	k := objectKey(o.Provider, o.Kind, o.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		return aicred.Errorf(aicred.ErrConflict, "gateway object %s: already recorded", o.ID)
	}
	s.m[k] = o
	s.n = append(s.n, k)
	return nil
}

// GetGatewayObject implements aicred.GatewayObjectService.
func (s *MemoryObjects) GetGatewayObject(_ context.Context, provider, kind, id string) (*aicred.GatewayObject, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.m[objectKey(provider, kind, id)]
	if !ok {
		return nil, aicred.Errorf(aicred.ErrNotFound, "gateway object: not found")
	}
	o.Calls = slices.Clone(o.Calls)
	return &o, nil
}

// ListGatewayObjects implements aicred.GatewayObjectService.
func (s *MemoryObjects) ListGatewayObjects(_ context.Context, f aicred.GatewayObjectFilter) ([]aicred.GatewayObject, error) {
	if f.Limit < 0 {
		return nil, aicred.Errorf(aicred.ErrInvalid, "gateway objects: negative limit")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []aicred.GatewayObject
	for _, k := range s.n {
		o := s.m[k]
		if (f.Provider == "" || o.Provider == f.Provider) && (f.Kind == "" || o.Kind == f.Kind) &&
			(f.Workload == "" || o.Workload == f.Workload) && (f.Role == "" || o.Role == f.Role) {
			o.Calls = slices.Clone(o.Calls)
			out = append(out, o)
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
	}
	return out, nil
}

// owns reports whether the exchange's workload may reach o.
func (x *exchange) owns(o *aicred.GatewayObject) bool {
	if x.role != nil && x.role.SharedObjects {
		return o.Role == x.grant.Role
	}
	return o.Workload == x.workload()
}

func (x *exchange) workload() string { return x.grant.Issuer + " " + x.grant.Subject }

// ownerFilter selects the objects the exchange's workload may reach.
func (x *exchange) ownerFilter(kind string) aicred.GatewayObjectFilter {
	f := aicred.GatewayObjectFilter{Provider: x.route.surface.provider, Kind: kind}
	if x.role != nil && x.role.SharedObjects {
		f.Role = x.grant.Role
	} else {
		f.Workload = x.workload()
	}
	return f
}

// objectCheck is the stage that keeps objects to their owners before
// anything is sent: an {id} in the path, and every file a body names (a
// batch's input, a fine-tuning job's training data, a file a model call
// reads) must be owned; a batch's input file must have been checked for
// batching, and its lines must be within this token's scope.
type objectCheck struct {
	store aicred.GatewayObjectService
}

func (s objectCheck) serve(x *exchange) error {
	rt := x.route
	notFound := func(what string) error {
		return refuse(http.StatusNotFound, "invalid_request_error", "not_found",
			"aicred gateway: no such "+what+" created through aicred by this workload")
	}
	ctx := x.r.Context()
	p := rt.surface.provider
	get := func(kind, id string) (*aicred.GatewayObject, error) {
		o, err := s.store.GetGatewayObject(ctx, p, kind, id)
		switch {
		case aicred.KindOf(err) == aicred.ErrNotFound:
			return nil, notFound(kind + " " + quoteModel(id))
		case err != nil:
			return nil, aicred.Errorf(aicred.ErrUnavailable, "gateway objects: %v", err)
		case !x.owns(o):
			return nil, notFound(kind + " " + quoteModel(id))
		}
		return o, nil
	}
	if rt.obj.op == objOwn {
		if _, err := get(rt.obj.kind, x.pathValue("id")); err != nil {
			return err
		}
	}
	if rt.api == apiFileUpload && !uploadPurposes[foldPurpose(x.facts.Purpose)] {
		return refuse(http.StatusForbidden, "permission_error", "purpose_not_allowed",
			"aicred gateway: the upload purpose "+quoteModel(x.facts.Purpose)+" is not one the gateway forwards")
	}
	for _, id := range x.facts.FileRefs {
		o, err := get(aicred.ObjectFile, id)
		if err != nil {
			return err
		}
		if rt.api != apiBatchCreate {
			continue
		}
		if !batchPurpose(o.Purpose) {
			return refuse(http.StatusForbidden, "permission_error", "forbidden",
				"aicred gateway: a batch's input file must be uploaded through aicred with a batch purpose, so that its lines are checked")
		}
		for _, c := range o.Calls {
			op, model, _ := strings.Cut(c, " ")
			if ok, why := x.inScope(broker.Operation(op), model); !ok {
				return refuse(http.StatusForbidden, "permission_error", "forbidden", "aicred gateway: the batch's input file "+why)
			}
		}
	}
	if rt.api == apiBatchCreate && len(x.facts.FileRefs) == 0 {
		return refuse(http.StatusBadRequest, "invalid_request_error", "missing_input_file",
			`aicred gateway: a batch needs an "input_file_id" uploaded through aicred`)
	}
	return nil
}

// inScope reports whether the token may run op on model, and if not,
// why (a phrase after "the batch's input file").
func (x *exchange) inScope(op broker.Operation, model string) (bool, string) {
	opOK, modelOK := false, false
	for _, v := range x.grant.Scope {
		if m, ok := strings.CutPrefix(v, "model:"); ok {
			modelOK = modelOK || globMatch(m, model)
		} else {
			opOK = opOK || v == string(op)
		}
	}
	switch {
	case !opOK:
		return false, "asks for " + string(op) + ", which this token may not perform"
	case !modelOK:
		return false, "names model " + quoteModel(model) + ", which this token may not use"
	}
	return true, ""
}

// errObjects is the cause of an answer the gateway could not record.
var errObjects = errors.New("gateway objects: the store could not record the answer")

// trackObjects records the objects a successful answer creates, filters a
// listing to the owner's objects and records the output files a batch
// names. The answer is read whole (bounded) and handed on as read.
func (g *Gateway) trackObjects(x *exchange, resp *http.Response) error {
	rt := x.route
	if rt.obj.kind == "" || resp.StatusCode < 200 || resp.StatusCode > 299 || g.objects == nil {
		return nil
	}
	batchGet := rt.obj.op == objOwn && rt.obj.kind == aicred.ObjectBatch && rt.method == http.MethodGet
	if rt.obj.op == objOwn && !batchGet {
		return nil // a file's content streams through untouched
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxObjectAnswer+1))
	_ = resp.Body.Close()
	if err != nil || len(body) > maxObjectAnswer {
		return errObjects
	}
	ctx := context.WithoutCancel(x.r.Context())
	switch rt.obj.op {
	case objCreate:
		var a struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body, &a) == nil && a.ID != "" {
			o := aicred.GatewayObject{Provider: rt.surface.provider, Kind: rt.obj.kind, ID: a.ID, Purpose: x.facts.Purpose,
				TokenID: x.grant.ID, Workload: x.workload(), Role: x.grant.Role}
			for _, c := range x.facts.Batch {
				o.Calls = append(o.Calls, string(c.op)+" "+c.model)
			}
			if err := g.objects.RecordGatewayObject(ctx, o); err != nil {
				g.log.Error("gateway: object not recorded", "token", x.grant.ID, "kind", o.Kind, "err", err)
				return errObjects
			}
		}
	case objOwn:
		g.recordBatchOutputs(ctx, x, body)
	case objList:
		filtered, err := g.filterList(ctx, x, body)
		if err != nil {
			return err
		}
		body = filtered
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// recordBatchOutputs gives the owner of a batch its output and error
// files, which the provider created.
func (g *Gateway) recordBatchOutputs(ctx context.Context, x *exchange, body []byte) {
	var b struct {
		OutputFileID string `json:"output_file_id"`
		ErrorFileID  string `json:"error_file_id"`
	}
	if json.Unmarshal(body, &b) != nil {
		return
	}
	for _, id := range []string{b.OutputFileID, b.ErrorFileID} {
		if id == "" {
			continue
		}
		o := aicred.GatewayObject{Provider: x.route.surface.provider, Kind: aicred.ObjectFile, ID: id, Purpose: "batch_output",
			TokenID: x.grant.ID, Workload: x.workload(), Role: x.grant.Role}
		if err := g.objects.RecordGatewayObject(ctx, o); err != nil && aicred.KindOf(err) != aicred.ErrConflict {
			g.log.Error("gateway: batch output file not recorded", "token", x.grant.ID, "err", err)
		}
	}
}

// filterList keeps, in a list answer ({"data": [...]}), the objects the
// workload owns; every other member is kept as sent.
func (g *Gateway) filterList(ctx context.Context, x *exchange, body []byte) ([]byte, error) {
	var l map[string]json.RawMessage
	if json.Unmarshal(body, &l) != nil {
		return nil, errObjects
	}
	var data []json.RawMessage
	if raw, ok := l["data"]; ok && json.Unmarshal(raw, &data) != nil {
		return nil, errObjects
	}
	owned, err := g.objects.ListGatewayObjects(ctx, x.ownerFilter(x.route.obj.kind))
	if err != nil {
		return nil, errObjects
	}
	mine := make(map[string]bool, len(owned))
	for _, o := range owned {
		mine[o.ID] = true
	}
	kept := make([]json.RawMessage, 0, len(data))
	for _, d := range data {
		var e struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(d, &e) == nil && mine[e.ID] {
			kept = append(kept, d)
		}
	}
	l["data"], _ = json.Marshal(kept)
	return json.Marshal(l)
}
