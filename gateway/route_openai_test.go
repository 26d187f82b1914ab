package gateway

import (
	"bytes"
	"context"
	"errors"
	"github.com/aicred/aicred"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
)

// openAIAPI is a local upstream with the documented shape of OpenAI's
// non-chat routes: methods and paths as in the API reference, usage where
// the API reports it.
func openAIAPI(t *testing.T) http.HandlerFunc {
	mux := http.NewServeMux()
	js := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Request-Id", "req_route")
			io.WriteString(w, body)
		}
	}
	mux.HandleFunc("POST /v1/chat/completions", openAIJSON)
	mux.HandleFunc("POST /v1/embeddings", js(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`))
	mux.HandleFunc("GET /v1/models", js(`{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"openai"}]}`))
	mux.HandleFunc("GET /v1/models/{id}", js(`{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"openai"}`))
	mux.HandleFunc("POST /v1/images/generations", js(`{"created":1,"data":[{"url":"https://img.test/1"},{"url":"https://img.test/2"}]}`))
	mux.HandleFunc("POST /v1/images/edits", js(`{"created":1,"data":[{"url":"https://img.test/3"}]}`))
	mux.HandleFunc("POST /v1/audio/transcriptions", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("model") == "" {
			http.Error(w, "no model", 400)
			return
		}
		js(`{"text":"hello","usage":{"type":"duration","seconds":61.2}}`)(w, r)
	})
	mux.HandleFunc("POST /v1/audio/speech", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Write([]byte("ID3-fake-audio"))
	})
	mux.HandleFunc("POST /v1/files", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("purpose") == "" {
			http.Error(w, "no purpose", 400)
			return
		}
		js(`{"id":"file-abc","object":"file","bytes":5,"created_at":1,"filename":"d.jsonl","purpose":"batch","status":"processed"}`)(w, r)
	})
	mux.HandleFunc("GET /v1/files", js(`{"object":"list","data":[]}`))
	mux.HandleFunc("GET /v1/files/{id}", js(`{"id":"file-abc","object":"file","bytes":5,"created_at":1,"filename":"d.jsonl","purpose":"batch"}`))
	mux.HandleFunc("DELETE /v1/files/{id}", js(`{"id":"file-abc","object":"file","deleted":true}`))
	mux.HandleFunc("GET /v1/files/{id}/content", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}\n") })
	job := js(`{"id":"ftjob-1","object":"fine_tuning.job","model":"gpt-4o-mini","status":"queued"}`)
	mux.HandleFunc("POST /v1/fine_tuning/jobs", job)
	mux.HandleFunc("GET /v1/fine_tuning/jobs", js(`{"object":"list","data":[]}`))
	mux.HandleFunc("GET /v1/fine_tuning/jobs/{id}", job)
	mux.HandleFunc("POST /v1/fine_tuning/jobs/{id}/cancel", job)
	mux.HandleFunc("GET /v1/fine_tuning/jobs/{id}/events", js(`{"object":"list","data":[]}`))
	batch := js(`{"id":"batch_1","object":"batch","endpoint":"/v1/chat/completions","status":"validating"}`)
	mux.HandleFunc("POST /v1/batches", batch)
	mux.HandleFunc("GET /v1/batches", js(`{"object":"list","data":[]}`))
	mux.HandleFunc("GET /v1/batches/{id}", batch)
	mux.HandleFunc("POST /v1/batches/{id}/cancel", batch)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("upstream: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	return mux.ServeHTTP
}

// form builds a multipart body with the fields in order; a field named
// "file" is a file part.
func form(fields ...[2]string) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if f[0] == "file" {
			w, _ := mw.CreateFormFile("file", "audio.mp3")
			w.Write([]byte(f[1]))
			continue
		}
		mw.WriteField(f[0], f[1])
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func (f *fixture) do(t *testing.T, method, path, token, ct string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOpenAIRoutes(t *testing.T) {
	f := newFixture(t, 40, nil)
	f.openai = openAIAPI(t)
	all, _ := f.issue(t, nil2gen(41), []string{"chat", "embeddings", "models", "images", "audio", "files", "fine-tuning", "batches",
		"provider:openai", "model:gpt-4o-mini", "model:text-embedding-3-small", "model:dall-e-2", "model:whisper-1", "model:tts-1"})
	noModels, _ := f.issue(t, nil2gen(42), []string{"models", "files", "batches", "fine-tuning", "provider:openai"})
	mpCT, mpBody := form([2]string{"file", "RIFF-audio-bytes"}, [2]string{"model", "whisper-1"})
	editCT, editBody := form([2]string{"image", "png"}, [2]string{"model", "dall-e-2"}, [2]string{"prompt", "a cat"})
	batchLine := `{"custom_id":"1","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":"x"}}` + "\n"
	upCT, upBody := form([2]string{"purpose", "batch"}, [2]string{"file", batchLine})
	for _, tc := range []struct {
		method, path, token, ct, body string
		op, model                     string
		cost                          float64
	}{
		{"POST", "/v1/embeddings", all, "application/json", `{"model":"text-embedding-3-small","input":"hello"}`, "embeddings", "text-embedding-3-small", 8 * 0.02 / 1e6},
		{"GET", "/v1/models", noModels, "", "", "models", "", 0},
		{"GET", "/openai/v1/models/gpt-4o-mini", noModels, "", "", "models", "", 0},
		// No model named: OpenAI runs dall-e-2, so that is authorized and priced.
		{"POST", "/v1/images/generations", all, "application/json", `{"prompt":"a cat","n":2}`, "images", "dall-e-2", 2 * 0.02},
		{"POST", "/v1/images/edits", all, editCT, string(editBody), "images", "dall-e-2", 0.02},
		// 61.2 s billed as 62 s at $0.006 a minute.
		{"POST", "/v1/audio/transcriptions", all, mpCT, string(mpBody), "audio", "whisper-1", 62 * 0.006 / 60},
		{"POST", "/v1/audio/speech", all, "application/json", `{"model":"tts-1","input":"hello world","voice":"alloy"}`, "audio", "tts-1", 11 * 15.0 / 1e6},
		{"POST", "/v1/files", all, upCT, string(upBody), "files", "", 0},
		{"GET", "/v1/files?purpose=batch", noModels, "", "", "files", "", 0},
		{"GET", "/v1/files/file-abc", noModels, "", "", "files", "", 0},
		{"DELETE", "/v1/files/file-abc", noModels, "", "", "files", "", 0},
		{"GET", "/v1/files/file-abc/content", noModels, "", "", "files", "", 0},
		{"POST", "/v1/fine_tuning/jobs", all, "application/json", `{"model":"gpt-4o-mini","training_file":"file-abc"}`, "fine-tuning", "gpt-4o-mini", 0},
		{"GET", "/v1/fine_tuning/jobs?limit=2", noModels, "", "", "fine-tuning", "", 0},
		{"GET", "/v1/fine_tuning/jobs/ftjob-1", noModels, "", "", "fine-tuning", "", 0},
		{"POST", "/v1/fine_tuning/jobs/ftjob-1/cancel", noModels, "", "", "fine-tuning", "", 0},
		{"GET", "/v1/fine_tuning/jobs/ftjob-1/events", noModels, "", "", "fine-tuning", "", 0},
		// The batch's lines (embeddings) must be within the creating token's scope.
		{"POST", "/v1/batches", all, "application/json", `{"input_file_id":"file-abc","endpoint":"/v1/chat/completions","completion_window":"24h"}`, "batches", "", 0},
		{"GET", "/v1/batches", noModels, "", "", "batches", "", 0},
		{"GET", "/v1/batches/batch_1", noModels, "", "", "batches", "", 0},
		{"POST", "/v1/batches/batch_1/cancel", noModels, "", "", "batches", "", 0},
	} {
		n := len(f.usage.Records())
		st, body := f.do(t, tc.method, tc.path, tc.token, tc.ct, []byte(tc.body))
		if st != 200 {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, st, body)
			continue
		}
		r := f.waitRecords(t, n+1)[n]
		if r.Operation != tc.op || r.Model != tc.model || r.Outcome != OutcomeOK || !near(r.CostUSD, tc.cost) || r.Estimated {
			t.Errorf("%s %s: record %+v, want op %s model %q cost %g", tc.method, tc.path, r, tc.op, tc.model, tc.cost)
		}
		// Unit-priced calls are recorded in their units, not as tokens.
		if want, ok := map[string]Usage{
			"/v1/images/generations":   {Units: 2, Unit: aicred.UnitImage},
			"/v1/audio/transcriptions": {Units: 62, Unit: aicred.UnitSecond},
			"/v1/audio/speech":         {Units: 11, Unit: aicred.UnitCharacter},
		}[tc.path]; ok && r.Usage != want {
			t.Errorf("%s: usage %+v, want %+v", tc.path, r.Usage, want)
		}
	}
}

func TestOpenAIRouteRefusals(t *testing.T) {
	f := newFixture(t, 43, nil)
	f.openai = openAIAPI(t)
	chatOnly := f.token // chat, gpt-4o-mini
	media, _ := f.issue(t, nil2gen(44), []string{"audio", "images", "fine-tuning", "embeddings", "provider:openai", "model:whisper-1"})
	twice := "--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-4o-transcribe\r\n--b--\r\n"
	noModelCT, noModel := form([2]string{"file", "x"})
	for _, tc := range []struct {
		method, path, token, ct, body string
		status                        int
	}{
		{"GET", "/v1/files", chatOnly, "", "", 403},                                                 // operation not granted
		{"GET", "/v1/models", chatOnly, "", "", 403},                                                // operation not granted
		{"POST", "/v1/fine_tuning/jobs", media, "application/json", `{"model":"gpt-4o-mini"}`, 403}, // model not granted
		{"POST", "/v1/audio/transcriptions", media, `multipart/form-data; boundary=b`, twice, 400},
		{"POST", "/v1/audio/transcriptions", media, noModelCT, string(noModel), 400},
		{"POST", "/v1/audio/transcriptions", media, "application/json", `{"model":"whisper-1"}`, 400},
		{"POST", "/v1/images/generations", media, "application/json", `{"prompt":"x"}`, 403}, // dall-e-2 not granted
		{"POST", "/v1/embeddings", media, "application/json", `{"input":"x"}`, 400},
		{"PUT", "/v1/files", chatOnly, "", "", 404},
		// A wildcard cannot climb out of its place in the upstream path.
		{"GET", "/v1/files/%2E%2E/content", media, "", "", 400},
		{"GET", "/v1/batches/..%2Fmodels", media, "", "", 400},
		{"GET", "/v1/files/a%2F.%2Fb", media, "", "", 400},
	} {
		st, body := f.do(t, tc.method, tc.path, tc.token, tc.ct, []byte(tc.body))
		if st != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, st, body, tc.status)
			continue
		}
		openAIShaped(t, body)
	}
	if f.upstreamCalls() != 0 {
		t.Fatalf("upstream called %d times", f.upstreamCalls())
	}
}

// The OpenAI SDK's own encodings: a multipart transcription and file
// upload, embeddings and the model list.
func TestOpenAIRoutesSDK(t *testing.T) {
	f := newFixture(t, 45, nil)
	f.openai = openAIAPI(t)
	tok, _ := f.issue(t, nil2gen(46), []string{"embeddings", "models", "audio", "files", "provider:openai", "model:text-embedding-3-small", "model:whisper-1"})
	s := &seen{}
	c := f.openaiClient(s, tok)
	ctx := context.Background()
	if _, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}}); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Models.List(ctx); err != nil || len(p.Data) != 1 {
		t.Fatal(err)
	}
	tr, err := c.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{Model: "whisper-1",
		File: openai.File(strings.NewReader("RIFF-audio"), "a.wav", "audio/wav")})
	if err != nil || tr.Text != "hello" {
		t.Fatal(err)
	}
	batch := func(model string) error {
		line := `{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"model":"` + model + `","input":"x"}}` + "\n"
		_, err := c.Files.New(ctx, openai.FileNewParams{Purpose: openai.FilePurposeBatch,
			File: openai.File(strings.NewReader(line+line), "d.jsonl", "application/jsonl")})
		return err
	}
	if err := batch("text-embedding-3-small"); err != nil {
		t.Fatal(err)
	}
	// A batch would run its lines later on the held key: a model the
	// token may not call is refused at upload.
	var apiErr *openai.Error
	if err := batch("text-embedding-3-large"); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
		t.Fatalf("a batch naming a model out of scope: %v", err)
	}
	recs := f.waitRecords(t, 4)
	if recs[2].Model != "whisper-1" || recs[2].Estimated || recs[3].CostUSD != 0 {
		t.Fatalf("records %+v", recs)
	}
	s.assertNo(t, f.openaiKey)
}

// Anthropic's count_tokens is free: authorized on the model, recorded at 0.
func TestAnthropicCountTokens(t *testing.T) {
	f := newFixture(t, 47, nil)
	f.anthropic = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/messages/count_tokens" {
			t.Errorf("upstream path %s", r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"input_tokens":14}`)
	}
	for _, path := range []string{"/v1/messages/count_tokens", "/anthropic/v1/messages/count_tokens"} {
		st, body := f.post(t, path, f.token, `{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}`)
		if st != 200 {
			t.Fatalf("%s: %d %s", path, st, body)
		}
	}
	// The Anthropic SDK's own call.
	c := f.anthropicClient(&seen{}, f.token)
	n, err := c.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{Model: anthropic.ModelClaudeHaiku4_5,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	if err != nil || n.InputTokens != 14 {
		t.Fatal(err)
	}
	st, body := f.post(t, "/anthropic/v1/messages/count_tokens", f.token, `{"model":"claude-opus-4-1","messages":[]}`)
	if st != 403 {
		t.Fatalf("model outside the scope: %d", st)
	}
	anthropicShaped(t, body)
	for _, r := range f.waitRecords(t, 3) {
		if r.CostUSD != 0 || r.Outcome != OutcomeOK || r.Operation != "chat" || !strings.HasPrefix(r.Model, "claude-haiku-4-5") {
			t.Fatalf("record %+v", r)
		}
	}
}

