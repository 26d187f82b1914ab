package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/openai/openai-go/v3"

	"github.com/aicred/aicred/provider"
)

// The training job of issue 13, as TestTrainingJob runs it under `aicred
// run`: what it reaches and what it may not.
const (
	tjExperiment    = "train-demo"        // the role writes train-*
	tjForeignExp    = "prod-eval"         // exists in MLflow; out of the role's experiments
	tjRepo          = "acme/demo-model"   // the role writes acme/*
	tjForeignRepo   = "other-org/model"   // out of the role's repositories
	tjForeignBucket = "secrets"           // a bucket the role has no grant on
	tjModelFile     = "model.safetensors" // the weights the job commits
)

// TestTrainJobHelperProcess is the training job (the test binary
// re-executed); it does nothing as a test of its own.
func TestTrainJobHelperProcess(t *testing.T) {
	if os.Getenv("AICRED_TRAINJOB_HELPER") != "1" {
		return
	}
	os.Exit(trainJob())
}

// trainJob is a training job written as a user would write it, with
// nothing but the variables aicred run set: it reads its dataset from
// object storage (AWS SDK), tracks a run in MLflow (its REST API, as the
// MLflow client sends it), calls a model each epoch (OpenAI SDK), commits
// its weights to the Hugging Face Hub (create, preupload, commit as
// huggingface_hub sends them) and ends the run; it tries one out-of-scope
// bucket, experiment and repository and prints what it was answered. It
// keeps training for AICRED_TRAINJOB_SECONDS, then prints "memcheck PID"
// and waits for a line on stdin, so that its memory can be read.
func trainJob() int {
	fail := func(code int, what string, err error) int {
		fmt.Fprintf(os.Stderr, "job: %s: %v\n", what, err)
		return code
	}
	if f := os.Getenv("AICRED_TRAINJOB_ENVFILE"); f != "" {
		proc, err := os.ReadFile("/proc/self/environ")
		if err != nil {
			return fail(2, "read /proc/self/environ", err)
		}
		dump := strings.Join(os.Environ(), "\n") + "\n--- /proc/self/environ ---\n" + string(bytes.ReplaceAll(proc, []byte{0}, []byte{'\n'}))
		if err := os.WriteFile(f, []byte(dump), 0o600); err != nil {
			return fail(2, "write the environment", err)
		}
	}
	ctx := context.Background()
	s3c := s3.New(s3.Options{
		Region: os.Getenv("AWS_REGION"), BaseEndpoint: aws.String(os.Getenv("AWS_ENDPOINT_URL_S3")), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}, nil
		}),
	})
	oai := openai.NewClient() // OPENAI_BASE_URL, OPENAI_API_KEY
	ml := &restClient{base: os.Getenv("MLFLOW_TRACKING_URI"), token: os.Getenv("MLFLOW_TRACKING_TOKEN")}
	hub := &restClient{base: os.Getenv("HF_ENDPOINT"), token: os.Getenv("HF_TOKEN")}

	readDataset := func() ([]byte, error) {
		obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("datasets"), Key: aws.String("train/data.csv")})
		if err != nil {
			return nil, err
		}
		defer obj.Body.Close()
		return io.ReadAll(obj.Body)
	}
	data, err := readDataset()
	if err != nil {
		return fail(3, "read dataset", err)
	}
	// Out of scope: another bucket.
	_, err = s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(tjForeignBucket), Key: aws.String("keys.csv")})
	fmt.Printf("refused bucket %s: %d\n", tjForeignBucket, httpStatusOf(err))

	// mlflow.set_experiment: look the experiment up by name, create it if
	// it does not exist.
	var exp struct {
		Experiment struct {
			ID string `json:"experiment_id"`
		} `json:"experiment"`
		ID string `json:"experiment_id"`
	}
	code, err := ml.do(http.MethodGet, "/api/2.0/mlflow/experiments/get-by-name?experiment_name="+url.QueryEscape(tjExperiment), nil, "", &exp)
	switch {
	case err != nil:
		return fail(4, "experiments/get-by-name", err)
	case code == http.StatusNotFound:
		if code, err = ml.do(http.MethodPost, "/api/2.0/mlflow/experiments/create", map[string]any{"name": tjExperiment}, "", &exp); err != nil || code != http.StatusOK {
			return fail(4, "experiments/create", fmt.Errorf("HTTP %d %v", code, err))
		}
	case code != http.StatusOK:
		return fail(4, "experiments/get-by-name", fmt.Errorf("HTTP %d", code))
	default:
		exp.ID = exp.Experiment.ID
	}
	// Out of scope: another experiment, by name and by an id the job
	// happens to know.
	code, _ = ml.do(http.MethodGet, "/api/2.0/mlflow/experiments/get-by-name?experiment_name="+tjForeignExp, nil, "", nil)
	fmt.Printf("refused experiment %s: %d\n", tjForeignExp, code)
	code, _ = ml.do(http.MethodPost, "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0", "run_name": "sneak"}, "", nil)
	fmt.Printf("refused experiment id 0: %d\n", code)

	start := time.Now().UnixMilli()
	var created struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	if code, err := ml.do(http.MethodPost, "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp.ID, "run_name": "demo",
		"start_time": start, "tags": []map[string]string{{"key": "mlflow.user", "value": "trainer"}}}, "", &created); err != nil || code != http.StatusOK {
		return fail(4, "runs/create", fmt.Errorf("HTTP %d %v", code, err))
	}
	runID := created.Run.Info.RunID

	// Training: each epoch reads the dataset again, asks the model for a
	// label and logs the loss, until the time is up (longer than the
	// agent keeps a token).
	secs, _ := strconv.Atoi(os.Getenv("AICRED_TRAINJOB_SECONDS"))
	end := time.Now().Add(time.Duration(secs) * time.Second)
	epoch := 0
	var weights bytes.Buffer
	for ; epoch == 0 || time.Now().Before(end); epoch++ {
		if data, err = readDataset(); err != nil {
			return fail(3, fmt.Sprintf("epoch %d: read dataset", epoch), err)
		}
		resp, err := oai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("label: " + string(data[:5]))}})
		if err != nil {
			return fail(5, fmt.Sprintf("epoch %d: model call", epoch), err)
		}
		fmt.Fprintf(&weights, "%d:%s;", epoch, resp.Choices[0].Message.Content)
		loss := 1 / float64(epoch+1)
		if code, err := ml.do(http.MethodPost, "/api/2.0/mlflow/runs/log-metric", map[string]any{"run_id": runID, "key": "loss", "value": loss,
			"timestamp": time.Now().UnixMilli(), "step": epoch}, "", nil); err != nil || code != http.StatusOK {
			return fail(4, fmt.Sprintf("epoch %d: runs/log-metric", epoch), fmt.Errorf("HTTP %d %v", code, err))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if code, err := ml.do(http.MethodPost, "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": runID,
		"metrics": []map[string]any{{"key": "accuracy", "value": 0.93, "timestamp": time.Now().UnixMilli(), "step": epoch}},
		"params":  []map[string]string{{"key": "epochs", "value": strconv.Itoa(epoch)}}}, "", nil); err != nil || code != http.StatusOK {
		return fail(4, "runs/log-batch", fmt.Errorf("HTTP %d %v", code, err))
	}

	// HfApi().create_repo(exist_ok=True) then upload_folder: preupload
	// says how each file goes, the commit carries small files inline.
	org, name, _ := strings.Cut(tjRepo, "/")
	if code, err := hub.do(http.MethodPost, "/api/repos/create", map[string]any{"name": name, "organization": org, "private": true}, "", nil); err != nil || (code != http.StatusOK && code != http.StatusConflict) {
		return fail(6, "repos/create", fmt.Errorf("HTTP %d %v", code, err))
	}
	files := map[string][]byte{tjModelFile: weights.Bytes(), "config.json": []byte(`{"epochs":` + strconv.Itoa(epoch) + `}`)}
	var pre []map[string]any
	for _, p := range []string{tjModelFile, "config.json"} {
		pre = append(pre, map[string]any{"path": p, "size": len(files[p]), "sample": base64.StdEncoding.EncodeToString(files[p][:min(512, len(files[p]))])})
	}
	var plan struct {
		Files []struct {
			Path         string `json:"path"`
			UploadMode   string `json:"uploadMode"`
			ShouldIgnore bool   `json:"shouldIgnore"`
		} `json:"files"`
	}
	if code, err := hub.do(http.MethodPost, "/api/models/"+tjRepo+"/preupload/main", map[string]any{"files": pre}, "", &plan); err != nil || code != http.StatusOK {
		return fail(6, "preupload", fmt.Errorf("HTTP %d %v", code, err))
	}
	var commit bytes.Buffer
	enc := json.NewEncoder(&commit)
	enc.Encode(map[string]any{"key": "header", "value": map[string]string{"summary": "Upload model (" + strconv.Itoa(epoch) + " epochs)", "description": ""}})
	for _, f := range plan.Files {
		if f.ShouldIgnore || f.UploadMode != "regular" {
			return fail(6, "preupload", fmt.Errorf("%s: upload mode %q", f.Path, f.UploadMode))
		}
		enc.Encode(map[string]any{"key": "file", "value": map[string]string{"path": f.Path, "encoding": "base64", "content": base64.StdEncoding.EncodeToString(files[f.Path])}})
	}
	var done struct {
		CommitOid string `json:"commitOid"`
	}
	if code, err := hub.do(http.MethodPost, "/api/models/"+tjRepo+"/commit/main", commit.Bytes(), "application/x-ndjson", &done); err != nil || code != http.StatusOK || done.CommitOid == "" {
		return fail(6, "commit", fmt.Errorf("HTTP %d %v", code, err))
	}
	// Out of scope: another organization's repository.
	code, _ = hub.do(http.MethodPost, "/api/models/"+tjForeignRepo+"/preupload/main", map[string]any{"files": pre}, "", nil)
	fmt.Printf("refused repository %s: %d\n", tjForeignRepo, code)

	if code, err := ml.do(http.MethodPost, "/api/2.0/mlflow/runs/update", map[string]any{"run_id": runID, "status": "FINISHED",
		"end_time": time.Now().UnixMilli()}, "", nil); err != nil || code != http.StatusOK {
		return fail(4, "runs/update", fmt.Errorf("HTTP %d %v", code, err))
	}
	fmt.Printf("trained %d epochs, run %s, commit %s\n", epoch, runID, done.CommitOid)

	fmt.Printf("memcheck %d\n", os.Getpid())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// httpStatusOf is the HTTP status of an AWS SDK error (0 for none).
