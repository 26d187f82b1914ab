package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/aicred/aicred"
)

// MLflow's tracking server REST API 2.0, as the MLflow client speaks to
// it with MLFLOW_TRACKING_URI pointing at "{gateway}/mlflow" and the
// aicred token as MLFLOW_TRACKING_TOKEN (a Bearer token). The held
// credential is sent as a Bearer token too (a Databricks token for the
// managed tracking server, by default).
//
// Scope is by experiment name (the role's Experiments). Calls that name
// an experiment by id or a run by id are scoped by the name that id
// stands for, as the gateway learned it from earlier answers: the
// experiment ids of experiments/get-by-name and experiments/create
// answers and the run ids of runs/create answers, kept in the store
// (aicred.ObjectMLflowExperiment, aicred.ObjectMLflowRun) so every
// gateway process knows them. An id the gateway has not seen is refused:
// the client looks experiments up by name first (mlflow.set_experiment),
// and runs it logs to are created through the gateway. Registered models
// and their versions are scoped by model name as repositories (the
// role's Repositories). Artifacts go through the tracking server
// (/api/2.0/mlflow-artifacts/artifacts/{experiment id}/{run id}/...),
// scoped by the experiment id in the path.

const mlflowPrefix = "/mlflow"

func mlflowSurface(c MLStack) *surface {
	cred := c.MLflowCredential
	if cred == "" {
		cred = "databricks"
	}
	return &surface{
		provider: cred, upstream: "mlflow", inject: bearer, writeError: mlError,
		requestID: "X-Request-Id", headers: newHeaderPolicy(nil, nil, nil), bytes: true,
		resolve: resolveMLflow, answer: mlflowAnswer,
	}
}

// mlflowCall is one documented endpoint: its method, the body fields or
// query parameters it takes, and how it is scoped.
type mlflowCall struct {
	method string
	fields []string
	scope  func(x *exchange, m map[string]json.RawMessage) error
}

// mlflowDeletes are the calls MLflow's REST API makes with DELETE, the
// model registry's: the MLflow client sends their message as a JSON body
// (other clients as query parameters), read against the same allow-list
// as any call's and forwarded as read.
var mlflowDeletes = map[string]mlflowCall{
	"registered-models/delete":     {http.MethodDelete, []string{"name"}, byModel(true)},
	"registered-models/delete-tag": {http.MethodDelete, []string{"name", "key"}, byModel(true)},
	"registered-models/alias":      {http.MethodDelete, []string{"name", "alias"}, byModel(true)},
	"model-versions/delete":        {http.MethodDelete, []string{"name", "version"}, byModel(true)},
	"model-versions/delete-tag":    {http.MethodDelete, []string{"name", "version", "key"}, byModel(true)},
}

