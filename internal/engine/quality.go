package engine

import (
	"context"
	"sort"
	"time"

	"github.com/roomctl/roomctl/internal/event"
)

// Quality telemetry: audio_level_report, active_speaker, network_score and
// exception, all from one stats sample a second taken on the run loop
// (Engine.qualityTick), on a timer that Run owns and stops.
//
// Where the numbers come from:
//   - levels: decoded Opus, of what each subscribed track receives
//     (rxTrack) and of what the local publication sends (sendTrack);
//   - network_score uplink: the publish PeerConnection — the room server's
//     RTCP receiver reports through our stats interceptor (loss; RTT from
//     LSR/DLSR when the far end echoes our sender reports — roomctl serve
//     does not read its receivers' RTCP, so its reports carry no LSR and
//     the signaling ping's RTT stands in), its ICE and connection state;
//   - network_score downlink: the subscribe PeerConnection — inbound RTP
//     counters of the stats interceptor (loss), the selected ICE candidate
//     pair's RTT, its ICE and connection state;
//   - without a media connection in a direction: the signaling ping's RTT;
//   - exception: the bytes and frames the engine writes (sendTrack) and
//     receives, assembles and can decode (rxTrack).
type quality struct {
	samples int // stats samples taken; exceptions are judged on every exceptionEvery-th

	levels  map[string]int // uid → level of the previous second
	speaker speakerPicker

	up, down [2]int // the last two 1-s scores, older first

	watches map[watchKey]*watch
}

type watchKey struct{ uid, code string }

// untilNextSecond is how long until just after the next whole wall-clock
// second, so that samples fall on seconds and scores on even ones.
func untilNextSecond(now time.Time) time.Duration {
	return now.Truncate(time.Second).Add(time.Second + 5*time.Millisecond).Sub(now)
}

// onPong keeps the signaling round trip of one of our pings, as the
// session measured it.
func (e *Engine) onPong(rtt time.Duration) {
	if rtt < 0 || rtt > time.Minute {
		return
	}
	e.sigRTT.Store(int64(rtt) + 1) // 0 is "not measured yet"
}

// signalingRTT is the last measured signaling round trip.
func (e *Engine) signalingRTT() (time.Duration, bool) {
	v := e.sigRTT.Load()
	return time.Duration(v - 1), v > 0
}

// qualityTick takes one stats sample and prints what is due. It runs on
// the run loop once a second.
func (e *Engine) qualityTick(now time.Time) {
	q := &e.q
	q.samples++
	even := now.Unix()%2 == 0

	e.sampleTraffic(now)
	levels := e.sampleLevels()
	if uid, ok := q.speaker.pick(levels); ok {
		e.ev.Emit(event.ActiveSpeaker, uid)
	}
	if even && e.levelRep.Load() {
		// The 2-s window: the peak of this second and the one before.
		report := make([]event.AudioLevel, len(levels))
		for i, l := range levels {
			report[i] = event.AudioLevel{UID: l.UID, AudioLevel: max(l.AudioLevel, q.levels[l.UID])}
		}
		e.ev.Emit(event.AudioLevelReport, report)
	}
	q.levels = make(map[string]int, len(levels))
	for _, l := range levels {
		q.levels[l.UID] = l.AudioLevel
	}

	up, down := e.uplinkState(), e.downlinkState()
	q.up = [2]int{q.up[1], sampleScore(up, true)}
	q.down = [2]int{q.down[1], sampleScore(down, false)}
	e.log.Debug("quality sample", "up", up, "upScore", q.up[1], "down", down, "downScore", q.down[1])
	if even {
		e.ev.Emit(event.NetworkScore, event.Score{
			Uplink:   combineScores(q.up[0], q.up[1]),
			Downlink: combineScores(q.down[0], q.down[1]),
		})
	}

	e.checkExceptions(q.samples%exceptionEvery == 0)

	// The RTT probe of signaling (network_score without media). Pongs
	// also keep the ping ticker's liveness check fed.
	_ = e.request("ping", func(ctx context.Context, s Session) error { return s.Ping(ctx) })
}

func (e *Engine) localMuted(kind string) bool {
	e.muteMu.Lock()
	defer e.muteMu.Unlock()
	return e.muted[kind]
}

// remoteLevels reports whether subscribed audio is decoded for levels
// (Config.NoRemoteLevels). Any goroutine may ask.
func (e *Engine) remoteLevels() bool {
	return !e.cfg.NoRemoteLevels || e.levelRep.Load()
}

// sampleLevels returns this second's levels: the local publication's
// audio first, then every subscribed remote stream with audio, by uid
// (unless remote levels are off: remoteLevels).
// A muted stream is 0. A remote stream's level is what is received, not
// scaled by its local volume (SetRemoteAudioVolume): the engine plays
// nothing, and a script wants to see what arrives; only volume 0 makes it
// 0, as the SDK's level of a stream whose playback is muted is.
func (e *Engine) sampleLevels() []event.AudioLevel {
	var out []event.AudioLevel
	if p := e.pub; p != nil {
		for _, c := range p.sent {
			if c.kind != "audio" {
				continue
			}
			l := c.level.take()
			if e.localMuted("audio") {
				l = 0
			}
			out = append(out, event.AudioLevel{UID: e.cfg.UID, AudioLevel: l})
		}
	}
	if !e.remoteLevels() {
		return out
	}
	uids := make([]string, 0, len(e.streams))
	for uid, r := range e.streams {
		if r.info.Track("audio") != nil && e.subscribed(uid) {
			uids = append(uids, uid)
		}
	}
	sort.Strings(uids)
	for _, uid := range uids {
		l := 0
		if e.sub != nil {
			if t := e.sub.track(uid, "audio"); t != nil {
				l = t.level.take()
			}
		}
		if e.playMuted(e.streams[uid]) {
			l = 0
		}
		out = append(out, event.AudioLevel{UID: uid, AudioLevel: l})
	}
	return out
}

