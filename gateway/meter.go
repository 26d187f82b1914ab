package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
)

// maxMeteredJSON bounds how much of a JSON response is kept to read its
// usage; a larger response passes through and is metered as no_usage.
const maxMeteredJSON = 16 << 20

// defaultMaxOutput is the output assumed for the worst-case estimate when
// the request sets no max_tokens.
const defaultMaxOutput = 4096

// A meter follows one response and writes its usage record once, when the
// body ends, fails or is closed.
type meter struct {
	g *Gateway
	x *exchange

	usage     Usage
	haveUsage bool
	// started: an Anthropic message_start was seen.
	started bool
	// done: the stream's terminal event was seen, so an error or a close
	// after it (a client that hangs up on [DONE]) is not an interruption.
	done bool
	// hideUsageChunk: the gateway asked OpenAI for the usage chunk, so
	// the client must not see it.
	hideUsageChunk bool
	// drained: the client left before the end and the rest was read
	// for its usage.
	drained bool

	status    int
	requestID string
	once      sync.Once
	// bytes: response body bytes passed on (surfaces metered in bytes).
	bytes int64
}

// How a response body is read for usage.
const (
	modePass   = iota // not read: no usage in it, or known already
	modeJSON          // kept up to maxMeteredJSON and decoded at the end
	modeSSE           // server-sent events, metered one by one
	modeFrames        // AWS event stream (Bedrock), metered message by message
)

// meteredBody passes a response body through while the meter reads it.
type meteredBody struct {
	rc   io.ReadCloser
	m    *meter
	mode int
	es   eventStreamScanner

	json []byte // JSON response so far; nil past maxMeteredJSON
	over bool

	sc     sseScanner
	hiding bool   // SSE with events to hide: output goes through out
	out    []byte // bytes ready for the client (hiding only)
	outPos int
	err    error

	// idle cancels the upstream request when no byte arrives for the
	// gateway's StreamIdleTimeout.
	idle    *time.Timer
	idleFor time.Duration
	ended   bool
}

// errStalled is the cause of an upstream request cancelled for idling.
var errStalled = errors.New("upstream stream stalled")

func (b *meteredBody) Read(p []byte) (int, error) {
	defer b.touch()
	// The end of the body is metered (usage decoded, cost settled,
	// records written) only after the proxy has passed the last bytes on:
	// net/http returns them together with io.EOF, and metering first would
	// hold them back from the client.
	if b.err != nil {
		if b.outPos == len(b.out) {
			b.end(b.err)
			return 0, b.err
		}
	} else if !b.hiding {
		n, err := b.rc.Read(p)
		b.observe(p[:n])
		if err != nil {
			b.err = err
			if n == 0 {
				b.end(err)
				return 0, err
			}
		}
		return n, nil
	}
	for b.outPos == len(b.out) {
		b.out, b.outPos = b.out[:0], 0
		if b.err != nil {
			b.end(b.err)
			return 0, b.err
		}
		n, err := b.rc.Read(p)
		b.sc.feed(p[:n], b.event, b.pass)
		if err != nil {
			b.out = append(b.out, b.sc.rest()...)
			b.sc.buf = nil
			b.err = err
		}
	}
	n := copy(p, b.out[b.outPos:])
	b.outPos += n
	return n, nil
}

// touch re-arms the idle timer after a read, unless the body has ended
// (a re-armed timer would keep the exchange alive for no purpose).
func (b *meteredBody) touch() {
	if b.idle != nil && !b.ended {
		b.idle.Reset(b.idleFor)
	}
}

func (b *meteredBody) stopIdle() {
	b.ended = true
	if b.idle != nil {
		b.idle.Stop()
	}
}

func (b *meteredBody) observe(p []byte) {
	b.m.bytes += int64(len(p))
	switch b.mode {
	case modePass:
		return
	case modeSSE:
		b.sc.feed(p, b.event, func([]byte) {})
		return
	case modeFrames:
		b.es.feed(p, b.frame)
		return
	}
	if b.over {
		return
	}
	if len(b.json)+len(p) > maxMeteredJSON {
		b.over, b.json = true, nil
		return
	}
	b.json = append(b.json, p...)
}

func (b *meteredBody) frame(eventType string, payload []byte) {
	b.m.x.route.usage.frame(b.m, eventType, payload)
}

func (b *meteredBody) event(ev sseEvent) {
	hide := b.m.x.route.usage.event(b.m, ev)
	if b.hiding && !hide {
		b.out = append(b.out, ev.raw...)
	}
}

func (b *meteredBody) pass(p []byte) {
	if b.hiding {
		b.out = append(b.out, p...)
	}
}

