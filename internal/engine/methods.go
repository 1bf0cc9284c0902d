package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/roomctl/roomctl/internal/ids"
	"github.com/roomctl/roomctl/internal/media"
)

// The methods a controller calls while the engine runs (internal/control
// turns them into the SDK's methods). Each runs on the run loop and
// returns once done; before the first session is joined, and once Run
// has returned, they return an error wrapping ErrNotJoined.

// Joined reports whether the engine has joined a session: true from the
// first joined session until Run returns, reconnections included.
func (e *Engine) Joined() bool { return e.everJoined.Load() }

// joinedCall runs f on the run loop once a session was joined; what names
// the method in errors.
func (e *Engine) joinedCall(ctx context.Context, what string, f func() error) error {
	if !e.Joined() {
		return fmt.Errorf("%w: %s: the session is not joined yet", ErrNotJoined, what)
	}
	err := e.call(ctx, f)
	if errors.Is(err, ErrNotJoined) { // Run has returned
		return fmt.Errorf("%w: %s: the session has ended", ErrNotJoined, what)
	}
	return err
}

// joinedGet is joinedCall for a method with a result: f makes it on the
// run loop; a caller that gave up (ctx) never reads what f made.
func joinedGet[T any](ctx context.Context, e *Engine, what string, f func() (T, error)) (T, error) {
	res := make(chan T, 1)
	err := e.joinedCall(ctx, what, func() error {
		v, err := f()
		if err == nil {
			res <- v
		}
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return <-res, nil
}

// UpdateToken sends token to the room service, as the SDK's
// updateToken; the service's verdict follows as sdk_auth_result. The
// engine joins with it from now on: while reconnecting, the rejoin
// carries it.
func (e *Engine) UpdateToken(ctx context.Context, token string) error {
	if token == "" {
		return errors.New("update token: the token is empty")
	}
	return e.joinedCall(ctx, "update token", func() error {
		e.tok = token
		// Fails while reconnecting: the join in progress was made with the
		// old token, and joined sends this one once it is in.
		_ = e.request("update token", func(ctx context.Context, s Session) error { return s.UpdateToken(ctx, token) })
		return nil
	})
}

// MuteLocal mutes or unmutes the local track of kind ("audio" or
// "video"), as Mute does, once done; muting what is muted changes
// nothing. It wraps ErrInvalidOperation when the published source has no
// track of kind.
func (e *Engine) MuteLocal(ctx context.Context, kind string, muted bool) error {
	if err := kindArgError(kind); err != nil {
		return fmt.Errorf("mute: %w", err)
	}
	return e.joinedCall(ctx, "mute", func() error {
		if !e.sourceHasKind(kind) {
			return fmt.Errorf("%w: mute: no %s track is published", ErrInvalidOperation, kind)
		}
		e.setMute(kind, muted)
		return nil
	})
}

// sourceHasKind reports whether the source the engine publishes has a
// track of kind.
func (e *Engine) sourceHasKind(kind string) bool {
	if e.cfg.Publish == nil {
		return false
	}
	return slices.ContainsFunc(e.cfg.Publish.Tracks(), func(t media.Track) bool { return t.Info.Kind == kind })
}

// kindArgError accepts "audio" and "video".
func kindArgError(kind string) error {
	if kind != media.KindAudio && kind != media.KindVideo {
		return fmt.Errorf("kind %q: want audio or video", kind)
	}
	return nil
}

// checkRemote accepts the uid of another participant.
func (e *Engine) checkRemote(what, uid string) error {
	if err := ids.Check("uid", uid); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if uid == e.cfg.UID {
		return fmt.Errorf("%w: %s: %s is this participant", ErrInvalidOperation, what, uid)
	}
	return nil
}

// Subscribe subscribes to uid's stream again after Unsubscribe, or adds uid
// to the uids subscribed to (Config.Subscribe). uid need not be in the
// room: the subscription applies when it publishes. It wraps
// ErrInvalidOperation when uid is subscribed to already (everyone is,
// unless Config.Subscribe names some).
func (e *Engine) Subscribe(ctx context.Context, uid string) error {
	if err := e.checkRemote("subscribe", uid); err != nil {
		return err
	}
	return e.joinedCall(ctx, "subscribe", func() error {
		if e.subs.has(uid) {
			return fmt.Errorf("%w: subscribe: %s is subscribed to already", ErrInvalidOperation, uid)
		}
		if e.subs.everyone {
			delete(e.subs.except, uid)
		} else {
			e.subs.only[uid] = true
		}
		e.applySubscriptions()
		return nil
	})
}

// Unsubscribe stops subscribing to uid: its tracks end for their consumers
// with ReasonUnsubscribed. When everyone is subscribed to, everyone but
// uid is, newcomers included. It wraps ErrInvalidOperation when uid is not
// subscribed to.
func (e *Engine) Unsubscribe(ctx context.Context, uid string) error {
	if err := e.checkRemote("unsubscribe", uid); err != nil {
		return err
	}
	return e.joinedCall(ctx, "unsubscribe", func() error {
		if !e.subs.has(uid) {
			return fmt.Errorf("%w: unsubscribe: %s is not subscribed to", ErrInvalidOperation, uid)
		}
		if e.subs.everyone {
			e.subs.except[uid] = true
		} else {
			delete(e.subs.only, uid)
		}
		e.applySubscriptions()
		return nil
	})
}

// SetRemoteAudioVolume sets the local playback volume of uid's audio,
// 0-100 (default 100). The engine plays nothing: volume 0 mutes the
// playback, so mute_play {uid} is printed, and mute_play_resume when it is
// above 0 again — unless uid's publisher keeps its audio muted meanwhile,
// which mutes the playback as well. The audio level of uid is 0 while its
// volume is 0 and otherwise not scaled (sampleLevels). uid need not be in
// the room: the volume applies when it publishes.
func (e *Engine) SetRemoteAudioVolume(ctx context.Context, uid string, volume int) error {
	if err := e.checkRemote("set remote audio volume", uid); err != nil {
		return err
	}
	if volume < 0 || volume > 100 {
		return fmt.Errorf("set remote audio volume: volume %d: want 0-100", volume)
	}
	return e.joinedCall(ctx, "set remote audio volume", func() error {
		r := e.streams[uid]
		was := r != nil && e.playMuted(r)
		if volume == 100 {
			delete(e.volumes, uid)
		} else {
			e.volumes[uid] = volume
		}
		if r != nil {
			e.tellPlayMuted(r, was)
		}
		return nil
	})
}

// SetAudioLevelReport turns audio_level_report on or off, as the SDK's
// enableAudioLevelReport and disableAudioLevelReport. It wraps
// ErrInvalidOperation when the report is on (off) already.
func (e *Engine) SetAudioLevelReport(ctx context.Context, on bool) error {
	return e.joinedCall(ctx, "audio level report", func() error {
		if e.levelRep.Load() == on {
			state := "off"
			if on {
				state = "on"
			}
			return fmt.Errorf("%w: the audio level report is %s already", ErrInvalidOperation, state)
		}
		e.levelRep.Store(on)
		return nil
	})
}

// SessionStats is a snapshot of the session (getSessionStats). Bytes are
// RTP payload bytes; rates are over the last stats second (the engine
// samples once a second), 0 before the first two samples.
type SessionStats struct {
	// Duration is the time since the first session was joined, in whole
	// seconds; reconnections do not restart it.
	Duration int64 `json:"duration"`
	// UserCount is this participant and every other one that publishes:
	// the room service tells the engine of publishers only.
	UserCount int `json:"userCount"`
	// SendBytes and RecvBytes count every publication and subscription
	// since the first join, those of earlier sessions included.
	SendBytes uint64 `json:"sendBytes"`
	RecvBytes uint64 `json:"recvBytes"`
	// SendBitrate and RecvBitrate are in kb/s.
	SendBitrate float64 `json:"sendBitrate"`
	RecvBitrate float64 `json:"recvBitrate"`
	// RTT is the round trip of the signaling ping to the room service, in
	// ms; absent before the first answer.
	RTT *float64 `json:"rtt,omitempty"`
}

// UplinkStats is a snapshot of the local track of one kind
// (getUplinkAudioStats, getUplinkVideoStats). The counters are those of
// the current publication: a publication made anew (a new session,
// unpublish and publish) starts them from 0.
type UplinkStats struct {
	Kind string `json:"kind"` // "audio" or "video"
	// Published: a track of Kind is in the current publication. Without
	// one only Kind, Published and Muted are given.
	Published bool `json:"published"`
	// Muted is the local mute state of Kind (muteLocalAudio/Video).
	Muted bool   `json:"muted"`
	Codec string `json:"codec,omitempty"` // as negotiated: "opus", "VP8", "H264", …
	// BytesSent is the RTP payload bytes the transport took.
	BytesSent uint64 `json:"bytesSent"`
	// PacketsSent is the RTP packets sent, retransmissions included.
	PacketsSent uint64 `json:"packetsSent"`
	// Bitrate is in kb/s over the last stats second.
	Bitrate float64 `json:"bitrate"`
	// FrameRate (video) is the frames sent per second over the last
	// stats second.
	FrameRate *float64 `json:"frameRate,omitempty"`
	// PacketsLost is the packets the room service reported lost (RTCP
	// receiver reports); absent before its first report.
	PacketsLost *int64 `json:"packetsLost,omitempty"`
	// PacketLossRate is the percentage (0-100) of packets lost over the
	// last second in which the service's reports expected some; absent
	// before.
	PacketLossRate *float64 `json:"packetLossRate,omitempty"`
	// RTT is in ms: from the service's receiver reports when it echoes
	// our sender reports (LSR/DLSR), else the signaling ping's round trip;
	// absent before either was measured.
	RTT *float64 `json:"rtt,omitempty"`
}

// DownlinkStats is a snapshot of one subscribed track
// (getDownlinkAudioStats, getDownlinkVideoStats). The counters are those
// of the track as subscribed now: a subscription made anew (a new
// session, unsubscribe and subscribe) starts them from 0.
type DownlinkStats struct {
	UID   string `json:"uid"`   // the publisher
	Kind  string `json:"kind"`  // "audio" or "video"
	Codec string `json:"codec"` // "opus", "VP8", "H264", …
	// Muted: the publisher has muted the track, as the room tells.
	Muted bool `json:"muted"`
	// BytesReceived is the RTP payload bytes received.
	BytesReceived uint64 `json:"bytesReceived"`
	// PacketsReceived and PacketsLost are counted from the RTP sequence
	// numbers; a packet repaired by retransmission counts as received.
	PacketsReceived uint64 `json:"packetsReceived"`
	PacketsLost     int64  `json:"packetsLost"`
	// PacketLossRate is the percentage (0-100) of packets lost over the
	// last stats second in which packets were expected; absent before.
	PacketLossRate *float64 `json:"packetLossRate,omitempty"`
	// Bitrate is in kb/s over the last stats second.
	Bitrate float64 `json:"bitrate"`
	// FrameRate (video) is the complete frames received per second over
	// the last stats second.
	FrameRate *float64 `json:"frameRate,omitempty"`
	// Jitter is the RTP interarrival jitter (RFC 3550), in ms.
	Jitter float64 `json:"jitter"`
	// RTT is in ms: of the subscribe connection's ICE candidate pair
	// (consent checks), else the signaling ping's round trip; absent
	// before either was measured.
	RTT *float64 `json:"rtt,omitempty"`
}

// SessionStats returns a snapshot of the session.
func (e *Engine) SessionStats(ctx context.Context) (SessionStats, error) {
	return joinedGet(ctx, e, "session stats", func() (SessionStats, error) {
		sent, recv := e.traffic.totals(e.trafficSamples())
		st := SessionStats{
			Duration:    int64(time.Since(e.joinedAt) / time.Second),
			UserCount:   1 + len(e.streams),
			SendBytes:   sent,
			RecvBytes:   recv,
			SendBitrate: round2(e.traffic.sendRate),
			RecvBitrate: round2(e.traffic.recvRate),
		}
		if rtt, ok := e.signalingRTT(); ok {
			st.RTT = msOf(rtt)
		}
		return st, nil
	})
}

// UplinkStats returns a snapshot of the local track of kind ("audio" or
// "video").
func (e *Engine) UplinkStats(ctx context.Context, kind string) (UplinkStats, error) {
	if err := kindArgError(kind); err != nil {
		return UplinkStats{}, fmt.Errorf("uplink stats: %w", err)
	}
	return joinedGet(ctx, e, "uplink stats", func() (UplinkStats, error) {
		st := UplinkStats{Kind: kind, Muted: e.localMuted(kind)}
		p := e.pub
		if p == nil {
			return st, nil
		}
		i := slices.IndexFunc(p.sent, func(c *sendCounters) bool { return c.kind == kind })
		if i < 0 {
			return st, nil
		}
		c := p.sent[i]
		st.Published = true
		st.Codec = p.tracks[i].Info.Codec
		if params := p.senders[i].GetParameters(); len(params.Codecs) > 0 {
			st.Codec = media.CodecOf(params.Codecs[0].MimeType)
		}
		st.BytesSent = c.bytes.Load()
		if t := e.traffic.track(c); t != nil {
			st.Bitrate = round2(t.bitrate)
			if kind == media.KindVideo {
				st.FrameRate = valuePtr(round2(t.frameRate))
			}
			if t.lossKnown {
				st.PacketLossRate = valuePtr(round2(100 * t.loss))
			}
		}
		var rtt time.Duration
		rttKnown := false
		if s := p.stats.get(c.ssrc.Load()); s != nil {
			st.PacketsSent = s.OutboundRTPStreamStats.PacketsSent
			ri := s.RemoteInboundRTPStreamStats
			if ri.PacketsReceived > 0 || ri.PacketsLost != 0 {
				st.PacketsLost = valuePtr(ri.PacketsLost)
			}
			if ri.RoundTripTimeMeasurements > 0 {
				rtt, rttKnown = max(0, ri.RoundTripTime), true
			}
		}
		if !rttKnown {
			rtt, rttKnown = e.signalingRTT()
		}
		if rttKnown {
			st.RTT = msOf(rtt)
		}
		return st, nil
	})
}

// DownlinkStats returns a snapshot of every subscribed track of kind
// ("audio" or "video"), one per publisher, by uid; none (not nil) when
// nothing of kind is subscribed.
func (e *Engine) DownlinkStats(ctx context.Context, kind string) ([]DownlinkStats, error) {
	if err := kindArgError(kind); err != nil {
		return nil, fmt.Errorf("downlink stats: %w", err)
	}
	return joinedGet(ctx, e, "downlink stats", func() ([]DownlinkStats, error) {
		out := []DownlinkStats{}
		sub := e.sub
		if sub == nil {
			return out, nil
		}
		rtt, rttKnown := iceRTT(sub.pc)
		if !rttKnown {
			rtt, rttKnown = e.signalingRTT()
		}
		for _, t := range sub.trackList() {
			if t.kind != kind {
				continue
			}
			st := DownlinkStats{UID: t.uid, Kind: kind, Codec: t.codec, BytesReceived: t.bytes.Load()}
			if r := e.streams[t.uid]; r != nil {
				if tr := r.info.Track(kind); tr != nil {
					st.Muted = tr.Muted
				}
			}
			if s := sub.stats.get(t.ssrc); s != nil {
				in := s.InboundRTPStreamStats
				st.PacketsReceived, st.PacketsLost = in.PacketsReceived, in.PacketsLost
				st.Jitter = round2(in.Jitter * 1000)
			}
			if m := e.traffic.track(t); m != nil {
				st.Bitrate = round2(m.bitrate)
				if kind == media.KindVideo {
					st.FrameRate = valuePtr(round2(m.frameRate))
				}
				if m.lossKnown {
					st.PacketLossRate = valuePtr(round2(100 * m.loss))
				}
			}
			if rttKnown {
				st.RTT = msOf(rtt)
			}
			out = append(out, st)
		}
		slices.SortFunc(out, func(a, b DownlinkStats) int { return strings.Compare(a.UID, b.UID) })
		return out, nil
	})
}

// round2 rounds to two decimals, for JSON that reads well.
func round2(f float64) float64 { return math.Round(f*100) / 100 }

// msOf is d in ms, to two decimals.
func msOf(d time.Duration) *float64 {
	return valuePtr(round2(float64(d) / float64(time.Millisecond)))
}

// valuePtr is a pointer to a copy of v: a measured value of an optional
// field.
func valuePtr[T any](v T) *T { return &v }