var mlflowCalls = map[string]mlflowCall{
	"experiments/get-by-name":        {http.MethodGet, []string{"experiment_name"}, byExperimentName("experiment_name", false)},
	"experiments/create":             {http.MethodPost, []string{"name", "artifact_location", "tags"}, byExperimentName("name", true)},
	"experiments/get":                {http.MethodGet, []string{"experiment_id"}, byExperimentID("experiment_id", false)},
	"experiments/update":             {http.MethodPost, []string{"experiment_id", "new_name"}, byExperimentID("experiment_id", true)},
	"experiments/set-experiment-tag": {http.MethodPost, []string{"experiment_id", "key", "value"}, byExperimentID("experiment_id", true)},
	"runs/create": {http.MethodPost, []string{"experiment_id", "user_id", "run_name", "start_time", "tags"}, func(x *exchange, m map[string]json.RawMessage) error {
		id, err := jsonString(m, "experiment_id")
		if err != nil {
			return err
		}
		x.ml.experiment = id
		return byExperimentID("experiment_id", true)(x, m)
	}},
	"runs/get":            {http.MethodGet, []string{"run_id", "run_uuid"}, byRun(false)},
	"runs/update":         {http.MethodPost, []string{"run_id", "run_uuid", "status", "end_time", "run_name"}, byRun(true)},
	"runs/delete":         {http.MethodPost, []string{"run_id"}, byRun(true)},
	"runs/restore":        {http.MethodPost, []string{"run_id"}, byRun(true)},
	"runs/log-metric":     {http.MethodPost, []string{"run_id", "run_uuid", "key", "value", "timestamp", "step", "model_id", "dataset_name", "dataset_digest"}, byRun(true)},
	"runs/log-parameter":  {http.MethodPost, []string{"run_id", "run_uuid", "key", "value"}, byRun(true)},
	"runs/set-tag":        {http.MethodPost, []string{"run_id", "run_uuid", "key", "value"}, byRun(true)},
	"runs/delete-tag":     {http.MethodPost, []string{"run_id", "key"}, byRun(true)},
	"runs/log-batch":      {http.MethodPost, []string{"run_id", "metrics", "params", "tags"}, byRun(true)},
	"runs/log-model":      {http.MethodPost, []string{"run_id", "model_json"}, byRun(true)},
	"runs/log-inputs":     {http.MethodPost, []string{"run_id", "datasets", "models"}, byRun(true)},
	"metrics/get-history": {http.MethodGet, []string{"run_id", "run_uuid", "metric_key", "page_token", "max_results"}, byRun(false)},
	"runs/search": {http.MethodPost, []string{"experiment_ids", "filter", "run_view_type", "max_results", "order_by", "page_token"}, func(x *exchange, m map[string]json.RawMessage) error {
		ids, err := jsonStrings(m, "experiment_ids")
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return mlBad("invalid_request", "runs/search must name its experiment_ids")
		}
		for _, id := range ids {
			if err := experimentByID(x, id, false); err != nil {
				return err
			}
		}
		return nil
	}},
	// Searches run as sent; the answer keeps only what the role may read
	// (mlflowAnswer), and the ids of the experiments kept are learned.
	"experiments/search":                    {http.MethodPost, []string{"max_results", "filter", "order_by", "page_token", "view_type"}, bySearch("experiments/search")},
	"registered-models/search":              {http.MethodGet, []string{"filter", "max_results", "order_by", "page_token"}, bySearch("registered-models/search")},
	"registered-models/create":              {http.MethodPost, []string{"name", "tags", "description", "deployment_job_id"}, byModel(true)},
	"registered-models/get":                 {http.MethodGet, []string{"name"}, byModel(false)},
	"registered-models/rename":              {http.MethodPost, []string{"name", "new_name"}, byModel(true)},
	"registered-models/update":              {http.MethodPatch, []string{"name", "description", "deployment_job_id"}, byModel(true)},
	"registered-models/get-latest-versions": {http.MethodPost, []string{"name", "stages"}, byModel(false)},
	"registered-models/set-tag":             {http.MethodPost, []string{"name", "key", "value"}, byModel(true)},
	"registered-models/alias":               {http.MethodPost, []string{"name", "alias", "version"}, byModel(true)},
	"registered-models/get-alias":           {http.MethodGet, []string{"name", "alias"}, byModel(false)},
	"model-versions/create": {http.MethodPost, []string{"name", "source", "run_id", "tags", "run_link", "description", "model_id"}, func(x *exchange, m map[string]json.RawMessage) error {
		// A version made from a run reads that run's artifacts.
		if id, err := jsonString(m, "run_id"); err != nil {
			return err
		} else if id != "" {
			if err := runByID(x, id, false); err != nil {
				return err
			}
		}
		return byModel(true)(x, m)
	}},
	"model-versions/get":                  {http.MethodGet, []string{"name", "version"}, byModel(false)},
	"model-versions/update":               {http.MethodPatch, []string{"name", "version", "description"}, byModel(true)},
	"model-versions/transition-stage":     {http.MethodPost, []string{"name", "version", "stage", "archive_existing_versions"}, byModel(true)},
	"model-versions/get-download-uri":     {http.MethodGet, []string{"name", "version"}, byModel(false)},
	"model-versions/set-tag":              {http.MethodPost, []string{"name", "version", "key", "value"}, byModel(true)},
	"registered-models/get-model-version": {http.MethodGet, []string{"name", "version"}, byModel(false)},
}

