package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/openai/openai-go/v3"

	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sigv4"
)

// TestRunHelperProcess is the job `aicred run` runs in these tests (the
// test binary re-executed); it does nothing as a test of its own.
func TestRunHelperProcess(t *testing.T) {
	switch os.Getenv("AICRED_RUN_HELPER") {
	case "":
		return
	case "job":
		os.Exit(helperJob())
	case "sigterm":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		fmt.Println("ready")
		select {
		case <-sig:
			fmt.Println("job got SIGTERM")
			os.Exit(42)
		case <-time.After(30 * time.Second):
			os.Exit(1)
		}
	}
}

// helperJob reads a dataset object, calls a model through the OpenAI SDK
// and writes a result object, over and over for AICRED_RUN_HELPER_SECONDS,
// using only the variables aicred run set; then exits with
// AICRED_RUN_HELPER_EXIT.
func helperJob() int {
	if f := os.Getenv("AICRED_RUN_HELPER_ENVFILE"); f != "" {
		_ = os.WriteFile(f, []byte(strings.Join(os.Environ(), "\n")), 0o600)
	}
	ctx := context.Background()
	oai := openai.NewClient() // OPENAI_BASE_URL, OPENAI_API_KEY
	s3c := s3.New(s3.Options{
		Region: os.Getenv("AWS_REGION"), BaseEndpoint: aws.String(os.Getenv("AWS_ENDPOINT_URL_S3")), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}, nil
		}),
	})
	secs, _ := strconv.Atoi(os.Getenv("AICRED_RUN_HELPER_SECONDS"))
	end := time.Now().Add(time.Duration(secs) * time.Second)
	for i := 0; ; i++ {
		obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("datasets"), Key: aws.String("train/data.csv")})
		if err != nil {
			fmt.Fprintln(os.Stderr, "job: read dataset:", err)
			return 3
		}
		data, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		resp, err := oai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("summarize " + string(data[:10]))}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "job: model call:", err)
			return 4
		}
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("models"), Key: aws.String(fmt.Sprintf("runs/r1/step-%d.txt", i)),
			Body: strings.NewReader(resp.Choices[0].Message.Content)}); err != nil {
			fmt.Fprintln(os.Stderr, "job: write result:", err)
			return 5
		}
		// Out of scope: refused by the fence.
		if _, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("datasets"), Key: aws.String("private/x")}); err == nil {
			fmt.Fprintln(os.Stderr, "job: an out-of-scope read succeeded")
			return 6
		}
		if time.Now().After(end) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	n, _ := strconv.Atoi(os.Getenv("AICRED_RUN_HELPER_EXIT"))
	return n
}

// runServe is `aicred serve` with a 1-minute role that reaches an OpenAI
// fake and an S3 store (gofakes3 behind a check that verifies the SigV4
// signature of every request with the held key, as S3 would), and a
// workload JWT file kept fresh as a platform would.
type runServe struct {
	base, jwtFile string
	held          []string
	s3            *s3mem.Backend
	oai           *fakeProvider
	upstreamCalls func() int
	// s3Paths are the paths the store was asked for.
	s3Paths func() []string
}

// runServeOpts extend the server startRunServe starts.
type runServeOpts struct {
	// gateway is more of the gateway section, after its upstreams'
	// openai and anthropic lines (indented as they are: more upstreams
	// at four spaces, gateway keys at two).
	gateway string
	// role replaces the sdk-e2e role.
	role string
}

const runRoleYAML = `  - name: sdk-e2e
    providers: [openai]
    credentials: [hc_e2e_openai]
    models: ["gpt-4o-mini*"]
    operations: [chat]
    ttl: 1m
    budget: {per_token_usd: 1000, per_workload_daily_usd: 10000}
    storage:
      - {store: main, bucket: datasets, prefix: train/, operations: [list, read]}
      - {store: main, bucket: models, prefix: runs/, operations: [list, read, write]}
`

func startRunServe(t *testing.T) *runServe { return startRunServeWith(t, runServeOpts{}) }

