package iceopt

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// parseCase is one input of a Parse function: what it gives, or the text
// its error must hold.
type parseCase[T comparable] struct {
	in      []string
	want    []T
	wantErr string
}

func testParse[T comparable](t *testing.T, name string, parse func([]string) ([]T, error), cases []parseCase[T]) {
	t.Helper()
	for _, tc := range cases {
		got, err := parse(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s(%q) = %v, error %v; want an error with %q", name, tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s(%q) = %v, %v; want %v", name, tc.in, got, err, tc.want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	testParse(t, "ParsePrefixes", ParsePrefixes, []parseCase[netip.Prefix]{
		{in: nil, want: nil},
		{in: []string{""}, want: nil},
		{in: []string{"127.0.0.1"}, want: prefixes("127.0.0.1/32")},
		{in: []string{"127.0.0.1/32"}, want: prefixes("127.0.0.1/32")},
		{in: []string{"10.1.2.3/8"}, want: prefixes("10.0.0.0/8")}, // masked
		{in: []string{"::1"}, want: prefixes("::1/128")},
		{in: []string{"10.0.0.0/8, 192.168.0.0/16", "127.0.0.1"}, want: prefixes("10.0.0.0/8", "192.168.0.0/16", "127.0.0.1/32")},
		{in: []string{"10.0.0.0/33"}, wantErr: `ip range "10.0.0.0/33"`},
		{in: []string{"eth0"}, wantErr: `ip range "eth0": want an address or a CIDR`},
		{in: []string{"127.0.0.1,300.1.1.1"}, wantErr: `ip range "300.1.1.1"`},
		{in: []string{"1.2.3.4/"}, wantErr: `ip range "1.2.3.4/"`},
	})
}

func TestParseAddrs(t *testing.T) {
	testParse(t, "ParseAddrs", ParseAddrs, []parseCase[netip.Addr]{
		{in: nil, want: nil},
		{in: []string{"203.0.113.7"}, want: addrs("203.0.113.7")},
		{in: []string{"203.0.113.7, 198.51.100.1"}, want: addrs("203.0.113.7", "198.51.100.1")},
		{in: []string{"::ffff:203.0.113.7"}, want: addrs("203.0.113.7")}, // IPv4 written as IPv6
		{in: []string{"203.0.113"}, wantErr: `address "203.0.113"`},
		{in: []string{"203.0.113.7/32"}, wantErr: `address "203.0.113.7/32"`},
		{in: []string{"0.0.0.0"}, wantErr: "cannot be advertised"},
		{in: []string{"127.0.0.1"}, wantErr: "cannot be advertised"},
		{in: []string{"224.0.0.251"}, wantErr: "cannot be advertised"},
		{in: []string{"2001:db8::1"}, wantErr: "want an IPv4 address"},
	})
}

func TestParseInterfaces(t *testing.T) {
	testParse(t, "ParseInterfaces", ParseInterfaces, []parseCase[string]{
		{in: nil, want: nil},
		{in: []string{"lo"}, want: []string{"lo"}},
		{in: []string{"eth0, lo", "wg0"}, want: []string{"eth0", "lo", "wg0"}},
		{in: []string{",,"}, want: nil},
		{in: []string{"eth 0"}, wantErr: `interface "eth 0": not an interface name`},
		{in: []string{"10.0.0.0/8"}, wantErr: "not an interface name"}, // a range given as an interface
	})
}

func TestKeep(t *testing.T) {
	c := Config{Interfaces: []string{"lo", "eth1"}, IPs: prefixes("127.0.0.0/8", "10.0.0.0/8")}
	for _, tc := range []struct {
		cfg  Config
		ip   string
		keep bool
	}{
		{Config{}, "192.0.2.2", true},
		{Config{}, "2001:db8::1", true},
		{c, "127.0.0.1", true},
		{c, "10.9.8.7", true},
		{c, "192.0.2.2", false},
		{c, "::ffff:10.0.0.1", true}, // IPv4-mapped: compared as IPv4
		{c, "::1", false},
	} {
		if got := tc.cfg.KeepIP(net.ParseIP(tc.ip)); got != tc.keep {
			t.Errorf("%v KeepIP(%s) = %v, want %v", tc.cfg, tc.ip, got, tc.keep)
		}
	}
	if c.KeepIP(nil) {
		t.Error("KeepIP(nil) with a filter kept it")
	}
	for name, keep := range map[string]bool{"lo": true, "eth1": true, "eth0": false, "": false} {
		if got := c.KeepInterface(name); got != keep {
			t.Errorf("KeepInterface(%q) = %v, want %v", name, got, keep)
		}
	}
	if !(Config{}).KeepInterface("anything") {
		t.Error("zero Config drops an interface")
	}
}

// host is a made-up machine: loopback, a private and a public interface.
var host = []Local{
	{"lo", netip.MustParseAddr("127.0.0.1")},
	{"eth0", netip.MustParseAddr("10.0.0.5")},
	{"eth1", netip.MustParseAddr("198.51.100.9")},
}

func hostLocals() ([]Local, error) { return host, nil }

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr error
		errHas  string
	}{
		{name: "zero", cfg: Config{}},
		{name: "loopback only", cfg: Config{IPs: prefixes("127.0.0.1/32")}},
		{name: "interface", cfg: Config{Interfaces: []string{"eth0"}}},
		{name: "interface and range", cfg: Config{Interfaces: []string{"eth0", "eth1"}, IPs: prefixes("198.51.100.0/24")}},
		{name: "nat alone", cfg: Config{NATIPs: addrs("203.0.113.7")}},
		{
			name: "no such interface", cfg: Config{Interfaces: []string{"eth9"}}, wantErr: ErrNoAddress,
			errHas: "interfaces eth9); this host has 127.0.0.1 (lo), 10.0.0.5 (eth0), 198.51.100.9 (eth1)",
		},
		{name: "range elsewhere", cfg: Config{IPs: prefixes("192.168.0.0/16")}, wantErr: ErrNoAddress},
		{name: "interface and range disjoint", cfg: Config{Interfaces: []string{"lo"}, IPs: prefixes("10.0.0.0/8")}, wantErr: ErrNoAddress},
		{name: "ipv6 range", cfg: Config{IPs: prefixes("::1/128")}, wantErr: ErrNoAddress},
		{name: "nat loopback", cfg: Config{NATIPs: addrs("127.0.0.1")}, wantErr: ErrNotAdvertisable},
		{name: "nat ipv6", cfg: Config{NATIPs: addrs("2001:db8::1")}, wantErr: ErrNotAdvertisable},
	} {
		err := tc.cfg.check(hostLocals)
		if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
			t.Errorf("%s: check = %v, want %v", tc.name, err, tc.wantErr)
		}
		if tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.errHas)
		}
	}
	listErr := errors.New("no netlink")
	err := Config{IPs: prefixes("127.0.0.1/32")}.check(func() ([]Local, error) { return nil, listErr })
	if !errors.Is(err, listErr) {
		t.Errorf("check with a failing listing = %v", err)
	}
}

