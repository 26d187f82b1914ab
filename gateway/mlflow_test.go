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
	for _, p := range []string{"/mlflow/api/2.0/mlflow/experiments/search", "/mlflow/api/2.0/mlflow/users/create"} {
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