// signalingState is a direction without a media connection: the
// signaling ping's RTT.
func (e *Engine) signalingState() linkState {
	s := linkState{down: e.session() == nil}
	s.rtt, s.rttKnown = e.signalingRTT()
	return s
}

// uplinkState samples the publish PeerConnection.
func (e *Engine) uplinkState() linkState {
	p := e.pub
	if p == nil {
		return e.signalingState()
	}
	s := linkState{media: true}
	if p.ice.down || pcDown(p.pc) {
		s.down = true
		return s
	}
	var counts []streamCount
	for i, c := range p.sent {
		st := p.stats.get(c.ssrc.Load())
		if st == nil {
			continue
		}
		ri := st.RemoteInboundRTPStreamStats
		var fb bool
		if params := p.senders[i].GetParameters(); len(params.Codecs) > 0 {
			fb = hasNACK(params.Codecs[0].RTCPFeedback)
		}
		counts = append(counts, streamCount{
			ssrc: c.ssrc.Load(), lost: ri.PacketsLost, received: ri.PacketsReceived,
			repaired: fb, muted: e.localMuted(c.kind) || ended(p.tracks[i]),
		})
		if ri.RoundTripTimeMeasurements > 0 && (!s.rttKnown || ri.RoundTripTime > s.rtt) {
			s.rtt, s.rttKnown = max(0, ri.RoundTripTime), true
		}
		if c.kind == "video" && !e.localMuted("video") && !ended(p.tracks[i]) {
			s.video = true
		}
	}
	s.loss, s.lossKnown = p.loss.update(counts)
	if !s.rttKnown {
		s.rtt, s.rttKnown = e.signalingRTT()
	}
	return s
}

// downlinkState samples the subscribe PeerConnection; without subscribed
// tracks there is no media connection downwards.
func (e *Engine) downlinkState() linkState {
	sub := e.sub
	if sub == nil {
		return e.signalingState()
	}
	down := sub.ice.down || pcDown(sub.pc)
	tracks := sub.trackList()
	if len(tracks) == 0 && !down {
		return e.signalingState()
	}
	s := linkState{media: true, down: down}
	if down {
		return s
	}
	counts := make([]streamCount, 0, len(tracks))
	for _, t := range tracks {
		muted := true // a track whose stream is gone sends nothing either
		if r := e.streams[t.uid]; r != nil {
			if tr := r.info.Track(t.kind); tr != nil && !tr.Muted {
				muted = false
			}
		}
		if st := sub.stats.get(t.ssrc); st != nil {
			in := st.InboundRTPStreamStats
			counts = append(counts, streamCount{
				ssrc: t.ssrc, lost: in.PacketsLost, received: in.PacketsReceived,
				repaired: t.repaired, muted: muted,
			})
			s.jitter = max(s.jitter, time.Duration(in.Jitter*float64(time.Second)))
		}
		if t.kind == "video" && !muted {
			s.video = true
		}
	}
	s.loss, s.lossKnown = sub.loss.update(counts)
	s.rtt, s.rttKnown = iceRTT(sub.pc)
	if !s.rttKnown {
		s.rtt, s.rttKnown = e.signalingRTT()
	}
	return s
}

// checkExceptions steps every watched counter; judge is true on every
// exceptionEvery-th sample. Send codes carry our uid, receive codes the
// remote's. A stream that goes away takes its watches with it.
func (e *Engine) checkExceptions(judge bool) {
	q := &e.q
	if q.watches == nil {
		q.watches = map[watchKey]*watch{}
	}
	seen := map[watchKey]bool{}
	step := func(uid, code string, minimum uint64, src any, v uint64, muted bool) {
		k := watchKey{uid, code}
		seen[k] = true
		w := q.watches[k]
		if w == nil {
			w = &watch{code: code, min: minimum}
			q.watches[k] = w
		}
		if out := w.step(src, v, muted, judge); out != "" {
			e.ev.Emit(event.Exception, event.ExceptionData{UID: uid, RoomID: e.cfg.RoomID, Error: out})
		}
	}
	if p := e.pub; p != nil {
		me := e.cfg.UID
		for i, c := range p.sent {
			// A track whose source ended (a file without --loop, reported
			// as *_track_end) is quiet by design, like a muted one.
			muted := e.localMuted(c.kind) || ended(p.tracks[i])
			switch c.kind {
			case "audio":
				step(me, excAudioSendBitrate, minBytes, c, c.bytes.Load(), muted)
			case "video":
				step(me, excVideoSendBitrate, minBytes, c, c.bytes.Load(), muted)
				step(me, excVideoSendFramerate, minFrames, c, c.frames.Load(), muted)
				step(me, excVideoEncodeFramerate, minFrames, c, c.encoded.Load(), muted)
			}
		}
	}
	if sub := e.sub; sub != nil {
		for _, t := range sub.trackList() {
			r := e.streams[t.uid]
			if r == nil {
				continue
			}
			tr := r.info.Track(t.kind)
			muted := tr != nil && tr.Muted
			switch t.kind {
			case "audio":
				step(t.uid, excAudioReceiveBitrate, minBytes, t, t.bytes.Load(), muted)
			case "video":
				step(t.uid, excVideoReceiveBitrate, minBytes, t, t.bytes.Load(), muted)
				step(t.uid, excVideoReceiveFrames, minFrames, t, t.frames.Load(), muted)
				step(t.uid, excVideoDecodeFramerate, minFrames, t, t.decoded.Load(), muted)
			}
		}
	}
	for k := range q.watches {
		if !seen[k] {
			delete(q.watches, k)
		}
	}
}
