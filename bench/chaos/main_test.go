package main

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// TestFaultProxy: the proxy forwards, adds latency to each round trip,
// black-holes (accepts, answers nothing, refuses nothing; connections
// black-holed stay dead after the heal, new ones work), and resets.
func TestFaultProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // an echo server, line by line
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	p, err := newFaultProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.DialTimeout("tcp", p.addr(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	roundTrip := func(c net.Conn, r *bufio.Reader, wait time.Duration) (time.Duration, error) {
		start := time.Now()
		_ = c.SetDeadline(time.Now().Add(wait))
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return 0, err
		}
		_, err := r.ReadString('\n')
		return time.Since(start), err
	}
	c1, r1 := dial()
	if _, err := roundTrip(c1, r1, time.Second); err != nil {
		t.Fatalf("forward: %v", err)
	}
	p.setLatency(100 * time.Millisecond)
	if d, err := roundTrip(c1, r1, time.Second); err != nil || d < 100*time.Millisecond {
		t.Fatalf("latency: %v %v", d, err)
	}
	p.setLatency(0)
	p.blackhole()
	if _, err := roundTrip(c1, r1, 300*time.Millisecond); err == nil {
		t.Fatal("an answer through the black hole")
	}
	c2, r2 := dial() // accepted, not refused
	if _, err := roundTrip(c2, r2, 300*time.Millisecond); err == nil {
		t.Fatal("a new connection answered through the black hole")
	}
	p.heal()
	if _, err := roundTrip(c1, r1, 300*time.Millisecond); err == nil {
		t.Fatal("a black-holed connection came back to life")
	}
	c3, r3 := dial()
	if _, err := roundTrip(c3, r3, time.Second); err != nil {
		t.Fatalf("after the heal: %v", err)
	}
	p.reset()
	if _, err := roundTrip(c3, r3, time.Second); err == nil {
		t.Fatal("a reset connection still answers")
	}
	p.heal()
	c4, r4 := dial()
	if _, err := roundTrip(c4, r4, time.Second); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}
