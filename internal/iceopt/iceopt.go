// Package iceopt chooses where ICE gathers candidates and which address it
// advertises. Both ends of roomctl use it: `serve` (a cloud VM behind 1:1
// NAT advertises its public IP; a multi-homed host picks its interfaces)
// and every room command (a client on a multi-homed host, and tests that
// must keep every packet on loopback).
//
// roomctl's ICE is UDP over IPv4, loopback included, without mDNS: mDNS
// candidates cost a multicast round trip per connection and resolve
// nowhere on a closed network, and IPv4 is what a machine whose only
// network is 127.0.0.1 has. Apply sets that; the zero Config adds nothing,
// so every IPv4 address of every interface that is up is used.
package iceopt

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// Config is where ICE gathers and what it advertises.
type Config struct {
	// Interfaces, when set, limits gathering to these interface names
	// ("lo", "eth0"). Empty: every interface.
	Interfaces []string
	// IPs, when set, limits gathering to local addresses inside these
	// ranges. Empty: every address. An interface and a range must both
	// match when both are set.
	IPs []netip.Prefix
	// NATIPs, when set, are advertised instead of the local address of
	// every host candidate: the public addresses of a host behind 1:1 NAT
	// (LiveKit's rtc.node_ip). The local addresses are not advertised at
	// all. IPv4 only (see the package comment); with several, each
	// candidate is advertised at each of them.
	NATIPs []netip.Addr
	// ReadEvery, when set, paces the reads of ICE's UDP sockets: once a
	// read drained a socket, the next waits ReadEvery and takes all that
	// queued meanwhile with one system call (see pacedConn). Packets are
	// delivered up to ReadEvery later; for recorders, where latency does
	// not matter and wakeups per packet are most of the cost. Clients only.
	ReadEvery time.Duration
}

// Loopback gathers on 127.0.0.1 only: what tests, benchmarks and the
// demo use so that every packet stays on this machine.
var Loopback = Config{IPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// IsZero reports whether c changes nothing.
func (c Config) IsZero() bool {
	return len(c.Interfaces) == 0 && len(c.IPs) == 0 && len(c.NATIPs) == 0
}

// KeepInterface reports whether ICE may gather on the interface name.
func (c Config) KeepInterface(name string) bool {
	return len(c.Interfaces) == 0 || slices.Contains(c.Interfaces, name)
}

// KeepIP reports whether ICE may gather on the local address ip.
func (c Config) KeepIP(ip net.IP) bool {
	if len(c.IPs) == 0 {
		return true
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, p := range c.IPs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Apply sets roomctl's ICE basics (UDP over IPv4, loopback candidates, no
// mDNS: mDNS candidates cost a multicast round trip per join and resolve
// nowhere on a closed network) and c's filters and advertised addresses
// on se.
func (c Config) Apply(se *webrtc.SettingEngine) {
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if len(c.Interfaces) > 0 {
		se.SetInterfaceFilter(c.KeepInterface)
	}
	if len(c.IPs) > 0 {
		se.SetIPFilter(c.KeepIP)
	}
	if c.ReadEvery > 0 {
		se.SetNet(newPacedNet(c.ReadEvery))
	}
	if len(c.NATIPs) > 0 {
		// Replace, not append: the private address is not advertised at
		// all, as with LiveKit's node_ip. The only error is a rule set
		// next to the legacy SetNAT1To1IPs, which roomctl never calls.
		_ = se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        addrStrings(c.NATIPs),
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		})
	}
}

// Local is a local address and the interface it is on.
type Local struct {
	Interface string
	Addr      netip.Addr
}

func (l Local) String() string { return l.Addr.String() + " (" + l.Interface + ")" }

// Describe lists ls for a log line or an error: "127.0.0.1 (lo), 192.0.2.2
// (eth0)", or "none".
func Describe(ls []Local) string {
	if len(ls) == 0 {
		return "none"
	}
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
	}
	return strings.Join(s, ", ")
}

// Locals lists the local addresses ICE gathers on: the IPv4 addresses of
// the interfaces that are up, as far as c's filters keep them.
func (c Config) Locals() ([]Local, error) {
	all, err := systemLocals()
	if err != nil {
		return nil, err
	}
	return c.keep(all), nil
}

func (c Config) keep(all []Local) []Local {
	var out []Local
	for _, l := range all {
		if c.KeepInterface(l.Interface) && c.KeepIP(l.Addr.AsSlice()) {
			out = append(out, l)
		}
	}
	return out
}