func httpStatusOf(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// restClient calls a JSON API with a Bearer token, as the MLflow client
// and huggingface_hub do.
type restClient struct{ base, token string }

func (c *restClient) do(method, path string, body any, contentType string, out any) (int, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, err
		}
		rd, contentType = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// mlflowStandIn answers as MLflow's REST API 2.0 documents
// (mlflow.org/docs/latest/rest-api.html): experiments by name, created
// with an id; runs created in an experiment; metrics, batches and the
// run's end. It holds one experiment the job may not reach (prod-eval,
// id 0) and counts every call and every one that names it.
type mlflowStandIn struct {
	srv *httptest.Server
	key string

	mu       sync.Mutex
	calls    int
	foreign  int // calls naming prod-eval or its id
	exps     map[string]string
	runs     map[string]*mlRun
	nextID   int
	authFail int
}

type mlRun struct {
	experiment, status string
	metrics            map[string][]float64
	params             map[string]string
}

func newMLflowStandIn(t *testing.T, key string) *mlflowStandIn {
	m := &mlflowStandIn{key: key, exps: map[string]string{tjForeignExp: "0"}, runs: map[string]*mlRun{}, nextID: 100}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mlflowStandIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if bytes.Contains(body, []byte(tjForeignExp)) || strings.Contains(r.URL.RawQuery, tjForeignExp) || bytes.Contains(body, []byte(`"experiment_id":"0"`)) {
		m.foreign++
	}
	w.Header().Set("Content-Type", "application/json")
	fail := func(status int, code, msg string) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error_code": code, "message": msg})
	}
	if r.Header.Get("Authorization") != "Bearer "+m.key {
		m.authFail++
		fail(http.StatusUnauthorized, "UNAUTHENTICATED", "invalid token")
		return
	}
	var req struct {
		Name         string  `json:"name"`
		ExperimentID string  `json:"experiment_id"`
		RunID        string  `json:"run_id"`
		Key          string  `json:"key"`
		Value        float64 `json:"value"`
		Status       string  `json:"status"`
		Metrics      []struct {
			Key   string  `json:"key"`
			Value float64 `json:"value"`
		} `json:"metrics"`
		Params []struct{ Key, Value string } `json:"params"`
	}
	if r.Method == http.MethodPost && json.Unmarshal(body, &req) != nil {
		fail(http.StatusBadRequest, "MALFORMED_REQUEST", "malformed JSON")
		return
	}
	run := func() *mlRun {
		rn := m.runs[req.RunID]
		if rn == nil {
			fail(http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", "Run '"+req.RunID+"' not found")
		}
		return rn
	}
	switch p := r.URL.Path; {
	case p == "/api/2.0/mlflow/experiments/get-by-name" && r.Method == http.MethodGet:
		name := r.URL.Query().Get("experiment_name")
		id, ok := m.exps[name]
		if !ok {
			fail(http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", "Could not find experiment with name '"+name+"'")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"experiment": map[string]any{"experiment_id": id, "name": name,
			"artifact_location": "mlflow-artifacts:/" + id, "lifecycle_stage": "active"}})
	case p == "/api/2.0/mlflow/experiments/create" && r.Method == http.MethodPost:
		if _, ok := m.exps[req.Name]; ok || req.Name == "" {
			fail(http.StatusBadRequest, "RESOURCE_ALREADY_EXISTS", "Experiment '"+req.Name+"' already exists.")
			return
		}
		m.nextID++
		id := strconv.Itoa(m.nextID)
		m.exps[req.Name] = id
		json.NewEncoder(w).Encode(map[string]string{"experiment_id": id})
	case p == "/api/2.0/mlflow/runs/create" && r.Method == http.MethodPost:
		m.nextID++
		id := fmt.Sprintf("%032x", m.nextID)
		m.runs[id] = &mlRun{experiment: req.ExperimentID, status: "RUNNING", metrics: map[string][]float64{}, params: map[string]string{}}
		json.NewEncoder(w).Encode(map[string]any{"run": map[string]any{"info": map[string]any{"run_id": id, "run_uuid": id,
			"experiment_id": req.ExperimentID, "status": "RUNNING", "lifecycle_stage": "active",
			"artifact_uri": "mlflow-artifacts:/" + req.ExperimentID + "/" + id + "/artifacts"}, "data": map[string]any{}}})
	case p == "/api/2.0/mlflow/runs/log-metric" && r.Method == http.MethodPost:
		if rn := run(); rn != nil {
			rn.metrics[req.Key] = append(rn.metrics[req.Key], req.Value)
			io.WriteString(w, "{}")
		}
	case p == "/api/2.0/mlflow/runs/log-batch" && r.Method == http.MethodPost:
		if rn := run(); rn != nil {
			for _, mt := range req.Metrics {
				rn.metrics[mt.Key] = append(rn.metrics[mt.Key], mt.Value)
			}
			for _, pr := range req.Params {
				rn.params[pr.Key] = pr.Value
			}
			io.WriteString(w, "{}")
		}
	case p == "/api/2.0/mlflow/runs/update" && r.Method == http.MethodPost:
		if rn := run(); rn != nil {
			rn.status = req.Status
			json.NewEncoder(w).Encode(map[string]any{"run_info": map[string]any{"run_id": req.RunID, "experiment_id": rn.experiment, "status": rn.status}})
		}
	default:
		fail(http.StatusNotFound, "ENDPOINT_NOT_FOUND", "no such endpoint")
	}
}

