package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/aicred/aicred/seal"
	"github.com/aicred/aicred/sqlite"
)

// repoRoot is the module root, two levels above this package.
const repoRoot = "../.."

// envNames are the environment variables aicred reads.
var envNames = []string{seal.EnvKey, seal.EnvKeyFile, sqlite.EnvStore, "AICRED_SERVER"}

// checkServeConfig runs `aicred serve --check` on a configuration file,
// in-process, from the repository root (examples name files relative to it).
func checkServeConfig(t *testing.T, path string) {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	// A subtest, so the working directory is restored when it ends.
	t.Run("serve --check", func(t *testing.T) {
		t.Chdir(root)
		r := runCLI(t, "", "serve", "--check", "--config", abs)
		if r.code != exitOK || strings.TrimSpace(r.stdout) != "configuration OK" {
			t.Errorf("serve --check %s: exit %d, stdout %q, stderr %q", path, r.code, r.stdout, r.stderr)
		}
	})
}

// checkCommandLine checks that args name an aicred command and that every
// flag in them exists on it.
func checkCommandLine(t *testing.T, args []string) {
	t.Helper()
	root := newRootCmd(&app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Fatalf("%q names no aicred command: %v", args, err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%q: %v", args, err)
	}
}

// listenPort returns the port of a serve configuration's listen address,
// DefaultListen's when it sets none.
func listenPort(t *testing.T, data []byte) int {
	t.Helper()
	var cfg struct {
		Listen string `yaml:"listen"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	_, p, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func defaultPort(t *testing.T) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(DefaultListen)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// serveRoutes are the GET routes `aicred serve` registers outside the
// gateway, read from serve.go: "GET /healthz" gives /healthz.
func serveRoutes(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("serve.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`mux\.Handle\("GET (/[^"]*)"`).FindAllSubmatch(src, -1) {
		out = append(out, string(m[1]))
	}
	if len(out) == 0 {
		t.Fatal("no GET route found in serve.go")
	}
	return out
}

// TestExamplesPassServeCheck: every configuration in examples/ is one
// `aicred serve --check` accepts.
func TestExamplesPassServeCheck(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"container.yaml", "github-actions.yaml", "kubernetes.yaml", "local-dev.yaml", "multi-provider.yaml"}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("examples/%s is missing", w)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { checkServeConfig(t, f) })
	}
}

// A dockerInstr is one Dockerfile instruction with continuations joined.
type dockerInstr struct {
	cmd, args string
	line      int
}

