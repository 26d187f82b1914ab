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
