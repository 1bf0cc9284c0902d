package iceopt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sys/unix"
)

// Paced reads (Config.ReadEvery). pion receives every datagram with one
// recvmsg(2) and hands it through four goroutines (ICE, the DTLS/SRTP
// demultiplexer, SRTP, the track's reader), so at a steady packet rate a
// process wakes up, and goes to sleep again, once per packet: for
// `record` the wakeups cost more than the packets' work. Batching the
// reads alone does not help: Go's network poller watches every socket it
// made, edge-triggered, and epoll_wait returns at every datagram that
// arrives, whether a goroutine waits for it or not.
//
// So a paced socket is made here, outside the poller: a blocking socket
// read by its goroutine with recvmmsg(2) (MSG_WAITFORONE: it waits for
// one datagram and takes every other one already queued, up to
// readBatch). When a read found fewer than that — the socket is
// drained — the next one first sleeps ReadEvery (less at a packet rate
// that would queue more than readBatch meanwhile; not before the first
// readWarmup datagrams), so datagrams queue in the kernel's receive
// buffer and pass pion's goroutines in bursts. A socket
// no packet comes to blocks in the kernel at no cost. Linux only
// (recvmmsg), as roomctl is.
//
// The receive buffer: Linux's default (net.core.rmem_default, 208 KB)
// holds 92 datagrams of 1200 bytes on loopback (each costs its buffer's
// true size, ~2.3 KB); a paced socket asks for rcvBuf, which the kernel
// grants up to net.core.rmem_max (the same 208 KB on a stock Debian,
// more where an operator raised it, as LiveKit's docs advise) — room for
// a keyframe's burst on top of a pause's worth.
const (
	// readBatch is how many datagrams one recvmmsg takes at most, and how
	// many a pause lets queue at most (see pause).
	readBatch = 64
	// readBufSize holds any datagram pion's WebRTC layer takes: it reads
	// what ICE passes on with buffers of 1500 bytes (its receiveMTU) and
	// drops longer ones. A datagram longer than readBufSize is dropped
	// here (ICE's own STUN messages are a few hundred bytes).
	readBufSize = 2048
	// rcvBuf is the receive buffer a paced socket asks for (see above).
	rcvBuf = 1 << 20
	// readWarmup is how many datagrams a socket reads before it paces:
	// its handshakes (ICE checks, DTLS) are round trips of a datagram or
	// a few, and a pause would be added to each of them. (Pausing only
	// after batches of more than one does not do: once a lone datagram
	// ends a batch, the next read returns the moment one datagram
	// arrives, alone again, and the socket is read per packet from then
	// on, each a blocking system call — more costly than not pacing.)
	readWarmup = 64
)

// errPacedDeadline: pion sets a deadline only to abort reads (now) before
// it closes a socket; a paced socket supports that and nothing else.
var errPacedDeadline = errors.New("paced UDP socket: only a deadline of now (abort) is supported")

// pacedNet is pion's standard network whose UDP sockets read paced.
type pacedNet struct {
	*stdnet.Net
	every time.Duration
}

// newPacedNet: the embedded stdnet.Net serves the methods that need no
// interface list (Dial, Resolve…); the three below list them afresh.
func newPacedNet(every time.Duration) *pacedNet {
	return &pacedNet{Net: &stdnet.Net{}, every: every}
}

// The interfaces as they are now: pion's default network is made per
// PeerConnection and lists them then; this one lives as long as the API
// and must not keep a stale list.

func (n *pacedNet) Interfaces() ([]*transport.Interface, error) {
	fresh, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return fresh.Interfaces()
}

func (n *pacedNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	fresh, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return fresh.InterfaceByIndex(index)
}

func (n *pacedNet) InterfaceByName(name string) (*transport.Interface, error) {
	fresh, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return fresh.InterfaceByName(name)
}

// ListenUDP opens a paced socket.
func (n *pacedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	return listenPaced(network, laddr, n.every)
}

// pacedConn is a paced UDP socket (see readBatch's comment). Reads are
// meant for one goroutine at a time (they are serialized); writes go
// straight out with sendto(2).
type pacedConn struct {
	fd    int
	laddr *net.UDPAddr
	every time.Duration

	// fdMu is held (shared) by every system call on fd and taken by
	// Close to close it and set fd to -1: the number is never reused
	// under a call.
	fdMu    sync.RWMutex
	aborted atomic.Bool // reads are shut down (SetDeadline(now) or Close)

	mu       sync.Mutex // the read state below
	hdrs     []unix.Mmsghdr
	iovs     []unix.Iovec
	names    [][unix.SizeofSockaddrInet6]byte
	bufs     [][]byte
	next, n  int           // hdrs[next:n] are read and not yet returned
	received int           // datagrams read so far
	readAt   time.Time     // when the last batch was read
	since    time.Duration // from the batch before it to that one

	batches   atomic.Uint64 // recvmmsg calls that returned datagrams (tests)
	pauses    atomic.Uint64 // pauses taken before a read (tests)
	truncated atomic.Uint64 // datagrams dropped for being longer than readBufSize
}

