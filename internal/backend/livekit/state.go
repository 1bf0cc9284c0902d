package livekit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	lk "github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/token"
)

// state is what a session knows of its room and of its own requests. It
// does no I/O: its methods take what LiveKit said (or what the engine
// asked) and return the engine events and the requests to send, so that
// the translation is tested without a server. The session calls it under
// its lock; after a resume the next session carries it on (see
// Backend.save).
type state struct {
	uid     string // our identity
	room    string // the room's name, for engine.Stream.RoomID
	selfSID string // our participant sid

	// peers by participant sid; owner by identity: the sid whose stream
	// the engine sees (a rejoin under the same identity replaces the old
	// sid, whose late DISCONNECTED is then stale).
	peers map[string]*peer
	owner map[string]string
	// told is the stream the engine was last told of, by identity; absent:
	// none (StreamRemoved, or never added).
	told map[string]engine.Stream
	// trackOwner maps every track sid seen to its publisher's identity,
	// for TrackOwner (pion's OnTrack may come after the track left).
	trackOwner map[string]string
	// resync is open (non-nil) from a ReconnectResponse to the RoomUpdate
	// or subscriber offer that follows the full ParticipantUpdate LiveKit
	// sends after it (updates queued while the socket was down may come
	// before it). It collects the identities heard of meanwhile; those
	// told of and not heard of left while the socket was down.
	resync map[string]bool

	// Subscriptions: filter nil means everyone; autoSub is what the
	// server does by itself with a new track (the join's auto_subscribe).
	filter  []string
	autoSub bool

	// Publishing. mine: our published track sid by kind; pending: the
	// AddTrackRequests awaiting TrackPublishedResponse and the offer to
	// send once all have come; muteWanted: a mute asked for before the
	// track's sid was known.
	mine       map[string]string
	pending    *pendingPublish
	heldPub    []*lk.SignalRequest // our publisher candidates, sent after the pending offer
	muteWanted map[string]bool
	canPublish bool
	refused    bool // PublishRefused told for the current right

	// Subscribe negotiation. offerID is echoed in the answer;
	// subOffered: a subscriber offer was told, so subscriber candidates
	// can go to the engine (held in heldCands until then: the engine
	// makes its subscribe PeerConnection on the first offer).
	offerID    uint32
	subOffered bool
	heldCands  []engine.Event

	leaving bool // we sent LeaveRequest: its echo ends nothing
}

// peer is one other participant.
type peer struct {
	identity string
	version  uint32
	tracks   []*lk.TrackInfo
}

// pendingPublish is a publication between AddTrackRequest and the offer.
type pendingPublish struct {
	sdp     string
	waiting map[string]string // cid → kind
}

func newState(uid, room string, filter []string) *state {
	st := &state{
		uid:        uid,
		room:       room,
		peers:      map[string]*peer{},
		owner:      map[string]string{},
		told:       map[string]engine.Stream{},
		trackOwner: map[string]string{},
		mine:       map[string]string{},
		muteWanted: map[string]bool{},
		canPublish: true,
		autoSub:    len(filter) == 0,
	}
	if len(filter) > 0 {
		st.filter = slices.Clone(filter)
	}
	return st
}

// resumed prepares a carried-over state for a new transport of the same
// participant: requests in flight on the old one are lost with it.
func (st *state) resumed() {
	st.resync = map[string]bool{}
	st.pending, st.heldPub = nil, nil
	st.leaving = false
}

// out collects what one input produced: events for the engine, requests
// for LiveKit, and whether the socket is to be dropped (a LeaveRequest
// whose action is RESUME: the engine resumes on a new one).
type out struct {
	events []engine.Event
	sends  []*lk.SignalRequest
	drop   bool
}

func (o *out) event(ev engine.Event)      { o.events = append(o.events, ev) }
func (o *out) send(req *lk.SignalRequest) { o.sends = append(o.sends, req) }
func (o *out) merge(p out) {
	o.events = append(o.events, p.events...)
	o.sends = append(o.sends, p.sends...)
	o.drop = o.drop || p.drop
}

