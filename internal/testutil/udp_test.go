package testutil

import (
	"golang.org/x/sys/unix"

	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB that records Errorf instead of failing, and
// signals each one.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
	got  chan struct{}
}

func newRecorder(t *testing.T) *recorder { return &recorder{TB: t, got: make(chan struct{}, 100)} }

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// waitError waits until an error mentioning s was recorded.
func (r *recorder) waitError(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(Deadline)
	for {
		for _, e := range r.errors() {
			if strings.Contains(e, s) {
				return
			}
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("no error about %s; got %q", s, r.errors())
		}
	}
}

func listenUDP(t *testing.T, addr string) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket(udpNetwork(addr), addr)
	if err != nil {
		t.Skipf("cannot bind %s here: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// udpNetwork is udp6 for "[…]:port", else udp4: "udp" would make
// 0.0.0.0 a dual-stack [::] socket.
func udpNetwork(addr string) string {
	if strings.HasPrefix(addr, "[") {
		return "udp6"
	}
	return "udp4"
}

func mustPrefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// The sockets of this process are found with their addresses, and those
// bound to a wildcard or a non-loopback address are outside Loopback().
func TestUDPSocketsOfTestProcess(t *testing.T) {
	cases := []struct {
		bind    string
		want    string // the address /proc shows
		outside bool
	}{
		{"127.0.0.1:0", "127.0.0.1", false},
		{"127.0.0.2:0", "127.0.0.2", false},
		{"0.0.0.0:0", "0.0.0.0", true},
		{"[::1]:0", "::1", false},
		{"[::]:0", "::", true},
	}
	for _, c := range cases {
		t.Run(c.bind, func(t *testing.T) {
			port := listenUDP(t, c.bind).Port()
			socks, err := UDPSockets(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			var found *UDPSocket
			for i := range socks {
				if socks[i].Local.Port() == port {
					found = &socks[i]
				}
			}
			if found == nil || found.Local.Addr().Unmap().String() != c.want || found.PID != os.Getpid() {
				t.Fatalf("socket on port %d: %+v (all: %v)", port, found, socks)
			}
			if out := Outside([]UDPSocket{*found}, Loopback()); (len(out) == 1) != c.outside {
				t.Errorf("Outside(%s) = %v, want outside %v", found.Local, out, c.outside)
			}
		})
	}
}

// AssertLoopbackUDP fails for a wildcard bind of the process and passes
// for a loopback one.
func TestAssertLoopbackUDP(t *testing.T) {
	t.Run("loopback", func(t *testing.T) {
		listenUDP(t, "127.0.0.1:0")
		r := newRecorder(t)
		AssertLoopbackUDP(r, nil, os.Getpid())
		if errs := r.errors(); len(errs) != 0 {
			t.Fatalf("failed on loopback sockets: %q", errs)
		}
	})
	t.Run("wildcard", func(t *testing.T) {
		a := listenUDP(t, "0.0.0.0:0")
		r := newRecorder(t)
		AssertLoopbackUDP(r, nil, os.Getpid())
		want := fmt.Sprintf("0.0.0.0:%d", a.Port())
		if errs := r.errors(); len(errs) != 1 || !strings.Contains(errs[0], want) {
			t.Fatalf("errors %q, want one about %s", errs, want)
		}
	})
}

// A watch sees a socket opened after it started, reports it once however
// often it samples, and nothing after Stop.
func TestWatchUDP(t *testing.T) {
	r := newRecorder(t)
	w := WatchUDP(r, "self", os.Getpid(), WatchOptions{})
	listenUDP(t, "127.0.0.1:0")
	a := listenUDP(t, "0.0.0.0:0")
	want := fmt.Sprintf("0.0.0.0:%d", a.Port())
	r.waitError(t, want)
	w.Check()
	w.Check()
	w.Stop()
	w.Stop()
	w.Check()
	if errs := r.errors(); len(errs) != 1 {
		t.Fatalf("errors %q, want one about %s", errs, want)
	}
}

// A watch with Tree sees the sockets of a child of the process.
func TestWatchUDPTree(t *testing.T) {
	cmd := startHelper(t, nil, "child", "0.0.0.0:0")
	if d := Descendants(cmd.Process.Pid); len(d) != 1 {
		t.Fatalf("descendants of the helper: %v", d)
	}
	r := newRecorder(t)
	w := WatchUDP(r, "helper", cmd.Process.Pid, WatchOptions{Tree: true})
	r.waitError(t, "0.0.0.0:")
	w.Stop()
	r = newRecorder(t)
	w = WatchUDP(r, "helper", cmd.Process.Pid, WatchOptions{})
	w.Check()
	w.Stop()
	if errs := r.errors(); len(errs) != 0 {
		t.Fatalf("without Tree the child was checked: %q", errs)
	}
}

// Inside a namespace its own address passes, a wildcard does not; the
// tables read are the namespace's.
func TestNetNSAllowed(t *testing.T) {
	ns := NewNetNS(t)
	for _, c := range []struct {
		bind    string
		outside bool
	}{
		{ns.Addr().String() + ":0", false},
		{"127.0.0.1:0", false},
		{"0.0.0.0:0", true},
	} {
		t.Run(c.bind, func(t *testing.T) {
			cmd := startHelper(t, ns, "bind", c.bind)
			r := newRecorder(t)
			AssertLoopbackUDP(r, ns.Allowed(), cmd.Process.Pid)
			if errs := r.errors(); (len(errs) == 1) != c.outside || len(errs) > 1 {
				t.Fatalf("errors %q, want outside %v", errs, c.outside)
			}
			socks, err := UDPSockets(cmd.Process.Pid)
			if err != nil || len(socks) != 1 {
				t.Fatalf("sockets %v, %v", socks, err)
			}
		})
	}
	// The namespace's address is nowhere outside it.
	l, err := net.ListenPacket("udp4", ns.Addr().String()+":0")
	if err == nil {
		_ = l.Close()
		t.Fatalf("%s is bindable outside the namespace", ns.Addr())
	}
	if got := ns.ICE(); got != "127.0.0.1/32,10.213.0.0/24" {
		t.Errorf("ICE() = %q", got)
	}
}

// /proc prints addresses as 32-bit words in the machine's byte order.
func TestParseProcAddr(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the literals below are little-endian")
	}
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0035":                         "0.0.0.0:53",
		"00000000000000000000000001000000:0035": "[::1]:53",
		"0000000000000000FFFF00000100007F:0050": "[::ffff:127.0.0.1]:80",
		"B80D0120000000000000000001000000:01BB": "[2001:db8::1]:443",
	} {
		got, err := parseProcAddr(in)
		if err != nil || got.String() != want {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0100007F", "0100007F:", "7F:1F90", "0100007G:1F90", "0100007F:10000"} {
		if _, err := parseProcAddr(bad); err == nil {
			t.Errorf("parseProcAddr(%q) took it", bad)
		}
	}
}

func TestOutside(t *testing.T) {
	socks := func(addrs ...string) []UDPSocket {
		var out []UDPSocket
		for _, a := range addrs {
			out = append(out, UDPSocket{Local: netip.MustParseAddrPort(a)})
		}
		return out
	}
	allowed := append(Loopback(), mustPrefixes("10.213.0.1/32")...)
	got := Outside(socks("127.0.0.1:1", "[::1]:2", "[::ffff:127.0.0.1]:3", "10.213.0.1:4",
		"0.0.0.0:5", "[::]:6", "10.213.0.2:7", "192.0.2.2:8", "[fe80::1]:9"), allowed)
	var ports []uint16
	for _, s := range got {
		ports = append(ports, s.Local.Port())
	}
	if !slices.Equal(ports, []uint16{5, 6, 7, 8, 9}) {
		t.Errorf("outside: %v", got)
	}
}

// Do never moves the test process's main thread (whose namespace
// /proc/PID/net shows) into the namespace, however often it runs.
func TestNetNSDoKeepsMainThread(t *testing.T) {
	ns := NewNetNS(t)
	before, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		var inside string
		if err := ns.Do(func() error {
			var err error
			inside, err = os.Readlink(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if inside == before {
			t.Fatalf("Do ran in the test's namespace %s", inside)
		}
	}
	if after, _ := os.Readlink("/proc/self/ns/net"); after != before {
		t.Fatalf("the main thread moved from %s to %s", before, after)
	}
}