func listenPaced(network string, laddr *net.UDPAddr, every time.Duration) (*pacedConn, error) {
	if laddr == nil {
		laddr = &net.UDPAddr{}
	}
	family, sa, err := sockaddr(network, laddr.AddrPort())
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: err}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: fmt.Errorf("socket: %w", err)}
	}
	if family == unix.AF_INET6 {
		v6only := 0
		if network == "udp6" {
			v6only = 1
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf) // capped by the kernel, never refused
	if err := unix.Bind(fd, sa); err != nil {
		_ = unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: fmt.Errorf("bind: %w", err)}
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		_ = unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: fmt.Errorf("getsockname: %w", err)}
	}
	p := &pacedConn{
		fd: fd, laddr: fromSockaddr(bound), every: every,
		hdrs:  make([]unix.Mmsghdr, readBatch),
		iovs:  make([]unix.Iovec, readBatch),
		names: make([][unix.SizeofSockaddrInet6]byte, readBatch),
		bufs:  make([][]byte, readBatch),
	}
	for i := range p.hdrs {
		p.bufs[i] = make([]byte, readBufSize)
		p.iovs[i].Base = &p.bufs[i][0]
		p.iovs[i].SetLen(readBufSize)
		p.hdrs[i].Hdr.Iov = &p.iovs[i]
		p.hdrs[i].Hdr.SetIovlen(1)
		p.hdrs[i].Hdr.Name = &p.names[i][0]
	}
	return p, nil
}

// sockaddr is addr as a socket address of network's family ("udp": IPv4
// for an IPv4 or unspecified address).
func sockaddr(network string, addr netip.AddrPort) (int, unix.Sockaddr, error) {
	ip := addr.Addr()
	switch {
	case network == "udp4" || (network == "udp" && (!ip.IsValid() || ip.Is4() || ip.Is4In6())):
		if ip.IsValid() && !ip.Unmap().Is4() {
			return 0, nil, fmt.Errorf("%s is not an IPv4 address", ip)
		}
		sa := &unix.SockaddrInet4{Port: int(addr.Port())}
		if ip.IsValid() {
			sa.Addr = ip.Unmap().As4()
		}
		return unix.AF_INET, sa, nil
	case network == "udp6" || network == "udp":
		sa := &unix.SockaddrInet6{Port: int(addr.Port())}
		if ip.IsValid() {
			sa.Addr = ip.As16()
		}
		return unix.AF_INET6, sa, nil
	}
	return 0, nil, net.UnknownNetworkError(network)
}

func fromSockaddr(sa unix.Sockaddr) *net.UDPAddr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.UDPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.UDPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	}
	return &net.UDPAddr{}
}

// rawAddr parses the socket address recvmmsg wrote: family (host byte
// order), port (network byte order), then the address.
func rawAddr(b []byte) netip.AddrPort {
	port := binary.BigEndian.Uint16(b[2:4])
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port)
	}
	return netip.AddrPort{}
}

// ReadFromAddrPort returns the next datagram (pion's ICE reads this way).
func (p *pacedConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for ; p.next < p.n; p.next++ {
			if p.hdrs[p.next].Hdr.Flags&unix.MSG_TRUNC != 0 {
				p.truncated.Add(1) // longer than readBufSize (see there)
				continue
			}
			n := copy(b, p.bufs[p.next][:p.hdrs[p.next].Len])
			addr := rawAddr(p.names[p.next][:])
			p.next++
			return n, addr, nil
		}
		if p.received >= readWarmup && p.n < len(p.hdrs) {
			// The last read drained the socket: let datagrams queue.
			p.pauses.Add(1)
			time.Sleep(p.pause())
		}
		n, err := p.readBatch()
		p.next, p.n = 0, n
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		p.received += n
		now := time.Now()
		if !p.readAt.IsZero() {
			p.since = now.Sub(p.readAt)
		}
		p.readAt = now
	}
}

// pause is how long to let datagrams queue: every, or less when at the
// rate of the last batch (n datagrams since the batch before) more than
// one batch would queue meanwhile — what the receive buffer cannot hold
// is lost.
func (p *pacedConn) pause() time.Duration {
	if p.since > 0 && time.Duration(p.n)*p.every > time.Duration(readBatch)*p.since {
		return p.since * readBatch / time.Duration(p.n)
	}
	return p.every
}

// readBatch waits for datagrams and reads all that are queued (up to
// readBatch); p.mu is held.
func (p *pacedConn) readBatch() (int, error) {
	for i := range p.hdrs {
		p.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		p.hdrs[i].Hdr.Flags = 0
	}
	for {
		p.fdMu.RLock()
		if p.aborted.Load() {
			p.fdMu.RUnlock()
			return 0, p.readErr(net.ErrClosed)
		}
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&p.hdrs[0])),
			uintptr(len(p.hdrs)), unix.MSG_WAITFORONE, 0, 0)
		p.fdMu.RUnlock()
		switch {
		case errno == unix.EINTR:
			continue
		case errno != 0:
			return 0, p.readErr(errno)
		case r == 0 || p.aborted.Load():
			// Shut down (Close, SetDeadline(now)): recvmmsg returns 0.
			return 0, p.readErr(net.ErrClosed)
		}
		p.batches.Add(1)
		return int(r), nil
	}
}

