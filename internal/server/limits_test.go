package server

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

// expectError skips candidates and answers until an error, which must have
// code and a reason containing reason.
func expectError(t *testing.T, c *client, code int, reason string) {
	t.Helper()
	m := c.waitFor(signal.TypeError)
	if m.Code != code || !strings.Contains(m.Reason, reason) {
		t.Fatalf("%s: error %d %q, want %d %q", c.name, m.Code, m.Reason, code, reason)
	}
}

func publishOffer(sdp string, tracks []signal.Track) *signal.Message {
	return &signal.Message{Type: signal.TypeOffer, PC: signal.PCPublish, SDP: sdp, Tracks: tracks}
}

// remoteSDP is the remote description of uid's publish pc, "" without one.
func remoteSDP(t *testing.T, s *Server, uid string) string {
	t.Helper()
	p := findParticipant(s, "r1", uid)
	if p == nil {
		t.Fatalf("%s is not in r1", uid)
	}
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	if p.pub == nil || p.pub.pc.RemoteDescription() == nil {
		return ""
	}
	return p.pub.pc.RemoteDescription().SDP
}

// Item 8: a publish offer of more than 16 m-lines is refused with 413 and
// not applied; so is one that renames its m-lines to grow the transceivers.
func TestPublishOfferMediaSections(t *testing.T) {
	s, url := startServer(t, Config{})
	alice := dial(t, url, "alice")
	alice.join("r1", mint(t, "r1", "alice", time.Hour))

	alice.send(publishOffer(bombSDP(0, maxMediaSections+1, "ufrag0001"), audioOpus))
	expectError(t, alice, signal.ErrPayloadTooLarge, "offer has 17 media sections; limit 16")
	alice.ping(signal.TypeAnswer)
	if sdp := remoteSDP(t, s, "alice"); sdp != "" {
		t.Fatalf("the refused offer was applied")
	}

	first := bombSDP(0, maxMediaSections, "ufrag0001")
	alice.send(publishOffer(first, audioOpus))
	if m := alice.waitFor(signal.TypeAnswer, signal.TypeError); len(m.SDP) > signal.MaxMessageSize {
		t.Fatalf("answer of %d bytes", len(m.SDP))
	}
	// The same 16 m-lines under new mids would make 32 transceivers.
	alice.send(publishOffer(bombSDP(maxMediaSections, maxMediaSections, "ufrag0001"), nil))
	expectError(t, alice, signal.ErrPayloadTooLarge, "offer would make 32 transceivers")
	alice.ping(signal.TypeAnswer)
	if sdp := remoteSDP(t, s, "alice"); sdp != first {
		t.Errorf("the refused offer changed the remote description")
	}
}

// Item 8: publish offers beyond 2/s (burst 5) are refused with 429.
func TestPublishOfferRate(t *testing.T) {
	_, url := startServer(t, Config{})
	alice := dial(t, url, "alice")
	alice.join("r1", mint(t, "r1", "alice", time.Hour))
	const n = 20
	for range n {
		alice.send(publishOffer(bombSDP(0, 1, "ufrag0001"), audioOpus))
	}
	answers, refused := 0, 0
	for answers+refused < n {
		m := alice.next()
		switch {
		case m == nil:
			t.Fatal("socket closed")
		case m.Type == signal.TypeAnswer:
			answers++
		case m.Type == signal.TypeError && m.Code == signal.ErrRateExceeded &&
			strings.HasPrefix(m.Reason, "offer rate limit"):
			refused++
		case m.Type == signal.TypeError:
			t.Fatalf("error %d %s", m.Code, m.Reason)
		}
	}
	t.Logf("%d offers at once: %d answered, %d refused", n, answers, refused)
	if answers < offerBurst || refused == 0 {
		t.Errorf("%d answered, %d refused; want the burst of %d answered and the rest refused", answers, refused, offerBurst)
	}
	alice.ping()
}