func startRunServeWith(t *testing.T, o runServeOpts) *runServe {
	t.Helper()
	if o.role == "" {
		o.role = runRoleYAML
	}
	be := s3mem.New()
	for _, b := range []string{"datasets", "models", "secrets"} {
		if err := be.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, obj := range []struct{ bucket, key, body string }{
		{"datasets", "train/data.csv", "a,b,c\n1,2,3\n"},
		{"secrets", "keys.csv", "not for the job\n"},
	} {
		if _, err := be.PutObject(obj.bucket, obj.key, map[string]string{}, strings.NewReader(obj.body), int64(len(obj.body)), nil); err != nil {
			t.Fatal(err)
		}
	}
	g := provider.NewGen(41)
	s3AKID, s3Secret := "AKIA"+g.UpperNum(16), g.B64(40)
	s3Key := s3AKID + ":" + s3Secret
	var mu sync.Mutex
	var paths []string
	fake := gofakes3.New(be, gofakes3.WithTimeSkewLimit(0)).Server()
	s3srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		s, err := sigv4.Parse(r, "s3")
		if err == nil && s.Credential.AccessKeyID != s3AKID {
			err = &sigv4.Error{Status: http.StatusForbidden, Code: sigv4.CodeInvalidAccessKeyID, Message: "not the held key"}
		}
		if err == nil {
			_, err = s.Verify(r, s3Secret)
		}
		if err != nil {
			t.Errorf("store: %s %s: signature check failed: %v", r.Method, r.URL.Path, err)
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(s3srv.Close)
	e := startServeWith(t, 41, serveOpts{
		gatewayYAML: func(oai, ant string) string {
			return "  upstreams:\n    openai: " + oai + "\n    anthropic: " + ant + "\n" + o.gateway + "\nstorage:\n  stores:\n    - name: main\n      endpoint: " + s3srv.URL +
				"\n      region: eu-west-1\n      credential: hc_s3"
		},
		roleYAML: o.role,
	})
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"credential", "add", "--provider", "aws", "--kind", "access-key-id", "--id", "hc_s3"},
		strings.NewReader(s3Key+"\n"), &out, &errb); code != exitOK {
		t.Fatalf("credential add: %s", errb.String())
	}
	rs := &runServe{base: e.base, held: append(e.held, secretForms(s3Key, s3Secret)...), s3: be, oai: e.oai,
		upstreamCalls: func() int { mu.Lock(); defer mu.Unlock(); return len(paths) },
		s3Paths:       func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(paths) }}
	// The workload's identity token, rewritten every second like a
	// projected service-account token.
	is := e.issuer
	rs.jwtFile = filepath.Join(t.TempDir(), "jwt")
	write := func() {
		_ = os.WriteFile(rs.jwtFile, []byte(is.workloadJWT(t, "repo:acme/agent:ref:refs/heads/main")), 0o600)
	}
	write()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				write()
			}
		}
	}()
	return rs
}

