package main

import (
	"io"
	"net"
	"sync"
	"time"
)

// faultProxy is a TCP proxy between one replica and PostgreSQL that can
// add latency, black-hole the link or reset it.
//
// Black-holed, it accepts connections and drops every byte both ways,
// refusing nothing: a client sees silence, as behind a firewall that
// drops packets. A connection that was black-holed stays dead after the
// link heals (its bytes are lost; the client must notice and reconnect);
// connections made after the heal work.
type faultProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	latency time.Duration
	black   bool
	down    bool // refuse: close new connections at once (a restart)
	conns   map[*proxyConn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

type proxyConn struct {
	client, server net.Conn
	mu             sync.Mutex
	dead           bool
}

func (c *proxyConn) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

func (c *proxyConn) kill() {
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
}

func (c *proxyConn) close() {
	_ = c.client.Close()
	if c.server != nil {
		_ = c.server.Close()
	}
}

func newFaultProxy(target string) (*faultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{ln: ln, target: target, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		black, down, closed := p.black, p.down, p.closed
		p.mu.Unlock()
		if closed || down {
			_ = c.Close()
			continue
		}
		pc := &proxyConn{client: c, dead: black}
		if !black {
			s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
			if err != nil {
				_ = c.Close()
				continue
			}
			pc.server = s
		}
		p.mu.Lock()
		p.conns[pc] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(pc)
	}
}

// serve copies both ways until either side closes.
func (p *faultProxy) serve(pc *proxyConn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
		pc.close()
	}()
	if pc.server == nil { // accepted while black-holed: silence forever
		_, _ = io.Copy(io.Discard, pc.client)
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(pc, pc.server, pc.client, true); done <- struct{}{} }()
	go func() { p.pipe(pc, pc.client, pc.server, false); done <- struct{}{} }()
	<-done
	pc.close()
	<-done
}

// pipe copies src to dst; upstream is the client-to-server direction,
// where latency is added (one delay per round trip).
func (p *faultProxy) pipe(pc *proxyConn, dst, src net.Conn, upstream bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !pc.isDead() {
			if upstream {
				p.mu.Lock()
				d := p.latency
				p.mu.Unlock()
				if d > 0 {
					time.Sleep(d)
				}
			}
			if !pc.isDead() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil { // EOF, a reset or a closed connection
			return
		}
	}
}

// setLatency adds d to every round trip (0 removes it).
func (p *faultProxy) setLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// blackhole drops every byte of every connection, open or new, until
// heal; open connections stay dead after it.
func (p *faultProxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.black = true
	for c := range p.conns {
		c.kill()
	}
}

func (p *faultProxy) heal() {
	p.mu.Lock()
	p.black = false
	p.down = false
	p.mu.Unlock()
}

// reset closes every connection and refuses new ones until heal: what a
// client sees while PostgreSQL restarts.
func (p *faultProxy) reset() {
	p.mu.Lock()
	p.down = true
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

func (p *faultProxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range conns {
		c.close()
	}
	p.wg.Wait()
}