// fullOffer is a publish offer of 16 m-lines (1 audio, 15 video) listing
// every codec pion knows, with rtx, but without the rtcp-fb and extmap lines
// the answer adds back: the most an answer can grow over its offer.
func fullOffer(t *testing.T) string {
	t.Helper()
	pc, err := newTestAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	for i := range maxMediaSections {
		kind := webrtc.RTPCodecTypeVideo
		if i == 0 {
			kind = webrtc.RTPCodecTypeAudio
		}
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for line := range strings.Lines(offer.SDP) {
		if !strings.HasPrefix(line, "a=rtcp-fb:") && !strings.HasPrefix(line, "a=extmap:") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// Item 8: no answer the server builds within the limits exceeds a message.
func TestPublishAnswerFits(t *testing.T) {
	_, url := startServer(t, Config{})
	for _, tracks := range [][]signal.Track{
		audioOpus, // the video m-lines are not declared
		{{Kind: "video", Codec: "H264"}},
		{{Kind: "audio"}, {Kind: "video"}},
	} {
		alice := dial(t, url, "alice")
		alice.join("r1", mint(t, "r1", "alice", time.Hour))
		offer := fullOffer(t)
		if n, ok := fits(publishOffer(offer, tracks)); !ok {
			t.Fatalf("the offer does not fit a message: %d bytes", n)
		}
		alice.send(publishOffer(offer, tracks))
		m := alice.waitFor(signal.TypeAnswer, signal.TypeError)
		b, err := signal.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("tracks %v: offer %d B, answer %d B encoded", tracks, len(offer), len(b))
		// One codec per m-line: about 300 bytes each; 1 KB each leaves room.
		if len(b) > maxMediaSections<<10 {
			t.Errorf("tracks %v: answer message of %d bytes, want at most %d", tracks, len(b), maxMediaSections<<10)
		}
		alice.send(&signal.Message{Type: signal.TypeLeave})
		alice.expectClosed()
	}
}

// Item 8: a subscriber in a full room of publishers gets at most
// maxSubscribeMediaSections m-lines, in an offer that fits a message.
func TestSubscribeOfferBounded(t *testing.T) {
	s, _ := startServer(t, Config{})
	r := &room{s: s, id: "r1", parts: make(map[string]*participant)}
	q := &participant{r: r, uid: "q", rights: token.Rights{Subscribe: true}}
	r.parts[q.uid] = q
	// The longest fmtp lines a publisher can have forwarded.
	fmtp := func(f string) string { return f + strings.Repeat("x", maxFmtpLen-len(f)) }
	h264 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: fmtp("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f;x=")}
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: fmtp("minptime=10;useinbandfec=1;x=")}
	for i := range MaxParticipants - 1 {
		uid := strings.Repeat(string(rune('a'+i%26)), 62) + string(rune('a'+i/26)) + "x" // 64 characters
		p := &participant{r: r, uid: uid}
		p.pub = &publisher{sources: map[string]*source{}}
		for kind, codec := range map[string]webrtc.RTPCodecCapability{"audio": opus, "video": h264} {
			src := &source{s: s, uid: uid, kind: kind}
			src.local.Store(newFanoutTrack(codec, uid+"-"+kind, uid, nil))
			p.pub.sources[kind] = src
		}
		r.parts[uid] = p
	}
	r.mu.Lock()
	r.syncSubs(q)
	var n int
	var sdp string
	if q.sub != nil {
		n = len(q.sub.pc.GetTransceivers())
		if ld := q.sub.pc.LocalDescription(); ld != nil {
			sdp = ld.SDP
		}
	}
	// An ICE restart offer is the largest (new credentials, same m-lines).
	q.sub.inFlight = false
	q.sub.restartICE = true
	r.negotiateLocked(q)
	if ld := q.sub.pc.LocalDescription(); ld != nil && len(ld.SDP) > len(sdp) {
		sdp = ld.SDP
	}
	r.mu.Unlock()
	defer func() { _ = q.sub.pc.Close() }()
	b, err := signal.Encode(&signal.Message{Type: signal.TypeOffer, PC: signal.PCSubscribe, SDP: sdp})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d publishers of audio+video: subscribe pc of %d m-lines, offer %d B encoded", MaxParticipants-1, n, len(b))
	if n > maxSubscribeMediaSections {
		t.Errorf("%d m-lines, want at most %d", n, maxSubscribeMediaSections)
	}
	if len(b) > signal.MaxMessageSize || sdp == "" {
		t.Errorf("subscribe offer message of %d bytes, want 1-%d", len(b), signal.MaxMessageSize)
	}
}

// Item 8: a publisher coming and going does not grow a subscriber's SDP:
// removed m-lines are reused once the subscriber has answered their
// removal, and the subscriber receives the new track on the reused one.
func TestSubscribeMLinesRecycled(t *testing.T) {
	_, url := startServer(t, Config{})
	api := newTestAPI(t)
	bob := dial(t, url, "bob")
	bob.enableSubscribe(api)
	bob.join("r1", mint(t, "r1", "bob", time.Hour))
	for i := range 5 {
		alice := dial(t, url, "alice")
		alice.join("r1", mint(t, "r1", "alice", time.Hour))
		alice.publishVideo(api, videoVP8)
		alice.waitFor(signal.TypeAnswer)
		m := bob.waitFor(signal.TypeOffer, signal.TypeError)
		mlines := strings.Count(m.SDP, "\nm=")
		tr := awaitTrack(t, bob)
		if tr.StreamID() != "alice" || tr.Codec().MimeType != webrtc.MimeTypeVP8 {
			t.Fatalf("round %d: bob got track %s %s", i+1, tr.StreamID(), tr.Codec().MimeType)
		}
		// A reused m-line's sender is not the PeerConnection's own; the
		// sender reports (A/V sync) must come all the same.
		awaitSenderReport(t, bob, uint32(tr.SSRC()))
		t.Logf("round %d: bob's subscribe offer has %d m-lines; he receives alice and her sender reports", i+1, mlines)
		if mlines > 1 {
			t.Fatalf("round %d: bob's subscribe offer has %d m-lines for alice's one track, want 1", i+1, mlines)
		}
		alice.send(&signal.Message{Type: signal.TypeLeave})
		alice.expectClosed()
		bob.waitFor(signal.TypeOffer, signal.TypeError) // alice's m-line goes inactive
		bob.ping()                                      // and bob's answer is in
		alice.close()
	}
}

// awaitSenderReport waits for an RTCP sender report of ssrc at c's
// subscribe PeerConnection.
func awaitSenderReport(t *testing.T, c *client, ssrc uint32) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case got := <-c.srs:
			if got == ssrc {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no sender report for SSRC %d within %v", c.name, ssrc, wait)
		}
	}
}
