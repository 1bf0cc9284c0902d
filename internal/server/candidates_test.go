package server

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/testutil"
)

func TestAddrVerdict(t *testing.T) {
	allow := allowList(nil, "192.168.1.20:50000", nil)
	for addr, want := range map[string]string{
		"203.0.113.7":        "",
		"2001:db8::1":        "",
		"127.0.0.1":          "",
		"127.0.0.2":          "",
		"::1":                "",
		"192.168.7.7":        "", // the signaling peer's own block
		"0.0.0.0":            "unspecified",
		"0.1.2.3":            "unspecified",
		"::":                 "unspecified",
		"255.255.255.255":    "broadcast",
		"224.0.0.251":        "multicast",
		"239.255.255.250":    "multicast",
		"ff02::1":            "multicast",
		"169.254.169.254":    "link-local",
		"fe80::1":            "link-local",
		"10.1.2.3":           "private",
		"172.16.0.1":         "private",
		"172.31.255.254":     "private",
		"100.64.0.1":         "private",
		"fd00::1":            "private",
		"::ffff:10.0.0.1":    "private",
		"::ffff:127.0.0.1":   "",
		"64:ff9b::a9fe:a9fe": "link-local", // NAT64 of 169.254.169.254
		"64:ff9b::cb00:7107": "",           // NAT64 of 203.0.113.7
		"172.32.0.1":         "",
	} {
		if got := addrVerdict(netip.MustParseAddr(addr), allow); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
	// A configured list replaces the default, loopback included.
	conf := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for addr, want := range map[string]string{"10.1.2.3": "", "127.0.0.1": "loopback", "192.168.7.7": "private",
		"169.254.169.254": "link-local"} {
		if got := addrVerdict(netip.MustParseAddr(addr), allowList(conf, "192.168.1.20:1", nil)); got != want {
			t.Errorf("allow 10/8: %s: %q, want %q", addr, got, want)
		}
	}
}

func TestAllowList(t *testing.T) {
	for remote, want := range map[string]string{
		"127.0.0.1:1":           "[127.0.0.0/8 ::1/128]",
		"203.0.113.7:1":         "[127.0.0.0/8 ::1/128]",
		"10.9.8.7:1":            "[127.0.0.0/8 ::1/128 10.0.0.0/8]",
		"[::ffff:172.20.0.5]:1": "[127.0.0.0/8 ::1/128 172.16.0.0/12]",
		"[fd12::5]:1":           "[127.0.0.0/8 ::1/128 fc00::/7]",
		"nonsense":              "[127.0.0.0/8 ::1/128]",
	} {
		if got := fmt.Sprint(allowList(nil, remote, nil)); got != want {
			t.Errorf("%s: %s, want %s", remote, got, want)
		}
	}
}

// A client on this host (signaling over loopback, as a browser opened at
// http://127.0.0.1:PORT) may name the host's own addresses, which are
// private, but not the rest of their network; others never may.
func TestAllowListOwnAddresses(t *testing.T) {
	own := []netip.Prefix{netip.MustParsePrefix("192.168.1.20/32")}
	for remote, want := range map[string]string{
		"127.0.0.1:1":   "",
		"203.0.113.7:1": "private",
		"10.9.8.7:1":    "private",
	} {
		if got := addrVerdict(netip.MustParseAddr("192.168.1.20"), allowList(nil, remote, own)); got != want {
			t.Errorf("own address, peer %s: %q, want %q", remote, got, want)
		}
	}
	if got := addrVerdict(netip.MustParseAddr("192.168.1.21"), allowList(nil, "127.0.0.1:1", own)); got != "private" {
		t.Errorf("a neighbour of the host, peer on loopback: %q, want private", got)
	}
}

func TestCandidateVerdict(t *testing.T) {
	allow := allowList(nil, "127.0.0.1:1", nil)
	for line, want := range map[string]string{
		"candidate:1 1 udp 2130706431 203.0.113.9 5000 typ host":                                "",
		"a=candidate:1 1 udp 2130706431 169.254.169.254 5000 typ host":                          "link-local",
		"candidate:1 1 udp 2130706431 0c4f5d1e-5a1b-4b6e-9f0a-1d2e3f4a5b6c.local 5000 typ host": "mdns",
		"candidate:1 1 udp 2130706431 metadata.google.internal 80 typ host":                     "", // pion refuses names itself: no lookup, no STUN
		"candidate:1 1 udp 1694498815 10.0.0.1 5000 typ srflx raddr 192.168.0.2 rport 5000":     "private",
		"candidate:1 1 udp 16777215 203.0.113.9 5000 typ relay raddr 10.0.0.1 rport 5000":       "",
		// pion splits on spaces only and takes any transport starting
		// with "udp": a tab must not hide the address pion sends to.
		"candidate:1 1 udp\tx\t8.8.8.8 1 169.254.169.254 5000 typ host":       "link-local",
		"candidate:1 1 udpx 2130706431 10.1.2.3 5000 typ host":                "private",
		"candidate:1 1 udp\u00a08.8.8.8 2130706431 224.0.0.251 5000 typ host": "multicast",
		"a=candidate:1 1 udp 2130706431 255.255.255.255 5000 typ host\r":      "broadcast",
		"not a candidate": "", // left to pion, which refuses it with an error
	} {
		if _, got := candidateVerdict(line, allow); got != want {
			t.Errorf("%s: %q, want %q", line, got, want)
		}
	}
}

// stunCounter counts the STUN binding requests arriving at a UDP socket.
type stunCounter struct {
	conn *net.UDPConn
	n    atomic.Int64
	done chan struct{}
}

func listenSTUN(t *testing.T, ip string) *stunCounter {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	c := &stunCounter{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if isSTUN(buf[:n]) {
				c.n.Add(1)
			}
		}
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		<-c.done
	})
	return c
}

