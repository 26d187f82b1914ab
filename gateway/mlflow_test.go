package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aicred/aicred/broker"
)

// mlflowServer answers as MLflow's REST API 2.0 documents: experiments by
// name and id, runs created in an experiment, metrics and batches logged
// to a run, and artifacts through the tracking server under
// {experiment id}/{run id}/artifacts/.
func mlflowServer(t *testing.T, key string) *mlServer {
	var mu sync.Mutex
	exps := map[string]string{"train-bert": "1", "shared": "2", "secret-exp": "3"}
	runs := map[string]string{}
	artifacts := map[string][]byte{}
	next := 100
	return newMLServer(t, false, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error_code":"UNAUTHENTICATED","message":"bad token"}`)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		var req map[string]any
		_ = json.Unmarshal(body, &req)
		w.Header().Set("Content-Type", "application/json")
		notFound := func() {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"not found"}`)
		}
		switch p := r.URL.Path; {
		case p == "/api/2.0/mlflow/experiments/get-by-name":
			name := r.URL.Query().Get("experiment_name")
			id, ok := exps[name]
			if !ok {
				notFound()
				return
			}
			fmt.Fprintf(w, `{"experiment":{"experiment_id":%q,"name":%q,"artifact_location":"mlflow-artifacts:/%s","lifecycle_stage":"active"}}`, id, name, id)
		case p == "/api/2.0/mlflow/experiments/create":
			next++
			id := fmt.Sprint(next)
			exps[req["name"].(string)] = id
			fmt.Fprintf(w, `{"experiment_id":%q}`, id)
		case p == "/api/2.0/mlflow/runs/create":
			next++
			id := fmt.Sprintf("run%d", next)
			runs[id] = req["experiment_id"].(string)
			fmt.Fprintf(w, `{"run":{"info":{"run_id":%q,"run_uuid":%q,"experiment_id":%q,"status":"RUNNING","artifact_uri":"mlflow-artifacts:/%s/%s/artifacts"},"data":{}}}`, id, id, runs[id], runs[id], id)
		case p == "/api/2.0/mlflow/runs/log-metric", p == "/api/2.0/mlflow/runs/log-batch", p == "/api/2.0/mlflow/runs/update":
			if _, ok := runs[req["run_id"].(string)]; !ok {
				notFound()
				return
			}
			io.WriteString(w, `{}`)
		case p == "/api/2.0/mlflow/runs/get":
			id := r.URL.Query().Get("run_id")
			fmt.Fprintf(w, `{"run":{"info":{"run_id":%q,"experiment_id":%q},"data":{"metrics":[{"key":"loss","value":0.5,"step":1}]}}}`, id, runs[id])
		case strings.HasPrefix(p, "/api/2.0/mlflow-artifacts/artifacts/"):
			k := strings.TrimPrefix(p, "/api/2.0/mlflow-artifacts/artifacts/")
			if r.Method == http.MethodPut {
				artifacts[k] = body
				io.WriteString(w, `{}`)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(artifacts[k])
		default:
			notFound()
		}
	})
}

// A training job's MLflow calls through the gateway: the experiment is
// looked up by name, a run created in it, metrics and a batch logged and
// an artifact uploaded and read back. Each call is scoped by the
// experiment's name, through the ids the gateway learned on the way; a
// second gateway sharing the store knows them as well. Other experiments,
// unknown ids and undocumented fields are refused before MLflow.
func TestMLflowScopedByExperiment(t *testing.T) {
	m := newMLFix(t, 1303, nil, nil)
	srv := mlflowServer(t, m.keys["databricks"])
	m.gw.upstreams["mlflow"] = mustURL(t, srv.URL)
	n := 0
	call := func(method, path, body string) map[string]any {
		t.Helper()
		resp, b := m.do(t, method, path, []byte(body))
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		n++
		var out map[string]any
		if len(b) > 0 && resp.Header.Get("Content-Type") == "application/json" {
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatalf("%s %s: %s", method, path, b)
			}
		}
		return out
	}
	call("GET", "/mlflow/api/2.0/mlflow/experiments/get-by-name?experiment_name=train-bert", "")
	m.lastRecord(t, n, "databricks", "tracking", "train-bert")
	run := call("POST", "/mlflow/api/2.0/mlflow/runs/create", `{"experiment_id":"1","run_name":"r1","start_time":1700000000000,"tags":[{"key":"mlflow.user","value":"job"}]}`)
	runID := run["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	call("POST", "/mlflow/api/2.0/mlflow/runs/log-metric", `{"run_id":"`+runID+`","key":"loss","value":0.5,"timestamp":1700000000001,"step":1}`)
	call("POST", "/mlflow/api/2.0/mlflow/runs/log-batch", `{"run_id":"`+runID+`","metrics":[{"key":"acc","value":0.9,"timestamp":1,"step":1}],"params":[{"key":"lr","value":"0.01"}],"tags":[]}`)
	call("GET", "/mlflow/api/2.0/mlflow/runs/get?run_id="+runID, "")
	m.lastRecord(t, n, "databricks", "tracking", "train-bert")
	art := "/mlflow/api/2.0/mlflow-artifacts/artifacts/1/" + runID + "/artifacts/model/model.pkl"
	call("PUT", art, "MODEL-BYTES")
	resp, b := m.do(t, "GET", art, nil)
	if resp.StatusCode != 200 || string(b) != "MODEL-BYTES" {
		t.Fatalf("artifact read back: %d %q", resp.StatusCode, b)
	}
	n++
	created := call("POST", "/mlflow/api/2.0/mlflow/experiments/create", `{"name":"train-new"}`)
	newID := created["experiment_id"].(string)
	call("POST", "/mlflow/api/2.0/mlflow/runs/create", `{"experiment_id":"`+newID+`"}`)
	m.lastRecord(t, n, "databricks", "tracking", "train-new")

	// Out of scope, before MLflow: another experiment by name, by id
	// (known to MLflow, never learned), a read-only one written, a run
	// the gateway did not see created, an artifact of an unknown
	// experiment, an undocumented field, a call not served.
	m.refused(t, srv, "GET", "/mlflow/api/2.0/mlflow/experiments/get-by-name?experiment_name=secret-exp", nil)
	m.refused(t, srv, "POST", "/mlflow/api/2.0/mlflow/runs/create", []byte(`{"experiment_id":"3"}`))
	m.refused(t, srv, "POST", "/mlflow/api/2.0/mlflow/experiments/create", []byte(`{"name":"prod-exp"}`))
	call("GET", "/mlflow/api/2.0/mlflow/experiments/get-by-name?experiment_name=shared", "")
	m.refused(t, srv, "POST", "/mlflow/api/2.0/mlflow/runs/create", []byte(`{"experiment_id":"2"}`))
	m.refused(t, srv, "POST", "/mlflow/api/2.0/mlflow/runs/log-metric", []byte(`{"run_id":"run-unseen","key":"k","value":1,"timestamp":1}`))
	m.refused(t, srv, "PUT", "/mlflow/api/2.0/mlflow-artifacts/artifacts/3/x/artifacts/a", []byte("x"))
	m.refused(t, srv, "POST", "/mlflow/api/2.0/mlflow/runs/log-metric", []byte(`{"run_id":"`+runID+`","key":"k","value":1,"timestamp":1,"experiment_id":"3"}`))
	before := len(srv.Calls())
	if resp, _ := m.do(t, "POST", "/mlflow/api/2.0/mlflow/runs/log-metric", []byte(`{"run_id":"`+runID+`","run_uuid":"run-unseen","key":"k","value":1,"timestamp":1}`)); resp.StatusCode != http.StatusBadRequest || len(srv.Calls()) != before {
		t.Fatalf("run_id and run_uuid disagreeing: %d", resp.StatusCode)
	}
	for _, p := range []string{"/mlflow/api/2.0/mlflow/users/create", "/mlflow/api/2.0/mlflow/experiments/delete"} {
		before := len(srv.Calls())
		resp, _ := m.do(t, "POST", p, []byte(`{}`))
		if resp.StatusCode != http.StatusNotFound || len(srv.Calls()) != before {
			t.Fatalf("POST %s: %d", p, resp.StatusCode)
		}
	}

	// A second gateway process sharing the store knows the run.
	g2, err := New(Config{Tokens: m.tokens, Held: m.held, Opener: m.ring, Usage: m.usage, Objects: m.objects,
		Upstreams: map[string]string{"mlflow": srv.URL}, Roles: func(string) (*broker.Role, bool) { return m.role, true }})
	if err != nil {
		t.Fatal(err)
	}
	s2 := httptest.NewServer(g2)
	defer s2.Close()
	req, _ := http.NewRequest("POST", s2.URL+"/mlflow/api/2.0/mlflow/runs/update", strings.NewReader(`{"run_id":"`+runID+`","status":"FINISHED","end_time":1700000009999}`))
	req.Header.Set("Authorization", "Bearer "+m.tok)
	req.Header.Set("Content-Type", "application/json")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Fatalf("second process: runs/update %d", r2.StatusCode)
	}
}

// The model registry's DELETE calls, as the MLflow client sends them
// (the message as a JSON body) and as other clients do (the query): a
// model the role may write is deleted with exactly the body read; a
// model it may only read, or one outside its grants, an undocumented or
// look-alike field, a repeated key, and a body beside a query are refused
// before MLflow. A DELETE to another surface still carries no body.
func TestMLflowRegistryDeletes(t *testing.T) {
	m := newMLFix(t, 1307, nil, nil)
	var mu sync.Mutex
	var got []mlCall
	srv := newMLServer(t, false, func(w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		got = append(got, mlCall{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, body: body})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	})
	m.gw.upstreams["mlflow"] = mustURL(t, srv.URL)
	ok := []struct{ path, body, query string }{
		{"registered-models/delete", `{"name":"acme/bert"}`, ""},
		{"registered-models/delete-tag", `{"name":"acme/bert","key":"team"}`, ""},
		{"registered-models/alias", `{"name":"acme/bert","alias":"champion"}`, ""},
		{"model-versions/delete", `{"name":"acme/bert","version":"3"}`, ""},
		{"model-versions/delete-tag", `{"name":"acme/bert","version":"3","key":"stage"}`, ""},
		{"model-versions/delete", "", "name=acme%2Fbert&version=4"},
	}
	for _, c := range ok {
		p := "/mlflow/api/2.0/mlflow/" + c.path
		if c.query != "" {
			p += "?" + c.query
		}
		resp, b := m.do(t, http.MethodDelete, p, []byte(c.body))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE %s: %d %s", c.path, resp.StatusCode, b)
		}
		mu.Lock()
		last := got[len(got)-1]
		mu.Unlock()
		if last.method != http.MethodDelete || last.path != "/api/2.0/mlflow/"+c.path || string(last.body) != c.body || last.query != c.query {
			t.Fatalf("DELETE %s reached MLflow as %s %s ?%s %q", c.path, last.method, last.path, last.query, last.body)
		}
	}
	// The alias call is also POST (set an alias): both methods are served.
	if resp, b := m.do(t, http.MethodPost, "/mlflow/api/2.0/mlflow/registered-models/alias", []byte(`{"name":"acme/bert","alias":"champion","version":"3"}`)); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST alias: %d %s", resp.StatusCode, b)
	}
	for _, c := range []struct {
		name, path, body, query string
		status                  int
	}{
		{"a read-only model", "registered-models/delete", `{"name":"public/llama"}`, "", http.StatusForbidden},
		{"a model outside the grants", "registered-models/delete", `{"name":"other/model"}`, "", http.StatusForbidden},
		{"an undocumented field", "registered-models/delete", `{"name":"acme/bert","cascade":true}`, "", http.StatusForbidden},
		{"a look-alike field", "model-versions/delete", `{"name":"acme/bert","Version":"3"}`, "", http.StatusBadRequest},
		{"a repeated key", "registered-models/delete", `{"name":"acme/bert","name":"other/model"}`, "", http.StatusBadRequest},
		{"body and query", "registered-models/delete", `{"name":"acme/bert"}`, "name=acme%2Fbert", http.StatusBadRequest},
		{"no model", "registered-models/delete", `{}`, "", http.StatusBadRequest},
		{"not JSON", "registered-models/delete", `name=acme/bert`, "", http.StatusBadRequest},
		{"a POST-only call", "registered-models/create", `{"name":"acme/bert"}`, "", http.StatusMethodNotAllowed},
	} {
		before := len(srv.Calls())
		p := "/mlflow/api/2.0/mlflow/" + c.path
		if c.query != "" {
			p += "?" + c.query
		}
		resp, b := m.do(t, http.MethodDelete, p, []byte(c.body))
		if resp.StatusCode != c.status || len(srv.Calls()) != before {
			t.Errorf("%s: %d %s (MLflow called %d times)", c.name, resp.StatusCode, b, len(srv.Calls())-before)
		}
	}
	// A DELETE-only call taken with another method.
	if resp, _ := m.do(t, http.MethodPost, "/mlflow/api/2.0/mlflow/registered-models/delete", []byte(`{"name":"acme/bert"}`)); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST registered-models/delete: %d", resp.StatusCode)
	}
	// Any other DELETE (an artifact's) reaches MLflow without the body
	// it was sent with.
	real := mlflowServer(t, m.keys["databricks"])
	m.gw.upstreams["mlflow"] = mustURL(t, real.URL)
	if resp, b := m.do(t, http.MethodGet, "/mlflow/api/2.0/mlflow/experiments/get-by-name?experiment_name=train-bert", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("get-by-name: %d %s", resp.StatusCode, b)
	}
	if resp, b := m.do(t, http.MethodDelete, "/mlflow/api/2.0/mlflow-artifacts/artifacts/1/run1/artifacts/model.pkl", []byte(`{"path":"../../3"}`)); resp.StatusCode != http.StatusOK {
		t.Fatalf("artifact DELETE: %d %s", resp.StatusCode, b)
	}
	calls := real.Calls()
	if last := calls[len(calls)-1]; last.method != http.MethodDelete || len(last.body) != 0 {
		t.Fatalf("an artifact DELETE reached MLflow as %s with %q", last.method, last.body)
	}
}

// Searches are served with their answers cut to what the role may read:
// experiments by name (the ids kept are learned, so a run is created in
// one without looking it up by name), registered models as repositories;
// the page token passes on. An entry naming itself twice reaches the
// client as it was read. An answer that is not a search answer does not
// reach the client at all.
func TestMLflowSearchFiltered(t *testing.T) {
	m := newMLFix(t, 1311, nil, nil)
	var mu sync.Mutex
	answer := map[string]string{
		"/api/2.0/mlflow/experiments/search": `{"experiments":[` +
			`{"experiment_id":"1","name":"train-bert","lifecycle_stage":"active"},` +
			`{"experiment_id":"2","name":"shared","lifecycle_stage":"active"},` +
			`{"experiment_id":"3","name":"secret-exp","lifecycle_stage":"active"},` +
			`{"experiment_id":"4","name":"secret-exp-2","name":"train-twice"}],"next_page_token":"page-2"}`,
		"/api/2.0/mlflow/registered-models/search": `{"registered_models":[{"name":"acme/bert","latest_versions":[]},{"name":"public/llama"},{"name":"other/model"}]}`,
		"/api/2.0/mlflow/runs/create":              `{"run":{"info":{"run_id":"run9","experiment_id":"1"}}}`,
	}
	srv := newMLServer(t, false, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		mu.Lock()
		a, ok := answer[r.URL.Path]
		mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, a)
	})
	m.gw.upstreams["mlflow"] = mustURL(t, srv.URL)
	resp, b := m.do(t, http.MethodPost, "/mlflow/api/2.0/mlflow/experiments/search", []byte(`{"max_results":100,"filter":"name LIKE '%'"}`))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("experiments/search: %d %s", resp.StatusCode, b)
	}
	var got struct {
		Experiments []map[string]any `json:"experiments"`
		Next        string           `json:"next_page_token"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got.Experiments {
		names = append(names, e["name"].(string))
	}
	if strings.Join(names, ",") != "train-bert,shared,train-twice" || got.Next != "page-2" || strings.Contains(string(b), "secret-exp") {
		t.Fatalf("experiments/search answer: %s", b)
	}
	// Learned from the search: a run is created in experiment 1.
	if resp, b := m.do(t, http.MethodPost, "/mlflow/api/2.0/mlflow/runs/create", []byte(`{"experiment_id":"1"}`)); resp.StatusCode != http.StatusOK {
		t.Fatalf("runs/create after a search: %d %s", resp.StatusCode, b)
	}
	resp, b = m.do(t, http.MethodGet, "/mlflow/api/2.0/mlflow/registered-models/search?max_results=10", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "acme/bert") || !strings.Contains(string(b), "public/llama") || strings.Contains(string(b), "other/model") {
		t.Fatalf("registered-models/search: %d %s", resp.StatusCode, b)
	}
	// An empty page, and answers that are not search answers.
	for _, tc := range []struct {
		answer string
		status int
	}{
		{`{"next_page_token":"p3"}`, http.StatusOK},
		{`{"experiments":[{"experiment_id":"3","name":"secret-exp"}]}`, http.StatusOK},
		{`[{"experiment_id":"3","name":"secret-exp"}]`, http.StatusServiceUnavailable},
		{`{"experiments":{"name":"secret-exp"}}`, http.StatusServiceUnavailable},
		{`not json secret-exp`, http.StatusServiceUnavailable},
	} {
		mu.Lock()
		answer["/api/2.0/mlflow/experiments/search"] = tc.answer
		mu.Unlock()
		resp, b := m.do(t, http.MethodPost, "/mlflow/api/2.0/mlflow/experiments/search", []byte(`{}`))
		if resp.StatusCode != tc.status || strings.Contains(string(b), "secret-exp") {
			t.Errorf("answer %s: %d %s", tc.answer, resp.StatusCode, b)
		}
	}
	// Fields the search does not take are refused before MLflow.
	before := len(srv.Calls())
	if resp, _ := m.do(t, http.MethodPost, "/mlflow/api/2.0/mlflow/experiments/search", []byte(`{"experiment_ids":["3"]}`)); resp.StatusCode != http.StatusForbidden || len(srv.Calls()) != before {
		t.Errorf("an undocumented search field: %d", resp.StatusCode)
	}
}
