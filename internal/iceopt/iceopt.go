// Package iceopt chooses where ICE gathers candidates and which address it
// advertises. Both ends of roomctl use it: `serve` (a cloud VM behind 1:1
// NAT advertises its public IP; a multi-homed host picks its interfaces)
// and every room command (a client on a multi-homed host, and tests that
// must keep every packet on loopback).
//
// The zero Config keeps pion's default: every interface, loopback included.
package iceopt

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

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
	// NATIPs, when set, replace the address of every host candidate: the
	// public addresses of a host behind 1:1 NAT. One per address family at
	// most, or one per local address (pion's NAT 1:1 rules).
	NATIPs []netip.Addr
}

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

// Apply sets c's filters and NAT addresses on se.
func (c Config) Apply(se *webrtc.SettingEngine) {
	if len(c.Interfaces) > 0 {
		se.SetInterfaceFilter(c.KeepInterface)
	}
	if len(c.IPs) > 0 {
		se.SetIPFilter(c.KeepIP)
	}
	if len(c.NATIPs) > 0 {
		ips := make([]string, len(c.NATIPs))
		for i, a := range c.NATIPs {
			ips[i] = a.String()
		}
		// Replace the host candidates' addresses, as LiveKit's node_ip
		// does: the private address is not advertised at all.
		se.SetNAT1To1IPs(ips, webrtc.ICECandidateTypeHost)
	}
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
		s := make([]string, len(c.NATIPs))
		for i, a := range c.NATIPs {
			s[i] = a.String()
		}
		parts = append(parts, "advertised "+strings.Join(s, ","))
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
// comma-separated list. Unspecified, multicast and loopback addresses are
// refused: advertising one cannot work for a remote peer.
func ParseAddrs(items []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range splitList(items) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", s, err)
		}
		if a.IsUnspecified() || a.IsMulticast() {
			return nil, fmt.Errorf("address %q cannot be advertised", s)
		}
		out = append(out, a)
	}
	return out, nil
}

// ParseInterfaces splits interface names, each item possibly a
// comma-separated list.
func ParseInterfaces(items []string) ([]string, error) {
	names := splitList(items)
	for _, n := range names {
		if strings.ContainsAny(n, " /") {
			return nil, fmt.Errorf("interface %q: not an interface name", n)
		}
	}
	return names, nil
}

// ErrNoAddress is returned by Check when the filters leave no local address.
var ErrNoAddress = errors.New("no local address matches the ICE interface/ip filters")

// Check verifies that at least one local address passes the filters, so a
// typo fails at start instead of as a connection that never comes up.
func (c Config) Check() error {
	if len(c.Interfaces) == 0 && len(c.IPs) == 0 {
		return nil
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || !c.KeepInterface(ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && c.KeepIP(n.IP) {
				return nil
			}
		}
	}
	return ErrNoAddress
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
