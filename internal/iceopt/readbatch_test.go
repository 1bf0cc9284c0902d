package iceopt

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// wait bounds what a test waits for an event that should come at once.
const wait = 10 * time.Second

func loopbackPaced(t *testing.T, every time.Duration) *pacedConn {
	t.Helper()
	p, err := listenPaced("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, every)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if ua := p.LocalAddr().(*net.UDPAddr); ua.Port == 0 || !ua.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("LocalAddr %v, want 127.0.0.1 and a port", ua)
	}
	return p
}

func loopbackUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Datagrams queued before a read come out in order, whole, with their
// sender's address, 64 per system call; one longer than readBufSize is
// dropped and counted.
func TestPacedConnReadsInBatches(t *testing.T) {
	p := loopbackPaced(t, time.Millisecond)
	sender := loopbackUDP(t)
	const n, long = 100, 50
	size := func(i int) int { return 1 + i*15 } // up to 1486 bytes
	for i := range n {
		msg := bytes.Repeat([]byte{byte(i)}, size(i))
		if i == long {
			msg = bytes.Repeat([]byte{byte(i)}, readBufSize+1)
		}
		if _, err := sender.WriteTo(msg, p.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 9000)
	from := sender.LocalAddr().(*net.UDPAddr).AddrPort()
	for i := range n {
		if i == long {
			continue
		}
		got, addr, err := p.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if got != size(i) || buf[0] != byte(i) || buf[got-1] != byte(i) {
			t.Fatalf("datagram %d: %d bytes starting %d, want %d bytes of %d", i, got, buf[0], size(i), i)
		}
		if addr != from {
			t.Fatalf("datagram %d from %v, want %v", i, addr, from)
		}
	}
	// Loopback delivers at sendto: all 100 were queued at the first read.
	if b := p.batches.Load(); b != 2 {
		t.Errorf("%d recvmmsg calls for 100 queued datagrams, want 2 (64 at most each)", b)
	}
	if tr := p.truncated.Load(); tr != 1 {
		t.Errorf("%d datagrams dropped as too long, want 1", tr)
	}
}

// After a read that drained the socket, the next read waits the pacing
// interval — once the socket has read readWarmup datagrams (handshakes
// before that are not slowed down).
func TestPacedConnWaitsAfterDraining(t *testing.T) {
	const every = 30 * time.Millisecond
	p := loopbackPaced(t, every)
	sender := loopbackUDP(t)
	buf := make([]byte, 100)
	send := func(n int) time.Time {
		t.Helper()
		start := time.Now()
		for i := range n {
			if _, err := sender.WriteTo([]byte{byte(i)}, p.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		return start
	}
	read := func(n int) {
		t.Helper()
		for range n {
			if _, _, err := p.ReadFromAddrPort(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Warming up: lone datagrams, one recvmmsg each, no pause.
	for range readWarmup - 1 {
		send(1)
		read(1)
	}
	if b, ps := p.batches.Load(), p.pauses.Load(); b != readWarmup-1 || ps != 0 {
		t.Fatalf("%d lone datagrams: %d batches, %d pauses; want %d and 0", readWarmup-1, b, ps, readWarmup-1)
	}
	send(1)
	read(1) // the readWarmup-th: pacing from now on
	// Back-to-back lone datagrams look like a rate of thousands a second,
	// which shortens the pause (TestPacedConnPause); forget it.
	p.since = 0
	start := send(2)
	read(2)
	if d := time.Since(start); d < every || p.pauses.Load() != 1 {
		t.Fatalf("2 datagrams were read %v after they were sent, after %d pauses; want ≥ %v and 1",
			d, p.pauses.Load(), every)
	}
}

// Writes leave at once, in each form pion may use.
func TestPacedConnWrites(t *testing.T) {
	p := loopbackPaced(t, time.Millisecond)
	peer := loopbackUDP(t)
	to := peer.LocalAddr().(*net.UDPAddr)
	sends := []func([]byte) (int, error){
		func(b []byte) (int, error) { return p.WriteToAddrPort(b, to.AddrPort()) },
		func(b []byte) (int, error) { return p.WriteTo(b, to) },
		func(b []byte) (int, error) { return p.WriteToUDP(b, to) },
		func(b []byte) (int, error) { n, _, err := p.WriteMsgUDP(b, nil, to); return n, err },
	}
	buf := make([]byte, 100)
	for i, send := range sends {
		msg := fmt.Appendf(nil, "write %d", i)
		if n, err := send(msg); err != nil || n != len(msg) {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
		_ = peer.SetReadDeadline(time.Now().Add(wait))
		n, from, err := peer.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], msg) || from.AddrPort() != p.LocalAddr().(*net.UDPAddr).AddrPort() {
			t.Fatalf("peer got %q from %v, want %q from %v", buf[:n], from, msg, p.LocalAddr())
		}
	}
	if _, err := p.Write([]byte("x")); err == nil {
		t.Error("Write on an unconnected socket succeeded")
	}
}

// Close wakes a read blocked in the kernel; it and every later read and
// write fail with net.ErrClosed. SetDeadline(now), which pion calls before
// Close, does the same for reads.
func TestPacedConnCloseWakesReader(t *testing.T) {
	for _, how := range []string{"Close", "SetDeadline"} {
		t.Run(how, func(t *testing.T) {
			p := loopbackPaced(t, time.Millisecond)
			done := make(chan error, 1)
			go func() {
				_, _, err := p.ReadFromAddrPort(make([]byte, 100))
				done <- err
			}()
			time.Sleep(20 * time.Millisecond) // let the read block (it fails the same if it did not yet)
			if how == "Close" {
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
			} else if err := p.SetDeadline(time.Now()); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("blocked read returned %v, want net.ErrClosed", err)
				}
			case <-time.After(wait):
				t.Fatalf("%s did not wake the blocked read", how)
			}
			if _, _, err := p.ReadFromAddrPort(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read after %s: %v", how, err)
			}
			if how == "Close" {
				if _, err := p.WriteToAddrPort([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("write after Close: %v", err)
				}
			}
			if err := p.SetDeadline(time.Now().Add(time.Hour)); err == nil {
				t.Error("a future deadline was accepted")
			}
		})
	}
}

func TestSockaddr(t *testing.T) {
	for _, tc := range []struct {
		network, addr string
		ok            bool
	}{
		{"udp4", "127.0.0.1:5000", true},
		{"udp4", "0.0.0.0:0", true},
		{"udp", "10.1.2.3:1", true},
		{"udp6", "[::1]:5000", true},
		{"udp", "[2001:db8::1]:5000", true},
		{"udp4", "[2001:db8::1]:5000", false},
		{"tcp", "127.0.0.1:1", false},
	} {
		_, sa, err := sockaddr(tc.network, netip.MustParseAddrPort(tc.addr))
		if (err == nil) != tc.ok {
			t.Errorf("sockaddr(%s, %s): %v, %v", tc.network, tc.addr, sa, err)
		}
	}
}

// pacedNet is what Config.Apply gives pion when ReadEvery is set.
func TestPacedNet(t *testing.T) {
	n := newPacedNet(time.Millisecond)
	ifs, err := n.Interfaces()
	if err != nil || len(ifs) == 0 {
		t.Fatalf("Interfaces: %v, %v", ifs, err)
	}
	if _, err := n.InterfaceByName(ifs[0].Name); err != nil {
		t.Fatal(err)
	}
	c, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, ok := c.(*pacedConn); !ok {
		t.Fatalf("ListenUDP gave a %T", c)
	}
}

// The pause shortens when, at the last batch's rate, more than one batch
// would queue in it.
func TestPacedConnPause(t *testing.T) {
	p := &pacedConn{every: 20 * time.Millisecond}
	for _, tc := range []struct {
		n     int
		since time.Duration
		want  time.Duration
	}{
		{n: 5, since: 0, want: 20 * time.Millisecond},                         // first batch: no rate yet
		{n: 30, since: 20 * time.Millisecond, want: 20 * time.Millisecond},    // 1500/s: 30 per pause
		{n: 63, since: 20 * time.Millisecond, want: 20 * time.Millisecond},    // 3150/s: 63 per pause
		{n: 32, since: 5 * time.Millisecond, want: 10 * time.Millisecond},     // 6400/s: 64 in 10 ms
		{n: 62, since: 1 * time.Millisecond, want: 1032258 * time.Nanosecond}, // 62000/s
	} {
		p.n, p.since = tc.n, tc.since
		if got := p.pause(); got != tc.want {
			t.Errorf("%d datagrams in %v: pause %v, want %v", tc.n, tc.since, got, tc.want)
		}
	}
}
