package engine

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

// RemoteTrack describes one subscribed track to a consumer of media
// (a recorder, a pusher).
type RemoteTrack struct {
	UID       string
	RoomID    string
	Kind      string // "audio" or "video"
	Codec     string // "VP8", "VP9", "H264", "opus"
	ClockRate uint32
	Channels  uint16
	// SDPFmtpLine is the negotiated fmtp (H.264 profile-level-id, …).
	SDPFmtpLine string
	SSRC        uint32

	requestKeyframe func()
}

// RequestKeyframe asks the publisher for a keyframe (RTCP PLI through the
// server). Cheap to call; the server paces what reaches the publisher.
func (t *RemoteTrack) RequestKeyframe() {
	if t.requestKeyframe != nil {
		t.requestKeyframe()
	}
}

// PacketSink receives one subscribed track's media. Its methods are called
// from one goroutine per track, in arrival order; they must not block for
// long, or the track's receive buffer overflows.
type PacketSink interface {
	// WriteRTP gets every RTP packet as it arrived (not reordered, possibly
	// duplicated or missing), with its arrival time.
	WriteRTP(p *rtp.Packet, arrival time.Time)
	// SenderReport gets each RTCP sender report of the track: the
	// publisher's wall clock (NTP) for an RTP timestamp, for A/V sync.
	SenderReport(ntp time.Time, rtpTime uint32)
	// Close is called once when the track ends, after the last WriteRTP
	// and SenderReport; reason says why (see EndReason). It may be called
	// from another goroutine than the writes.
	Close(reason EndReason)
}

// EndReason is why a subscribed track ended for its consumer (PacketSink.Close)
// and why a remote stream's player ended (player_state_change "end").
type EndReason string

// Why a track ends. Muting never ends a track: a muted stream's player
// pauses and its track goes on (quiet) until one of these.
const (
	// ReasonStreamRemoved: the publisher unpublished or left; its stream is
	// gone from the room. A consumer of that publisher is done.
	ReasonStreamRemoved EndReason = "stream_removed"
	// ReasonSessionLost: our session was replaced by a new one (the server
	// restarted or forgot us) or the service closed our media connection;
	// the stream may come back in the new session, as a new track.
	ReasonSessionLost EndReason = "session_lost"
	// ReasonUnsubscribed: the engine no longer subscribes to the publisher
	// (Engine.SetSubscriptions).
	ReasonUnsubscribed EndReason = "unsubscribed"
	// ReasonTrackEnded: the service stopped sending the track while its
	// stream stays (the publisher dropped that track); the stream's other
	// tracks go on.
	ReasonTrackEnded EndReason = "track_ended"
	// ReasonLeft: the engine is stopping: Run returned (we left, or the
	// session ended).
	ReasonLeft EndReason = "left"
)

// TrackHandler is given every subscribed track; it returns the sink for
// it, or nil to ignore the track.
type TrackHandler interface {
	HandleTrack(t *RemoteTrack) PacketSink
}

// endingSink stands between a subscribed track and its consumer's
// PacketSink, so that the run loop can end the track with a reason while
// the track's goroutines still write: after Close nothing more reaches the
// sink, and Close is called once, with the first reason given. The zero
// value has no sink and drops what it gets.
type endingSink struct {
	mu     sync.RWMutex // writes hold it shared, ending exclusively
	sink   PacketSink
	closed bool

	rmu    sync.Mutex
	reason EndReason
}

// set installs the consumer's sink (nil: none); a track that ended
// meanwhile closes it at once.
func (g *endingSink) set(s PacketSink) {
	g.mu.Lock()
	if !g.closed {
		g.sink = s
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	if s != nil {
		s.Close(g.why())
	}
}

// setReason records why the track ends, unless a reason was given before;
// it reports whether this one was recorded.
func (g *endingSink) setReason(r EndReason) bool {
	g.rmu.Lock()
	defer g.rmu.Unlock()
	if g.reason != "" {
		return false
	}
	g.reason = r
	return true
}

func (g *endingSink) why() EndReason {
	g.rmu.Lock()
	defer g.rmu.Unlock()
	return g.reason
}

// end closes the sink, once, after the writes in progress; reason counts
// only if none was given before.
func (g *endingSink) end(reason EndReason) {
	g.setReason(reason)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	s := g.sink
	g.sink = nil
	g.mu.Unlock()
	if s != nil {
		s.Close(g.why())
	}
}

func (g *endingSink) WriteRTP(p *rtp.Packet, arrival time.Time) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.sink != nil {
		g.sink.WriteRTP(p, arrival)
	}
}

func (g *endingSink) SenderReport(ntp time.Time, rtpTime uint32) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.sink != nil {
		g.sink.SenderReport(ntp, rtpTime)
	}
}

// ntpTime converts a 64-bit NTP timestamp to time.Time.
func ntpTime(ntp uint64) time.Time {
	const ntpToUnix = 2208988800
	secs := int64(ntp>>32) - ntpToUnix
	frac := int64(ntp & 0xffffffff)
	return time.Unix(secs, frac*1e9>>32)
}
