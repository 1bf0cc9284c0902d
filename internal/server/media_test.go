package server

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

var videoVP8 = []signal.Track{{Kind: "video", Codec: "VP8", Width: 320, Height: 240, FrameRate: 50}}

func awaitTrack(t *testing.T, c *client) *webrtc.TrackRemote {
	t.Helper()
	select {
	case tr := <-c.gotTrack:
		return tr
	case <-time.After(wait):
		t.Fatalf("%s: no remote track within %v", c.name, wait)
		return nil
	}
}

// startForwarding joins alice (publishing VP8) and bob (subscribing) to r1
// and waits until bob receives alice's RTP.
func startForwarding(t *testing.T, url string) (alice, bob *client, fwd forwarding) {
	t.Helper()
	api := newTestAPI(t)
	alice = dial(t, url, "alice")
	fwd.session = alice.join("r1", mint(t, "r1", "alice", time.Hour)).Session
	bob = dial(t, url, "bob")
	bob.enableSubscribe(api)
	bob.join("r1", mint(t, "r1", "bob", time.Hour))

	fwd.sender, fwd.feedback = alice.publishVideo(api, videoVP8)
	alice.waitFor(signal.TypeAnswer)
	m := bob.waitFor(signal.TypeStreamAdd)
	if st := m.Stream; st.UID != "alice" || st.RoomID != "r1" || len(st.Tracks) != 1 ||
		st.Tracks[0].Codec != "VP8" || st.Tracks[0].Width != 320 {
		t.Fatalf("stream_add %+v", st)
	}
	tr := awaitTrack(t, bob) // pion fires OnTrack on the first RTP packet
	fwd.track = tr
	if tr.Codec().MimeType != webrtc.MimeTypeVP8 || tr.StreamID() != "alice" || tr.ID() != "alice-video" {
		t.Errorf("track %s %s/%s", tr.Codec().MimeType, tr.StreamID(), tr.ID())
	}
	return alice, bob, fwd
}

type forwarding struct {
	session  string              // alice's
	sender   *webrtc.RTPSender   // alice's
	feedback <-chan rtcp.Packet  // RTCP alice receives
	track    *webrtc.TrackRemote // bob's
}

// awaitFeedback waits for an RTCP packet for which ok holds.
func awaitFeedback(t *testing.T, feedback <-chan rtcp.Packet, what string, ok func(rtcp.Packet) bool) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case p := <-feedback:
			if ok(p) {
				return
			}
		case <-timeout:
			t.Fatalf("publisher got no %s", what)
		}
	}
}