// systemLocals lists the IPv4 addresses of the interfaces that are up.
func systemLocals() ([]Local, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []Local
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue // gone meanwhile: ICE will not see it either
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() {
				out = append(out, Local{Interface: ifc.Name, Addr: ip.Unmap()})
			}
		}
	}
	return out, nil
}

// Advertised describes what remote peers are given for locals: the NAT
// addresses, or the local addresses themselves.
func (c Config) Advertised(locals []Local) string {
	if len(c.NATIPs) > 0 {
		return strings.Join(addrStrings(c.NATIPs), ", ")
	}
	s := make([]string, len(locals))
	for i, l := range locals {
		s[i] = l.Addr.String()
	}
	return strings.Join(s, ", ")
}

// Log says on log where ICE gathers and what it advertises, with attrs
// (slog key-value pairs) added: one line at start, to check a deployment
// by.
func (c Config) Log(log *slog.Logger, attrs ...any) {
	locals, err := c.Locals()
	if err != nil {
		log.Warn("ice: cannot list local addresses", "err", err)
		return
	}
	log.Info("ice addresses", append([]any{"gather", Describe(locals), "advertise", c.Advertised(locals)}, attrs...)...)
}

// String describes c for a log line.
func (c Config) String() string {
	if c.IsZero() {
		return "all interfaces"
	}
	var parts []string
	if len(c.Interfaces) > 0 {
		parts = append(parts, "interfaces "+strings.Join(c.Interfaces, ","))
	}
	if len(c.IPs) > 0 {
		s := make([]string, len(c.IPs))
		for i, p := range c.IPs {
			s[i] = p.String()
		}
		parts = append(parts, "ips "+strings.Join(s, ","))
	}
	if len(c.NATIPs) > 0 {
		parts = append(parts, "advertised "+strings.Join(addrStrings(c.NATIPs), ","))
	}
	return strings.Join(parts, "; ")
}

// ParsePrefixes parses address ranges: CIDRs ("10.0.0.0/8") or single
// addresses ("127.0.0.1", taken as /32 or /128), each item possibly a
// comma-separated list.
func ParsePrefixes(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(items) {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("ip range %q: %w", s, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("ip range %q: want an address or a CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ParseAddrs parses addresses to advertise, each item possibly a
// comma-separated list. Only addresses a remote peer can reach over IPv4
// are accepted (see checkAdvertised).
func ParseAddrs(items []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range splitList(items) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", s, err)
		}
		a = a.Unmap()
		if err := checkAdvertised(a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// ErrNotAdvertisable is returned for a NAT address that no remote peer
// could use.
var ErrNotAdvertisable = errors.New("cannot be advertised")

// checkAdvertised refuses what cannot work as a NAT address: IPv6 (roomctl
// gathers over IPv4 only, so an IPv6 address would map nothing and the
// private addresses would be advertised after all), and the unspecified,
// multicast and loopback addresses.
func checkAdvertised(a netip.Addr) error {
	switch {
	case !a.Is4():
		return fmt.Errorf("address %q %w: want an IPv4 address (roomctl's ICE runs over IPv4)", a, ErrNotAdvertisable)
	case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
		return fmt.Errorf("address %q %w: want the host's public address", a, ErrNotAdvertisable)
	}
	return nil
}

// ParseInterfaces splits interface names, each item possibly a
// comma-separated list.
func ParseInterfaces(items []string) ([]string, error) {
	names := splitList(items)
	for _, n := range names {
		if strings.ContainsAny(n, " \t/") {
			return nil, fmt.Errorf("interface %q: not an interface name", n)
		}
	}
	return names, nil
}

// ErrNoAddress is returned by Check when the filters leave no local address.
var ErrNoAddress = errors.New("no local IPv4 address matches the ICE interface/ip filters")

// Check verifies that at least one local address passes the filters and
// that every NAT address can be advertised, so a typo fails at start
// instead of as a connection that never comes up.
func (c Config) Check() error {
	return c.check(systemLocals)
}

func (c Config) check(list func() ([]Local, error)) error {
	for _, a := range c.NATIPs {
		if err := checkAdvertised(a); err != nil {
			return err
		}
	}
	if len(c.Interfaces) == 0 && len(c.IPs) == 0 {
		return nil
	}
	all, err := list()
	if err != nil {
		return err
	}
	if len(c.keep(all)) > 0 {
		return nil
	}
	return fmt.Errorf("%w (%s); this host has %s", ErrNoAddress, c, Describe(all))
}

func addrStrings(as []netip.Addr) []string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return s
}

func splitList(items []string) []string {
	var out []string
	for _, it := range items {
		for _, s := range strings.Split(it, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
