package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sqlite"
)

// quickstartBlock returns the lines of the first sh code block under the
// README's "## Quickstart" heading, verbatim.
func quickstartBlock(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n## Quickstart\n")
	if !ok {
		t.Fatal("README.md has no ## Quickstart section")
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatal("the quickstart has no sh code block")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the quickstart code block is not closed")
	}
	return strings.Split(strings.TrimRight(block, "\n"), "\n")
}

// shellWords splits a command line as sh would for the forms the
// quickstart uses: words, '...' (literal), "..." and bare words with $VAR
// expanded from env, and a comment after unquoted white space.
func shellWords(t *testing.T, line string, env map[string]string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	expand := func(s string, i int) (string, int) { // s[i] == '$'
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		if j == i+1 {
			t.Fatalf("quickstart: unsupported $ form in %q", line)
		}
		v, ok := env[s[i+1:j]]
		if !ok {
			t.Fatalf("quickstart: $%s is not set before %q", s[i+1:j], line)
		}
		return v, j
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
			i++
			if i < len(line) && line[i] == '#' {
				return words
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				t.Fatalf("quickstart: unclosed ' in %q", line)
			}
			cur.WriteString(line[i+1 : i+1+end])
			inWord, i = true, i+end+2
		case c == '"':
			i++
			for i < len(line) && line[i] != '"' {
				if line[i] == '$' {
					v, j := expand(line, i)
					cur.WriteString(v)
					i = j
					continue
				}
				cur.WriteByte(line[i])
				i++
			}
			if i == len(line) {
				t.Fatalf("quickstart: unclosed \" in %q", line)
			}
			inWord, i = true, i+1
		case c == '$':
			v, j := expand(line, i)
			cur.WriteString(v)
			inWord, i = true, j
		default:
			cur.WriteByte(c)
			inWord, i = true, i+1
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

var (
	assignment = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)
	capture    = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=\$\((.*)\)\s*(?:#.*)?$`)
)

// TestReadmeQuickstart runs the README's quickstart line by line, as a
// new user would from a clone, in a scratch copy of the files it names:
// aicred commands run in-process (run), "&" starts serve in the
// background, $(...) captures a command's output, curl becomes an HTTP
// request, and "python3 app.py" with OPENAI_BASE_URL and OPENAI_API_KEY
// becomes the official OpenAI Go SDK reading the same two variables. The
// only changes: serve listens on a free port instead of 8787, and its
// gateway's OpenAI upstream is a local server answering as OpenAI
// documents.
func TestReadmeQuickstart(t *testing.T) {
	lines := quickstartBlock(t)
	if len(lines) > 15 {
		t.Errorf("the quickstart has %d lines; at most 15", len(lines))
	}

	work := t.TempDir()
	for _, f := range []string{"local-dev.yaml", "local-dev-jwks.json"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(work, "examples"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "examples", f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	g := provider.NewGen(21)
	key := "sk-proj-" + g.Alnum(74) + "T3BlbkFJ" + g.Alnum(74)
	writeFile(t, filepath.Join(work, "openai-key.txt"), key+"\n")
	// A leak for the scan to find.
	leaked := "sk-ant-api03-" + g.URL64(93) + "AA"
	if err := os.MkdirAll(filepath.Join(work, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(work, "app", ".env"), "ANTHROPIC_API_KEY="+leaked+"\n")

	oai := newFakeProvider(t, "openai", key, openAIChat)
	addr := freeAddr(t)
	cfgPath := filepath.Join(work, "examples", "local-dev.yaml")
	cfg, _ := os.ReadFile(cfgPath)
	if !strings.Contains(string(cfg), "listen: 127.0.0.1:8787\n") || strings.Contains(string(cfg), "\ngateway:") {
		t.Fatal("examples/local-dev.yaml changed: this test rewrites its listen line and adds a gateway section")
	}
	cfg = []byte(strings.Replace(string(cfg), "listen: 127.0.0.1:8787\n", "listen: "+addr+"\n", 1) +
		"\ngateway:\n  upstreams:\n    openai: " + oai.srv.URL + "\n")
	writeFile(t, cfgPath, string(cfg))

	home := filepath.Join(work, "home")
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_DATA_HOME", filepath.Join(home, ".local", "share"))
	for _, k := range []string{"AICRED_MASTER_KEY", "AICRED_STORE", "AICRED_CONFIG", "AICRED_SERVER", "OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"} {
		t.Setenv(k, "")
	}
	t.Chdir(work)

	env := map[string]string{}
	var serveErr lockedBuffer
	served := false
	sdkCalls, curlCalls := 0, 0
	ran := map[string]bool{}
	aicred := func(args []string, stdin io.Reader) result {
		var out, errb strings.Builder
		code := run(context.Background(), args, stdin, &out, &errb)
		return result{code, out.String(), errb.String()}
	}
	for n, raw := range lines {
		line := strings.ReplaceAll(raw, "127.0.0.1:8787", addr)
		where := fmt.Sprintf("quickstart line %d %q", n+1, raw)
		if m := capture.FindStringSubmatch(line); m != nil {
			// NAME=$(aicred ...)
			iw := shellWords(t, m[2], env)
			if iw[0] != "aicred" {
				t.Fatalf("%s: $(...) runs aicred only", where)
			}
			r := aicred(iw[1:], strings.NewReader(""))
			if r.code != exitOK {
				t.Fatalf("%s: exit %d: %s", where, r.code, r.stderr)
			}
			env[m[1]] = strings.TrimSpace(r.stdout)
			ran["capture"] = true
			continue
		}
		words := shellWords(t, line, env)
		if len(words) == 0 {
			continue
		}
		switch {
		case words[0] == "go":
			// This test is the code those lines build; both install forms
			// must be shown.
			if strings.Join(words, " ") != "go install ./cmd/aicred" || !strings.Contains(raw, "go install github.com/aicred/aicred/cmd/aicred@latest") {
				t.Errorf("%s: want go install ./cmd/aicred, and the @latest form in its comment", where)
			}
			ran["install"] = true
		case words[0] == "export":
			m := assignment.FindStringSubmatch(strings.Join(words[1:], " "))
			if m == nil {
				t.Fatalf("%s: export NAME=VALUE", where)
			}
			env[m[1]] = m[2]
			t.Setenv(m[1], m[2])
		case words[len(words)-1] == "&":
			if words[0] != "aicred" || words[1] != "serve" {
				t.Fatalf("%s: only aicred serve runs in the background", where)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, words[1:len(words)-1], strings.NewReader(""), io.Discard, &serveErr)
			}()
			t.Cleanup(func() { cancel(); <-done })
			waitHealthy(t, "http://"+addr)
			served = true
		case assignment.MatchString(words[0]):
			// NAME=VALUE ... python3 app.py: the OpenAI SDK, configured
			// by the environment alone.
			i := 0
			for ; i < len(words) && assignment.MatchString(words[i]); i++ {
				m := assignment.FindStringSubmatch(words[i])
				t.Setenv(m[1], m[2])
			}
			if strings.Join(words[i:], " ") != "python3 app.py" || os.Getenv("OPENAI_BASE_URL") == "" || os.Getenv("OPENAI_API_KEY") == "" {
				t.Fatalf("%s: want OPENAI_BASE_URL=... OPENAI_API_KEY=... python3 app.py", where)
			}
			client := openai.NewClient(option.WithMaxRetries(0)) // reads OPENAI_BASE_URL and OPENAI_API_KEY
			resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
			})
			if err != nil || resp.Choices[0].Message.Content != "Hello!" {
				t.Fatalf("%s: the SDK through the gateway: %v", where, err)
			}
			sdkCalls++
		case words[0] == "curl":
			var hdr []string
			var body, u string
			for i := 1; i < len(words); i++ {
				switch words[i] {
				case "-s":
				case "-H":
					i++
					hdr = append(hdr, words[i])
				case "-d":
					i++
					body = words[i]
				default:
					u = words[i]
				}
			}
			req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
			if err != nil || body == "" {
				t.Fatalf("%s: %v", where, err)
			}
			for _, h := range hdr {
				k, v, _ := strings.Cut(h, ": ")
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), `"content":"Hello!"`) {
				t.Fatalf("%s: HTTP %d %s", where, resp.StatusCode, got)
			}
			curlCalls++
		case words[0] == "aicred":
			args := words[1:]
			stdin := io.Reader(strings.NewReader(""))
			if k := len(args); k >= 2 && args[k-2] == "<" {
				f, err := os.Open(args[k-1])
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				defer f.Close()
				stdin, args = bufio.NewReader(f), args[:k-2]
			}
			r := aicred(args, stdin)
			ok := r.code == exitOK || args[0] == "scan" && r.code == exitFindings
			if !ok {
				t.Fatalf("%s: exit %d: %s", where, r.code, r.stderr)
			}
			if args[0] == "scan" && !strings.Contains(strings.Join(args, " "), "--record") && (r.code != exitFindings || !strings.Contains(r.stdout, "app/.env")) {
				t.Errorf("%s: the planted leak was not found: %d %s", where, r.code, r.stdout)
			}
			ran[args[0]] = true
		default:
			t.Fatalf("%s: this test does not know how to run %q", where, words[0])
		}
	}
	for _, step := range []string{"install", "scan", "report", "credential", "capture"} {
		if !ran[step] {
			t.Errorf("the quickstart has no %s step", step)
		}
	}
	if !served || curlCalls != 1 || sdkCalls != 1 || oai.callCount() != 2 {
		t.Fatalf("served=%v curl=%d sdk=%d upstream calls=%d", served, curlCalls, sdkCalls, oai.callCount())
	}
	if fi, err := os.Stat(filepath.Join(work, "posture.html")); err != nil || fi.Size() == 0 {
		t.Errorf("no posture report: %v", err)
	}
	// Everything landed in the store the configuration names.
	st, err := sqlite.Open(context.Background(), filepath.Join(work, "aicred-dev.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.GetHeldCredential(context.Background(), "hc_openai_dev"); err != nil {
		t.Errorf("the held key is not in the configured store: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, ".local", "share", "aicred")); err == nil {
		t.Error("a command used the default store instead of the configured one")
	}
	if strings.Contains(serveErr.String(), key) || strings.Contains(serveErr.String(), env["TOKEN"]) {
		t.Error("serve logged the key or the token")
	}
}