func resolveMLflow(x *exchange) error {
	segs, err := pathSegments(x, mlflowPrefix)
	if err != nil {
		return err
	}
	if len(segs) < 3 || segs[0] != "api" || segs[1] != "2.0" {
		return mlNotFound(x)
	}
	x.ml.path = joinPath(segs...)
	if segs[2] == "mlflow-artifacts" {
		return resolveMLflowArtifacts(x, segs[3:])
	}
	if segs[2] != "mlflow" || len(segs) != 5 {
		return mlNotFound(x)
	}
	name := segs[3] + "/" + segs[4]
	call, ok := mlflowCalls[name]
	if d, isDelete := mlflowDeletes[name]; isDelete && (x.r.Method == http.MethodDelete || !ok) {
		call, ok = d, true
	}
	if !ok {
		return refuse(http.StatusNotFound, "not_found_error", "unknown_route",
			"aicred gateway: the MLflow call "+quoteModel(name)+" is not one the gateway serves")
	}
	if x.r.Method != call.method {
		return refuse(http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", "aicred gateway: this MLflow call takes "+call.method)
	}
	var m map[string]json.RawMessage
	if call.method == http.MethodDelete && len(x.deleteBody) > 0 {
		if x.r.URL.RawQuery != "" {
			return mlBad("invalid_request", "a DELETE call takes its message in the body or in the query, not both")
		}
		x.body = x.deleteBody // read below against the allow-list, forwarded as read
		if m, err = jsonBody(x, call.fields...); err != nil {
			x.body = nil
			return err
		}
	} else if call.method == http.MethodGet || call.method == http.MethodDelete {
		// GET calls take their message as query parameters.
		q, err := url.ParseQuery(x.r.URL.RawQuery)
		if err != nil {
			return mlBad("invalid_query", "malformed query string")
		}
		m = map[string]json.RawMessage{}
		for k, vs := range q {
			if len(vs) != 1 {
				return mlBad("invalid_query", "the query repeats "+quoteModel(k))
			}
			if !containsString(call.fields, k) {
				return refuse(http.StatusForbidden, "permission_error", "field_not_allowed", "aicred gateway: the parameter "+quoteModel(k)+" is not one the gateway forwards for this call")
			}
			b, _ := json.Marshal(vs[0])
			m[k] = b
		}
		allowQuery(x, call.fields...)
	} else if m, err = jsonBody(x, call.fields...); err != nil {
		return err
	}
	return call.scope(x, m)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// resolveMLflowArtifacts: /api/2.0/mlflow-artifacts/artifacts[/{exp id}/...]
// (GET downloads or lists, PUT uploads, DELETE deletes) and the multipart
// upload calls /mpu/{create,complete,abort}/{exp id}/....
func resolveMLflowArtifacts(x *exchange, segs []string) error {
	write := false
	switch {
	case len(segs) >= 1 && segs[0] == "artifacts":
		segs = segs[1:]
		switch x.r.Method {
		case http.MethodGet:
		case http.MethodPut, http.MethodDelete:
			write = true
		default:
			return mlNotFound(x)
		}
		if len(segs) == 0 && x.r.Method == http.MethodGet {
			// A listing names its directory in ?path=.
			q, _ := url.ParseQuery(x.r.URL.RawQuery)
			p := strings.Trim(q.Get("path"), "/")
			if len(q["path"]) != 1 || p == "" {
				return mlBad("invalid_request", "an artifact listing names its experiment's directory in path")
			}
			for part := range strings.SplitSeq(p, "/") {
				if !segmentOK(part) {
					return mlBad("invalid_path", "invalid artifact path")
				}
			}
			segs = strings.Split(p, "/")
			allowQuery(x, "path")
		}
	case len(segs) >= 2 && segs[0] == "mpu" && x.r.Method == http.MethodPost &&
		(segs[1] == "create" || segs[1] == "complete" || segs[1] == "abort"):
		segs, write = segs[2:], true
	default:
		return mlNotFound(x)
	}
	if len(segs) == 0 {
		return mlBad("invalid_request", "an artifact path starts with its experiment id")
	}
	return experimentByID(x, segs[0], write)
}

func byExperimentName(field string, write bool) func(*exchange, map[string]json.RawMessage) error {
	return func(x *exchange, m map[string]json.RawMessage) error {
		name, err := jsonString(m, field)
		if err != nil {
			return err
		}
		return experimentAllow(x, name, write)
	}
}

// bySearch scopes a search by its answer: it reads, and reads only what
// the role may read.
func bySearch(call string) func(*exchange, map[string]json.RawMessage) error {
	return func(x *exchange, _ map[string]json.RawMessage) error {
		x.ml.resource, x.ml.write = call, false
		return nil
	}
}

func byExperimentID(field string, write bool) func(*exchange, map[string]json.RawMessage) error {
	return func(x *exchange, m map[string]json.RawMessage) error {
		id, err := jsonString(m, field)
		if err != nil {
			return err
		}
		return experimentByID(x, id, write)
	}
}

func byRun(write bool) func(*exchange, map[string]json.RawMessage) error {
	return func(x *exchange, m map[string]json.RawMessage) error {
		id, err := jsonString(m, "run_id")
		if err != nil {
			return err
		}
		old, err := jsonString(m, "run_uuid")
		if err != nil {
			return err
		}
		switch {
		case id == "":
			id = old
		case old != "" && old != id:
			return mlBad("invalid_request", "run_id and run_uuid name different runs")
		}
		return runByID(x, id, write)
	}
}

func byModel(write bool) func(*exchange, map[string]json.RawMessage) error {
	return func(x *exchange, m map[string]json.RawMessage) error {
		name, err := jsonString(m, "name")
		if err != nil {
			return err
		}
		if name == "" {
			return mlBad("invalid_request", "the call names no registered model")
		}
		if nn, err := jsonString(m, "new_name"); err != nil {
			return err
		} else if nn != "" {
			if err := hubAllow(x, nn, true); err != nil {
				return err
			}
		}
		return hubAllow(x, name, write)
	}
}

// runByID scopes a call by the experiment of the run it names.
func runByID(x *exchange, id string, write bool) error {
	if id == "" {
		return mlBad("invalid_request", "the call names no run")
	}
	exp, ok, err := x.learned(aicred.ObjectMLflowRun, id)
	if err != nil {
		return err
	}
	if !ok {
		return mlDeny("run " + quoteModel(id) + " was not created through the gateway, so its experiment is not known here")
	}
	return experimentByID(x, exp, write)
}

// experimentByID scopes a call by the name of the experiment id.
func experimentByID(x *exchange, id string, write bool) error {
	if id == "" {
		return mlBad("invalid_request", "the call names no experiment")
	}
	name, ok, err := x.learned(aicred.ObjectMLflowExperiment, id)
	if err != nil {
		return err
	}
	if !ok {
		return mlDeny("experiment " + quoteModel(id) + " is not known here by name: look it up by name (experiments/get-by-name) through the gateway first")
	}
	return experimentAllow(x, name, write)
}

func experimentAllow(x *exchange, name string, write bool) error {
	x.ml.resource, x.ml.write = name, write
	if name == "" {
		return mlBad("invalid_request", "the call names no experiment")
	}
	if !x.role.Experiment(name, write) {
		what := "read"
		if write {
			what = "write to"
		}
		return mlDeny("this token may not " + what + " experiment " + quoteModel(name) + " (its role's experiments)")
	}
	return nil
}

// mlflowAnswer learns experiment and run ids from successful answers.
func mlflowAnswer(g *Gateway, x *exchange, resp *http.Response) error {
	relativeRedirect(resp, mlflowPrefix)
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	p := x.ml.path
	var learnExp, learnRun bool
	switch {
	case strings.HasSuffix(p, "/experiments/search"):
		return keepReadable(resp, "experiments", func(name, id string) (bool, error) {
			if !x.role.Experiment(name, false) {
				return false, nil
			}
			return true, g.learn(x, aicred.ObjectMLflowExperiment, id, name)
		})
	case strings.HasSuffix(p, "/registered-models/search"):
		return keepReadable(resp, "registered_models", func(name, _ string) (bool, error) {
			return x.role.Repository(name, false), nil
		})
	case strings.HasSuffix(p, "/experiments/get-by-name"), strings.HasSuffix(p, "/experiments/create"):
		learnExp = true
	case strings.HasSuffix(p, "/runs/create"):
		learnRun = true
	default:
		return nil
	}
	body, err := readAnswer(resp)
	if err != nil {
		return err
	}
	var a struct {
		ExperimentID string `json:"experiment_id"`
		Experiment   struct {
			ExperimentID string `json:"experiment_id"`
			Name         string `json:"name"`
		} `json:"experiment"`
		Run struct {
			Info struct {
				RunID        string `json:"run_id"`
				ExperimentID string `json:"experiment_id"`
			} `json:"info"`
		} `json:"run"`
	}
	if json.Unmarshal(body, &a) != nil {
		return nil
	}
	switch {
	case learnExp && a.ExperimentID != "":
		// experiments/create answers the id of the name it was sent.
		return g.learn(x, aicred.ObjectMLflowExperiment, a.ExperimentID, x.ml.resource)
	case learnExp && a.Experiment.Name == x.ml.resource:
		return g.learn(x, aicred.ObjectMLflowExperiment, a.Experiment.ExperimentID, a.Experiment.Name)
	case learnRun && a.Run.Info.ExperimentID == x.ml.experiment:
		return g.learn(x, aicred.ObjectMLflowRun, a.Run.Info.RunID, x.ml.experiment)
	}
	return nil
}

// keepReadable hands the client a search answer whose list keeps only the
// entries keep takes (by their "name" and "experiment_id"), each entry
// written out again from its decoded members (a member named twice, which
// parsers read differently, is written once), and every other member of
// the answer as it came (next_page_token: the client pages on, through
// pages that may come back short). An answer that is not such an object
// is not passed on (errObjects): it might name what the role may not read.
func keepReadable(resp *http.Response, list string, keep func(name, id string) (bool, error)) error {
	body, err := readAnswer(resp)
	if err != nil {
		return err
	}
	var top map[string]json.RawMessage
	var items []map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || top == nil {
		return errObjects
	}
	if raw, ok := top[list]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &items) != nil {
			return errObjects
		}
	}
	kept := []map[string]json.RawMessage{}
	for _, it := range items {
		var name, id string
		if json.Unmarshal(it["name"], &name) != nil || name == "" {
			continue
		}
		if raw, ok := it["experiment_id"]; ok && json.Unmarshal(raw, &id) != nil {
			continue
		}
		ok, err := keep(name, id)
		if err != nil {
			return err
		}
		if ok {
			kept = append(kept, it)
		}
	}
	if len(kept) == 0 {
		delete(top, list) // as MLflow answers an empty page
	} else if top[list], err = json.Marshal(kept); err != nil {
		return errObjects
	}
	out, err := json.Marshal(top)
	if err != nil {
		return errObjects
	}
	replaceBody(resp, out)
	return nil
}
