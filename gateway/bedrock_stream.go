package gateway

import (
	"bytes"
	"encoding/binary"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// maxFrameBytes bounds one buffered event-stream message; a longer one
// stops the metering of the stream (charged at the reservation), so a
// hostile upstream cannot grow memory without bound.
const maxFrameBytes = 1 << 20

// eventStreamScanner splits an AWS event stream
// (application/vnd.amazon.eventstream: binary messages, each a 12-byte
// prelude with its total length, headers, payload and CRCs) into messages
// as bytes arrive, in whatever pieces.
type eventStreamScanner struct {
	buf    []byte
	failed bool
	dec    *eventstream.Decoder
	// only, when set, names the event types worth decoding; a message
	// whose header block names none of them is skipped undecoded (most
	// of a stream is content deltas).
	only []string
}

// feed adds p and calls fn with each complete message's :event-type (or
// :exception-type) header and payload, valid during the call only.
func (s *eventStreamScanner) feed(p []byte, fn func(eventType string, payload []byte)) {
	if s.failed {
		return
	}
	s.buf = append(s.buf, p...)
	for len(s.buf) >= 12 {
		total := int(binary.BigEndian.Uint32(s.buf[:4]))
		if total < 16 || total > maxFrameBytes {
			s.failed, s.buf = true, nil
			return
		}
		if len(s.buf) < total {
			return
		}
		if !s.wanted(s.buf[:total]) {
			n := copy(s.buf, s.buf[total:])
			s.buf = s.buf[:n]
			continue
		}
		if s.dec == nil {
			s.dec = eventstream.NewDecoder()
		}
		msg, err := s.dec.Decode(bytes.NewReader(s.buf[:total]), nil)
		if err != nil { // a bad CRC: nothing after it can be trusted
			s.failed, s.buf = true, nil
			return
		}
		typ := msg.Headers.Get(":event-type")
		if typ == nil {
			typ = msg.Headers.Get(":exception-type")
		}
		if typ != nil {
			fn(typ.String(), msg.Payload)
		}
		n := copy(s.buf, s.buf[total:])
		s.buf = s.buf[:n]
	}
}

// wanted reports whether a message's header block may name a wanted event
// type (a byte search: a false yes is decoded and then ignored).
func (s *eventStreamScanner) wanted(msg []byte) bool {
	if len(s.only) == 0 {
		return true
	}
	hl := int(binary.BigEndian.Uint32(msg[4:8]))
	if 12+hl > len(msg) {
		return true // malformed: let the decoder say so
	}
	h := msg[12 : 12+hl]
	for _, t := range s.only {
		if bytes.Contains(h, []byte(t)) {
			return true
		}
	}
	return false
}