// hubStandIn answers as the Hugging Face Hub documents its upload
// (huggingface_hub's HfApi: create_repo, preupload, commit as NDJSON with
// base64 file contents); it counts every call and those naming a
// repository outside acme/.
type hubStandIn struct {
	srv *httptest.Server
	key string

	mu       sync.Mutex
	calls    int
	foreign  int
	repos    map[string]map[string][]byte // repo → path → content
	commits  int
	authFail int
}

func newHubStandIn(t *testing.T, key string) *hubStandIn {
	h := &hubStandIn{key: key, repos: map[string]map[string][]byte{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

var hubRepoPath = regexp.MustCompile(`^/api/models/([^/]+/[^/]+)/(preupload|commit)/main$`)

func (h *hubStandIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if strings.Contains(r.URL.Path, "other-org") || bytes.Contains(body, []byte("other-org")) {
		h.foreign++
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "Root=1-standin")
	fail := func(status int, code, msg string) {
		w.Header().Set("X-Error-Code", code)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	if r.Header.Get("Authorization") != "Bearer "+h.key {
		h.authFail++
		fail(http.StatusUnauthorized, "RepoNotFound", "Invalid credentials in Authorization header")
		return
	}
	if r.URL.Path == "/api/repos/create" && r.Method == http.MethodPost {
		var req struct{ Name, Organization string }
		if json.Unmarshal(body, &req) != nil || req.Name == "" {
			fail(http.StatusBadRequest, "BadRequest", "malformed request")
			return
		}
		repo := req.Organization + "/" + req.Name
		if h.repos[repo] != nil {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]string{"error": "You already created this model repo", "url": "https://huggingface.co/" + repo})
			return
		}
		h.repos[repo] = map[string][]byte{}
		json.NewEncoder(w).Encode(map[string]string{"url": "https://huggingface.co/" + repo, "name": repo, "id": "66a0"})
		return
	}
	m := hubRepoPath.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPost || h.repos[m[1]] == nil {
		fail(http.StatusNotFound, "RepoNotFound", "Repository Not Found")
		return
	}
	switch m[2] {
	case "preupload":
		var req struct {
			Files []struct {
				Path string `json:"path"`
				Size int    `json:"size"`
			} `json:"files"`
		}
		if json.Unmarshal(body, &req) != nil {
			fail(http.StatusBadRequest, "BadRequest", "malformed request")
			return
		}
		var files []map[string]any
		for _, f := range req.Files {
			mode := "regular"
			if f.Size > 10<<20 {
				mode = "lfs"
			}
			files = append(files, map[string]any{"path": f.Path, "uploadMode": mode, "shouldIgnore": false})
		}
		json.NewEncoder(w).Encode(map[string]any{"files": files})
	case "commit":
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-ndjson") {
			fail(http.StatusBadRequest, "BadRequest", "commit bodies are NDJSON")
			return
		}
		staged := map[string][]byte{}
		for i, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
			var op struct {
				Key   string `json:"key"`
				Value struct {
					Path, Encoding, Content, Summary string
				} `json:"value"`
			}
			if json.Unmarshal(line, &op) != nil || (i == 0) != (op.Key == "header") {
				fail(http.StatusBadRequest, "BadRequest", "malformed commit line")
				return
			}
			if op.Key == "file" {
				b, err := base64.StdEncoding.DecodeString(op.Value.Content)
				if err != nil || op.Value.Encoding != "base64" {
					fail(http.StatusBadRequest, "BadRequest", "file content is base64")
					return
				}
				staged[op.Value.Path] = b
			}
		}
		for p, b := range staged {
			h.repos[m[1]][p] = b
		}
		h.commits++
		oid := fmt.Sprintf("%040x", h.commits)
		json.NewEncoder(w).Encode(map[string]any{"success": true, "commitOid": oid,
			"commitUrl": "https://huggingface.co/" + m[1] + "/commit/" + oid, "pullRequestUrl": nil})
	}
}

