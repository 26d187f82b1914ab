package gateway

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
)

func responsesJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req_resp_1")
	io.WriteString(w, `{"id":"resp_1","object":"response","created_at":1741476542,"status":"completed","model":"gpt-4o-mini-2024-07-18",
"output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello!","annotations":[]}]}],
"parallel_tool_calls":true,"tool_choice":"auto","tools":[],
"usage":{"input_tokens":800,"input_tokens_details":{"cached_tokens":300},"output_tokens":120,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":920}}`)
}

func responsesStream(w http.ResponseWriter, _ *http.Request) {
	resp := func(status, usage string) string {
		return `{"id":"resp_2","object":"response","created_at":1741476542,"status":"` + status + `","model":"gpt-4o-mini-2024-07-18","output":[],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"usage":` + usage + `}`
	}
	sse(w,
		"event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":"+resp("in_progress", "null")+"}\n\n",
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_2\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hel\"}\n\n",
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":2,\"item_id\":\"msg_2\",\"output_index\":0,\"content_index\":0,\"delta\":\"lo\"}\n\n",
		"event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":3,\"response\":"+resp("completed", `{"input_tokens":500,"input_tokens_details":{"cached_tokens":0},"output_tokens":70,"output_tokens_details":{"reasoning_tokens":30},"total_tokens":570}`)+"}\n\n",
	)
}

func TestOpenAIResponsesSDK(t *testing.T) {
	f := newFixture(t, 60, nil)
	// The fixture token may chat only; a responses token is separate.
	tok, _ := f.issue(t, nil2gen(61), []string{"responses", "model:gpt-4o-mini", "provider:openai"})
	p := responses.ResponseNewParams{Model: "gpt-4o-mini", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}}

	f.openai = responsesJSON
	s := &seen{}
	c := f.openaiClient(s, tok)
	r, err := c.Responses.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputText() != "Hello!" {
		t.Fatalf("output %q", r.OutputText())
	}
	rec := f.waitRecords(t, 1)[0]
	if rec.Usage != (Usage{InputTokens: 500, CachedTokens: 300, OutputTokens: 120}) || rec.UpstreamRequestID != "req_resp_1" {
		t.Fatalf("record %+v", rec)
	}

	f.openai = responsesStream
	st := c.Responses.NewStreaming(context.Background(), p)
	var text string
	for st.Next() {
		if ev := st.Current(); ev.Type == "response.output_text.delta" {
			text += ev.Delta
		}
	}
	if st.Err() != nil || text != "Hello" {
		t.Fatalf("%v %q", st.Err(), text)
	}
	rec = f.waitRecords(t, 2)[1]
	if rec.Usage != (Usage{InputTokens: 500, OutputTokens: 70}) || rec.Outcome != OutcomeOK || !rec.Stream {
		t.Fatalf("record %+v", rec)
	}
	s.assertNo(t, f.openaiKey, f.antKey)

	// The chat-only token may not use the Responses API.
	if st, body := f.post(t, "/v1/responses", f.token, `{"model":"gpt-4o-mini","input":"hi"}`); st != 403 {
		t.Fatalf("%d %s", st, body)
	}
}
