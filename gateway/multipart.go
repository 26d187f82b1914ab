package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strconv"
	"strings"

	"github.com/aicred/aicred/broker"
)

// maxFormValue bounds a form field the gateway reads (model, n, stream);
// model ids are far shorter.
const maxFormValue = 1 << 10

// parseMultipart reads the facts of a multipart/form-data body (audio
// transcriptions, image edits, file uploads) already in memory within
// MaxBodyBytes: the "model", "n" and "stream" fields. File parts are
// skipped, not copied. Raw parts are used, so a part's
// Content-Transfer-Encoding is not decoded: the value the gateway
// authorizes is the bytes the provider's parser sees. A repeated "model"
// is refused, as in JSON, so the model authorized is the one run.
func parseMultipart(body []byte, contentType string) (requestFacts, error) {
	f := requestFacts{streamOptions: [2]int{-1, -1}}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return f, errors.New("the request body must be multipart/form-data with a boundary")
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var val [maxFormValue + 1]byte
	var purpose string
	var file []byte
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			f.Purpose = strings.TrimSpace(purpose)
			if batchPurpose(purpose) && file != nil {
				if err := batchFacts(&f, file); err != nil {
					return f, err
				}
			}
			return f, nil
		}
		if err != nil {
			return f, errors.New("malformed multipart body")
		}
		// The part's name is read from its Content-Disposition whatever
		// its type or filename: a provider's form parser may take a
		// "model" that Go's FormName would skip (an attachment, a part
		// with a filename), so such a part is refused, not ignored.
		cd := p.Header.Values("Content-Disposition")
		if len(cd) != 1 {
			return f, errors.New("a form part has no single Content-Disposition")
		}
		disp, dp, err := mime.ParseMediaType(cd[0])
		if err != nil {
			return f, errors.New("a form part has a malformed Content-Disposition")
		}
		name := dp["name"]
		f.Keys = append(f.Keys, name)
		field := ""
		for _, k := range [...]string{"model", "n", "stream"} {
			if strings.EqualFold(name, k) {
				field = k
			}
		}
		if field == "" {
			switch {
			case strings.EqualFold(name, "purpose"):
				if purpose != "" || name != "purpose" || dp["filename"] != "" {
					return f, errors.New(`form field "purpose" must be one plain form-data field`)
				}
				n, _ := io.ReadFull(p, val[:])
				if purpose = strings.TrimSpace(string(val[:n])); purpose == "" {
					purpose = " " // given, even if empty: a second one is a repeat
				}
			case strings.EqualFold(name, "file"):
				if file != nil || name != "file" {
					return f, errors.New(`the form must carry one "file" part`)
				}
				// Kept for a batch upload's lines (the body is in memory
				// already, within the body limit).
				if file, err = io.ReadAll(p); err != nil {
					return f, errors.New("malformed multipart body")
				}
			}
			continue
		}
		if name != field || disp != "form-data" || dp["filename"] != "" || dp["filename*"] != "" {
			return f, errors.New("form field " + strconv.Quote(field) + " must be a plain form-data field")
		}
		n, err := io.ReadFull(p, val[:])
		if err != io.ErrUnexpectedEOF && err != io.EOF {
			if err == nil {
				return f, errors.New("form field " + strconv.Quote(name) + " is too long")
			}
			return f, errors.New("malformed multipart body")
		}
		v := string(val[:n])
		switch name {
		case "model":
			if f.HasModel {
				return f, errors.New(`the form repeats the field "model"`)
			}
			f.Model, f.HasModel = v, true
		case "n":
			if k, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && k > 0 {
				f.N = k
			}
		case "stream":
			f.Stream = strings.TrimSpace(v) == "true"
		}
	}
}

// maxBatchModels bounds the distinct models a batch file may name.
const maxBatchModels = 64

// batchFacts reads the lines of a batch input file: each names an
// endpoint and a request body, run later by the provider on the held
// key. The models and operations they name are authorized like a direct
// call's, so a batch cannot reach a model the token may not call.
func batchFacts(f *requestFacts, file []byte) error {
	ops := map[string]broker.Operation{
		"/v1/chat/completions": broker.OpChat, "/v1/completions": broker.OpChat,
		"/v1/responses": broker.OpResponses, "/v1/embeddings": broker.OpEmbeddings,
	}
	seen := map[string]bool{}
	for i, line := range bytes.Split(file, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		// Keys are read exactly, once each, and a look-alike in another
		// case is refused: Go's decoder would match it, the provider not.
		var l struct {
			URL  string
			Body []byte
		}
		notReq := fmt.Errorf("batch file line %d is not a request (url and body)", i+1)
		if !json.Valid(line) || line[0] != '{' {
			return notReq
		}
		seenKey := map[string]bool{}
		_, err := members(line, 0, func(k string, vs, ve int) error {
			for _, want := range [...]string{"url", "body", "method", "custom_id"} {
				if strings.EqualFold(k, want) && (k != want || seenKey[want]) {
					return notReq
				}
			}
			seenKey[k] = true
			switch k {
			case "url":
				return json.Unmarshal(line[vs:ve], &l.URL)
			case "body":
				l.Body = line[vs:ve]
			}
			return nil
		})
		if err != nil || len(l.Body) == 0 {
			return notReq
		}
		op, ok := ops[l.URL]
		if !ok {
			return fmt.Errorf("batch file line %d: endpoint %s cannot be batched through the gateway", i+1, quoteModel(l.URL))
		}
		bf, err := parseRequest(l.Body)
		if err != nil {
			return fmt.Errorf("batch file line %d: %v", i+1, err)
		}
		if !bf.HasModel || bf.Model == "" {
			return fmt.Errorf("batch file line %d names no model", i+1)
		}
		if bf.ServerTool != "" {
			return fmt.Errorf("batch file line %d asks for %s, which is billed per use and cannot be metered", i+1, quoteModel(bf.ServerTool))
		}
		if k := string(op) + "\x00" + bf.Model; !seen[k] {
			if len(seen) == maxBatchModels {
				return fmt.Errorf("batch file names more than %d models", maxBatchModels)
			}
			seen[k] = true
			f.Batch = append(f.Batch, batchCall{op: op, model: bf.Model})
		}
	}
	return nil
}