func parseDockerfile(t *testing.T, data []byte) []dockerInstr {
	t.Helper()
	var out []dockerInstr
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// execForm decodes a JSON-array instruction argument (["a", "b"]).
func execForm(t *testing.T, in dockerInstr) []string {
	t.Helper()
	var v []string
	if err := yaml.Unmarshal([]byte(in.args), &v); err != nil || !strings.HasPrefix(in.args, "[") {
		t.Fatalf("Dockerfile line %d: %s is not in exec form: %s", in.line, in.cmd, in.args)
	}
	return v
}

// TestDockerfile checks the image's build without a Docker engine: a
// multi-stage build of a static, stripped binary, a non-root final stage,
// the port serve listens on, and a default command aicred accepts with a
// configuration serve --check accepts.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	instrs := parseDockerfile(t, data)
	type stage struct {
		base, name string
		instrs     []dockerInstr
	}
	var stages []*stage
	for _, in := range instrs {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := &stage{base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("line %d: %s before FROM", in.line, in.cmd)
			}
			continue
		}
		last := stages[len(stages)-1]
		last.instrs = append(last.instrs, in)
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.base, "golang:1.26") || build.name == "" {
		t.Errorf("builder stage %q AS %q: want a named golang:1.26 stage", build.base, build.name)
	}
	staticBuild := false
	for _, in := range build.instrs {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "./cmd/aicred"} {
				if !strings.Contains(in.args, want) {
					t.Errorf("line %d: go build lacks %s", in.line, want)
				}
			}
			staticBuild = true
		}
	}
	if !staticBuild {
		t.Error("the builder stage runs no go build")
	}

	var user, entrypoint, cmd []string
	var exposed []int
	copied := map[string]string{} // destination -> source in the build context
	fromBuild := false
	for _, in := range final.instrs {
		switch in.cmd {
		case "USER":
			user = strings.Split(in.args, ":")
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					t.Errorf("line %d: EXPOSE %s", in.line, p)
				}
				exposed = append(exposed, n)
			}
		case "ENTRYPOINT":
			entrypoint = execForm(t, in)
		case "CMD":
			cmd = execForm(t, in)
		case "COPY":
			f := strings.Fields(in.args)
			if strings.HasPrefix(f[0], "--from="+build.name) {
				fromBuild = true
			} else if len(f) == 2 {
				copied[f[1]] = f[0]
			}
		}
	}
	nonrootBase := strings.HasSuffix(final.base, ":nonroot") || strings.Contains(final.base, "distroless/static")
	switch {
	case len(user) > 0 && (user[0] == "root" || user[0] == "0"):
		t.Errorf("final stage runs as %s", user[0])
	case len(user) == 0 && !strings.HasSuffix(final.base, ":nonroot"):
		t.Errorf("final stage %s sets no USER and its base is not a nonroot image", final.base)
	case !nonrootBase:
		t.Errorf("final stage %s: want a minimal static base", final.base)
	}
	if !fromBuild {
		t.Error("the final stage copies nothing from the builder")
	}
	if !slices.Equal(exposed, []int{defaultPort(t)}) {
		t.Errorf("EXPOSE %v, want serve's port %d", exposed, defaultPort(t))
	}
	if !slices.Equal(entrypoint, []string{"/aicred"}) {
		t.Errorf("ENTRYPOINT %q", entrypoint)
	}
	if len(cmd) == 0 || cmd[0] != "serve" {
		t.Fatalf("CMD %q: want serve", cmd)
	}
	checkCommandLine(t, cmd)
	i := slices.Index(cmd, "--config")
	if i < 0 || i+1 >= len(cmd) {
		t.Fatalf("CMD %q names no --config", cmd)
	}
	src, ok := copied[cmd[i+1]]
	if !ok {
		t.Fatalf("CMD reads %s, which the image does not hold", cmd[i+1])
	}
	cfg, err := os.ReadFile(filepath.Join(repoRoot, src))
	if err != nil {
		t.Fatal(err)
	}
	if p := listenPort(t, cfg); p != defaultPort(t) {
		t.Errorf("%s listens on port %d, the image exposes %d", src, p, defaultPort(t))
	}
	if !bytes.Contains(cfg, []byte("listen: 0.0.0.0:")) {
		t.Errorf("%s must listen on every interface of the container", src)
	}
	checkServeConfig(t, filepath.Join(repoRoot, src))

	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "**/.env"} {
		if !slices.Contains(strings.Split(string(ignore), "\n"), want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	if bytes.Contains(ignore, []byte("\nexamples")) {
		t.Error(".dockerignore drops examples/, which the image copies")
	}
}

// k8sObject is the part of a Kubernetes object the checks read.
type k8sObject map[string]any

func (o k8sObject) get(path ...any) any {
	var v any = map[string]any(o)
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[p]
		case int:
			s, ok := v.([]any)
			if !ok || p >= len(s) {
				return nil
			}
			v = s[p]
		}
	}
	return v
}

func (o k8sObject) str(path ...any) string { s, _ := o.get(path...).(string); return s }

func loadManifests(t *testing.T) map[string]k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	objs := map[string]k8sObject{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(fh)
		for {
			// Into a plain map: nested mappings then decode as
			// map[string]any too (into a k8sObject they would take its type).
			var m map[string]any
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m == nil {
				continue
			}
			o := k8sObject(m)
			kind := o.str("kind")
			if kind == "" || o.str("apiVersion") == "" {
				t.Fatalf("%s: a document without kind or apiVersion", f)
			}
			objs[kind] = o
		}
		fh.Close()
	}
	return objs
}

