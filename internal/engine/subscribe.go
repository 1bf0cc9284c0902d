package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/media"
)

// remote is what the engine knows of another participant's stream, and the
// state of the local player that consumes it. Owned by the run loop.
type remote struct {
	info       Stream
	player     string // "", play, pause, end
	firstAudio bool
	firstVideo bool
}

func (r *remote) audioMuted() bool {
	t := r.info.Track("audio")
	return t != nil && t.Muted
}

// playMuted reports whether the local playback of r's audio is muted: its
// publisher muted it, or its local volume is 0 (SetRemoteAudioVolume).
// mute_play and mute_play_resume follow the changes of this state.
func (e *Engine) playMuted(r *remote) bool {
	return r.audioMuted() || e.volume(r.info.UID) == 0
}

// volume is the local playback volume of uid's audio, 0-100.
func (e *Engine) volume(uid string) int {
	if v, ok := e.volumes[uid]; ok {
		return v
	}
	return 100
}

// allMuted: nothing of the stream is playing, so its player pauses.
func (r *remote) allMuted() bool {
	if len(r.info.Tracks) == 0 {
		return false
	}
	for _, t := range r.info.Tracks {
		if !t.Muted {
			return false
		}
	}
	return true
}

// RemoteStreamOf converts the service's stream description to the SDK's
// RemoteStream payload.
func RemoteStreamOf(s *Stream) event.RemoteStream {
	rs := event.RemoteStream{UID: s.UID, RoomID: s.RoomID}
	if a := s.Track("audio"); a != nil {
		rs.Audio = &event.RemoteAudio{SampleRate: a.SampleRate, Channel: a.Channel, Bitrate: a.Bitrate}
	}
	if v := s.Track("video"); v != nil {
		rs.Video = &event.RemoteVideo{Width: v.Width, Height: v.Height, Bitrate: v.Bitrate, FrameRate: v.FrameRate, Codec: v.Codec}
	}
	return rs
}

func (e *Engine) streamAdd(s *Stream) {
	if s.UID == e.cfg.UID {
		return
	}
	if _, ok := e.streams[s.UID]; ok {
		e.streamUpdate(s)
		return
	}
	r := &remote{info: *s}
	e.streams[s.UID] = r
	e.ev.Emit(event.RemoteStreamAdd, RemoteStreamOf(s))
	if e.playMuted(r) {
		e.ev.Emit(event.MutePlay, event.UID{UID: s.UID})
	}
}

func (e *Engine) streamUpdate(s *Stream) {
	r, ok := e.streams[s.UID]
	if !ok {
		e.streamAdd(s)
		return
	}
	wasPlayMuted, wasAllMuted := e.playMuted(r), r.allMuted()
	r.info = *s
	e.ev.Emit(event.RemoteStreamUpdate, RemoteStreamOf(s))
	e.tellPlayMuted(r, wasPlayMuted)
	switch {
	case !wasAllMuted && r.allMuted():
		e.setPlayer(r, event.StatePause, "muted")
	case wasAllMuted && !r.allMuted():
		e.setPlayer(r, event.StatePlay, "unmuted")
	}
}

// tellPlayMuted prints mute_play or mute_play_resume when the playback of
// r's audio changed from was (playMuted).
func (e *Engine) tellPlayMuted(r *remote, was bool) {
	switch now := e.playMuted(r); {
	case !was && now:
		e.ev.Emit(event.MutePlay, event.UID{UID: r.info.UID})
	case was && !now:
		e.ev.Emit(event.MutePlayResume, event.UID{UID: r.info.UID})
	}
}

// subscriptions is whom the engine subscribes to: everyone but the uids
// of except, or only the uids of only. Owned by the run loop.
type subscriptions struct {
	everyone bool
	except   map[string]bool
	only     map[string]bool
}

// newSubscriptions subscribes to uids, or to everyone when there are none
// (Config.Subscribe).
func newSubscriptions(uids []string) subscriptions {
	s := subscriptions{everyone: len(uids) == 0, except: map[string]bool{}, only: map[string]bool{}}
	for _, u := range uids {
		s.only[u] = true
	}
	return s
}