func subscribeReq(sids []string, on bool) *lk.SignalRequest {
	return &lk.SignalRequest{Message: &lk.SignalRequest_Subscription{
		Subscription: &lk.UpdateSubscription{TrackSids: sids, Subscribe: on},
	}}
}

// join takes in the JoinResponse: who we are and who is there. The
// streams are returned for engine.Joined rather than told as events.
func (st *state) join(jr *lk.JoinResponse) ([]engine.Stream, out) {
	var o out
	st.selfSID = jr.GetParticipant().GetSid()
	st.self(jr.GetParticipant())
	for _, p := range jr.GetOtherParticipants() {
		o.merge(st.participant(p))
	}
	// The streams are the Joined's, not events.
	var streams []engine.Stream
	for _, ev := range o.events {
		if a, ok := ev.(engine.StreamAdded); ok {
			streams = append(streams, a.Stream)
		}
	}
	return streams, out{sends: o.sends}
}

// signal translates one message of LiveKit's. now times a pong.
func (st *state) signal(m *lk.SignalResponse, now time.Time, pings *pingClock) out {
	var o out
	switch m := m.GetMessage().(type) {
	case *lk.SignalResponse_Update:
		o = st.update(m.Update.GetParticipants())
	case *lk.SignalResponse_RoomUpdate:
		o = st.endResync()
	case *lk.SignalResponse_Offer:
		o = st.endResync()
		st.offerID = m.Offer.GetId()
		st.subOffered = true
		o.event(engine.SubscribeOffer{SDP: m.Offer.GetSdp()})
		o.events = append(o.events, st.heldCands...)
		st.heldCands = nil
	case *lk.SignalResponse_Answer:
		o.event(engine.PublishAnswer{SDP: m.Answer.GetSdp()})
	case *lk.SignalResponse_Trickle:
		o = st.trickle(m.Trickle)
	case *lk.SignalResponse_TrackPublished:
		o = st.trackPublished(m.TrackPublished)
	case *lk.SignalResponse_RequestResponse:
		o = st.requestResponse(m.RequestResponse)
	case *lk.SignalResponse_RefreshToken:
		o.event(engine.TokenRefreshed{Token: m.RefreshToken})
	case *lk.SignalResponse_PongResp:
		if rtt, ok := pings.pong(m.PongResp.GetLastPingTimestamp(), now); ok {
			o.event(engine.Pong{RTT: rtt})
		}
	case *lk.SignalResponse_Leave:
		if st.leaving {
			break // the echo of ours
		}
		if ev := sessionEnded(m.Leave); ev != nil {
			o.event(ev)
		} else {
			o.drop = true
		}
	}
	return o
}

// update applies a ParticipantUpdate.
func (st *state) update(ps []*lk.ParticipantInfo) out {
	var o out
	for _, p := range ps {
		if st.isSelf(p) {
			o.merge(st.self(p))
			continue
		}
		if st.resync != nil {
			st.resync[p.GetIdentity()] = true
		}
		o.merge(st.participant(p))
	}
	return o
}

// endResync closes the resync window: the streams of those not heard of
// in it are gone.
func (st *state) endResync() out {
	var o out
	if st.resync == nil {
		return o
	}
	for _, id := range sortedKeys(st.told) {
		if !st.resync[id] {
			o.merge(st.gone(id))
		}
	}
	for sid, p := range st.peers {
		if !st.resync[p.identity] {
			delete(st.peers, sid)
			delete(st.owner, p.identity)
		}
	}
	st.resync = nil
	return o
}

func (st *state) isSelf(p *lk.ParticipantInfo) bool {
	return p.GetSid() == st.selfSID || p.GetIdentity() == st.uid
}

// self follows our own participant: the sids of our tracks (Mute after a
// resume needs them) and the publish right, whose loss LiveKit enforces
// by unpublishing: the engine sees PublishRefused, as on roomctl serve.
func (st *state) self(p *lk.ParticipantInfo) out {
	var o out
	if p == nil {
		return o
	}
	for _, t := range p.GetTracks() {
		if k := kindOf(t.GetType()); k != "" {
			st.mine[k] = t.GetSid()
		}
	}
	if perm := p.GetPermission(); perm != nil {
		can := perm.GetCanPublish()
		if st.canPublish && !can && (len(st.mine) > 0 || st.pending != nil) && !st.refused {
			st.refused = true
			st.pending, st.heldPub = nil, nil
			o.event(engine.PublishRefused{Result: token.NoPublishRight})
		}
		if can {
			st.refused = false
		}
		st.canPublish = can
	}
	return o
}