// memWatch is the job's stdout as the test keeps it; on "memcheck PID"
// it reads the job's writable memory and then lets the job go on.
type memWatch struct {
	lockedBuffer
	once   sync.Once
	found  chan memScan
	check  func(pid int) memScan
	resume *os.File
}

type memScan struct {
	bytes  int64
	tokens int      // valid aicred tokens found
	held   []string // held-key forms found (never printed)
	secret bool     // the run's secret was found (the scan works)
	err    error
}

var memcheckLine = regexp.MustCompile(`memcheck (\d+)\n`)

func (m *memWatch) Write(p []byte) (int, error) {
	n, err := m.lockedBuffer.Write(p)
	if mm := memcheckLine.FindStringSubmatch(m.String()); mm != nil {
		m.once.Do(func() {
			pid, _ := strconv.Atoi(mm[1])
			go func() {
				m.found <- m.check(pid)
				m.resume.WriteString("go on\n")
			}()
		})
	}
	return n, err
}

// scanMemory reads every writable mapping of process pid (heap, stacks,
// data; the environment is on the stack) and looks for valid aicred
// tokens, the held keys' forms, and the run's secret.
func scanMemory(pid int, held []string, secret string) memScan {
	var s memScan
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		s.err = err
		return s
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		s.err = err
		return s
	}
	defer mem.Close()
	tok := regexp.MustCompile(`aic[wa]_[0-9A-Za-z]{36}`)
	seen := map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(maps)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[1], "rw") {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || b <= a || b-a > 1<<30 {
			continue
		}
		buf := make([]byte, b-a)
		n, _ := mem.ReadAt(buf, int64(a))
		buf = buf[:n]
		s.bytes += int64(n)
		for _, m := range tok.FindAll(buf, -1) {
			if provider.ValidToken(string(m)) {
				s.tokens++
			}
		}
		for _, h := range held {
			if !seen[h] && bytes.Contains(buf, []byte(h)) {
				seen[h] = true
				s.held = append(s.held, h)
			}
		}
		if bytes.Contains(buf, []byte(secret)) {
			s.secret = true
		}
	}
	if s.bytes == 0 {
		s.err = errors.New("no memory could be read")
	}
	return s
}