// TestRun runs a job under `aicred run` that reads a dataset from object
// storage, calls a model through the OpenAI SDK and writes results, for
// longer than the agent keeps a token (--refresh-before makes it exchange
// every few seconds; the older tokens are revoked mid-run, as expiry
// would end them). The job's environment holds no token and no held key,
// its exit code comes back, and every action is in `aicred usage`.
func TestRun(t *testing.T) {
	rs := startRunServe(t)
	envFile := filepath.Join(t.TempDir(), "env")
	t.Setenv("AICRED_RUN_HELPER", "job")
	t.Setenv("AICRED_RUN_HELPER_SECONDS", "8")
	t.Setenv("AICRED_RUN_HELPER_EXIT", "7")
	t.Setenv("AICRED_RUN_HELPER_ENVFILE", envFile)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Mid-run, revoke every token but the newest, twice: the job must go
	// on with the agent's current one.
	revoked := make(chan int, 1)
	go func() {
		n := 0
		for _, at := range []time.Duration{4 * time.Second, 7 * time.Second} {
			select {
			case <-ctx.Done():
				revoked <- n
				return
			case <-time.After(at - time.Duration(n)*0):
			}
			n += revokeAllButNewest(t)
		}
		revoked <- n
	}()
	var out, errb lockedBuffer
	code := run(ctx, []string{"run", "--server", rs.base, "--identity-file", rs.jwtFile, "--role", "sdk-e2e", "--refresh-before", "57s",
		"--", os.Args[0], "-test.run=^TestRunHelperProcess$"}, strings.NewReader(""), &out, &errb)
	if code != 7 {
		t.Fatalf("aicred run exit %d, want the job's 7\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if n := <-revoked; n < 2 {
		t.Fatalf("only %d older tokens were revoked mid-run: the agent did not refresh", n)
	}
	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(rs.held, provider.TokenPrefixWorkload) {
		if bytes.Contains(env, []byte(f)) {
			t.Fatalf("the job's environment holds a token or (part of) a held key")
		}
	}
	for _, v := range []string{"OPENAI_BASE_URL=http://127.0.0.1:", "AWS_ENDPOINT_URL_S3=http://127.0.0.1:", "HF_ENDPOINT=", "MLFLOW_TRACKING_URI=", "WANDB_BASE_URL=", "ANTHROPIC_BASE_URL="} {
		if !bytes.Contains(env, []byte(v)) {
			t.Errorf("the job's environment lacks %s", v)
		}
	}

	// Every action is in `aicred usage`: model calls and storage bytes,
	// across several tokens.
	var uo, ue bytes.Buffer
	if c := run(context.Background(), []string{"usage", "--by", "provider,model", "--format", "json"}, strings.NewReader(""), &uo, &ue); c != exitOK {
		t.Fatalf("usage: %s", ue.String())
	}
	for _, want := range []string{`"provider": "openai"`, `"provider": "s3"`, `"model": "main/datasets"`, `"model": "main/models"`} {
		if !strings.Contains(uo.String(), want) {
			t.Errorf("aicred usage lacks %s:\n%s", want, uo.String())
		}
	}
	objs, err := rs.s3.ListBucket("models", &gofakes3.Prefix{Prefix: "runs/r1/", HasPrefix: true}, gofakes3.ListBucketPage{})
	if err != nil || len(objs.Contents) < 5 {
		t.Fatalf("the job wrote %v results (%v)", objs, err)
	}
}

// revokeAllButNewest revokes the workload's active tokens except the
// newest, with the CLI, and returns how many.
func revokeAllButNewest(t *testing.T) int {
	var out, errb bytes.Buffer
	if c := run(context.Background(), []string{"token", "list", "--format", "json"}, strings.NewReader(""), &out, &errb); c != exitOK {
		t.Errorf("token list: %s", errb.String())
		return 0
	}
	var grants []struct {
		ID       string    `json:"id"`
		IssuedAt time.Time `json:"issued_at"`
	}
	if err := json.Unmarshal(out.Bytes(), &grants); err != nil {
		var wrapped struct {
			Tokens []struct {
				ID       string    `json:"id"`
				IssuedAt time.Time `json:"issued_at"`
			} `json:"tokens"`
		}
		if err2 := json.Unmarshal(out.Bytes(), &wrapped); err2 != nil {
			t.Errorf("token list: %v: %s", err, out.String())
			return 0
		}
		for _, g := range wrapped.Tokens {
			grants = append(grants, struct {
				ID       string    `json:"id"`
				IssuedAt time.Time `json:"issued_at"`
			}(g))
		}
	}
	newest := 0
	for i, g := range grants {
		if g.IssuedAt.After(grants[newest].IssuedAt) {
			newest = i
		}
	}
	n := 0
	for i, g := range grants {
		if i == newest {
			continue
		}
		var o, e bytes.Buffer
		if c := run(context.Background(), []string{"token", "revoke", "--id", g.ID, "--reason", "test: as if expired"}, strings.NewReader(""), &o, &e); c != exitOK {
			t.Errorf("token revoke: %s", e.String())
			continue
		}
		n++
	}
	return n
}

// TestRunSignalsAndExit: SIGTERM to `aicred run` reaches the job, whose
// exit status aicred run returns.
func TestRunSignalsAndExit(t *testing.T) {
	rs := startRunServe(t)
	// The job is the test binary again, not aicred's main.
	cmd := exec.Command(os.Args[0], "run", "--server", rs.base, "--identity-file", rs.jwtFile, "--",
		"env", "-u", "AICRED_TEST_EXEC_MAIN", os.Args[0], "-test.run=^TestRunHelperProcess$")
	cmd.Env = append(os.Environ(), "AICRED_TEST_EXEC_MAIN=1", "AICRED_RUN_HELPER=sigterm")
	stdout, _ := cmd.StdoutPipe()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "ready" {
		cmd.Process.Kill()
		t.Fatalf("the job did not start: %q %s", sc.Text(), errb.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdout)
	err := cmd.Wait()
	if cmd.ProcessState.ExitCode() != 42 || !strings.Contains(string(rest), "job got SIGTERM") {
		t.Fatalf("exit %d (%v), job said %q, stderr %s", cmd.ProcessState.ExitCode(), err, rest, errb.String())
	}

	// A job that fails to start, and one killed by a signal.
	var out, e2 bytes.Buffer
	if c := run(context.Background(), []string{"run", "--server", rs.base, "--identity-file", rs.jwtFile, "--", "/nonexistent/job"}, strings.NewReader(""), &out, &e2); c != exitError {
		t.Fatalf("missing job: exit %d", c)
	}
	if c := run(context.Background(), []string{"run", "--server", rs.base, "--identity-file", rs.jwtFile, "--", "sh", "-c", "kill -KILL $$"}, strings.NewReader(""), &out, &e2); c != 128+9 {
		t.Fatalf("killed job: exit %d, want 137", c)
	}
	// --role refuses a token of another role.
	if c := run(context.Background(), []string{"run", "--server", rs.base, "--identity-file", rs.jwtFile, "--role", "other", "--", "true"}, strings.NewReader(""), &out, &e2); c != exitError {
		t.Fatalf("--role other: exit %d", c)
	}
	// --credential-process prints the fence pair as AWS expects it.
	out.Reset()
	if c := run(context.Background(), []string{"run", "--server", rs.base, "--identity-file", rs.jwtFile, "--credential-process"}, strings.NewReader(""), &out, &e2); c != exitOK {
		t.Fatalf("--credential-process: %s", e2.String())
	}
	var pc map[string]any
	if err := json.Unmarshal(out.Bytes(), &pc); err != nil || pc["Version"] != float64(1) || !strings.HasPrefix(fmt.Sprint(pc["AccessKeyId"]), "AKAC") || pc["Expiration"] == "" {
		t.Fatalf("credential_process output: %v %s", err, out.String())
	}
}
