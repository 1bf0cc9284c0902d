package server

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

// pliInterval is the least time between two keyframe requests for one track.
const pliInterval = 200 * time.Millisecond

// publisher is a participant's publish PeerConnection and what it declared.
type publisher struct {
	pc      *webrtc.PeerConnection
	stream  signal.Stream
	sources map[string]*source // by kind; kept for the publisher's lifetime
}

// source is one kind of media of a publisher: the remote track arriving on
// the publish PeerConnection is forwarded into local, which every subscriber
// of it has a sender for.
type source struct {
	s    *Server
	uid  string
	kind string
	pc   *webrtc.PeerConnection // the publish PC, for RTCP upstream

	local atomic.Pointer[fanoutTrack] // nil while not declared
	ssrc  atomic.Uint32               // the publisher's SSRC, 0 until the track arrives

	mu        sync.Mutex
	lastPLI   time.Time
	pliQueued bool
}

// declared is one track of a publish offer with the codec it will carry.
type declared struct {
	track signal.Track
	codec webrtc.RTPCodecParameters
}

// publishLocked handles offer{pc:"publish"}: answer it and (re)declare p's
// stream to the room.
func (r *room) publishLocked(p *participant, m *signal.Message, cl *cleanup) {
	if !p.rights.Publish {
		r.s.log.Info("publish refused: no publish right", "room", r.id, "uid", p.uid)
		p.send(&signal.Message{Type: signal.TypePublishRefused, Result: token.NoPublishRight,
			Reason: "token has no publish right"})
		return
	}
	// Renegotiation limits (limits.go), cheapest first. The rate limit is
	// about real time, not the token clock of Config.Now.
	if !p.offers.allow(time.Now()) {
		r.s.log.Debug("publish offer refused: rate", "room", r.id, "uid", p.uid)
		p.sendError(signal.ErrRateExceeded, fmt.Sprintf("offer rate limit: %d publish offers per second, burst %d",
			offerRate, offerBurst))
		return
	}
	if len(m.SDP) > maxSDPSize {
		p.sendError(signal.ErrPayloadTooLarge, fmt.Sprintf("sdp has %d bytes; limit %d", len(m.SDP), maxSDPSize))
		return
	}
	offer := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}
	parsed, err := offer.Unmarshal()
	if err != nil {
		p.sendError(signal.ErrBadMessage, "publish offer: "+err.Error())
		return
	}
	var cur *webrtc.PeerConnection
	if p.pub != nil {
		cur = p.pub.pc
	}
	if reason, ok := checkPublishOffer(parsed, cur); !ok {
		r.s.log.Info("publish offer refused", "room", r.id, "uid", p.uid, "reason", reason)
		p.sendError(signal.ErrPayloadTooLarge, reason)
		return
	}
	tracks := m.Tracks
	if len(tracks) == 0 {
		if p.pub == nil {
			p.sendError(signal.ErrBadMessage, "publish offer declares no tracks")
			return
		}
		tracks = slices.Clone(p.pub.stream.Tracks) // a renegotiation keeps what was declared
	}
	decl, tracks, code, err := declare(parsed, tracks)
	if err != nil {
		p.sendError(code, err.Error())
		return
	}

	fresh := p.pub == nil
	if fresh {
		pc, err := r.s.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			r.s.log.Error("create publish peer connection", "room", r.id, "uid", p.uid, "err", err)
			p.sendError(signal.ErrInternal, "cannot create peer connection")
			return
		}
		p.pub = &publisher{pc: pc, sources: make(map[string]*source)}
		r.watchPublishPC(p, p.pub)
	}
	pub := p.pub
	fail := func(code int, reason string) {
		p.sendError(code, reason)
		if fresh {
			cl.closePC(pub.pc)
			p.pub = nil
		}
	}
	// Candidates the policy drops leave the SDP before pion sees it.
	offer = webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: p.filterSDP(signal.PCPublish, m.SDP)}
	if err := pub.pc.SetRemoteDescription(offer); err != nil {
		fail(signal.ErrBadMessage, "publish offer: "+err.Error())
		return
	}
	p.flushCandidates(pub.pc, &p.pendingPub)
	// Answer with the declared codec only, so what arrives is what was
	// declared; m-lines of a kind not declared get one codec too (they carry
	// nothing), which keeps the answer small whatever the offer lists.
	for _, tr := range pub.pc.GetTransceivers() {
		kind := tr.Kind().String()
		d, ok := decl[kind]
		if !ok {
			if d.codec, ok = offeredCodec(parsed, kind, forwardedCodecs(kind)[0]); !ok {
				continue
			}
		}
		if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{d.codec}); err != nil {
			r.s.log.Debug("publish codec preferences", "room", r.id, "uid", p.uid, "err", err)
		}
	}
	answer, err := pub.pc.CreateAnswer(nil)
	if err != nil {
		fail(signal.ErrBadMessage, "publish answer: "+err.Error())
		return
	}
	msg := &signal.Message{Type: signal.TypeAnswer, PC: signal.PCPublish, SDP: answer.SDP}
	if n, ok := fits(msg); !ok {
		// Not reached within the limits above; a safety net so that the
		// server never sends what a client cannot read.
		r.s.log.Error("publish answer too large", "room", r.id, "uid", p.uid, "bytes", n)
		if !fresh {
			if err := pub.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); err != nil {
				r.s.log.Debug("roll back publish offer", "room", r.id, "uid", p.uid, "err", err)
			}
		}
		fail(signal.ErrPayloadTooLarge, fmt.Sprintf("answer would be %d bytes; limit %d", n, signal.MaxMessageSize))
		return
	}
	// Queued before SetLocalDescription starts gathering: candidates follow it.
	p.send(msg)
	if err := pub.pc.SetLocalDescription(answer); err != nil {
		r.s.log.Error("set publish answer", "room", r.id, "uid", p.uid, "err", err)
		fail(signal.ErrInternal, "cannot apply answer")
		return
	}

	// One forwarding track per declared track, right away, so subscribers
	// negotiate while the publisher's ICE connects.
	changed := false
	for _, kind := range []string{"audio", "video"} {
		d, ok := decl[kind]
		src := pub.sources[kind]
		if !ok {
			if src != nil && src.local.Swap(nil) != nil {
				changed = true
			}
			continue
		}
		if src == nil {
			src = r.newSource(p, pub, kind)
		}
		if l := src.local.Load(); l != nil && sameCodec(l.Codec(), d.codec.RTPCodecCapability) {
			continue
		}
		src.local.Store(newFanoutTrack(d.codec.RTPCodecCapability, p.uid+"-"+kind, p.uid, r.s.flush))
		changed = true
	}
	st := signal.Stream{UID: p.uid, RoomID: r.id, Tracks: tracks}
	streamChanged := !slices.Equal(pub.stream.Tracks, st.Tracks)
	pub.stream = st
	switch {
	case fresh:
		r.s.log.Info("publishing", "room", r.id, "uid", p.uid, "tracks", len(tracks))
		r.streamEventLocked(p, signal.TypeStreamAdd)
	case streamChanged:
		r.streamEventLocked(p, signal.TypeStreamUpdate)
	}
	if changed {
		for _, q := range r.parts {
			if q != p {
				r.syncSubs(q)
			}
		}
	}
}