// TestTrainingJob is issue 13's "done when": a training job runs under
// `aicred run` for longer than the agent keeps a token (--refresh-before
// makes it exchange every few seconds on a 1-minute role; older tokens are
// revoked mid-run as expiry would end them). It reads its dataset through
// the S3 fence (AWS SDK; the store verifies every signature with the held
// key), tracks a run in MLflow through the gateway (experiment by name,
// created; run created, metrics logged every epoch and in a batch, run
// ended), calls a model every epoch through the OpenAI SDK and commits its
// weights to the Hugging Face Hub (create, preupload, NDJSON commit). Its
// environment (as it sees it and in /proc/self/environ), its memory and all
// it printed hold no held key and no aicred token: only the agent's
// per-run secret. Every action is in `aicred usage` and in `aicred trace`
// of the job's tokens; an out-of-scope bucket, experiment and repository
// are each refused and never reach the service.
func TestTrainingJob(t *testing.T) {
	g := provider.NewGen(1313)
	hfKey := "hf_" + g.Letters(34)
	dbxKey := "dapi" + g.Hex(32)
	mlf := newMLflowStandIn(t, dbxKey)
	hub := newHubStandIn(t, hfKey)
	rs := startRunServeWith(t, runServeOpts{
		gateway: "    mlflow: " + mlf.srv.URL + "\n    huggingface-hub: " + hub.srv.URL + "\n  mlflow_credential: databricks",
		role: `  - name: sdk-e2e
    providers: [openai, huggingface, databricks]
    credentials: [hc_e2e_openai, hc_hf, hc_dbx]
    models: ["gpt-4o-mini*"]
    operations: [chat, registry, tracking]
    ttl: 1m
    budget: {per_token_usd: 1000, per_workload_daily_usd: 10000}
    storage:
      - {store: main, bucket: datasets, prefix: train/, operations: [list, read]}
    repositories:
      - {name: "acme/*", access: write}
    experiments:
      - {name: "train-*", access: write}
`,
	})
	for _, c := range []struct{ prov, kind, id, key string }{
		{"huggingface", "access-token", "hc_hf", hfKey},
		{"databricks", "access-token", "hc_dbx", dbxKey},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"credential", "add", "--provider", c.prov, "--kind", c.kind, "--id", c.id},
			strings.NewReader(c.key+"\n"), &out, &errb); code != exitOK {
			t.Fatalf("credential add %s: %s", c.prov, errb.String())
		}
	}
	held := append(slices.Clone(rs.held), secretForms(hfKey, dbxKey)...)

	envFile := filepath.Join(t.TempDir(), "env")
	t.Setenv("AICRED_TRAINJOB_HELPER", "1")
	t.Setenv("AICRED_TRAINJOB_SECONDS", "7")
	t.Setenv("AICRED_TRAINJOB_ENVFILE", envFile)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	revoked := make(chan int, 1)
	go func() {
		n := 0
		for _, at := range []time.Duration{4 * time.Second, 3 * time.Second} {
			select {
			case <-ctx.Done():
				revoked <- n
				return
			case <-time.After(at):
			}
			n += revokeAllButNewest(t)
		}
		revoked <- n
	}()

	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdinR.Close()
	defer stdinW.Close()
	var secret string
	out := &memWatch{found: make(chan memScan, 1), resume: stdinW, check: func(pid int) memScan {
		env, err := os.ReadFile(envFile)
		if err != nil {
			return memScan{err: err}
		}
		secret = envValue(string(env), "OPENAI_API_KEY")
		return scanMemory(pid, held, secret)
	}}
	var errb lockedBuffer
	began := time.Now()
	code := run(ctx, []string{"run", "--server", rs.base, "--identity-file", rs.jwtFile, "--role", "sdk-e2e", "--refresh-before", "57s",
		"--", os.Args[0], "-test.run=^TestTrainJobHelperProcess$"}, stdinR, out, &errb)
	t.Logf("the job ran %v", time.Since(began).Round(100*time.Millisecond))
	printed := out.String() + errb.String()
	if code != exitOK {
		t.Fatalf("aicred run exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if n := <-revoked; n < 2 {
		t.Fatalf("only %d older tokens were revoked mid-run: the agent did not refresh", n)
	}

	// What the job saw and printed, and its memory.
	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "aicred-agent-") {
		t.Fatalf("the job's OPENAI_API_KEY is not the agent's per-run secret")
	}
	for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "MLFLOW_TRACKING_TOKEN", "WANDB_API_KEY", "AWS_SECRET_ACCESS_KEY"} {
		if envValue(string(env), k) != secret {
			t.Errorf("the job's %s is not the run's secret", k)
		}
	}
	for what, b := range map[string]string{"environment and /proc/self/environ": string(env), "printed output": printed} {
		if !strings.Contains(what, "printed") && !strings.Contains(b, "--- /proc/self/environ ---") {
			t.Fatalf("the job did not dump /proc/self/environ")
		}
		for _, f := range held {
			if strings.Contains(b, f) {
				t.Errorf("the job's %s holds (part of) a held key", what)
			}
		}
		if strings.Contains(b, provider.TokenPrefixWorkload) || strings.Contains(b, provider.TokenPrefixAdmin) {
			t.Errorf("the job's %s holds an aicred token", what)
		}
	}
	ms := <-out.found
	if ms.err != nil {
		t.Fatalf("reading the job's memory: %v", ms.err)
	}
	if !ms.secret {
		t.Fatalf("the memory scan (%d bytes) did not find the run's secret, which is in the job's environment: it does not see the memory", ms.bytes)
	}
	if ms.tokens != 0 || len(ms.held) != 0 {
		t.Errorf("the job's memory holds %d aicred tokens and %d held-key forms", ms.tokens, len(ms.held))
	}
	t.Logf("job memory scanned: %d bytes", ms.bytes)

	// The job did its work, on the services themselves.
	var epochs int
	if _, err := fmt.Sscanf(printed[strings.Index(printed, "trained "):], "trained %d epochs", &epochs); err != nil || epochs < 5 {
		t.Fatalf("the job trained %d epochs (%v): %s", epochs, err, printed)
	}
	mlf.mu.Lock()
	var runs []*mlRun
	for _, r := range mlf.runs {
		runs = append(runs, r)
	}
	expID := mlf.exps[tjExperiment]
	mlf.mu.Unlock()
	if len(runs) != 1 || runs[0].experiment != expID || runs[0].status != "FINISHED" || len(runs[0].metrics["loss"]) != epochs ||
		len(runs[0].metrics["accuracy"]) != 1 || runs[0].params["epochs"] != strconv.Itoa(epochs) {
		t.Fatalf("MLflow holds %d runs: %+v", len(runs), runs)
	}
	hub.mu.Lock()
	weights := string(hub.repos[tjRepo][tjModelFile])
	cfg := string(hub.repos[tjRepo]["config.json"])
	hub.mu.Unlock()
	if strings.Count(weights, ":Hello!;") != epochs || cfg != `{"epochs":`+strconv.Itoa(epochs)+`}` {
		t.Fatalf("the Hub holds weights %q and config %q", weights, cfg)
	}
	if rs.oai.callCount() < epochs {
		t.Fatalf("the model was called %d times for %d epochs", rs.oai.callCount(), epochs)
	}
	if mlf.authFail+hub.authFail != 0 {
		t.Fatalf("the stand-ins refused %d calls without their held key", mlf.authFail+hub.authFail)
	}

	// Out of scope: refused by aicred, never reaching the service.
	for _, want := range []string{"refused bucket " + tjForeignBucket + ": 403", "refused experiment " + tjForeignExp + ": 403",
		"refused experiment id 0: 403", "refused repository " + tjForeignRepo + ": 403"} {
		if !strings.Contains(printed, want+"\n") {
			t.Errorf("the job did not print %q:\n%s", want, printed)
		}
	}
	for _, p := range rs.s3Paths() {
		if strings.HasPrefix(p, "/"+tjForeignBucket) {
			t.Errorf("the store was asked for %s", p)
		}
	}
	if mlf.foreign != 0 || hub.foreign != 0 {
		t.Errorf("out-of-scope calls reached MLflow (%d) and the Hub (%d)", mlf.foreign, hub.foreign)
	}

	// Every action in `aicred usage`, by provider and model. Usage
	// records reach the store in batches off the request path: the last
	// calls' may land just after the job ends.
	var uo, ue bytes.Buffer
	var actions map[string]bool
	var usageTotal int64
	last := int64(-1)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		uo.Reset()
		ue.Reset()
		if c := run(context.Background(), []string{"usage", "--by", "provider,model", "--format", "json"}, strings.NewReader(""), &uo, &ue); c != exitOK {
			t.Fatalf("usage: %s", ue.String())
		}
		var usage struct {
			Groups []struct {
				Provider, Model  string
				Requests, Errors int64
			} `json:"groups"`
		}
		if err := json.Unmarshal(uo.Bytes(), &usage); err != nil {
			t.Fatalf("usage JSON: %v\n%s", err, uo.String())
		}
		actions = map[string]bool{"openai gpt-4o-mini": false, "s3 main/datasets": false, "databricks " + tjExperiment: false, "huggingface " + tjRepo: false}
		usageTotal = 0
		for _, u := range usage.Groups {
			usageTotal += u.Requests
			for a := range actions {
				if prov, model, _ := strings.Cut(a, " "); u.Provider == prov && strings.HasPrefix(u.Model, model) && u.Requests > u.Errors {
					actions[a] = true
				}
			}
		}
		all := true
		for _, ok := range actions {
			all = all && ok
		}
		// Settled: every action there and no record arrived since.
		if all && usageTotal == last || time.Now().After(deadline) {
			break
		}
		last = usageTotal
	}
	for a, ok := range actions {
		if !ok {
			t.Errorf("aicred usage lacks %s:\n%s", a, uo.String())
		}
	}

	// Every action in `aicred trace` of the job's tokens.
	var lo, le bytes.Buffer
	if c := run(context.Background(), []string{"token", "list", "--format", "json", "--all"}, strings.NewReader(""), &lo, &le); c != exitOK {
		lo.Reset()
		le.Reset()
		if c := run(context.Background(), []string{"token", "list", "--format", "json"}, strings.NewReader(""), &lo, &le); c != exitOK {
			t.Fatalf("token list: %s", le.String())
		}
	}
	ids := regexp.MustCompile(`"id":\s*"(tok_[^"]+)"`).FindAllStringSubmatch(lo.String(), -1)
	if len(ids) < 3 {
		t.Fatalf("the job used %d tokens: %s", len(ids), lo.String())
	}
	traced := map[string]int64{}
	var traceTotal, traceBytes int64
	for _, id := range ids {
		var to, te bytes.Buffer
		if c := run(context.Background(), []string{"trace", id[1], "--format", "json", "--no-live"}, strings.NewReader(""), &to, &te); c != exitOK {
			t.Fatalf("trace %s: %s", id[1], te.String())
		}
		for _, f := range held {
			if strings.Contains(to.String(), f) {
				t.Fatalf("trace %s prints (part of) a held key", id[1])
			}
		}
		var rep struct {
			Usage struct {
				Bytes   int64                    `json:"bytes"`
				Total   struct{ Requests int64 } `json:"total"`
				ByModel []struct {
					Model    string `json:"model"`
					Provider string `json:"provider"`
					Requests int64  `json:"requests"`
				} `json:"by_model"`
			} `json:"usage"`
			Token struct {
				ID string `json:"id"`
			} `json:"token"`
		}
		if err := json.Unmarshal(to.Bytes(), &rep); err != nil || rep.Token.ID != id[1] {
			t.Fatalf("trace %s: %v\n%s", id[1], err, to.String())
		}
		traceTotal += rep.Usage.Total.Requests
		traceBytes += rep.Usage.Bytes
		for _, m := range rep.Usage.ByModel {
			traced[m.Provider+" "+m.Model] += m.Requests
		}
	}
	for a := range actions {
		prov, model, _ := strings.Cut(a, " ")
		found := false
		for k := range traced {
			if p, m, _ := strings.Cut(k, " "); p == prov && strings.HasPrefix(m, model) {
				found = true
			}
		}
		if !found {
			t.Errorf("aicred trace of the job's tokens lacks %s: %v", a, traced)
		}
	}
	if traceTotal != usageTotal {
		t.Errorf("aicred trace of the job's tokens counts %d requests, aicred usage %d", traceTotal, usageTotal)
	}
	// The bytes moved: at least the dataset read each epoch and the
	// weights committed (base64, in an NDJSON line).
	if floor := int64(epochs*12 + len(weights)*4/3); traceBytes < floor {
		t.Errorf("aicred trace of the job's tokens counts %d bytes moved, fewer than the job moved (%d)", traceBytes, floor)
	}
	t.Logf("%d requests over %d tokens, %d bytes moved by the fence and the ML stack surfaces", traceTotal, len(ids), traceBytes)
}

// envValue is the value of k in a dump of NAME=VALUE lines.
func envValue(env, k string) string {
	for line := range strings.SplitSeq(env, "\n") {
		if v, ok := strings.CutPrefix(line, k+"="); ok {
			return v
		}
	}
	return ""
}
