package server

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/signal"
)

// Remote ICE candidates are addresses the server sends STUN to, so a client
// must not be able to aim them at anything it likes (issue 15 item 9). The
// server drops, before pion sees them, candidates whose address is
// unspecified, broadcast, multicast, link-local, a name (mDNS or DNS) or
// loopback/private outside the allow-list, and keeps at most
// maxRemoteCandidates per PeerConnection per ICE generation.

// maxRemoteCandidates bounds the remote candidates (trickled and a=candidate
// lines together, dropped ones included) of one PeerConnection of one
// participant, per remote ICE generation (an ICE restart starts a new one).
const maxRemoteCandidates = 64

// privateBlocks are the ranges a candidate may name only when allowed:
// RFC 1918, CGNAT (RFC 6598) and IPv6 unique local addresses.
var privateBlocks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// loopbackBlocks are allowed by the default allow-list.
var loopbackBlocks = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast   = netip.MustParseAddr("255.255.255.255")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
)

// allowList is the allow-list for a participant whose signaling socket comes
// from remote (host:port): configured, when set; otherwise loopback plus
// the private block that holds remote's address, plus, for a client on this
// host (remote on loopback), this host's own addresses (own): a browser
// opened at http://127.0.0.1:PORT gathers no loopback candidate, only the
// host's LAN addresses, and checks to the host itself aim at nobody else.
func allowList(configured []netip.Prefix, remote string, own []netip.Prefix) []netip.Prefix {
	if len(configured) > 0 {
		return configured
	}
	allow := loopbackBlocks
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return allow
	}
	a := ap.Addr().Unmap()
	if a.IsLoopback() {
		return append(append([]netip.Prefix{}, allow...), own...)
	}
	for _, b := range privateBlocks {
		if b.Contains(a) {
			return append(append([]netip.Prefix{}, allow...), b)
		}
	}
	return allow
}