// unpublishLocked ends p's publication: others see stream_remove and lose
// its tracks.
func (r *room) unpublishLocked(p *participant, cl *cleanup) {
	if p.pub == nil {
		return
	}
	r.streamEventLocked(p, signal.TypeStreamRemove)
	cl.closePC(p.pub.pc)
	p.pub = nil
	p.pendingPub = nil
	p.pubCands = candidateBudget{}
	for _, q := range r.parts {
		if q != p {
			r.syncSubs(q)
		}
	}
}

func (r *room) newSource(p *participant, pub *publisher, kind string) *source {
	src := &source{s: r.s, uid: p.uid, kind: kind, pc: pub.pc}
	pub.sources[kind] = src
	return src
}

// watchPublishPC wires the callbacks of p's publish PeerConnection.
func (r *room) watchPublishPC(p *participant, pub *publisher) {
	pub.pc.OnICECandidate(func(c *webrtc.ICECandidate) { p.sendCandidate(signal.PCPublish, c) })
	pub.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		r.s.log.Debug("publish peer connection", "room", r.id, "uid", p.uid, "state", st.String())
	})
	pub.pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		r.forward(p, pub, remote)
	})
}

// forward copies the RTP of remote into its source's forwarding track until
// the publish PeerConnection closes. It runs on the goroutine pion starts for
// OnTrack, which it registers with the server.
func (r *room) forward(p *participant, pub *publisher, remote *webrtc.TrackRemote) {
	if !r.s.enter() {
		return
	}
	defer r.s.wg.Done()
	kind := remote.Kind().String()
	r.mu.Lock()
	src := pub.sources[kind]
	if src == nil && p.pub == pub {
		src = r.newSource(p, pub, kind)
	}
	r.mu.Unlock()
	if src == nil {
		return
	}
	src.ssrc.Store(uint32(remote.SSRC()))
	codec := remote.Codec().MimeType
	r.s.log.Info("receiving track", "room", r.id, "uid", p.uid, "kind", kind, "codec", codec)
	if l := src.local.Load(); l != nil && !strings.EqualFold(l.Codec().MimeType, codec) {
		r.s.log.Warn("track codec differs from the declared one", "room", r.id, "uid", p.uid,
			"declared", l.Codec().MimeType, "codec", codec)
	}
	src.requestKeyframe()
	for {
		pkt, _, err := remote.ReadRTP()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.s.log.Debug("track read ended", "room", r.id, "uid", p.uid, "kind", kind, "err", err)
			}
			return
		}
		l := src.local.Load()
		if l == nil {
			continue
		}
		// Header extension ids are negotiated per PeerConnection; the
		// subscriber side adds its own.
		pkt.Extension = false
		pkt.Extensions = nil
		pkt.ExtensionProfile = 0
		l.WriteRTP(pkt)
	}
}