func (b *meteredBody) end(err error) {
	if b.mode == modeJSON && !b.over {
		// A whole JSON body is complete even if the client hung up before
		// the proxy read the upstream's EOF.
		if u, ok := b.m.x.route.usage.json(b.m.x, b.json); ok {
			b.m.usage, b.m.haveUsage, b.m.done = u, true, true
		}
		b.json = nil
	}
	b.stopIdle()
	outcome := ""
	if !errors.Is(err, io.EOF) && !b.m.done {
		outcome = OutcomeNoUsage
		ctx := b.m.x.r.Context()
		switch {
		case errors.Is(context.Cause(ctx), errStalled):
			outcome = OutcomeTimeout
		case b.m.drained || b.m.x.clientGone.Load() || ctx.Err() != nil:
			outcome = OutcomeClientClosed
		}
	} else if b.m.drained {
		// Read to its end after the client left: the usage is real.
		outcome = OutcomeClientClosed
	}
	b.m.record(outcome)
}

func (b *meteredBody) Close() error {
	// Closed before the end: the client went away (ReverseProxy closes the
	// body when a write to the client fails). The rest is read for its
	// usage, within bounds.
	if b.err == nil && !b.m.done && b.mode != modePass && b.m.g.drain > 0 {
		b.drain()
	}
	b.stopIdle()
	err := b.rc.Close()
	switch {
	case b.err != nil:
		b.end(b.err)
	case b.mode == modeJSON && b.json != nil:
		b.end(io.ErrUnexpectedEOF)
	case b.m.done:
		b.m.record("")
	default:
		b.m.record(OutcomeClientClosed)
	}
	return err
}

// maxDrainBytes bounds what is read of an answer after its client left.
const maxDrainBytes = 8 << 20

// errDrained is the cause of an upstream request cancelled because the
// answer did not end within DrainTimeout after its client left.
var errDrained = errors.New("upstream answer not finished after the client left")

// drain reads the rest of an answer whose client went away, so that its
// usage (at the end of a stream or a JSON body) is metered as billed:
// bounded in time (Config.DrainTimeout from the client's leaving) and
// bytes. The idle timer keeps running: a stalled upstream is cut. The
// meter then sees the whole answer; nothing more reaches the client.
func (b *meteredBody) drain() {
	b.m.drained = true
	if !b.m.x.clientGone.Load() {
		// Closed for another reason than the client's context (a
		// write that failed first): bound the reading here.
		stop := time.AfterFunc(b.m.g.drain, func() { b.m.x.cancel(errDrained) })
		defer stop.Stop()
	}
	buf := make([]byte, 32<<10)
	for n := 0; n < maxDrainBytes && !b.m.done; {
		k, err := b.rc.Read(buf)
		b.touch()
		n += k
		if b.hiding {
			b.sc.feed(buf[:k], b.event, b.pass)
			b.out, b.outPos = b.out[:0], 0
		} else {
			b.observe(buf[:k])
		}
		if err != nil {
			b.err = err
			return
		}
	}
	if b.err == nil {
		b.err = io.ErrUnexpectedEOF
	}
}

// record writes the usage record once. outcome "" derives it from the
// status and whether usage was seen.
func (m *meter) record(outcome string) {
	m.once.Do(func() {
		x := m.x
		r := UsageRecord{
			Time:              x.start,
			TokenID:           x.grant.ID,
			Workload:          x.grant.Issuer + " " + x.grant.Subject,
			Role:              x.grant.Role,
			Environment:       x.grant.Environment,
			Operation:         string(x.route.operation),
			SourceIP:          clientIP(x.r),
			UserAgent:         userAgent(x.r),
			Provider:          x.route.surface.provider,
			Model:             x.facts.Model,
			Stream:            x.facts.Stream,
			Status:            m.status,
			UpstreamRequestID: m.requestID,
			Latency:           m.g.now().Sub(x.start),
		}
		if x.key != nil {
			r.CredentialID = x.key.id
		}
		switch {
		case outcome == OutcomeUnreachable:
			// Nothing reached the provider.
		case x.route.free:
			// Not a model call (files, batches, fine-tuning jobs, model
			// lists, token counting): no per-request usage exists and
			// the provider bills none, so cost 0 is the true cost.
			if outcome == "" && m.status >= 400 {
				outcome = OutcomeUpstreamError
			}
			if x.route.surface.bytes && outcome != OutcomeUnreachable {
				// Metered as traffic: the bytes sent and received.
				r.Usage = Usage{Units: int64(len(x.body)) + m.bytes, Unit: aicred.UnitByte}
			}
		case m.status >= 400 && outcome == "":
			outcome = OutcomeUpstreamError
			if m.haveUsage {
				r.Usage, r.CostUSD = m.usage, x.price.Cost(m.usage)
			}
		case m.haveUsage && (m.done || outcome == ""):
			r.Usage, r.CostUSD = m.usage, x.price.Cost(m.usage)
		case m.haveUsage || m.started:
			// Cut short after counts that were still growing (Anthropic's
			// message_start and deltas, Gemini's chunks): the input told
			// is charged, and the output at its bound, since the provider
			// may have generated more than was seen.
			u := m.usage
			u.OutputTokens = max(u.OutputTokens, x.outputBound())
			r.Usage, r.CostUSD, r.Estimated = u, x.price.Cost(u), true
			if outcome == "" {
				outcome = OutcomeNoUsage
			}
		default:
			// No usage: charge the sound upper bound, never $0 and never
			// an estimate.
			est := x.unmetered()
			r.Usage, r.CostUSD, r.Estimated = est, x.price.worstInput().Cost(est), true
			if outcome == "" {
				outcome = OutcomeNoUsage
			}
		}
		if outcome == "" {
			outcome = OutcomeOK
		}
		r.Outcome = outcome
		if x.units {
			// A unit-priced model is metered with its units in the input
			// count at a per-unit rate; the record names them as units.
			r.Usage = Usage{Units: r.Usage.InputTokens, Unit: x.route.unit.name()}
		}
		x.settle(r.CostUSD, r.Usage)
		if err := m.g.usage.RecordUsage(context.WithoutCancel(x.r.Context()), r); err != nil {
			m.g.log.Error("usage record lost", "token", r.TokenID, "err", err)
		}
	})
}

