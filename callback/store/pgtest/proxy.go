package pgtest

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy is a TCP proxy on loopback in front of a server (PostgreSQL), for
// tests that take the server away: Cut closes every connection through the
// proxy and refuses new ones, as a stopped server would; BlackHole keeps
// connections open but lets no byte through, as a lost host or network
// would (nothing fails, everything waits); Restore ends either.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu     sync.Mutex
	ln     net.Listener // nil while cut
	conns  map[net.Conn]struct{}
	closed bool
	holed  bool
	wg     sync.WaitGroup
}

// NewProxy starts a proxy to target (host:port) on 127.0.0.1 and stops it
// when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	p := &Proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// URL returns the postgres:// URL u with its host and port replaced by the
// proxy's.
func (p *Proxy) URL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		p.t.Fatalf("pgtest: proxy: %v", err)
	}
	parsed.Host = p.addr
	return parsed.String()
}

// Cut closes every proxied connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// BlackHole swallows every byte in both directions, on the connections
// open now and on new ones, until Restore.
func (p *Proxy) BlackHole() {
	p.mu.Lock()
	p.holed = true
	p.mu.Unlock()
}

// Restore accepts connections again after Cut. After BlackHole it closes
// the connections that lost bytes (their streams are broken, as TCP
// connections through a long partition time out) and forwards again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.holed {
		p.holed = false
		for c := range p.conns {
			c.Close()
			delete(p.conns, c)
		}
	}
	if p.ln != nil || p.closed {
		return
	}
	// Go listens with SO_REUSEADDR, so the port just closed can be bound again.
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Errorf("pgtest: proxy: listen again on %s: %v", p.addr, err)
		return
	}
	p.serveLocked(ln)
}

func (p *Proxy) isHoled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.holed
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serveLocked(ln)
}

func (p *Proxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Cut
			}
			p.wg.Add(1)
			go p.pipe(c)
		}
	}()
}

// pipe connects client c to the target until either side closes or Cut.
func (p *Proxy) pipe(c net.Conn) {
	defer p.wg.Done()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut while dialling
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && !p.isHoled() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go cp(s, c)
	go cp(c, s)
	<-done
	// One direction ended: end both, so the other copy returns too.
	c.Close()
	s.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}