// TestKubernetesManifests checks deploy/kubernetes against aicred itself:
// the ConfigMap's configuration passes serve --check and names the port the
// container exposes, the probes hit routes serve has, the container's
// command line and environment are ones aicred reads, and the pod runs as
// non-root on a read-only root filesystem.
func TestKubernetesManifests(t *testing.T) {
	objs := loadManifests(t)
	for _, kind := range []string{"Deployment", "ConfigMap", "Secret", "ServiceAccount", "Service", "Kustomization"} {
		if objs[kind] == nil {
			t.Fatalf("no %s in deploy/kubernetes", kind)
		}
	}
	dep, cm, sec, svc := objs["Deployment"], objs["ConfigMap"], objs["Secret"], objs["Service"]

	if r, _ := dep.get("spec", "replicas").(int); r != 2 {
		t.Errorf("replicas %v, want 2", dep.get("spec", "replicas"))
	}
	pod := k8sObject(dep.get("spec", "template", "spec").(map[string]any))
	if pod.str("serviceAccountName") != objs["ServiceAccount"].str("metadata", "name") {
		t.Errorf("serviceAccountName %q does not name the ServiceAccount", pod.str("serviceAccountName"))
	}
	if pod.get("securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext lacks runAsNonRoot: true")
	}
	c := k8sObject(pod.get("containers", 0).(map[string]any))
	if c.get("securityContext", "readOnlyRootFilesystem") != true || c.get("securityContext", "allowPrivilegeEscalation") != false {
		t.Error("container securityContext: want readOnlyRootFilesystem true and allowPrivilegeEscalation false")
	}
	if c.get("resources", "requests") == nil || c.get("resources", "limits", "memory") == nil {
		t.Error("container lacks resource requests or a memory limit")
	}

	// Ports: the ConfigMap's listen, the container port, the probes, the Service.
	data := cm.str("data", "aicred.yaml")
	if data == "" {
		t.Fatal("the ConfigMap holds no aicred.yaml")
	}
	port := listenPort(t, []byte(data))
	portNames := map[string]int{}
	for _, p := range c.get("ports").([]any) {
		p := k8sObject(p.(map[string]any))
		n, _ := p.get("containerPort").(int)
		portNames[p.str("name")] = n
	}
	if portNames["http"] != port {
		t.Errorf("container port %v, the ConfigMap listens on %d", portNames, port)
	}
	routes := serveRoutes(t)
	for probe, want := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		path := c.str(probe, "httpGet", "path")
		if path != want || !slices.Contains(routes, path) {
			t.Errorf("%s path %q: want %s, a route of serve (%v)", probe, path, want, routes)
		}
		p := c.get(probe, "httpGet", "port")
		if name, ok := p.(string); ok {
			p = portNames[name]
		}
		if p != port {
			t.Errorf("%s port %v, serve listens on %d", probe, c.get(probe, "httpGet", "port"), port)
		}
	}
	if tp := svc.get("spec", "ports", 0, "targetPort"); tp != "http" && tp != port {
		t.Errorf("Service targetPort %v reaches no container port", tp)
	}
	sel, _ := svc.get("spec", "selector").(map[string]any)
	labels, _ := dep.get("spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range sel {
		if labels[k] != v {
			t.Errorf("Service selector %s=%v does not select the pods", k, v)
		}
	}

	// Command line: a serve command with flags aicred has, reading the
	// ConfigMap where it is mounted.
	args := []string{}
	for _, a := range c.get("args").([]any) {
		args = append(args, a.(string))
	}
	checkCommandLine(t, args)
	i := slices.Index(args, "--config")
	if args[0] != "serve" || i < 0 || i+1 >= len(args) {
		t.Fatalf("args %q: want serve --config FILE", args)
	}
	mounted := false
	for _, m := range c.get("volumeMounts").([]any) {
		m := k8sObject(m.(map[string]any))
		for _, v := range pod.get("volumes").([]any) {
			v := k8sObject(v.(map[string]any))
			if v.str("name") == m.str("name") && v.str("configMap", "name") == cm.str("metadata", "name") &&
				filepath.Join(m.str("mountPath"), "aicred.yaml") == args[i+1] {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("--config %s is not the ConfigMap's aicred.yaml as mounted", args[i+1])
	}

	// Environment: names aicred reads, from keys the Secret has.
	secretKeys, _ := sec.get("stringData").(map[string]any)
	env := map[string]bool{}
	for _, e := range c.get("env").([]any) {
		e := k8sObject(e.(map[string]any))
		name := e.str("name")
		env[name] = true
		if !slices.Contains(envNames, name) {
			t.Errorf("env %s is not one aicred reads (%v)", name, envNames)
		}
		if ref := e.str("valueFrom", "secretKeyRef", "name"); ref != "" {
			key := e.str("valueFrom", "secretKeyRef", "key")
			if ref != sec.str("metadata", "name") || secretKeys[key] == nil {
				t.Errorf("env %s reads %s/%s, which the Secret does not hold", name, ref, key)
			}
		}
	}
	for _, want := range []string{seal.EnvKey, sqlite.EnvStore} {
		if !env[want] {
			t.Errorf("the container does not set %s", want)
		}
	}
	for k, v := range secretKeys {
		if s, _ := v.(string); !strings.HasPrefix(s, "REPLACE_WITH_") {
			t.Errorf("Secret %s holds a value, not an instruction to replace it", k)
		}
	}

	// The configuration itself.
	p := filepath.Join(t.TempDir(), "aicred.yaml")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	checkServeConfig(t, p)
}