// estimate is the worst case of a request (see input.go): for a token-
// priced call, the input bound plus the number of choices times the
// output limit (the request's, else the model's max_output, else
// Config.DefaultMaxOutput); for a unit-priced model, its units.
func (x *exchange) estimate() Usage {
	rt := x.route
	if rt != nil {
		switch {
		case rt.free:
			return Usage{}
		case x.units:
			switch rt.unit {
			case unitImages:
				return Usage{InputTokens: max(x.facts.N, 1)}
			case unitSeconds:
				return Usage{InputTokens: int64(len(x.body))/audioBytesPerSecondMin + 1}
			case unitChars:
				return Usage{InputTokens: x.facts.InputChars}
			}
		}
	}
	in, _ := x.inputBound()
	if rt != nil && rt.operation == broker.OpEmbeddings {
		return Usage{InputTokens: in}
	}
	return Usage{InputTokens: in, OutputTokens: x.outputBound()}
}

// outputBound is the most output the request may be billed for: each of
// the choices asked for (n, candidateCount) may run to the limit. The
// limit is the request's, else the model's maximum, else the configured
// default. A request's limit is taken as sent even over the table's
// maximum: a maximum the table understates must not shrink the bound.
func (x *exchange) outputBound() int64 {
	out, most := x.facts.MaxTokens, x.price.MaxOutput
	switch {
	case out > 0:
	case most > 0:
		out = most
	case x.defaultOut > 0:
		out = x.defaultOut
	default:
		out = defaultMaxOutput
	}
	return out * max(x.facts.Choices, 1)
}

// unmetered is what a call whose usage never arrived is charged: its
// worst case, with the input at the model's whole context window where
// one is known (see input.go).
func (x *exchange) unmetered() Usage {
	u := x.estimate()
	if rt := x.route; rt != nil && !rt.free && !x.units && rt.operation != broker.OpEmbeddings {
		u.InputTokens = max(u.InputTokens, x.price.ContextWindow)
	}
	return u
}

// meterResponse wraps resp's body so that its usage is recorded.
func (g *Gateway) meterResponse(x *exchange, resp *http.Response) {
	m := &meter{g: g, x: x, status: resp.StatusCode, hideUsageChunk: x.hideUsage}
	m.requestID = resp.Header.Get(x.route.surface.requestID)
	x.meter = m
	b := &meteredBody{rc: resp.Body, m: m, idleFor: g.idle}
	ct := resp.Header.Get("Content-Type")
	switch u := x.route.usage; {
	case u == nil:
	case u.request != nil:
		if resp.StatusCode < 400 {
			m.usage, m.haveUsage = u.request(x), true
		}
	default:
		if u.header != nil && resp.StatusCode < 400 {
			if hu, ok := u.header(resp.Header); ok {
				m.usage, m.haveUsage = hu, true
				break
			}
		}
		switch {
		case isSSE(ct) && u.event != nil:
			b.mode = modeSSE
		case isEventStream(ct) && u.frame != nil:
			b.mode, b.es.only = modeFrames, u.frameTypes
		case u.json != nil:
			b.mode = modeJSON
		}
	}
	if x.cancel != nil {
		b.idle = time.AfterFunc(g.idle, func() { x.cancel(errStalled) })
	}
	if b.mode == modeSSE && x.hideUsage {
		b.hiding = true
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
	}
	resp.Body = b
}

func isEventStream(ct string) bool {
	const p = "application/vnd.amazon.eventstream"
	return len(ct) >= len(p) && ct[:len(p)] == p
}

func isSSE(ct string) bool {
	const p = "text/event-stream"
	return len(ct) >= len(p) && ct[:len(p)] == p
}
