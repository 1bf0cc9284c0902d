package engine

import (
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/roomctl/roomctl/internal/codec/h264"
	"github.com/roomctl/roomctl/internal/samplebuilder"
)

// rxTrack is what the quality telemetry reads of one subscribed track. Its
// consume loop adds, the run loop reads.
type rxTrack struct {
	uid      string
	kind     string
	codec    string // "VP8", "H264", "opus", …
	ssrc     uint32
	repaired bool // NACK negotiated: lost packets come back (see lossMeter)

	bytes atomic.Uint64 // RTP payload bytes received
	// Video: frames is every complete frame the sample builder put
	// together (received frames); decoded is those a decoder could decode:
	// from a keyframe on, until a frame is missing, then again from the
	// next keyframe.
	frames  atomic.Uint64
	decoded atomic.Uint64
	level   levelMeter // audio: peak of the decoded Opus
	// opusDecodes counts the audio packets given to the decoder
	// (newAudioFrames).
	opusDecodes atomic.Uint64

	out endingSink // the consumer's sink
}

// trackKey names a subscribed track in subscriber.tracks.
func trackKey(uid, kind string) string { return uid + "/" + kind }

func (s *subscriber) addTrack(t *rxTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tracks == nil {
		s.tracks = map[string]*rxTrack{}
	}
	s.tracks[trackKey(t.uid, t.kind)] = t
}

func (s *subscriber) removeTrack(t *rxTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := trackKey(t.uid, t.kind); s.tracks[k] == t {
		delete(s.tracks, k)
	}
}

func (s *subscriber) track(uid, kind string) *rxTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tracks[trackKey(uid, kind)]
}

func (s *subscriber) trackList() []*rxTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*rxTrack, 0, len(s.tracks))
	for _, t := range s.tracks {
		out = append(out, t)
	}
	return out
}

// newVideoFrames returns a function fed a video track's RTP packets in
// arrival order. It counts complete and decodable frames on t and reports
// true for a packet that completed a keyframe.
func newVideoFrames(codec string, t *rxTrack) func(*rtp.Packet) bool {
	var dep rtp.Depacketizer
	var isKey func([]byte) bool
	switch codec {
	case "H264":
		dep = &codecs.H264Packet{}
		isKey = h264.HasIDR
	case "VP8":
		dep = &codecs.VP8Packet{}
		// VP8 frame tag: bit 0 of the first byte is 0 for a key frame (RFC 6386 §9.1).
		isKey = func(b []byte) bool { return len(b) > 3 && b[0]&0x01 == 0 }
	default:
		return func(*rtp.Packet) bool { return false }
	}
	sb := samplebuilder.New(128, dep, 90000)
	decodable := false
	return func(p *rtp.Packet) bool {
		sb.Push(p)
		key := false
		for smp := sb.Pop(); smp != nil; smp = sb.Pop() {
			t.frames.Add(1)
			switch {
			case isKey(smp.Data):
				decodable, key = true, true
			case smp.PrevDroppedPackets > 0:
				decodable = false // a reference is missing until the next keyframe
			}
			if decodable {
				t.decoded.Add(1)
			}
		}
		return key
	}
}

// newAudioFrames returns a function fed an audio track's RTP packets in
// arrival order; it reports true for a packet that decoded to audio. It
// decodes every packet until one decodes (the first frame), and after that
// only while levels() (Config.NoRemoteLevels, Engine.remoteLevels), feeding
// t's level meter.
func newAudioFrames(t *rxTrack, levels func() bool) func(*rtp.Packet) bool {
	meter := newOpusMeter(&t.level)
	first := false
	return func(p *rtp.Packet) bool {
		if first && !levels() {
			return false
		}
		t.opusDecodes.Add(1)
		ok := meter.feedPacket(p)
		first = first || ok
		return ok
	}
}