// addrVerdict says why the server must not send to a, or "" when it may.
func addrVerdict(a netip.Addr, allow []netip.Prefix) string {
	a = a.Unmap().WithZone("")
	if nat64.Contains(a) {
		// A NAT64 gateway would send to the embedded IPv4 address.
		b := a.As16()
		if v := addrVerdict(netip.AddrFrom4([4]byte(b[12:])), allow); v != "" {
			return v
		}
		return ""
	}
	allowed := func() bool {
		for _, p := range allow {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	switch {
	case a.IsUnspecified() || thisNetwork.Contains(a):
		return "unspecified"
	case a == broadcast:
		return "broadcast"
	case a.IsMulticast():
		return "multicast"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsLoopback():
		if !allowed() {
			return "loopback"
		}
	default:
		for _, b := range privateBlocks {
			if b.Contains(a) && !allowed() {
				return "private"
			}
		}
	}
	return ""
}

// candidateVerdict checks one candidate ("candidate:…", with or without
// "a="): it returns its address for the log and why it is dropped, or ""
// to keep it. The address is read by pion's own parser, the one pion then
// sends STUN by: a split of our own could read another field than pion's
// (a tab inside the transport token moves pion's address field, and pion
// accepts any transport starting with "udp"). A candidate pion cannot
// parse is kept: pion refuses it with an error the client sees, as before,
// and never sends to it.
func candidateVerdict(line string, allow []netip.Prefix) (addr, reason string) {
	c, err := ice.UnmarshalCandidate(strings.TrimRight(strings.TrimPrefix(line, "a="), "\r\n"))
	if err != nil {
		return "", ""
	}
	addr = c.Address()
	a, err := netip.ParseAddr(addr)
	if err != nil {
		if strings.HasSuffix(strings.TrimSuffix(strings.ToLower(addr), "."), ".local") {
			return addr, "mdns" // the server does not resolve mDNS
		}
		return addr, "hostname" // nor names a client sends
	}
	return addr, addrVerdict(a, allow)
}

// candidateBudget counts the remote candidates of one PeerConnection in one
// remote ICE generation.
type candidateBudget struct {
	ufrag  string // the generation counted; "" before a remote description
	n      int
	warned bool // 429 sent for this generation
}

// generation starts a new count when the remote ICE credentials changed
// (an ICE restart: pion forgets the old remote candidates).
func (b *candidateBudget) generation(ufrag string) {
	if ufrag != "" && b.ufrag != "" && ufrag != b.ufrag {
		*b = candidateBudget{}
	}
	if ufrag != "" {
		b.ufrag = ufrag
	}
}

// take counts one candidate: ok is false beyond the limit, first is true
// for the first candidate over it.
func (b *candidateBudget) take() (ok, first bool) {
	b.n++
	if b.n <= maxRemoteCandidates {
		return true, false
	}
	first = !b.warned
	b.warned = true
	return false, first
}

// remoteUfrag is the ICE username fragment of a description (session level
// or the first media section that has one).
func remoteUfrag(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

// budget returns p's candidate budget for its PeerConnection name.
func (p *participant) budget(name string) *candidateBudget {
	if name == signal.PCPublish {
		return &p.pubCands
	}
	return &p.subCands
}

// allowedAddrs is the allow-list for p's current signaling socket.
func (p *participant) allowedAddrs() []netip.Prefix {
	remote := ""
	if c := p.conn.Load(); c != nil {
		remote = c.remote
	}
	return allowList(p.r.s.cfg.ICEAllow, remote, p.r.s.ownAddrs)
}

// admitCandidate applies the candidate policy to one remote candidate of p's
// PeerConnection name, logging and counting what it drops.
func (p *participant) admitCandidate(name, line string, allow []netip.Prefix) bool {
	if strings.TrimSpace(strings.TrimPrefix(line, "a=")) == "" {
		return true // end-of-candidates is not a candidate
	}
	addr, reason := candidateVerdict(line, allow)
	ok, first := p.budget(name).take()
	if !ok {
		if first {
			p.r.s.log.Info("candidate dropped", "room", p.r.id, "uid", p.uid, "pc", name,
				"reason", "limit", "addr", addr)
			p.sendError(signal.ErrRateExceeded, fmt.Sprintf("too many candidates; limit %d", maxRemoteCandidates))
		} else {
			p.r.s.log.Debug("candidate dropped", "room", p.r.id, "uid", p.uid, "pc", name,
				"reason", "limit", "addr", addr)
		}
		return false
	}
	if reason != "" {
		p.r.s.log.Info("candidate dropped", "room", p.r.id, "uid", p.uid, "pc", name,
			"reason", reason, "addr", addr)
		return false
	}
	return true
}

// filterCandidate applies the candidate policy to a trickled candidate.
func (p *participant) filterCandidate(name string, c webrtc.ICECandidateInit) bool {
	return p.admitCandidate(name, c.Candidate, p.allowedAddrs())
}

// filterSDP returns sdp without the a=candidate lines the policy drops, and
// starts a new candidate count on an ICE restart.
func (p *participant) filterSDP(name, sdp string) string {
	p.budget(name).generation(remoteUfrag(sdp))
	if !strings.Contains(sdp, "a=candidate:") {
		return sdp
	}
	allow := p.allowedAddrs()
	var b strings.Builder
	b.Grow(len(sdp))
	for line := range strings.Lines(sdp) {
		if strings.HasPrefix(line, "a=candidate:") && !p.admitCandidate(name, line, allow) {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// hostPrefixes lists this host's IPv4 addresses (every interface that is up,
// whatever Config.ICE keeps) as single-address prefixes.
func hostPrefixes() []netip.Prefix {
	locals, err := iceopt.Config{}.Locals()
	if err != nil {
		return nil // then a local client's LAN candidates are dropped: logged per candidate
	}
	out := make([]netip.Prefix, 0, len(locals))
	for _, l := range locals {
		out = append(out, netip.PrefixFrom(l.Addr, l.Addr.BitLen()))
	}
	return out
}
