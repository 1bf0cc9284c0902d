package server

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
)

// Batched sends on the shared UDP port (serve --udp-port): every
// PeerConnection's packets leave through one socket, so the packets of one
// forwarded RTP packet to all its subscribers can go to the kernel in one
// sendmmsg(2) instead of one sendto(2) each — the system call was half of
// the server's CPU at 1 publisher → 50 subscribers.
const (
	// maxBatch is how many datagrams one sendmmsg carries at most.
	maxBatch = 64
	// batchDelay is how long a datagram may wait in the queue when no
	// Flush comes (RTCP, ICE, DTLS written outside the fan-out): the
	// timer's backstop.
	batchDelay = time.Millisecond
	// batchBufSize holds any datagram pion writes (its MTU is 1200-1500);
	// a larger one gets a buffer of its own.
	batchBufSize = 1500
)

// batchConn is a UDP socket whose writes are queued and sent together with
// sendmmsg: on Flush (fanoutTrack calls it once a packet was written to
// every subscriber), when maxBatch datagrams are queued, or batchDelay
// after the first queued one. Reads go straight to the socket. Writes
// report success once queued; a datagram the kernel then refuses is lost,
// as a datagram is that the network drops, and counted.
type batchConn struct {
	*net.UDPConn
	pc *ipv4.PacketConn

	mu     sync.Mutex
	msgs   [maxBatch]ipv4.Message
	bufs   [maxBatch][]byte
	n      int // queued datagrams: msgs[:n]
	addrs  map[netip.AddrPort]*net.UDPAddr
	timer  *time.Timer
	delay  time.Duration // batchDelay (tests change it)
	armed  bool
	closed bool

	// Counters, under mu.
	sent, batches, failed uint64
}

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c), addrs: map[netip.AddrPort]*net.UDPAddr{}, delay: batchDelay}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, batchBufSize)
		b.msgs[i].Buffers = [][]byte{nil}
	}
	b.timer = time.AfterFunc(time.Hour, b.Flush)
	b.timer.Stop()
	return b
}

// WriteTo queues p for addr.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return b.UDPConn.WriteTo(p, addr)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queueLocked(p, ua)
}

// WriteToAddrPort queues p for addr (pion's ICE mux writes this way).
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ua := b.addrs[addr]
	if ua == nil {
		if len(b.addrs) > 4096 {
			clear(b.addrs) // peers come and go; keep the cache bounded
		}
		ua = net.UDPAddrFromAddrPort(addr)
		b.addrs[addr] = ua
	}
	return b.queueLocked(p, ua)
}

// ReadFromAddrPort reads from the socket (the ICE mux's allocation-free read).
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.ReadFromUDPAddrPort(p)
}

func (b *batchConn) queueLocked(p []byte, addr *net.UDPAddr) (int, error) {
	if b.closed {
		return 0, net.ErrClosed
	}
	buf := b.bufs[b.n]
	if len(p) > cap(buf) {
		buf = make([]byte, len(p))
	}
	buf = buf[:copy(buf[:cap(buf)], p)]
	m := &b.msgs[b.n]
	m.Buffers[0], m.Addr = buf, addr
	b.n++
	switch {
	case b.n == maxBatch:
		b.flushLocked()
	case !b.armed:
		b.armed = true
		b.timer.Reset(b.delay)
	}
	return len(p), nil
}

// Flush sends what is queued.
func (b *batchConn) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *batchConn) flushLocked() {
	if b.armed {
		b.armed = false
		b.timer.Stop()
	}
	for done := 0; done < b.n; {
		k, err := b.pc.WriteBatch(b.msgs[done:b.n], 0)
		if err != nil || k <= 0 {
			// The first datagram was refused (on Linux, sendmmsg reports
			// an error only when nothing was sent): drop it, go on.
			b.failed++
			done++
			continue
		}
		b.batches++
		b.sent += uint64(k)
		done += k
	}
	for i := range b.n {
		b.msgs[i].Addr = nil
	}
	b.n = 0
}

// Close sends what is queued and closes the socket.
func (b *batchConn) Close() error {
	b.mu.Lock()
	b.flushLocked()
	b.closed = true
	b.mu.Unlock()
	return b.UDPConn.Close()
}

// stats returns the datagrams sent, the sendmmsg calls that carried them
// and the datagrams the kernel refused.
func (b *batchConn) stats() (sent, batches, failed uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sent, b.batches, b.failed
}

// flushers flushes a set of batchConns (the server's, one per local address).
type flushers []*batchConn

func (f flushers) Flush() {
	for _, b := range f {
		b.Flush()
	}
}