func FuzzParseMultipart(f *testing.F) {
	ct, body := form([2]string{"file", "abc"}, [2]string{"model", "whisper-1"}, [2]string{"n", "2"})
	f.Add(ct[len("multipart/form-data; boundary="):], body)
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nx\r\n--b--\r\n"))
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"model\"; filename=\"m\"\r\n\r\nx\r\n--b--\r\n"))
	f.Add("b", []byte("--b--"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		facts, err := parseMultipart(body, "multipart/form-data; boundary=\""+strings.ReplaceAll(boundary, `"`, "")+"\"")
		if err != nil || bytes.Contains(bytes.ToLower(body), []byte("transfer-encoding")) {
			return
		}
		// Whatever the gateway authorizes is what a standard form parser
		// reads as the one "model" value.
		r := multipart.NewReader(bytes.NewReader(body), strings.ReplaceAll(boundary, `"`, ""))
		fm, ferr := r.ReadForm(1 << 20)
		if ferr != nil {
			return
		}
		defer fm.RemoveAll()
		vals := fm.Value["model"]
		if facts.HasModel != (len(vals) == 1) || (facts.HasModel && vals[0] != facts.Model) {
			t.Fatalf("gateway model %q (%v), form %q", facts.Model, facts.HasModel, vals)
		}
	})
}