// isSTUN: a STUN message has its two top bits clear and the magic cookie.
func isSTUN(b []byte) bool {
	return len(b) >= 20 && b[0]&0xc0 == 0 && binary.BigEndian.Uint32(b[4:8]) == 0x2112A442
}

func (c *stunCounter) candidate() string {
	a := c.conn.LocalAddr().(*net.UDPAddr)
	return fmt.Sprintf("candidate:%d 1 udp 2130706431 %s %d typ host", a.Port, a.IP, a.Port)
}

// Item 9: the server sends no STUN to candidates outside the policy, be they
// trickled or in the offer, and logs each one it drops.
func TestCandidatesFiltered(t *testing.T) {
	var log testutil.Buffer
	_, url := startServer(t, Config{
		ICEAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Logger:   slog.New(slog.NewTextHandler(&log, nil)),
	})
	okSDP, okTrickled := listenSTUN(t, "127.0.0.1"), listenSTUN(t, "127.0.0.1")
	badSDP, badTrickled := listenSTUN(t, "127.0.0.2"), listenSTUN(t, "127.0.0.2")

	alice := dial(t, url, "alice")
	alice.join("r1", mint(t, "r1", "alice", time.Hour))
	alice.send(publishOffer(bombSDP(0, 1, "ufrag0001", badSDP.candidate(), okSDP.candidate()), audioOpus))
	alice.waitFor(signal.TypeAnswer, signal.TypeError)
	mid := "0"
	for _, c := range []*stunCounter{badTrickled, okTrickled} {
		alice.send(&signal.Message{Type: signal.TypeCandidate, PC: signal.PCPublish,
			Candidate: &webrtc.ICECandidateInit{Candidate: c.candidate(), SDPMid: &mid}})
	}
	alice.ping(signal.TypeError)
	// pion retries unanswered checks: wait for a few to the allowed ones.
	waitUntil(t, "STUN to the allowed candidates", func() bool {
		return okSDP.n.Load() >= 3 && okTrickled.n.Load() >= 3
	})
	if n, m := badSDP.n.Load(), badTrickled.n.Load(); n+m > 0 {
		t.Errorf("%d binding requests to the dropped candidate of the offer, %d to the trickled one", n, m)
	}
	for _, c := range []*stunCounter{badSDP, badTrickled} {
		want := `msg="candidate dropped" room=r1 uid=alice pc=publish reason=loopback addr=127.0.0.2`
		if !strings.Contains(log.String(), want) {
			t.Errorf("no log %s for %s:\n%s", want, c.conn.LocalAddr(), log.String())
		}
	}
}

// Item 9: beyond 64 candidates on a PeerConnection (in its offer and
// trickled), one 429 and the rest dropped.
func TestCandidateLimit(t *testing.T) {
	var log testutil.Buffer
	_, url := startServer(t, Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	alice := dial(t, url, "alice")
	alice.join("r1", mint(t, "r1", "alice", time.Hour))
	// Closed loopback ports: nothing answers the checks.
	cand := func(i int) string { return fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host", i, 1+i) }
	var inSDP []string
	for i := range maxRemoteCandidates - 4 {
		inSDP = append(inSDP, cand(i))
	}
	alice.send(publishOffer(bombSDP(0, 1, "ufrag0001", inSDP...), audioOpus))
	alice.waitFor(signal.TypeAnswer, signal.TypeError)
	mid := "0"
	for i := len(inSDP); i < maxRemoteCandidates+10; i++ {
		alice.send(&signal.Message{Type: signal.TypeCandidate, PC: signal.PCPublish,
			Candidate: &webrtc.ICECandidateInit{Candidate: cand(i), SDPMid: &mid}})
	}
	expectError(t, alice, signal.ErrRateExceeded, "too many candidates; limit 64")
	alice.ping(signal.TypeError) // once
	if n := strings.Count(log.String(), `msg="candidate dropped"`); n != 1 {
		t.Errorf("%d candidate dropped lines at info, want 1 (the first over the limit):\n%s", n, log.String())
	}
}