func TestLocalsAndDescribe(t *testing.T) {
	c := Config{Interfaces: []string{"eth0", "eth1"}, NATIPs: addrs("203.0.113.7")}
	kept := c.keep(host)
	if got := Describe(kept); got != "10.0.0.5 (eth0), 198.51.100.9 (eth1)" {
		t.Errorf("Describe = %q", got)
	}
	if got := c.Advertised(kept); got != "203.0.113.7" {
		t.Errorf("Advertised with NAT = %q", got)
	}
	if got := (Config{}).Advertised(kept); got != "10.0.0.5, 198.51.100.9" {
		t.Errorf("Advertised without NAT = %q", got)
	}
	if got := Describe(nil); got != "none" {
		t.Errorf("Describe(nil) = %q", got)
	}
	want := "interfaces eth0,eth1; advertised 203.0.113.7"
	if got := c.String(); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := (Config{IPs: prefixes("127.0.0.1/32")}).String(); got != "ips 127.0.0.1/32" {
		t.Errorf("String = %q", got)
	}

	// The real machine: every address listed is IPv4, and loopback is there.
	all, err := Config{}.Locals()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(l Local) bool { return l.Addr == netip.MustParseAddr("127.0.0.1") }) {
		t.Errorf("Locals() = %v: no 127.0.0.1", all)
	}
	for _, l := range all {
		if !l.Addr.Is4() {
			t.Errorf("Locals() lists %v", l)
		}
	}
	lo, err := Config{IPs: prefixes("127.0.0.1/32")}.Locals()
	if err != nil || len(lo) != 1 || lo[0].Addr != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("loopback-only Locals() = %v, %v", lo, err)
	}
}

