package testutil

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The loopback assertion. Tests must keep every packet on loopback: a
// process that gathers ICE candidates on the machine's real interfaces
// sends media over them (or to them, from a peer), which a shared CI host
// or a developer's laptop on a hostile network must not see. So every UDP
// socket a test's processes bind must be on an address the test allows,
// and a wildcard bind (0.0.0.0, ::) counts as outside: it receives on
// every interface.

// udpSampleEvery is how often a UDPWatch looks at a running process's
// sockets. A PeerConnection holds its sockets for as long as it is up
// (seconds at least), so a quarter second sees every one of them.
const udpSampleEvery = 250 * time.Millisecond

// Loopback is the address ranges a process of the host's network
// namespace may bind UDP sockets on: 127.0.0.0/8 and ::1.
func Loopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// UDPSocket is a UDP socket a process holds.
type UDPSocket struct {
	PID   int
	Local netip.AddrPort // where it is bound; 0.0.0.0 or :: for a wildcard bind
	Inode uint64
}

// UDPSockets lists the UDP sockets (IPv4 and IPv6) that pid holds: the
// socket inodes among its open files (/proc/PID/fd), looked up in the UDP
// tables of its network namespace (/proc/PID/net/udp, udp6).
func UDPSockets(pid int) ([]UDPSocket, error) {
	inodes, err := socketInodes(pid)
	if err != nil || len(inodes) == 0 {
		return nil, err
	}
	var out []UDPSocket
	for _, table := range []string{"udp", "udp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if errors.Is(err, fs.ErrNotExist) && table == "udp6" {
			continue // a kernel without IPv6
		}
		if err != nil {
			return nil, err
		}
		socks, err := parseUDPTable(b)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/net/%s: %w", pid, table, err)
		}
		for _, s := range socks {
			if inodes[s.Inode] {
				s.PID = pid
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// socketInodes is the set of socket inodes among pid's open files.
func socketInodes(pid int) (map[uint64]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	inodes := map[uint64]bool{}
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed since the listing
		}
		if s, ok := strings.CutPrefix(link, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				inodes[n] = true
			}
		}
	}
	return inodes, nil
}

// parseUDPTable parses /proc/net/udp or udp6: a header line, then one
// socket a line with its local address second and its inode tenth.
func parseUDPTable(b []byte) ([]UDPSocket, error) {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var out []UDPSocket
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 10 {
			return nil, fmt.Errorf("short line %q", l)
		}
		local, err := parseProcAddr(f[1])
		if err != nil {
			return nil, err
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("inode in %q: %w", l, err)
		}
		out = append(out, UDPSocket{Local: local, Inode: inode})
	}
	return out, nil
}

// parseProcAddr parses an address of /proc/net/udp{,6}: hex ADDR:PORT,
// where ADDR is 1 (IPv4) or 4 (IPv6) 32-bit words printed as numbers, so
// in the machine's byte order, and PORT a plain number.
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok || (len(h) != 8 && len(h) != 32) {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port in %q: %w", s, err)
	}
	raw := make([]byte, len(h)/2)
	for i := 0; i < len(h); i += 8 {
		w, err := strconv.ParseUint(h[i:i+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("address %q: %w", s, err)
		}
		binary.NativeEndian.PutUint32(raw[i/2:], uint32(w))
	}
	a, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// Outside returns the sockets bound outside allowed (an IPv4-mapped IPv6
// address counts as its IPv4 address; a wildcard bind is outside any
// range but 0.0.0.0/0 or ::/0).
func Outside(socks []UDPSocket, allowed []netip.Prefix) []UDPSocket {
	var out []UDPSocket
	for _, s := range socks {
		a := s.Local.Addr().Unmap()
		if !slices.ContainsFunc(allowed, func(p netip.Prefix) bool { return p.Contains(a) }) {
			out = append(out, s)
		}
	}
	return out
}

// AssertLoopbackUDP fails t for every UDP socket of pids bound outside
// allowed (nil: Loopback()). A process that is gone is skipped.
func AssertLoopbackUDP(t testing.TB, allowed []netip.Prefix, pids ...int) {
	t.Helper()
	if allowed == nil {
		allowed = Loopback()
	}
	for _, pid := range pids {
		socks, err := UDPSockets(pid)
		if err != nil {
			if !gone(err) {
				t.Errorf("pid %d: %v", pid, err)
			}
			continue
		}
		for _, s := range Outside(socks, allowed) {
			t.Errorf("%s: %s", procLabel(pid), outsideMessage(s, allowed))
		}
	}
}

func outsideMessage(s UDPSocket, allowed []netip.Prefix) string {
	return fmt.Sprintf("UDP socket bound to %s, outside %v: ICE must gather on loopback only (ROOMCTL_ICE_IP, --ice-ip)", s.Local, allowed)
}

// gone reports whether err says the process has ended.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// procLabel names a process in a failure: "pid 12 (chromium)".
func procLabel(pid int) string {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return fmt.Sprintf("pid %d", pid)
	}
	return fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(comm)))
}