// has reports whether uid is subscribed to.
func (s *subscriptions) has(uid string) bool {
	if s.everyone {
		return !s.except[uid]
	}
	return s.only[uid]
}

// subscribed reports whether the engine subscribes to uid.
func (e *Engine) subscribed(uid string) bool { return e.subs.has(uid) }

// subscribeList is the subscriptions as the Backend takes them: a list of
// uids, nil for everyone. A Backend subscribes to a newcomer only when the
// list is nil or names it, so everyone but some is the list of the
// publishers known now, sent again when one is added (syncSubscriptions).
// A list that would be empty names our own uid: empty would mean everyone,
// and no service subscribes a participant to itself.
func (e *Engine) subscribeList() []string {
	s := &e.subs
	if s.everyone && len(s.except) == 0 {
		return nil
	}
	var uids []string
	if s.everyone {
		for uid := range e.streams {
			if !s.except[uid] {
				uids = append(uids, uid)
			}
		}
	} else {
		uids = slices.Collect(maps.Keys(s.only))
	}
	if len(uids) == 0 {
		return []string{e.cfg.UID}
	}
	slices.Sort(uids)
	return uids
}

// syncSubscriptions sends the subscriptions when the service does not have
// them. While reconnecting the send fails and the next join carries them.
func (e *Engine) syncSubscriptions() {
	uids := e.subscribeList()
	if slices.Equal(uids, e.subsSent) && (uids == nil) == (e.subsSent == nil) {
		return
	}
	err := e.request("subscribe", func(ctx context.Context, s Session) error { return s.SetSubscriptions(ctx, uids) })
	if err == nil {
		e.subsSent = uids
	}
}

// applySubscriptions acts on a change of e.subs: the tracks of publishers
// no longer subscribed end for their consumers with ReasonUnsubscribed,
// and the service is told.
func (e *Engine) applySubscriptions() {
	if e.sub != nil {
		e.sub.endTracks(func(uid string) bool { return !e.subscribed(uid) }, ReasonUnsubscribed)
	}
	// The player of a stream no longer subscribed ends; subscribed again,
	// it is a new playback: first frames and play are printed anew.
	for uid, r := range e.streams {
		if e.subscribed(uid) || r.player == "" {
			continue
		}
		e.setPlayer(r, event.StateEnd, string(ReasonUnsubscribed))
		r.player, r.firstAudio, r.firstVideo = "", false, false
	}
	e.syncSubscriptions()
}

// streamRemove forgets uid's stream: its tracks end for their consumers
// and its player ends, both with reason.
func (e *Engine) streamRemove(uid string, reason EndReason) {
	r, ok := e.streams[uid]
	if !ok {
		return
	}
	delete(e.streams, uid)
	if e.sub != nil {
		e.sub.endTracks(func(u string) bool { return u == uid }, reason)
	}
	e.ev.Emit(event.RemoteStreamRemove, RemoteStreamOf(&r.info))
	e.setPlayer(r, event.StateEnd, string(reason))
}

// setPlayer moves the local player of a stream; only changes are printed,
// and a player that never played neither pauses nor resumes.
func (e *Engine) setPlayer(r *remote, state, reason string) {
	if r.player == state || r.player == event.StateEnd {
		return
	}
	if r.player == "" && state != event.StatePlay {
		return
	}
	r.player = state
	e.ev.Emit(event.PlayerStateChange, event.PlayerState{UID: r.info.UID, State: state, Reason: reason})
}

// firstFrame runs on the run loop when a subscribed track decoded its
// first complete frame.
func (e *Engine) firstFrame(uid, kind string) {
	r, ok := e.streams[uid]
	if !ok {
		return
	}
	ur := event.UIDRoom{UID: uid, RoomID: e.cfg.RoomID}
	switch kind {
	case "audio":
		if r.firstAudio {
			return
		}
		r.firstAudio = true
		e.ev.Emit(event.FirstAudioFrameDecode, ur)
	case "video":
		if r.firstVideo {
			return
		}
		r.firstVideo = true
		e.ev.Emit(event.FirstVideoFrameDecode, ur)
	}
	if r.allMuted() {
		return
	}
	e.setPlayer(r, event.StatePlay, "first_frame")
}

