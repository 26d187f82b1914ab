package source

import (
	"bytes"
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// nbRaw is a JSON value of a notebook kept as a sub-slice of the notebook's
// bytes (encoding/json hands UnmarshalJSON a slice of its input), so that
// positions in the text decoded from it map back to the file. The notebook
// bytes outlive every nbRaw and are never modified.
type nbRaw []byte

// UnmarshalJSON keeps b itself, not a copy.
func (r *nbRaw) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// nbFile maps offsets in a notebook's bytes to lines and columns.
type nbFile struct {
	data  []byte
	lines []int // offset of each line's first byte, computed on first use
}

// offset returns where sub starts in the file, when it is a slice of it.
func (f *nbFile) offset(sub []byte) (int, bool) {
	if len(sub) == 0 || len(f.data) == 0 {
		return 0, false
	}
	off := cap(f.data) - cap(sub)
	if off < 0 || off+len(sub) > len(f.data) || &f.data[off] != &sub[0] {
		return 0, false
	}
	return off, true
}

// at returns the 1-based line and column (in bytes) of file offset off.
func (f *nbFile) at(off int) (line, col int) {
	if f.lines == nil {
		f.lines = []int{0}
		for i, b := range f.data {
			if b == '\n' {
				f.lines = append(f.lines, i+1)
			}
		}
	}
	off = min(max(off, 0), len(f.data))
	k := sort.SearchInts(f.lines, off+1) - 1
	return k + 1, off - f.lines[k] + 1
}

// rawMap returns the position function of raw content emitted as it is in
// the file (a metadata object), or nil when raw is not part of the file.
func (f *nbFile) rawMap(raw []byte) func(int) (int, int) {
	base, ok := f.offset(raw)
	if !ok {
		return nil
	}
	return func(off int) (int, int) { return f.at(base + off) }
}

// A textSeg says where a run of decoded text comes from: from decoded
// offset dec on, byte for byte from file offset file, or, for an escape
// sequence (fixed), every byte from the backslash at file.
type textSeg struct {
	dec, file int
	fixed     bool
}

// text decodes a JSON string, or a list of strings joined by sep, that is
// part of the file, and returns the text with the file position of each of
// its bytes. ok is false for any other value and for values that are not
// part of the file; callers then decode it without positions.
func (f *nbFile) text(raw []byte, sep string) (text []byte, pos func(int) (int, int), ok bool) {
	base, ok := f.offset(raw)
	if !ok {
		return nil, nil, false
	}
	var segs []textSeg
	i := skipSpace(raw, 0)
	switch {
	case i < len(raw) && raw[i] == '"':
		if text, segs, i, ok = decodeString(raw, i, base, text, segs); !ok {
			return nil, nil, false
		}
	case i < len(raw) && raw[i] == '[':
		i = skipSpace(raw, i+1)
		for first := true; i < len(raw) && raw[i] != ']'; first = false {
			if !first {
				if raw[i] != ',' {
					return nil, nil, false
				}
				i = skipSpace(raw, i+1)
				if i < len(raw) && len(sep) > 0 {
					segs = append(segs, textSeg{dec: len(text), file: base + i, fixed: true})
					text = append(text, sep...)
				}
			}
			if i >= len(raw) || raw[i] != '"' {
				return nil, nil, false
			}
			if text, segs, i, ok = decodeString(raw, i, base, text, segs); !ok {
				return nil, nil, false
			}
			i = skipSpace(raw, i)
		}
		if i >= len(raw) {
			return nil, nil, false
		}
		i++
	default:
		return nil, nil, false
	}
	if skipSpace(raw, i) != len(raw) || len(text) == 0 {
		return nil, nil, false
	}
	return text, func(off int) (int, int) {
		off = min(max(off, 0), len(text)-1)
		k := sort.Search(len(segs), func(j int) bool { return segs[j].dec > off }) - 1
		s := segs[max(k, 0)]
		if s.fixed {
			return f.at(s.file)
		}
		return f.at(s.file + off - s.dec)
	}, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// decodeString decodes the JSON string starting at raw[i] (its opening
// quote), appending its text to text and its segments to segs; base is
// the file offset of raw[0]. It returns the offset after the closing quote.
func decodeString(raw []byte, i, base int, text []byte, segs []textSeg) ([]byte, []textSeg, int, bool) {
	i++ // the opening quote
	plain := func() { segs = append(segs, textSeg{dec: len(text), file: base + i}) }
	plain()
	for i < len(raw) {
		c := raw[i]
		switch {
		case c == '"':
			return text, segs, i + 1, true
		case c != '\\':
			text = append(text, c)
			i++
			continue
		}
		// An escape sequence: its decoded bytes all map to the backslash.
		if i+1 >= len(raw) {
			return text, segs, i, false
		}
		segs = append(segs, textSeg{dec: len(text), file: base + i, fixed: true})
		n := 2
		switch e := raw[i+1]; e {
		case '"', '\\', '/':
			text = append(text, e)
		case 'b':
			text = append(text, '\b')
		case 'f':
			text = append(text, '\f')
		case 'n':
			text = append(text, '\n')
		case 'r':
			text = append(text, '\r')
		case 't':
			text = append(text, '\t')
		case 'u':
			r, ok := hex4(raw, i+2)
			if !ok {
				return text, segs, i, false
			}
			n = 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if i+7 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
					r2, ok2 = hex4(raw, i+8)
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r, n = dec, 12
				} else {
					r = utf8.RuneError
				}
			}
			text = utf8.AppendRune(text, r)
		default:
			return text, segs, i, false
		}
		i += n
		plain()
	}
	return text, segs, i, false
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[i:i+4]), 16, 32)
	return rune(v), err == nil
}

// sameText reports whether the position-tracking decoder agrees with
// encoding/json; when it does not, positions are not trusted.
func sameText(mapped, plain []byte) bool { return bytes.Equal(mapped, plain) }
