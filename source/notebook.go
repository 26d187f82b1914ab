package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aicred/aicred"
)

// A notebook is a Jupyter notebook: nbformat 4 keeps cells at the top,
// nbformat 3 inside worksheets.
type notebook struct {
	Cells      []nbCell `json:"cells"`
	Worksheets []struct {
		Cells []nbCell `json:"cells"`
	} `json:"worksheets"`
	Metadata nbRaw `json:"metadata"`
}

type nbCell struct {
	Source   nbRaw      `json:"source"`
	Input    nbRaw      `json:"input"` // nbformat 3
	Outputs  []nbOutput `json:"outputs"`
	Metadata nbRaw      `json:"metadata"`
}

// An nbOutput is decoded as a map: nbformat 3 puts mime data (html, json,
// png...) at the top of the output, nbformat 4 under "data".
type nbOutput map[string]nbRaw

// nbTextKeys are the nbformat 3 output keys that hold text.
var nbTextKeys = [...]string{"html", "javascript", "json", "latex", "markdown"}

// scanNotebook emits each cell's source and each output's text as its own
// chunk. Content that is not a notebook is refused (ok false) with a
// warning, and scanned as plain text by the caller. Chunks map positions
// in the decoded text back to the file's lines and columns (Chunk.Map);
// the locator names the cell.
func (s *run) scanNotebook(ctx context.Context, e *entry, data []byte) (bool, error) {
	var nb notebook
	if err := json.Unmarshal(data, &nb); err != nil {
		s.warn(e.loc.Path, fmt.Errorf("source: malformed notebook %s, scanned as plain text: %w", e.loc.Path, jsonErr(err)))
		return false, nil
	}
	cells := nb.Cells
	for _, ws := range nb.Worksheets {
		cells = append(cells, ws.Cells...)
	}
	if cells == nil && !bytes.Contains(data, []byte(`"cells"`)) {
		s.warn(e.loc.Path, fmt.Errorf("source: malformed notebook %s, scanned as plain text: no cells", e.loc.Path))
		return false, nil
	}
	nf := &nbFile{data: data}
	loc := withKind(e.loc, aicred.SourceNotebook)
	at := func(locator string) aicred.Location {
		l := loc
		if l.Locator != "" {
			locator = l.Locator + " " + locator
		}
		l.Locator = locator
		return l
	}
	for i, c := range cells {
		cell := "cell " + strconv.Itoa(i+1)
		src := c.Source
		if len(src) == 0 {
			src = c.Input
		}
		if err := s.emitJSONText(ctx, nf, at(cell+" source"), src, ""); err != nil {
			return true, err
		}
		for j, out := range c.Outputs {
			if err := s.scanOutput(ctx, nf, at, cell+" output "+strconv.Itoa(j+1), out); err != nil {
				return true, err
			}
		}
		if meta := jsonObject(json.RawMessage(c.Metadata)); meta != nil {
			if err := s.emitMapped(ctx, at(cell+" metadata"), meta, nf.rawMap(meta)); err != nil {
				return true, err
			}
		}
	}
	if meta := jsonObject(json.RawMessage(nb.Metadata)); meta != nil {
		if err := s.emitMapped(ctx, at("metadata"), meta, nf.rawMap(meta)); err != nil {
			return true, err
		}
	}
	return true, nil
}

// emitJSONText emits the text of a JSON string or list of strings (joined
// by sep), with positions in the file when it can map them.
func (s *run) emitJSONText(ctx context.Context, nf *nbFile, loc aicred.Location, raw nbRaw, sep string) error {
	plain := jsonText(json.RawMessage(raw))
	if sep != "" {
		var ss []string
		if json.Unmarshal(raw, &ss) == nil && len(ss) > 0 {
			plain = []byte(strings.Join(ss, sep))
		}
	}
	if text, pos, ok := nf.text(raw, sep); ok && sameText(text, plain) {
		return s.emitMapped(ctx, loc, text, pos)
	}
	if raw := bytes.TrimSpace(raw); len(raw) > 0 && raw[0] != '"' && raw[0] != '[' {
		// Another value, emitted raw: it is the file's bytes.
		return s.emitMapped(ctx, loc, plain, nf.rawMap(plain))
	}
	return s.emit(ctx, loc, plain)
}

func (s *run) scanOutput(ctx context.Context, nf *nbFile, at func(string) aicred.Location, name string, out nbOutput) error {
	if err := s.emitJSONText(ctx, nf, at(name), out["text"], ""); err != nil {
		return err
	}
	if raw := out["data"]; len(raw) > 0 {
		var data map[string]nbRaw
		if json.Unmarshal(raw, &data) != nil {
			if err := s.emitMapped(ctx, at(name+" data"), raw, nf.rawMap(raw)); err != nil {
				return err
			}
		}
		mimes := make([]string, 0, len(data))
		for m := range data {
			mimes = append(mimes, m)
		}
		sort.Strings(mimes)
		for _, m := range mimes {
			if isMedia(m) {
				continue
			}
			l := name
			if m != "text/plain" {
				l += " " + m
			}
			if err := s.emitJSONText(ctx, nf, at(l), data[m], ""); err != nil {
				return err
			}
		}
	}
	for _, k := range nbTextKeys {
		if err := s.emitJSONText(ctx, nf, at(name+" "+k), out[k], ""); err != nil {
			return err
		}
	}
	if err := s.emitJSONText(ctx, nf, at(name+" error"), out["evalue"], ""); err != nil {
		return err
	}
	return s.emitJSONText(ctx, nf, at(name+" traceback"), out["traceback"], "\n")
}

// isMedia reports whether a mime type holds encoded media, not text.
func isMedia(mime string) bool {
	return strings.HasPrefix(mime, "image/") || strings.HasPrefix(mime, "audio/") || strings.HasPrefix(mime, "video/")
}

// jsonText returns the text of a JSON string or list of strings (the
// multiline form Jupyter writes). Other values, null excepted, are returned
// raw so nothing is lost.
func jsonText(raw json.RawMessage) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []byte(s)
		}
	case '[':
		var ss []string
		if json.Unmarshal(raw, &ss) == nil {
			return []byte(strings.Join(ss, ""))
		}
	}
	return raw
}

// jsonObject returns raw unless it is empty or an empty object.
func jsonObject(raw json.RawMessage) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil && len(m) == 0 {
		return nil
	}
	return raw
}

// jsonErr describes a JSON decoding error without quoting content: a
// syntax error names only its offset.
func jsonErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("unexpected JSON %s at offset %d", te.Value, te.Offset)
	}
	return errors.New("invalid JSON")
}