func (p *pacedConn) readErr(err error) error {
	return &net.OpError{Op: "read", Net: "udp", Addr: p.laddr, Err: err}
}

// abortReads wakes a read blocked in recvmmsg and fails every later one:
// shutdown(2) sets the socket's receive side shut, which makes a blocked
// recvmmsg return 0 (Linux returns ENOTCONN for an unconnected UDP socket
// but shuts it all the same).
func (p *pacedConn) abortReads() {
	if p.aborted.Swap(true) {
		return
	}
	p.fdMu.RLock()
	defer p.fdMu.RUnlock()
	if p.fd >= 0 {
		_ = unix.Shutdown(p.fd, unix.SHUT_RD)
	}
}

// ReadFrom returns the next datagram.
func (p *pacedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := p.ReadFromUDP(b)
	if err != nil {
		return n, nil, err
	}
	return n, addr, nil
}

// ReadFromUDP returns the next datagram.
func (p *pacedConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, addr, err := p.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// Read returns the next datagram's payload.
func (p *pacedConn) Read(b []byte) (int, error) {
	n, _, err := p.ReadFromAddrPort(b)
	return n, err
}

// ReadMsgUDP returns the next datagram; there is never control data.
func (p *pacedConn) ReadMsgUDP(b, _ []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, addr, err = p.ReadFromUDP(b)
	return n, 0, 0, addr, err
}

// WriteToAddrPort sends b to addr (pion's ICE writes this way).
func (p *pacedConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	_, sa, err := sockaddr("udp", addr)
	if err == nil {
		p.fdMu.RLock()
		if p.fd < 0 {
			err = net.ErrClosed
		} else {
			err = unix.Sendto(p.fd, b, 0, sa)
		}
		p.fdMu.RUnlock()
	}
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: p.laddr, Addr: net.UDPAddrFromAddrPort(addr), Err: err}
	}
	return len(b), nil
}

// WriteTo sends b to addr, a *net.UDPAddr.
func (p *pacedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: p.laddr, Addr: addr, Err: unix.EAFNOSUPPORT}
	}
	return p.WriteToUDP(b, ua)
}

// WriteToUDP sends b to addr.
func (p *pacedConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	return p.WriteToAddrPort(b, addr.AddrPort())
}

// WriteMsgUDP sends b to addr; control data is not supported.
func (p *pacedConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	if len(oob) > 0 {
		return 0, 0, &net.OpError{Op: "write", Net: "udp", Source: p.laddr, Addr: addr, Err: unix.EOPNOTSUPP}
	}
	n, err = p.WriteToUDP(b, addr)
	return n, 0, err
}

// Write fails: the socket is not connected.
func (p *pacedConn) Write([]byte) (int, error) {
	return 0, &net.OpError{Op: "write", Net: "udp", Source: p.laddr, Err: unix.EDESTADDRREQ}
}

// Close aborts reads, waits for the system calls in flight and closes the
// socket; closing it again does nothing.
func (p *pacedConn) Close() error {
	p.abortReads()
	p.fdMu.Lock()
	defer p.fdMu.Unlock()
	if p.fd < 0 {
		return nil
	}
	err := unix.Close(p.fd)
	p.fd = -1
	return err
}

func (p *pacedConn) LocalAddr() net.Addr  { return p.laddr }
func (p *pacedConn) RemoteAddr() net.Addr { return nil }

// SetDeadline supports what pion asks of it: a deadline of now (or
// earlier) aborts reads — pion does that only right before Close, so they
// fail with net.ErrClosed, which pion's read loop takes as the end; no
// deadline is a no-op.
func (p *pacedConn) SetDeadline(t time.Time) error { return p.SetReadDeadline(t) }

// SetReadDeadline: see SetDeadline.
func (p *pacedConn) SetReadDeadline(t time.Time) error {
	switch {
	case t.IsZero():
		return nil
	case !t.After(time.Now()):
		p.abortReads()
		return nil
	}
	return errPacedDeadline
}

// SetWriteDeadline: writes never wait for long (sendto on UDP); only no
// deadline or one already past, which changes nothing, is accepted.
func (p *pacedConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() || !t.After(time.Now()) {
		return nil
	}
	return errPacedDeadline
}

func (p *pacedConn) SetReadBuffer(bytes int) error  { return p.setsockopt(unix.SO_RCVBUF, bytes) }
func (p *pacedConn) SetWriteBuffer(bytes int) error { return p.setsockopt(unix.SO_SNDBUF, bytes) }

func (p *pacedConn) setsockopt(opt, v int) error {
	p.fdMu.RLock()
	defer p.fdMu.RUnlock()
	if p.fd < 0 {
		return net.ErrClosed
	}
	return unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, opt, v)
}