// participant applies one other participant's info: its stream as the
// engine knows it changes only when its audio/video tracks do.
func (st *state) participant(p *lk.ParticipantInfo) out {
	var o out
	sid, id := p.GetSid(), p.GetIdentity()
	if sid == "" || id == "" {
		return o
	}
	known := st.peers[sid]
	if known != nil && p.GetVersion() != 0 && p.GetVersion() < known.version {
		return o // out of order: a newer version was applied
	}
	if p.GetState() == lk.ParticipantInfo_DISCONNECTED {
		delete(st.peers, sid)
		if st.owner[id] != sid {
			return o // an older session of a rejoined identity
		}
		delete(st.owner, id)
		return st.gone(id)
	}
	if known == nil {
		known = &peer{identity: id}
		st.peers[sid] = known
	}
	known.version = p.GetVersion()
	known.tracks = p.GetTracks()
	if old := st.owner[id]; old != "" && old != sid {
		delete(st.peers, old) // replaced by the same identity's new session
	}
	st.owner[id] = sid
	var newTracks []string
	for _, t := range known.tracks {
		if kindOf(t.GetType()) == "" {
			continue
		}
		if _, seen := st.trackOwner[t.GetSid()]; !seen {
			newTracks = append(newTracks, t.GetSid())
		}
		st.trackOwner[t.GetSid()] = id
	}
	// A new track that the server will not subscribe us to by itself, or
	// will but should not.
	if want := st.wants(id); len(newTracks) > 0 && want != st.autoSub {
		o.send(subscribeReq(newTracks, want))
	}
	s := streamOf(id, st.room, known.tracks)
	if len(s.Tracks) == 0 {
		return st.gone(id)
	}
	prev, had := st.told[id]
	st.told[id] = s
	switch {
	case !had:
		o.event(engine.StreamAdded{Stream: s})
	case !equalStream(prev, s):
		o.event(engine.StreamUpdated{Stream: s})
	}
	return o
}

// gone tells the engine that id has no stream any more, if it had one.
func (st *state) gone(id string) out {
	var o out
	if _, had := st.told[id]; had {
		delete(st.told, id)
		o.event(engine.StreamRemoved{UID: id})
	}
	return o
}

func (st *state) wants(id string) bool {
	return st.filter == nil || slices.Contains(st.filter, id)
}

// setSubscriptions subscribes to the tracks of uids' participants and
// unsubscribes from the others' (empty uids: everyone).
func (st *state) setSubscriptions(uids []string) out {
	var o out
	st.filter = nil
	if len(uids) > 0 {
		st.filter = slices.Clone(uids)
	}
	var on, off []string
	for _, sid := range sortedKeys(st.peers) {
		p := st.peers[sid]
		for _, t := range p.tracks {
			if kindOf(t.GetType()) == "" {
				continue
			}
			if st.wants(p.identity) {
				on = append(on, t.GetSid())
			} else {
				off = append(off, t.GetSid())
			}
		}
	}
	if len(on) > 0 {
		o.send(subscribeReq(on, true))
	}
	if len(off) > 0 {
		o.send(subscribeReq(off, false))
	}
	return o
}

// trickle turns a LiveKit trickle into a RemoteCandidate; a subscriber
// candidate waits for the first subscriber offer.
func (st *state) trickle(t *lk.TrickleRequest) out {
	var o out
	var c webrtc.ICECandidateInit
	if err := json.Unmarshal([]byte(t.GetCandidateInit()), &c); err != nil || c.Candidate == "" {
		return o // the end-of-candidates marker, or nothing usable
	}
	pc := engine.PCPublish
	if t.GetTarget() == lk.SignalTarget_SUBSCRIBER {
		pc = engine.PCSubscribe
	}
	ev := engine.RemoteCandidate{PC: pc, Candidate: c}
	if pc == engine.PCSubscribe && !st.subOffered {
		st.heldCands = append(st.heldCands, ev)
		return o
	}
	o.event(ev)
	return o
}