// candidate is one a=candidate line of an SDP.
type candidate struct {
	addr netip.Addr
	typ  string
}

func sdpCandidates(t *testing.T, sdp string) []candidate {
	t.Helper()
	var out []candidate
	for _, line := range strings.Split(sdp, "\n") {
		if !strings.HasPrefix(line, "a=candidate:") {
			continue
		}
		c, err := ice.UnmarshalCandidate(strings.TrimSpace(strings.TrimPrefix(line, "a=")))
		if err != nil {
			t.Fatalf("candidate %q: %v", line, err)
		}
		a, err := netip.ParseAddr(c.Address())
		if err != nil {
			t.Fatalf("candidate %q: address: %v", line, err)
		}
		out = append(out, candidate{addr: a, typ: c.Type().String()})
	}
	return out
}

// gather creates a PeerConnection with cfg applied, gathers and returns
// its candidates.
func gather(t *testing.T, cfg Config) []candidate {
	t.Helper()
	se := webrtc.SettingEngine{}
	cfg.Apply(&se)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := pc.Close(); err != nil {
			t.Error(err)
		}
	}()
	if _, err := pc.CreateDataChannel("gather", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("gathering did not complete")
	}
	return sdpCandidates(t, pc.LocalDescription().SDP)
}

// The test: with a NAT address, the host candidates carry it and
// not the machine's own addresses.
func TestGatherAdvertisesNATIP(t *testing.T) {
	nat := netip.MustParseAddr("203.0.113.7")
	cands := gather(t, Config{NATIPs: []netip.Addr{nat}})
	if len(cands) == 0 {
		t.Fatal("no candidates")
	}
	locals, err := Config{}.Locals()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cands {
		if c.addr != nat || c.typ != "host" {
			t.Errorf("candidate %s %s, want host %s", c.typ, c.addr, nat)
		}
		for _, l := range locals {
			if c.addr == l.Addr {
				t.Errorf("the local address %s is advertised", l)
			}
		}
	}
}

func TestGatherLoopbackOnly(t *testing.T) {
	cands := gather(t, Config{IPs: prefixes("127.0.0.1/32")})
	if len(cands) == 0 {
		t.Fatal("no candidates")
	}
	for _, c := range cands {
		if c.addr != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("candidate %s %s, want 127.0.0.1 only", c.typ, c.addr)
		}
	}
}

func TestGatherByInterface(t *testing.T) {
	cands := gather(t, Config{Interfaces: []string{loopbackName(t)}})
	if len(cands) == 0 {
		t.Fatal("no candidates")
	}
	for _, c := range cands {
		if !c.addr.IsLoopback() {
			t.Errorf("candidate %s on the loopback interface", c.addr)
		}
	}
}

func loopbackName(t *testing.T) string {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback != 0 && ifc.Flags&net.FlagUp != 0 {
			return ifc.Name
		}
	}
	t.Skip("no loopback interface")
	return ""
}