// requestKeyframe sends a PLI to the publisher, at most one per pliInterval;
// a request inside the interval is sent when it ends.
func (src *source) requestKeyframe() {
	if src.kind != "video" {
		return
	}
	if src.ssrc.Load() == 0 {
		return // the track has not arrived yet; forward asks when it does
	}
	src.mu.Lock()
	if src.pliQueued {
		src.mu.Unlock()
		return
	}
	// Pacing is about real network time, not the token clock of Config.Now.
	now := time.Now()
	if wait := pliInterval - now.Sub(src.lastPLI); wait > 0 && !src.lastPLI.IsZero() {
		src.pliQueued = true
		src.mu.Unlock()
		src.s.afterFunc(wait, func() {
			src.mu.Lock()
			src.pliQueued = false
			src.lastPLI = time.Now()
			src.mu.Unlock()
			src.sendPLI()
		})
		return
	}
	src.lastPLI = now
	src.mu.Unlock()
	src.sendPLI()
}

func (src *source) sendPLI() {
	ssrc := src.ssrc.Load()
	if err := src.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		src.s.log.Debug("send pli", "uid", src.uid, "err", err)
	}
}

// resend answers a subscriber's NACK from the forwarding track's ring and
// asks the publisher for what the ring no longer holds.
func (src *source) resend(n *rtcp.TransportLayerNack) {
	l := src.local.Load()
	if l == nil {
		return
	}
	if missing := l.Resend(n.MediaSSRC, n.Nacks); len(missing) > 0 {
		src.forwardNack(rtcp.NackPairsFromSequenceNumbers(missing))
	}
}

// forwardNack asks the publisher to send packets again (its retransmission
// goes to every subscriber). Sequence numbers are the publisher's, since
// forwarding keeps them.
func (src *source) forwardNack(nacks []rtcp.NackPair) {
	ssrc := src.ssrc.Load()
	if ssrc == 0 {
		return
	}
	up := &rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: nacks}
	if err := src.pc.WriteRTCP([]rtcp.Packet{up}); err != nil {
		src.s.log.Debug("forward nack", "uid", src.uid, "err", err)
	}
}