// publish starts a publication: one AddTrackRequest per track, the offer
// once LiveKit published them all. Without tracks (a renegotiation or an
// ICE restart) the offer goes at once, or replaces the one still waiting.
func (st *state) publish(sdp string, tracks []engine.Track) out {
	var o out
	offer := &lk.SignalRequest{Message: &lk.SignalRequest_Offer{
		Offer: &lk.SessionDescription{Type: "offer", Sdp: sdp},
	}}
	if len(tracks) == 0 {
		if st.pending != nil {
			st.pending.sdp = sdp
			return o
		}
		o.send(offer)
		return o
	}
	st.heldPub = nil // a new publication: a new PeerConnection
	st.pending = &pendingPublish{sdp: sdp, waiting: map[string]string{}}
	for _, t := range tracks {
		req := &lk.AddTrackRequest{
			Cid: t.ID, Name: trackName(t.Kind),
			Width: uint32(max(t.Width, 0)), Height: uint32(max(t.Height, 0)),
			Muted: st.muteWanted[t.Kind],
		}
		switch t.Kind {
		case "audio":
			req.Type, req.Source = lk.TrackType_AUDIO, lk.TrackSource_MICROPHONE
			if t.Channel == 2 {
				req.AudioFeatures = []lk.AudioTrackFeature{lk.AudioTrackFeature_TF_STEREO}
			}
		case "video":
			req.Type, req.Source = lk.TrackType_VIDEO, lk.TrackSource_CAMERA
		default:
			continue
		}
		st.pending.waiting[t.ID] = t.Kind
		o.send(&lk.SignalRequest{Message: &lk.SignalRequest_AddTrack{AddTrack: req}})
	}
	if len(st.pending.waiting) == 0 {
		st.pending = nil
		o.send(offer)
	}
	return o
}

// candidate trickles one of our candidates. Those of the publisher wait
// while its offer does (for TrackPublishedResponse): LiveKit would get
// them before the description they belong to.
func (st *state) candidate(pc engine.PC, c webrtc.ICECandidateInit) (out, error) {
	var o out
	b, err := json.Marshal(c)
	if err != nil {
		return o, fmt.Errorf("encode candidate: %w", err)
	}
	target := lk.SignalTarget_PUBLISHER
	if pc == engine.PCSubscribe {
		target = lk.SignalTarget_SUBSCRIBER
	}
	req := &lk.SignalRequest{Message: &lk.SignalRequest_Trickle{
		Trickle: &lk.TrickleRequest{CandidateInit: string(b), Target: target},
	}}
	if pc == engine.PCPublish && st.pending != nil {
		st.heldPub = append(st.heldPub, req)
		return o, nil
	}
	o.send(req)
	return o, nil
}

func trackName(kind string) string {
	if kind == "audio" {
		return "microphone"
	}
	return "camera"
}

// trackPublished records our track's sid; the last one sends the offer.
func (st *state) trackPublished(r *lk.TrackPublishedResponse) out {
	var o out
	kind := kindOf(r.GetTrack().GetType())
	if kind == "" {
		return o
	}
	st.mine[kind] = r.GetTrack().GetSid()
	if m, ok := st.muteWanted[kind]; ok && m != r.GetTrack().GetMuted() {
		o.send(muteReq(st.mine[kind], m))
	}
	p := st.pending
	if p == nil {
		return o
	}
	delete(p.waiting, r.GetCid())
	if len(p.waiting) == 0 {
		st.pending = nil
		o.send(&lk.SignalRequest{Message: &lk.SignalRequest_Offer{
			Offer: &lk.SessionDescription{Type: "offer", Sdp: p.sdp},
		}})
		o.sends = append(o.sends, st.heldPub...)
		st.heldPub = nil
	}
	return o
}

