package testutil

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// NetNS is a network namespace of the test's own. Chromium gathers no ICE
// candidates on loopback, so a browser test needs an interface with an
// address; the namespace gives it one that exists nowhere else: lo up, and
// a veth pair whose both ends stay inside, one of them with NetNSAddr and
// the default route. Whatever is sent to that address, or along that
// route, never leaves the namespace. Everything that talks to the browser
// runs inside too: roomctl processes (Cmd.NetNS), Chromium (StartChromium)
// and the page's report endpoint (NewPageReport).
type NetNS struct {
	name string
	addr netip.Prefix
}

// NetNSAddr is the address (and network) of a NetNS's veth end.
const NetNSAddr = "10.213.0.1/24"

// NewNetNS creates a namespace (root and `ip` needed: otherwise the test is
// skipped, or fails in CI); t.Cleanup deletes it.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	NeedRoot(t, "a network namespace")
	Need(t, "ip")
	n := &NetNS{name: "roomctl-test-" + strings.ToLower(rand.Text()[:10]), addr: netip.MustParsePrefix(NetNSAddr)}
	if err := ipCmd("netns", "add", n.name); err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs after the cleanups of what runs inside.
	t.Cleanup(func() {
		if err := ipCmd("netns", "delete", n.name); err != nil {
			t.Errorf("%v", err)
		}
	})
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "veth0", "type", "veth", "peer", "name", "veth1"},
		// No IPv6 link-local addresses: the namespace's only addresses are
		// loopback and n.addr.
		{"link", "set", "veth0", "addrgenmode", "none"},
		{"link", "set", "veth1", "addrgenmode", "none"},
		{"addr", "add", n.addr.String(), "dev", "veth0"},
		{"link", "set", "veth0", "up"},
		{"link", "set", "veth1", "up"},
		// A default route, so that the veth address is the default local
		// address: Chromium finds it by connecting a UDP socket to a public
		// address, and without a route that socket stays bound to 0.0.0.0
		// until Chromium closes it. Nothing sent along it gets further than
		// veth1, inside.
		{"route", "add", "default", "dev", "veth0"},
	} {
		if err := ipCmd(append([]string{"-n", n.name}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Name is the namespace's name (`ip netns list`).
func (n *NetNS) Name() string { return n.name }

// Addr is the namespace's one address besides loopback.
func (n *NetNS) Addr() netip.Addr { return n.addr.Addr() }

// ICE is the ROOMCTL_ICE_IP of a roomctl process inside: loopback and the
// namespace's network.
func (n *NetNS) ICE() string { return "127.0.0.1/32," + n.addr.Masked().String() }

// Allowed is where a process inside may bind UDP sockets: the
// namespace's addresses.
func (n *NetNS) Allowed() []netip.Prefix {
	return append(Loopback(), netip.PrefixFrom(n.addr.Addr(), n.addr.Addr().BitLen()))
}

// Do runs fn on an OS thread of its own switched into the namespace:
// sockets fn opens and processes it starts are inside. The thread is never
// handed back to the scheduler (the goroutine ends locked, so the runtime
// ends the thread), and the runtime does not start new threads from a
// locked one: nothing else ever runs in the namespace by accident.
func (n *NetNS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go n.do(fn, errc)
	return <-errc
}

func (n *NetNS) do(fn func() error, errc chan<- error) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread cannot be ended: it would stay in the namespace,
		// and /proc/PID/net (the loopback assertion's view of the test
		// process) follows it. Holding it, run on another thread.
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.do(fn, errc)
		}()
		<-done
		runtime.UnlockOSThread()
		return
	}
	f, err := os.Open("/run/netns/" + n.name)
	if err != nil {
		errc <- err
		return
	}
	defer func() { _ = f.Close() }()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		errc <- fmt.Errorf("enter network namespace %s: %w", n.name, err)
		return
	}
	errc <- fn()
}

// Listen opens a listener inside the namespace.
func (n *NetNS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}