func TestForwarding(t *testing.T) {
	s, url := startServer(t, Config{})
	alice, bob, fwd := startForwarding(t, url)
	ssrc := uint32(fwd.sender.GetParameters().Encodings[0].SSRC)
	isPLI := func(p rtcp.Packet) bool {
		pli, ok := p.(*rtcp.PictureLossIndication)
		return ok && pli.MediaSSRC == ssrc
	}

	// The new subscriber made the server ask the publisher for a keyframe.
	awaitFeedback(t, fwd.feedback, "PLI for a new subscriber", isPLI)

	// A subscriber's NACK reaches the publisher with the publisher's SSRC.
	bob.mu.Lock()
	sub := bob.sub
	bob.mu.Unlock()
	nack := &rtcp.TransportLayerNack{MediaSSRC: uint32(fwd.track.SSRC()), Nacks: []rtcp.NackPair{{PacketID: 4242}}}
	if err := sub.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	awaitFeedback(t, fwd.feedback, "forwarded NACK", func(p rtcp.Packet) bool {
		n, ok := p.(*rtcp.TransportLayerNack)
		return ok && n.MediaSSRC == ssrc && len(n.Nacks) == 1 && n.Nacks[0].PacketID == 4242
	})

	// A third participant joining sees the stream in join_result.
	carol := dial(t, url, "carol")
	res := carol.join("r1", mint(t, "r1", "carol", time.Hour, func(o *token.Options) { o.NoSubscribe = true }))
	if len(res.Streams) != 1 || res.Streams[0].UID != "alice" || !slices.Equal(res.Participants, []string{"alice", "bob"}) {
		t.Errorf("join_result %+v", res)
	}
	carol.send(&signal.Message{Type: signal.TypeSubscribe})
	if m := carol.waitFor(signal.TypeError); m.Code != signal.ErrForbidden {
		t.Errorf("subscribe without right: %+v", m)
	}

	alice.send(&signal.Message{Type: signal.TypeMute, Kind: "video", Muted: true})
	if m := bob.waitFor(signal.TypeStreamUpdate); !m.Stream.Track("video").Muted {
		t.Errorf("stream_update %+v, want video muted", m.Stream)
	}
	if m := carol.waitFor(signal.TypeStreamUpdate); !m.Stream.Track("video").Muted {
		t.Errorf("carol's stream_update %+v", m.Stream)
	}

	// Filtering alice out renegotiates her track away; everyone brings it back.
	bob.send(&signal.Message{Type: signal.TypeSubscribe, UIDs: []string{"nobody"}})
	if m := bob.waitFor(signal.TypeOffer); !strings.Contains(m.SDP, "a=inactive") {
		t.Errorf("offer after filtering keeps the track:\n%s", m.SDP)
	}
	bob.send(&signal.Message{Type: signal.TypeSubscribe})
	if m := bob.waitFor(signal.TypeOffer); !strings.Contains(m.SDP, "a=sendonly") {
		t.Errorf("offer after unfiltering has no track:\n%s", m.SDP)
	}
	awaitTrack(t, bob)

	// Unpublishing ends alice's stream for the others, who lose her
	// track; she stays in the room.
	alice.send(&signal.Message{Type: signal.TypeUnpublish})
	if m := bob.waitFor(signal.TypeStreamRemove); m.Stream.UID != "alice" {
		t.Errorf("stream_remove after unpublish %+v", m.Stream)
	}
	if m := bob.waitFor(signal.TypeOffer); !strings.Contains(m.SDP, "a=inactive") {
		t.Errorf("offer after unpublish keeps the track:\n%s", m.SDP)
	}
	if got := s.Rooms(testApp)["r1"]; !slices.Equal(got, []string{"alice", "bob", "carol"}) {
		t.Errorf("room after unpublish: %v", got)
	}

	alice.send(&signal.Message{Type: signal.TypeLeave})
	alice.expectClosed()
	if got := s.Rooms(testApp)["r1"]; !slices.Equal(got, []string{"bob", "carol"}) {
		t.Errorf("room after leave: %v", got)
	}
}

func TestForwardingOneUDPPort(t *testing.T) {
	// Find a free port; the mux binds it on every local IPv4 address.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	_ = pc.Close()
	_, url := startServer(t, Config{UDPPort: port})
	alice, _, _ := startForwarding(t, url)
	alice.mu.Lock()
	pub := alice.pub
	alice.mu.Unlock()
	pair, err := pub.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("selected pair: %v %v", pair, err)
	}
	if int(pair.Remote.Port) != port {
		t.Errorf("server candidate port %d, want %d", pair.Remote.Port, port)
	}
}

func TestNoPublishRight(t *testing.T) {
	_, url := startServer(t, Config{})
	api := newTestAPI(t)
	bob := dial(t, url, "bob")
	bob.join("r1", mint(t, "r1", "bob", time.Hour))
	alice := dial(t, url, "alice")
	alice.join("r1", mint(t, "r1", "alice", time.Hour, func(o *token.Options) { o.NoPublish = true }))
	alice.publishVideo(api, videoVP8)
	m := alice.expect(signal.TypePublishRefused)
	if m.Result != token.NoPublishRight || m.Reason != "token has no publish right" {
		t.Errorf("publish_refused %+v", m)
	}
	// Nothing else: no answer, no candidates, no error.
	alice.send(&signal.Message{Type: signal.TypePing, TS: 7})
	alice.expect(signal.TypePong)
	bob.ping(signal.TypeStreamAdd)
}

func TestUnsupportedCodec(t *testing.T) {
	_, url := startServer(t, Config{})
	api := newTestAPI(t)
	alice := dial(t, url, "alice")
	alice.join("r1", mint(t, "r1", "alice", time.Hour))
	// The offer carries video only: declaring opus audio cannot be met.
	alice.publishVideo(api, []signal.Track{{Kind: "audio", Codec: "opus"}})
	if m := alice.expect(signal.TypeError); m.Code != signal.ErrUnsupported {
		t.Errorf("error %+v, want code %d", m, signal.ErrUnsupported)
	}
	alice.ping()
}