// requestResponse: LiveKit refused a request. A refused AddTrackRequest
// ends the publication (NOT_ALLOWED: the token has no publish right);
// anything else is reported and the session goes on.
func (st *state) requestResponse(r *lk.RequestResponse) out {
	var o out
	if r.GetReason() == lk.RequestResponse_OK || r.GetReason() == lk.RequestResponse_QUEUED {
		return o
	}
	if add := r.GetAddTrack(); add != nil && st.pending != nil {
		if _, ours := st.pending.waiting[add.GetCid()]; ours {
			st.pending, st.heldPub = nil, nil
			if r.GetReason() == lk.RequestResponse_NOT_ALLOWED {
				if !st.refused {
					st.refused = true
					o.event(engine.PublishRefused{Result: token.NoPublishRight})
				}
				return o
			}
		}
	}
	reason := r.GetReason().String()
	if r.GetMessage() != "" {
		reason += ": " + r.GetMessage()
	}
	o.event(engine.ServerError{Code: serverErrorCode(r.GetReason()), Reason: reason})
	return o
}

// serverErrorCode gives a RequestResponse reason the HTTP-like code that
// roomctl serve's errors carry.
func serverErrorCode(r lk.RequestResponse_Reason) int {
	switch r {
	case lk.RequestResponse_NOT_FOUND:
		return 404
	case lk.RequestResponse_NOT_ALLOWED:
		return 403
	case lk.RequestResponse_LIMIT_EXCEEDED:
		return 429
	case lk.RequestResponse_UNSUPPORTED_TYPE:
		return 415
	case lk.RequestResponse_INVALID_REQUEST, lk.RequestResponse_INVALID_HANDLE, lk.RequestResponse_INVALID_NAME:
		return 400
	case lk.RequestResponse_DUPLICATE_HANDLE, lk.RequestResponse_DUPLICATE_NAME:
		return 409
	}
	return 500
}

func muteReq(sid string, muted bool) *lk.SignalRequest {
	return &lk.SignalRequest{Message: &lk.SignalRequest_Mute{Mute: &lk.MuteTrackRequest{Sid: sid, Muted: muted}}}
}

// mute mutes our track of kind by its sid; before LiveKit named it, the
// wish is kept for its TrackPublishedResponse.
func (st *state) mute(kind string, muted bool) (out, bool) {
	var o out
	st.muteWanted[kind] = muted
	sid, ok := st.mine[kind]
	if !ok {
		return o, st.pending != nil
	}
	o.send(muteReq(sid, muted))
	return o, true
}

// sessionEnded maps a LeaveRequest from the server (see the package
// comment's table); nil for the action RESUME, which is no end: the
// socket is dropped and the engine resumes.
func sessionEnded(l *lk.LeaveRequest) engine.Event {
	reason := l.GetReason()
	action := l.GetAction()
	if action == lk.LeaveRequest_DISCONNECT && l.GetCanReconnect() {
		action = lk.LeaveRequest_RECONNECT // a server older than protocol 13
	}
	if action == lk.LeaveRequest_RESUME {
		return nil
	}
	ev := engine.SessionEnded{Reason: reasonText(reason), Restart: action == lk.LeaveRequest_RECONNECT}
	switch reason {
	case lk.DisconnectReason_SERVER_SHUTDOWN, lk.DisconnectReason_MIGRATION:
		// As roomctl serve's "server closing": join again once it is back.
		ev.Restart = true
	}
	return ev
}

// reasonText names a DisconnectReason for SessionEnded.Reason; the two
// that roomctl serve also has get its words.
func reasonText(r lk.DisconnectReason) string {
	switch r {
	case lk.DisconnectReason_DUPLICATE_IDENTITY:
		return "replaced"
	case lk.DisconnectReason_SERVER_SHUTDOWN:
		return "server closing"
	}
	return strings.ToLower(r.String())
}

// kindOf maps a LiveKit track type to the engine's kind; "" for data.
func kindOf(t lk.TrackType) string {
	switch t {
	case lk.TrackType_AUDIO:
		return "audio"
	case lk.TrackType_VIDEO:
		return "video"
	}
	return ""
}