// WatchOptions configure WatchUDP.
type WatchOptions struct {
	// Allowed is where the process may bind UDP sockets. Nil: Loopback().
	Allowed []netip.Prefix
	// Tree includes the process's descendants (Chromium's helpers, the
	// processes a script starts).
	Tree bool
}

// UDPWatch samples the UDP sockets of a running process every
// udpSampleEvery and fails the test, once per socket, for each one bound
// outside the allowed ranges. Create it with WatchUDP.
type UDPWatch struct {
	t    testing.TB
	name string
	pid  int
	opts WatchOptions

	mu       sync.Mutex // serializes checks
	stopped  bool
	reported map[string]bool

	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
}

// WatchUDP starts watching pid (named name in failures). The caller
// stops it with Stop before the process is reaped, so that a reused PID
// is never looked at; t.Cleanup does a last Check and stops it otherwise.
func WatchUDP(t testing.TB, name string, pid int, opts WatchOptions) *UDPWatch {
	if opts.Allowed == nil {
		opts.Allowed = Loopback()
	}
	w := &UDPWatch{t: t, name: name, pid: pid, opts: opts, reported: map[string]bool{},
		quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(udpSampleEvery)
		defer tick.Stop()
		for {
			w.Check()
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		w.Check()
		w.Stop()
	})
	return w
}

// Check looks at the sockets now; after Stop it does nothing.
func (w *UDPWatch) Check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	pids := []int{w.pid}
	if w.opts.Tree {
		pids = append(pids, Descendants(w.pid)...)
	}
	for _, pid := range pids {
		socks, err := UDPSockets(pid)
		if err != nil {
			if !gone(err) && !w.reported[err.Error()] {
				w.reported[err.Error()] = true
				w.t.Errorf("%s: %v", w.name, err)
			}
			continue
		}
		for _, s := range Outside(socks, w.opts.Allowed) {
			key := fmt.Sprint(pid, s.Local)
			if !w.reported[key] {
				w.reported[key] = true
				w.t.Errorf("%s: %s: %s", w.name, procLabel(pid), outsideMessage(s, w.opts.Allowed))
			}
		}
	}
}

// Stop ends the sampling; it returns once no check runs. Safe to call
// more than once.
func (w *UDPWatch) Stop() {
	w.stopOnce.Do(func() {
		close(w.quit)
		<-w.done
		w.mu.Lock()
		w.stopped = true
		w.mu.Unlock()
	})
}

// Descendants lists the processes below pid (children, their children…)
// from the parent PIDs in /proc/*/stat.
func Descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "PID (comm) STATE PPID ...": comm may hold spaces and parentheses.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], n)
		}
	}
	var out []int
	queue := slices.Clone(children[pid])
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p]...)
		out = append(out, p)
	}
	return out
}
