package server

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"

	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/internal/token"
)

var natIP = netip.MustParseAddr("203.0.113.7")

// publishCandidates publishes as alice and returns the addresses (host:port)
// of the first n candidates the server trickles for her publish pc, and any
// in its answer.
func publishCandidates(t *testing.T, url string, n int) []netip.AddrPort {
	t.Helper()
	alice := dial(t, url, "alice")
	alice.join("r1", mint(t, "r1", "alice", time.Hour))
	alice.publishVideo(newTestAPI(t), videoVP8)
	var got []netip.AddrPort
	add := func(line string) {
		c, err := ice.UnmarshalCandidate(strings.TrimPrefix(strings.TrimSpace(line), "a="))
		if err != nil {
			t.Fatalf("server candidate %q: %v", line, err)
		}
		if c.Type() != ice.CandidateTypeHost {
			t.Errorf("server candidate %q: want host", line)
		}
		a, err := netip.ParseAddr(c.Address())
		if err != nil {
			t.Fatalf("server candidate %q: %v", line, err)
		}
		got = append(got, netip.AddrPortFrom(a, uint16(c.Port())))
	}
	for len(got) < n {
		m := alice.next()
		if m == nil {
			t.Fatalf("socket closed after candidates %v", got)
		}
		switch {
		case m.Type == signal.TypeAnswer && m.PC == signal.PCPublish:
			for _, l := range strings.Split(m.SDP, "\n") {
				if strings.HasPrefix(l, "a=candidate:") {
					add(l)
				}
			}
		case m.Type == signal.TypeCandidate && m.PC == signal.PCPublish:
			add(m.Candidate.Candidate)
		}
	}
	return got
}

// `serve --nat-ip 203.0.113.7`: the server advertises that address, on
// every host candidate, and none of its own.
func TestServerAdvertisesNATIP(t *testing.T) {
	cfg := iceopt.Config{NATIPs: []netip.Addr{natIP}}
	locals, err := cfg.Locals()
	if err != nil {
		t.Fatal(err)
	}
	var log testutil.Buffer
	_, url := startServer(t, Config{ICE: cfg, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	// One host candidate per local address.
	for _, c := range publishCandidates(t, url, len(locals)) {
		if c.Addr() != natIP {
			t.Errorf("server candidate %v, want %v", c, natIP)
		}
	}
	if s := log.String(); !strings.Contains(s, "msg=\"ice addresses\"") || !strings.Contains(s, "advertise=203.0.113.7") {
		t.Errorf("no ice log line:\n%s", s)
	}
}

// `serve --ice-ip 127.0.0.1/32 --nat-ip 203.0.113.7 --udp-port N`: the one
// port is bound on 127.0.0.1 only and advertised at the NAT address.
func TestServerUDPPortFiltered(t *testing.T) {
	port := testutil.FreeUDPPort(t)
	cfg := iceopt.Config{IPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, NATIPs: []netip.Addr{natIP}}
	var log testutil.Buffer
	s, url := startServer(t, Config{UDPPort: port, ICE: cfg, Logger: slog.New(slog.NewTextHandler(&log, nil))})

	if s.flush == nil {
		t.Error("no batched sends on the UDP port (the default)")
	}
	listen := s.udpMux.(*ice.MultiUDPMuxDefault).GetListenAddresses()
	if len(listen) != 1 || listen[0].String() != netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String() {
		t.Errorf("the udp mux listens on %v, want 127.0.0.1:%d only", listen, port)
	}
	got := publishCandidates(t, url, 1)
	if want := netip.AddrPortFrom(natIP, uint16(port)); got[0] != want {
		t.Errorf("server candidate %v, want %v", got[0], want)
	}
	lo, err := cfg.Locals()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("gather=%q advertise=203.0.113.7 port=\"udp port %d\"", iceopt.Describe(lo), port)
	if s := log.String(); !strings.Contains(s, want) {
		t.Errorf("ice log line, want %s:\n%s", want, s)
	}
}

func TestNewRefusesICEThatCannotWork(t *testing.T) {
	reg, err := token.NewRegistry(token.App{ID: testApp, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []iceopt.Config{
		{Interfaces: []string{"no-such-if0"}},
		{IPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.255/32")}},
		{NATIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
	} {
		if s, err := New(Config{Registry: reg, ICE: cfg}); err == nil {
			_ = s.Close()
			t.Errorf("New with ICE %v: no error", cfg)
		}
	}
}
