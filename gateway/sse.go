package gateway

import "bytes"

// maxEventBytes bounds one buffered server-sent event. A longer event is
// passed through unparsed (usage in it is lost and the stream is metered
// as incomplete), so a hostile upstream cannot grow memory without bound.
const maxEventBytes = 1 << 20

// sseScanner splits a server-sent event stream into events as bytes
// arrive, in whatever pieces. Lines end in "\n" or "\r\n" (a lone "\r" is
// not treated as a line end); an empty line ends an event.
type sseScanner struct {
	buf []byte // the unfinished event, raw
	// lineStart is where the unfinished line starts in buf.
	lineStart int
	// overflow is set once an event outgrew maxEventBytes; the scanner
	// then only passes bytes through.
	overflow bool
}

// sseEvent is one event: its raw bytes (terminating blank line included),
// its "event:" name and its "data:" lines joined by "\n".
type sseEvent struct {
	raw  []byte
	name []byte
	data []byte
}

// feed adds b and calls fn for each complete event, in order. The slices
// passed to fn are valid only during the call. When the scanner has
// overflowed, feed calls pass(b) for every byte instead.
func (s *sseScanner) feed(b []byte, fn func(sseEvent), pass func([]byte)) {
	if s.overflow {
		pass(b)
		return
	}
	s.buf = append(s.buf, b...)
	consumed := 0
	for {
		j := bytes.IndexByte(s.buf[s.lineStart:], '\n')
		if j < 0 {
			break
		}
		line := s.buf[s.lineStart : s.lineStart+j]
		line = bytes.TrimSuffix(line, []byte("\r"))
		s.lineStart += j + 1
		if len(line) == 0 {
			fn(parseEvent(s.buf[consumed:s.lineStart]))
			consumed = s.lineStart
		}
	}
	if consumed > 0 {
		n := copy(s.buf, s.buf[consumed:])
		s.buf = s.buf[:n]
		s.lineStart -= consumed
	}
	if len(s.buf) > maxEventBytes {
		s.overflow = true
		pass(s.buf)
		s.buf = nil
	}
}

// rest returns bytes of an unfinished event (at end of stream).
func (s *sseScanner) rest() []byte { return s.buf }

func parseEvent(raw []byte) sseEvent {
	ev := sseEvent{raw: raw}
	first := true
	for rest := raw; len(rest) > 0; {
		line := rest
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			line, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		field, value := line, []byte(nil)
		if k := bytes.IndexByte(line, ':'); k >= 0 {
			field, value = line[:k], line[k+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			ev.name = value
		case "data":
			if first {
				ev.data, first = value, false
			} else {
				// Several data lines: join (rare; allocates).
				ev.data = append(append(append([]byte(nil), ev.data...), '\n'), value...)
			}
		}
	}
	return ev
}