// subscriber is the participant's receiving PeerConnection; the server
// offers, the engine answers.
type subscriber struct {
	e     *Engine
	pc    *webrtc.PeerConnection
	stats *rtpStats
	loss  lossMeter // owned by the run loop
	cands candidates
	ice   iceDown
	wg    sync.WaitGroup

	mu       sync.Mutex
	awaiting map[string]bool     // uid → transport back, waiting for its media
	tracks   map[string]*rxTrack // trackKey → the track being consumed
	closing  EndReason           // set by close: no track is taken any more
}

func (e *Engine) onSubscribeOffer(sdp string) {
	if e.sub == nil {
		s, err := newSubscriber(e)
		if err != nil {
			e.log.Error("subscribe", "err", err)
			return
		}
		e.sub = s
	}
	if err := e.sub.answer(sdp); err != nil {
		e.log.Error("subscribe negotiation", "err", err)
	}
}

func newSubscriber(e *Engine) (*subscriber, error) {
	api, st, err := newAPI(func(m *webrtc.MediaEngine) error { return m.RegisterDefaultCodecs() }, !e.cfg.CountOnly, e.cfg.ICE, e.log)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new subscribe peer connection: %w", err)
	}
	s := &subscriber{e: e, pc: pc, stats: st}
	pc.OnICECandidate(s.onLocalCandidate)
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closing != "" {
			return // close may be waiting on wg already
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.consume(t, r)
		}()
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		e.log.Debug("subscribe connection", "state", st.String())
	})
	pc.OnICEConnectionStateChange(s.onICEChange)
	return s, nil
}

func (s *subscriber) answer(sdp string) error {
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("set subscribe offer: %w", err)
	}
	if err := s.cands.flush(s.pc); err != nil {
		s.e.log.Warn("add subscribe candidates", "err", err)
	}
	ans, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create subscribe answer: %w", err)
	}
	if err := s.pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("set subscribe answer: %w", err)
	}
	return s.e.request("subscribe answer", func(ctx context.Context, ss Session) error { return ss.SubscribeAnswer(ctx, ans.SDP) })
}

func (s *subscriber) addCandidate(ci webrtc.ICECandidateInit) {
	if err := s.cands.add(s.pc, ci); err != nil {
		s.e.log.Warn("add subscribe candidate", "err", err)
	}
}

// keyframeRetry is how often a video track without a decodable keyframe
// asks for one again.
const keyframeRetry = time.Second

