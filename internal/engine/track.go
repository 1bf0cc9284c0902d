package engine

import (
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
	// Close is called once when the track ends (unsubscribed, publisher
	// gone, session over).
	Close()
}

// TrackHandler is given every subscribed track; it returns the sink for
// it, or nil to ignore the track.
type TrackHandler interface {
	HandleTrack(t *RemoteTrack) PacketSink
}

// ntpTime converts a 64-bit NTP timestamp to time.Time.
func ntpTime(ntp uint64) time.Time {
	const ntpToUnix = 2208988800
	secs := int64(ntp>>32) - ntpToUnix
	frac := int64(ntp & 0xffffffff)
	return time.Unix(secs, frac*1e9>>32)
}