// forwardedCodecs are the codecs the server forwards for kind, the first
// being the default of a track that names none.
func forwardedCodecs(kind string) []string {
	if kind == "video" {
		return []string{"VP8", "H264"}
	}
	return []string{"opus"}
}

// declare checks the declared tracks of a publish offer against its SDP and
// picks the offered codec each will carry.
func declare(sd *sdp.SessionDescription, tracks []signal.Track) (map[string]declared, []signal.Track, int, error) {
	out := make(map[string]declared, len(tracks))
	tracks = slices.Clone(tracks)
	for i := range tracks {
		t := &tracks[i]
		if _, dup := out[t.Kind]; dup {
			return nil, nil, signal.ErrBadMessage, fmt.Errorf("more than one %s track declared", t.Kind)
		}
		name := ""
		for _, n := range forwardedCodecs(t.Kind) {
			if t.Codec == "" || strings.EqualFold(t.Codec, n) {
				name = n
				break
			}
		}
		if name == "" {
			return nil, nil, signal.ErrUnsupported, fmt.Errorf("%s codec %q is not forwarded", t.Kind, t.Codec)
		}
		t.Codec = name
		c, ok := offeredCodec(sd, t.Kind, name)
		if !ok {
			return nil, nil, signal.ErrUnsupported, fmt.Errorf("declared %s codec %s is not in the offer", t.Kind, name)
		}
		out[t.Kind] = declared{track: *t, codec: c}
	}
	return out, tracks, 0, nil
}

// offeredCodec finds codec among the payload types the offer has for kind.
func offeredCodec(sd *sdp.SessionDescription, kind, codec string) (webrtc.RTPCodecParameters, bool) {
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != kind || md.MediaName.Port.Value == 0 {
			continue
		}
		fmtps := make(map[string]string)
		for _, a := range md.Attributes {
			if a.Key == "fmtp" {
				if pt, line, ok := strings.Cut(a.Value, " "); ok {
					fmtps[pt] = line
				}
			}
		}
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, enc, ok := strings.Cut(a.Value, " ")
			if !ok {
				continue
			}
			parts := strings.Split(enc, "/")
			if len(parts) < 2 || !strings.EqualFold(parts[0], codec) {
				continue
			}
			ptn, err1 := strconv.ParseUint(pt, 10, 7)
			clock, err2 := strconv.ParseUint(parts[1], 10, 32)
			if err1 != nil || err2 != nil || len(fmtps[pt]) > maxFmtpLen {
				// A longer fmtp line would be copied into every
				// subscriber's offer (limits.go).
				continue
			}
			var channels uint64
			if len(parts) > 2 {
				channels, _ = strconv.ParseUint(parts[2], 10, 16)
			}
			return webrtc.RTPCodecParameters{
				RTPCodecCapability: webrtc.RTPCodecCapability{
					MimeType:     kind + "/" + codec,
					ClockRate:    uint32(clock),
					Channels:     uint16(channels),
					SDPFmtpLine:  fmtps[pt],
					RTCPFeedback: feedbackFor(kind),
				},
				PayloadType: webrtc.PayloadType(ptn),
			}, true
		}
	}
	return webrtc.RTPCodecParameters{}, false
}

// feedbackFor is the RTCP feedback the server negotiates (intersected by pion
// with what its media engine supports).
func feedbackFor(kind string) []webrtc.RTCPFeedback {
	if kind == "video" {
		return []webrtc.RTCPFeedback{
			{Type: webrtc.TypeRTCPFBGoogREMB},
			{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
			{Type: webrtc.TypeRTCPFBNACK},
			{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
			{Type: webrtc.TypeRTCPFBTransportCC},
		}
	}
	return []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
}

func sameCodec(a, b webrtc.RTPCodecCapability) bool {
	return strings.EqualFold(a.MimeType, b.MimeType) && a.ClockRate == b.ClockRate &&
		a.Channels == b.Channels && a.SDPFmtpLine == b.SDPFmtpLine
}
