package media

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// waitFor bounds every wait in these tests; generous because -race and cgo
// encoders on a 2-core machine are slow, and a pass never waits this long.
const waitFor = 15 * time.Second

// recvTrack is a track as the receiving PeerConnection sees it.
type recvTrack struct {
	kind  webrtc.RTPCodecType
	codec webrtc.RTPCodecParameters
	pkts  chan *rtp.Packet
}

// loopback is a publisher and a receiver PeerConnection in this process,
// talking over 127.0.0.1 only.
type loopback struct {
	pub, sub *webrtc.PeerConnection
	tracks   chan *recvTrack
}

func loopbackAPI(t *testing.T, m *webrtc.MediaEngine) *webrtc.API {
	t.Helper()
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	// Loopback only: no traffic to the host's other addresses, and no mDNS
	// multicast.
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// newLoopback publishes src's tracks exactly as the engine will: a
// MediaEngine from RegisterCodecs plus the default interceptors. With
// subOffers the receiver makes the offer, with pion's default payload
// numbering, as a server would.
func newLoopback(t *testing.T, src Source, subOffers bool) *loopback {
	t.Helper()
	pm := &webrtc.MediaEngine{}
	if err := src.RegisterCodecs(pm); err != nil {
		t.Fatal(err)
	}
	pub, err := loopbackAPI(t, pm).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	sm := &webrtc.MediaEngine{}
	if err := sm.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	sub, err := loopbackAPI(t, sm).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		_ = pub.Close()
		t.Fatal(err)
	}
	l := &loopback{pub: pub, sub: sub, tracks: make(chan *recvTrack, 4)}
	t.Cleanup(func() {
		if err := pub.Close(); err != nil {
			t.Error(err)
		}
		if err := sub.Close(); err != nil {
			t.Error(err)
		}
	})
	sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		rt := &recvTrack{kind: tr.Kind(), codec: tr.Codec(), pkts: make(chan *rtp.Packet, 4096)}
		l.tracks <- rt
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return // the PeerConnection closed
			}
			select {
			case rt.pkts <- p:
			default: // the test has seen enough
			}
		}
	})

	if subOffers {
		for _, tr := range src.Tracks() {
			if _, err := sub.AddTransceiverFromKind(tr.Local.Kind(), webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
		}
		exchange(t, sub, pub, func() {
			for _, tr := range src.Tracks() {
				if _, err := pub.AddTrack(tr.Local); err != nil {
					t.Fatal(err)
				}
			}
		})
	} else {
		for _, tr := range src.Tracks() {
			if _, err := pub.AddTrack(tr.Local); err != nil {
				t.Fatal(err)
			}
		}
		exchange(t, pub, sub, func() {})
	}
	return l
}

// exchange runs one offer/answer without trickle; beforeAnswer runs once
// the answerer has the offer.
func exchange(t *testing.T, offerer, answerer *webrtc.PeerConnection, beforeAnswer func()) {
	t.Helper()
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	beforeAnswer()
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}

// track waits for the receiver's track of the given kind.
func (l *loopback) track(t *testing.T, kind webrtc.RTPCodecType) *recvTrack {
	t.Helper()
	deadline := time.After(waitFor)
	var others []*recvTrack
	defer func() {
		for _, o := range others {
			l.tracks <- o
		}
	}()
	for {
		select {
		case rt := <-l.tracks:
			if rt.kind == kind {
				return rt
			}
			others = append(others, rt)
		case <-deadline:
			t.Fatalf("no %s track within %s", kind, waitFor)
			return nil
		}
	}
}

// waitPacket returns the first packet for which ok is true.
func waitPacket(t *testing.T, rt *recvTrack, what string, ok func(*rtp.Packet) bool) *rtp.Packet {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case p := <-rt.pkts:
			if ok(p) {
				return p
			}
		case <-deadline:
			t.Fatalf("no %s within %s", what, waitFor)
			return nil
		}
	}
}

// isVP8Keyframe: a packet starting partition 0 whose frame tag has the
// inverse key frame bit (bit 0) clear (RFC 6386 9.1, RFC 7741 4.3).
func isVP8Keyframe(p *rtp.Packet) bool {
	var vp8 codecs.VP8Packet
	payload, err := vp8.Unmarshal(p.Payload)
	return err == nil && vp8.S == 1 && vp8.PID == 0 && len(payload) > 0 && payload[0]&1 == 0
}

// hasH264IDR looks for an IDR slice (NAL type 5) as a single NAL, inside a
// STAP-A, or starting an FU-A (RFC 6184).
func hasH264IDR(p *rtp.Packet) bool {
	b := p.Payload
	if len(b) < 2 {
		return false
	}
	switch b[0] & 0x1f {
	case 5:
		return true
	case 24: // STAP-A: 16-bit size, NAL, ...
		for i := 1; i+2 < len(b); {
			n := int(binary.BigEndian.Uint16(b[i:]))
			i += 2
			if n == 0 || i+n > len(b) {
				return false
			}
			if b[i]&0x1f == 5 {
				return true
			}
			i += n
		}
	case 28: // FU-A: indicator, header with start bit and type
		return b[1]&0x80 != 0 && b[1]&0x1f == 5
	}
	return false
}
