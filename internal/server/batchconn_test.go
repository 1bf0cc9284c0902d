package server

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

func loopbackUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// recvAll reads n datagrams (generous deadline) and returns them.
func recvAll(t *testing.T, c *net.UDPConn, n int) [][]byte {
	t.Helper()
	var out [][]byte
	buf := make([]byte, 4096)
	for len(out) < n {
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(out), n, err)
		}
		out = append(out, append([]byte(nil), buf[:k]...))
	}
	return out
}

func datagram(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	b[0] = byte(i >> 8)
	return b
}

// Datagrams queued and flushed arrive whole and in order, in one
// sendmmsg per flush; a full queue goes out by itself; one larger than the
// preallocated buffers too; what no Flush follows goes out within the
// backstop delay; Close sends what is queued.
func TestBatchConn(t *testing.T) {
	rx := loopbackUDP(t)
	to := rx.LocalAddr().(*net.UDPAddr)
	b := newBatchConn(loopbackUDP(t))
	b.delay = time.Hour // the batch counts below must not depend on the timer
	ap := to.AddrPort()

	var want [][]byte
	for i := range 50 {
		size := 100 + i
		if i == 7 {
			size = 2500 // larger than batchBufSize
		}
		p := datagram(i, size)
		want = append(want, p)
		var err error
		if i%2 == 0 {
			_, err = b.WriteTo(p, to)
		} else {
			_, err = b.WriteToAddrPort(p, ap)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	b.Flush()
	got := recvAll(t, rx, 50)
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("datagram %d: %d bytes %x…, want %d bytes %x…", i, len(got[i]), got[i][:2], len(want[i]), want[i][:2])
		}
	}
	if sent, batches, failed := b.stats(); sent != 50 || batches != 1 || failed != 0 {
		t.Fatalf("sent %d in %d batches (%d failed), want 50 in 1", sent, batches, failed)
	}

	// A full queue leaves without a Flush: 2 × maxBatch in 2 batches.
	for i := range 2 * maxBatch {
		if _, err := b.WriteToAddrPort(datagram(i, 200), ap); err != nil {
			t.Fatal(err)
		}
	}
	recvAll(t, rx, 2*maxBatch)
	if sent, batches, _ := b.stats(); sent != 50+2*maxBatch || batches != 3 {
		t.Fatalf("sent %d in %d batches, want %d in 3", sent, batches, 50+2*maxBatch)
	}

	// No Flush: the backstop timer sends it.
	b.mu.Lock()
	b.delay = batchDelay
	b.mu.Unlock()
	if _, err := b.WriteTo(datagram(1, 60), to); err != nil {
		t.Fatal(err)
	}
	recvAll(t, rx, 1)

	// Close sends what is queued, then writes fail.
	if _, err := b.WriteToAddrPort(datagram(2, 70), ap); err != nil {
		t.Fatal(err)
	}
	b.timer.Stop() // so that only Close can send it
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := recvAll(t, rx, 1); len(got[0]) != 70 {
		t.Fatalf("after Close: %d bytes, want 70", len(got[0]))
	}
	if _, err := b.WriteToAddrPort(datagram(3, 10), netip.AddrPort{}); err == nil {
		t.Fatal("write after Close: no error")
	}
}

// A datagram the kernel refuses is dropped and counted; the rest of the
// batch goes out.
func TestBatchConnRefused(t *testing.T) {
	rx := loopbackUDP(t)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	b := newBatchConn(loopbackUDP(t))
	b.delay = time.Hour
	defer b.Close()
	bad := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0) // port 0: EINVAL
	for i, addr := range []netip.AddrPort{to, bad, to} {
		if _, err := b.WriteToAddrPort(datagram(i, 100), addr); err != nil {
			t.Fatal(err)
		}
	}
	b.Flush()
	got := recvAll(t, rx, 2)
	if got[0][1] != 0 || got[1][1] != 2 {
		t.Fatalf("received datagrams %d and %d, want 0 and 2", got[0][1], got[1][1])
	}
	if sent, _, failed := b.stats(); sent != 2 || failed != 1 {
		t.Fatalf("sent %d, failed %d; want 2 and 1", sent, failed)
	}
}