func TestResume(t *testing.T) {
	s, url := startServer(t, Config{})
	_, bob, fwd := startForwarding(t, url)
	session := fwd.session
	if s.DropSignaling(testApp, "r1", "nobody") {
		t.Error("DropSignaling of an unknown uid reported true")
	}
	if !s.DropSignaling(testApp, "r1", "alice") {
		t.Fatal("DropSignaling found no socket")
	}
	alice2 := dial(t, url, "alice")
	m := joinMsg("r1", "alice", mint(t, "r1", "alice", time.Hour))
	m.Session = session
	alice2.send(m)
	res := alice2.expect(signal.TypeJoinResult)
	if res.Result != token.OK || res.Session != session || !slices.Equal(res.Participants, []string{"bob"}) {
		t.Fatalf("resume join_result %+v", res)
	}
	before := bob.rtp.Load()
	bob.ping(signal.TypeStreamRemove)
	waitUntil(t, "media after resume", func() bool { return bob.rtp.Load() > before+10 })

	alice2.send(&signal.Message{Type: signal.TypeLeave})
	bob.waitFor(signal.TypeStreamRemove)
}

func TestResumeWindowExpires(t *testing.T) {
	s, url := startServer(t, Config{ResumeWindow: 200 * time.Millisecond})
	api := newTestAPI(t)
	alice := dial(t, url, "alice")
	session := alice.join("r1", mint(t, "r1", "alice", time.Hour)).Session
	bob := dial(t, url, "bob")
	bob.join("r1", mint(t, "r1", "bob", time.Hour))
	alice.publishVideo(api, videoVP8)
	bob.waitFor(signal.TypeStreamAdd)

	if !s.DropSignaling(testApp, "r1", "alice") {
		t.Fatal("DropSignaling found no socket")
	}
	bob.waitFor(signal.TypeStreamRemove)

	alice2 := dial(t, url, "alice")
	m := joinMsg("r1", "alice", mint(t, "r1", "alice", time.Hour))
	m.Session = session
	alice2.send(m)
	if res := alice2.expect(signal.TypeJoinResult); res.Result != token.OK || res.Session == session {
		t.Errorf("join after the window: %+v, want a new session", res)
	}
}

func TestPublishRightRevoked(t *testing.T) {
	_, url := startServer(t, Config{})
	api := newTestAPI(t)
	alice := dial(t, url, "alice")
	alice.join("r1", mint(t, "r1", "alice", time.Hour))
	bob := dial(t, url, "bob")
	bob.join("r1", mint(t, "r1", "bob", time.Hour))
	alice.publishVideo(api, videoVP8)
	bob.waitFor(signal.TypeStreamAdd)

	alice.send(&signal.Message{Type: signal.TypeUpdateToken,
		Token: mint(t, "r1", "alice", time.Hour, func(o *token.Options) { o.NoPublish = true })})
	if m := alice.waitFor(signal.TypeAuthResult); m.Result != token.OK {
		t.Fatalf("auth_result %d", m.Result)
	}
	if m := alice.waitFor(signal.TypePublishRefused); m.Result != token.NoPublishRight {
		t.Errorf("publish_refused %+v", m)
	}
	if m := bob.waitFor(signal.TypeStreamRemove); m.Stream.UID != "alice" {
		t.Errorf("stream_remove %+v", m.Stream)
	}
}

func TestForwardingH264(t *testing.T) {
	_, url := startServer(t, Config{})
	api := newTestAPI(t)
	alice := dial(t, url, "alice")
	alice.join("r1", mint(t, "r1", "alice", time.Hour))
	bob := dial(t, url, "bob")
	bob.enableSubscribe(api)
	bob.join("r1", mint(t, "r1", "bob", time.Hour))
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	alice.publish(api, codec, h264Frame, []signal.Track{{Kind: "video", Codec: "h264"}})
	if m := bob.waitFor(signal.TypeStreamAdd); m.Stream.Tracks[0].Codec != "H264" {
		t.Errorf("stream_add %+v, want the codec named H264", m.Stream)
	}
	if tr := awaitTrack(t, bob); tr.Codec().MimeType != webrtc.MimeTypeH264 {
		t.Errorf("subscriber got %s", tr.Codec().MimeType)
	}
}