// consume reads one subscribed track: the null player of `join`. It finds
// the first complete decodable frame (video: a whole keyframe; audio: an
// Opus packet that decodes), and counts and measures every packet for the
// quality telemetry (rxTrack): bytes, video frames, decoded audio levels.
func (s *subscriber) consume(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	uid := s.owner(t)
	kind := t.Kind().String()
	codec := media.CodecOf(t.Codec().MimeType)
	log := s.e.log.With("uid", uid, "kind", kind, "codec", codec)
	log.Debug("subscribed track")

	// Registered before the consumer is asked for a sink, so that the run
	// loop can end the track (stream removed, unsubscribed) from now on.
	rx := &rxTrack{uid: uid, kind: kind, codec: codec, ssrc: uint32(t.SSRC()), repaired: hasNACK(t.Codec().RTCPFeedback)}
	s.addTrack(rx)
	defer s.removeTrack(rx)
	sink := &rx.out
	// The reason given before (stream removed, unsubscribed, leaving), if
	// any, wins; else the read ended because the service renegotiated the
	// track away, or closed our whole PeerConnection: our session is gone.
	defer func() {
		s.mu.Lock()
		reason := s.closing
		s.mu.Unlock()
		switch {
		case reason != "":
		case s.pc.SignalingState() == webrtc.SignalingStateClosed: // set before pion stops the tracks
			reason = ReasonSessionLost
		default:
			reason = ReasonTrackEnded
		}
		sink.end(reason)
	}()
	if h := s.e.cfg.Tracks; h != nil {
		sink.set(h.HandleTrack(&RemoteTrack{
			UID: uid, RoomID: s.e.cfg.RoomID, Kind: kind, Codec: codec,
			ClockRate: t.Codec().ClockRate, Channels: t.Codec().Channels,
			SDPFmtpLine: t.Codec().SDPFmtpLine, SSRC: uint32(t.SSRC()),
			requestKeyframe: func() { s.requestKeyframe(t) },
		}))
	}
	// RTCP is read even without a sink: the interceptors see sender
	// reports only when somebody reads (receiver reports need them).
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		readSenderReports(r, uint32(t.SSRC()), sink)
	}()

	// decoded reports a packet that completed a decodable frame: a whole
	// keyframe, an Opus packet that decoded.
	var decoded func(*rtp.Packet) bool
	switch {
	case s.e.cfg.CountOnly:
		decoded = func(*rtp.Packet) bool { return false }
	case kind == "video":
		decoded = newVideoFrames(codec, rx)
	default:
		decoded = newAudioFrames(rx, s.e.remoteLevels)
	}
	if kind == "video" {
		s.requestKeyframe(t)
	}
	lastPLI := time.Now()
	// CountOnly looks for no first frame, so asks for no keyframe again.
	done := s.e.cfg.CountOnly
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		sink.WriteRTP(pkt, time.Now())
		rx.bytes.Add(uint64(len(pkt.Payload)))
		if s.mediaBack(uid) {
			s.postLive(func() {
				s.e.ev.Emit(event.StreamReconnectEnd, event.UIDRoom{UID: uid, RoomID: s.e.cfg.RoomID})
			})
		}
		if decoded(pkt) && !done {
			done = true
			s.postLive(func() { s.e.firstFrame(uid, kind) })
			continue
		}
		if !done && kind == "video" && time.Since(lastPLI) > keyframeRetry {
			lastPLI = time.Now()
			s.requestKeyframe(t)
		}
	}
}

// readSenderReports hands a track's RTCP sender reports to its sink until
// the receiver stops. Sink calls from here and from consume may overlap:
// PacketSink implementations lock what they share.
func readSenderReports(r *webrtc.RTPReceiver, ssrc uint32, sink *endingSink) {
	for {
		pkts, _, err := r.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == ssrc {
				sink.SenderReport(ntpTime(sr.NTPTime), sr.RTPTime)
			}
		}
	}
}

// owner is the uid of the publisher of t, as the session resolves it.
func (s *subscriber) owner(t *webrtc.TrackRemote) string {
	if sess := s.e.session(); sess != nil {
		if uid, ok := sess.TrackOwner(t.StreamID(), t.ID()); ok {
			return uid
		}
	}
	// Reconnecting, or a track the session does not know (yet): the msid's
	// stream id is the best guess (it is the uid on roomctl's server).
	s.e.log.Debug("track owner unknown; using its stream id", "stream", t.StreamID(), "track", t.ID())
	return t.StreamID()
}

// endTracks ends, with reason, the consumers' sinks of the tracks whose
// publisher's uid matches. It runs on the run loop and does not wait for
// the consumers: their Close runs on a goroutine of the subscriber.
func (s *subscriber) endTracks(match func(uid string) bool, reason EndReason) {
	for _, t := range s.trackList() {
		if !match(t.uid) || !t.out.setReason(reason) {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t.out.end(reason)
		}()
	}
}

func (s *subscriber) requestKeyframe(t *webrtc.TrackRemote) {
	err := s.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}})
	if err != nil {
		s.e.log.Debug("send PLI", "err", err)
	}
}

// close ends every track with reason, closes the PeerConnection and waits
// for the goroutines of its tracks.
func (s *subscriber) close(reason EndReason) {
	s.mu.Lock()
	s.closing = reason
	s.mu.Unlock()
	s.endTracks(func(string) bool { return true }, reason)
	s.ice.closed = true
	s.ice.stop()
	if err := s.pc.Close(); err != nil {
		s.e.log.Debug("close subscribe connection", "err", err)
	}
	s.wg.Wait()
}