// streamOf describes id's audio and video tracks. Camera and microphone
// come before other sources, since the engine reads the first track of
// each kind.
func streamOf(id, room string, tracks []*lk.TrackInfo) engine.Stream {
	s := engine.Stream{UID: id, RoomID: room}
	for _, t := range tracks {
		kind := kindOf(t.GetType())
		if kind == "" {
			continue
		}
		tr := engine.Track{
			ID: t.GetSid(), Kind: kind, Codec: codecOf(t),
			Width: int(t.GetWidth()), Height: int(t.GetHeight()), Muted: t.GetMuted(),
		}
		if kind == "audio" {
			tr.SampleRate, tr.Channel = 48000, 1
			if slices.Contains(t.GetAudioFeatures(), lk.AudioTrackFeature_TF_STEREO) {
				tr.Channel = 2
			}
		}
		s.Tracks = append(s.Tracks, tr)
	}
	primary := func(t *lk.TrackInfo) bool {
		src := t.GetSource()
		return src == lk.TrackSource_CAMERA || src == lk.TrackSource_MICROPHONE || src == lk.TrackSource_UNKNOWN
	}
	prim := map[string]bool{}
	for _, t := range tracks {
		prim[t.GetSid()] = primary(t)
	}
	slices.SortStableFunc(s.Tracks, func(a, b engine.Track) int {
		switch {
		case prim[a.ID] && !prim[b.ID]:
			return -1
		case !prim[a.ID] && prim[b.ID]:
			return 1
		}
		return 0
	})
	return s
}

// codecOf names a track's codec as the engine does ("VP8", "H264",
// "opus"): from its mime type, or its first codec's before media came.
// Opus with redundancy (audio/red) is still Opus.
func codecOf(t *lk.TrackInfo) string {
	mime := t.GetMimeType()
	if mime == "" && len(t.GetCodecs()) > 0 {
		mime = t.GetCodecs()[0].GetMimeType()
	}
	_, sub, ok := strings.Cut(mime, "/")
	if !ok {
		return ""
	}
	switch strings.ToLower(sub) {
	case "opus", "red":
		return "opus"
	case "vp8":
		return "VP8"
	case "vp9":
		return "VP9"
	case "h264":
		return "H264"
	case "h265":
		return "H265"
	case "av1":
		return "AV1"
	}
	return sub
}

func equalStream(a, b engine.Stream) bool {
	return a.UID == b.UID && a.RoomID == b.RoomID && slices.Equal(a.Tracks, b.Tracks)
}

// trackOwnerOf resolves a subscribed track to its publisher's identity: by the
// track sid, else by the participant sid of the "PA_xxx|TR_xxx" stream id.
func (st *state) trackOwnerOf(streamID, trackID string) (string, bool) {
	if id, ok := st.trackOwner[trackID]; ok {
		return id, true
	}
	psid, tsid, _ := strings.Cut(streamID, "|")
	if id, ok := st.trackOwner[tsid]; ok {
		return id, true
	}
	if p, ok := st.peers[psid]; ok {
		return p.identity, true
	}
	return "", false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// pingClock times our pings: LiveKit's pong echoes the millisecond
// timestamp of the ping, and the monotonic time it was sent at gives a
// round trip finer than a millisecond (loopback's is less).
type pingClock struct {
	sent map[int64]time.Time
	rtt  time.Duration // the last one, reported back in the next ping
}

// ping returns the next PingReq.
func (c *pingClock) ping(now time.Time) *lk.SignalRequest {
	if c.sent == nil {
		c.sent = map[int64]time.Time{}
	}
	for ts, at := range c.sent {
		if now.Sub(at) > time.Minute {
			delete(c.sent, ts) // never answered
		}
	}
	ts := now.UnixMilli()
	c.sent[ts] = now
	return &lk.SignalRequest{Message: &lk.SignalRequest_PingReq{
		PingReq: &lk.Ping{Timestamp: ts, Rtt: c.rtt.Milliseconds()},
	}}
}

// pong measures the round trip of the ping stamped ts.
func (c *pingClock) pong(ts int64, now time.Time) (time.Duration, bool) {
	at, ok := c.sent[ts]
	if ok {
		delete(c.sent, ts)
	} else {
		at = time.UnixMilli(ts) // a ping of a previous socket
	}
	rtt := now.Sub(at)
	if rtt < 0 || rtt > time.Minute {
		return 0, false
	}
	c.rtt = rtt
	return rtt, true
}
