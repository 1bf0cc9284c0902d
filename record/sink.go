package record

import (
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/samplebuilder"
)

// Jitter buffer limits. A frame leaves the buffer as soon as it is whole
// and the next packet has arrived; a missing packet holds frames back for
// at most maxDelay (time for a NACK retransmission), then what cannot be
// completed is dropped.
const (
	videoMaxLate  = 512 // packets
	videoMaxDelay = 400 * time.Millisecond
	audioMaxLate  = 64
	audioMaxDelay = 200 * time.Millisecond

	// A sequence number this far ahead of (or behind) the highest one seen
	// is not loss or reordering but a new stream (the publisher restarted).
	maxSeqJump    = 3000
	maxSeqReorder = 512
	seenWindow    = 1024 // duplicates are recognized within this many packets
	arrivalSlots  = 128  // RTP timestamps whose arrival time is remembered

	// keyframeRetry paces keyframe requests while video waits for one.
	keyframeRetry = time.Second
)

// frame is a whole frame on its way from a track's sink to its user.
type frame struct {
	ext     int64 // extended RTP timestamp
	arrival int64 // ns, when its first packet arrived
	data    []byte
	key     bool
	// format is set on keyframes a file can start with (the picture size
	// and, for H.264, the avcC built from the parameter sets in force).
	format *videoFormat
	// restart: the stream restarted before this frame (sequence jump).
	restart bool
}

// trackSink is the engine.PacketSink of one track: a jitter buffer that
// reorders and de-duplicates, frame assembly, keyframe gating of video
// (the first frame and the first after a loss are keyframes) and keyframe
// requests. Whole frames go to the user's goroutine.
type trackSink struct {
	u      *user
	t      *utrack // identity only: the user goroutine owns its state
	video  bool
	codec  string
	reqKey func()

	mu     sync.Mutex
	closed bool
	sb     *samplebuilder.SampleBuilder

	seqStarted bool
	highest    int64 // extended sequence number
	highestTS  uint32
	// highestEnds: the highest packet so far ends its frame (video: the
	// marker bit; an audio packet is a frame).
	highestEnds bool
	released    int64 // highest extended sequence number the buffer let go
	seen        [seenWindow]int64
	restart     bool

	tsStarted bool
	lastTS    uint32
	extTS     int64

	arrivals [arrivalSlots]struct {
		ts uint32
		at int64
	}
	arrivalNext int

	needKey    bool
	lastKeyReq int64
	sps, pps   []byte
	h264Fmt    *videoFormat // cached for the current sps/pps

	stats sinkStats
}

// sinkStats count what the jitter buffer did, for logs and tests.
type sinkStats struct {
	packets, duplicates, late, lostBursts, restarts int
	frames, droppedFrames, overflow                 int
}

func newTrackSink(u *user, t *utrack, reqKey func()) *trackSink {
	s := &trackSink{u: u, t: t, video: t.kind == "video", codec: t.codec, reqKey: reqKey}
	for i := range s.seen {
		s.seen[i] = -1
	}
	s.needKey = s.video
	s.sb = s.newBuilder()
	return s
}

func (s *trackSink) newBuilder() *samplebuilder.SampleBuilder {
	release := samplebuilder.WithPacketReleaseHandler(s.onRelease)
	switch s.codec {
	case CodecVP8:
		return samplebuilder.New(videoMaxLate, &codecs.VP8Packet{}, 90000, samplebuilder.WithMaxTimeDelay(videoMaxDelay), release)
	case CodecVP9:
		return samplebuilder.New(videoMaxLate, &codecs.VP9Packet{}, 90000, samplebuilder.WithMaxTimeDelay(videoMaxDelay), release)
	case CodecH264:
		// IsAVC: NAL units come out with 4-byte lengths, as Matroska wants.
		return samplebuilder.New(videoMaxLate, &codecs.H264Packet{IsAVC: true}, 90000, samplebuilder.WithMaxTimeDelay(videoMaxDelay), release)
	default:
		return samplebuilder.New(audioMaxLate, &codecs.OpusPacket{}, 48000, samplebuilder.WithMaxTimeDelay(audioMaxDelay), release)
	}
}

// onRelease runs inside Push/Pop (under mu) for every packet the buffer
// drops its reference to: anything at or below it is too late from now on.
func (s *trackSink) onRelease(p *rtp.Packet) {
	if ext := s.highest + int64(int16(p.SequenceNumber-uint16(s.highest))); ext > s.released {
		s.released = ext
	}
}

// WriteRTP implements engine.PacketSink.
func (s *trackSink) WriteRTP(p *rtp.Packet, arrival time.Time) {
	if p == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.stats.packets++
	at := arrival.UnixNano()
	if !s.seqStarted {
		s.seqStarted = true
		s.highest = 1<<32 + int64(p.SequenceNumber)
		s.released = s.highest - 1
		s.highestTS, s.highestEnds = p.Timestamp, !s.video || p.Marker
	}
	d := int64(int16(p.SequenceNumber - uint16(s.highest)))
	if d > maxSeqJump || d < -maxSeqReorder {
		s.restartStream(p, at)
		d = 0
	}
	ext := s.highest + d
	if ext <= s.released {
		s.stats.late++
		return
	}
	slot := &s.seen[ext%seenWindow]
	if *slot == ext {
		s.stats.duplicates++
		return
	}
	*slot = ext
	if ext > s.highest {
		s.highest, s.highestTS = ext, p.Timestamp
		s.highestEnds = !s.video || p.Marker
	}
	s.noteArrival(p.Timestamp, at)
	// The engine allocates each packet, but nothing in PacketSink's
	// contract says so: keep a copy of what the buffer holds on to.
	c := &rtp.Packet{Header: p.Header, Payload: append([]byte(nil), p.Payload...)}
	c.CSRC, c.Extensions, c.Extension = nil, nil, false
	s.sb.Push(c)
	s.popAll(at)
}

// restartStream starts over after a sequence jump: whatever the buffer
// still holds is delivered, then a new buffer takes the new numbering.
func (s *trackSink) restartStream(p *rtp.Packet, at int64) {
	s.stats.restarts++
	s.drain(at)
	s.sb = s.newBuilder()
	// A fresh range of extended numbers, so nothing old matches.
	s.highest += 1 << 20
	s.highest += int64(p.SequenceNumber - uint16(s.highest))
	s.highestTS, s.highestEnds = p.Timestamp, !s.video || p.Marker
	s.released = s.highest - 1
	s.tsStarted = false
	s.restart = true
	if s.video {
		s.needKey = true
		s.requestKey(at, true)
	}
}

// drain gets the last whole frame out of the buffer, which holds it until
// a packet after it arrives. SampleBuilder.Flush would do, but on an
// emptied buffer it spins through all 65536 slots for every one of them
// (seconds of CPU): a made-up empty packet right after the last one ends
// the frame instead — only when the last one did end its frame: made up
// after the first packets of a frame whose rest never came (a restart with
// the old stream's stragglers reordered around it), it would pass those
// packets off as a whole frame, a truncated one. The buffer is not used
// afterwards.
func (s *trackSink) drain(at int64) {
	if !s.seqStarted || !s.highestEnds {
		return
	}
	s.sb.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(s.highest + 1), Timestamp: s.highestTS + 1}})
	s.popAll(at)
}

func (s *trackSink) noteArrival(ts uint32, at int64) {
	last := (s.arrivalNext + arrivalSlots - 1) % arrivalSlots
	if s.arrivals[last].at != 0 && s.arrivals[last].ts == ts {
		return
	}
	s.arrivals[s.arrivalNext].ts, s.arrivals[s.arrivalNext].at = ts, at
	s.arrivalNext = (s.arrivalNext + 1) % arrivalSlots
}

// arrivalOf is when the first packet with RTP timestamp ts arrived.
func (s *trackSink) arrivalOf(ts uint32, fallback int64) int64 {
	for i := 1; i <= arrivalSlots; i++ {
		a := s.arrivals[(s.arrivalNext+arrivalSlots-i)%arrivalSlots]
		if a.at != 0 && a.ts == ts {
			return a.at
		}
	}
	return fallback
}

func (s *trackSink) popAll(now int64) {
	for smp := s.sb.Pop(); smp != nil; smp = s.sb.Pop() {
		s.sample(smp, now)
	}
}

func (s *trackSink) requestKey(now int64, force bool) {
	if !force && now-s.lastKeyReq < int64(keyframeRetry) {
		return
	}
	s.lastKeyReq = now
	if s.reqKey != nil {
		s.reqKey()
	}
}

// sample handles one frame out of the jitter buffer.
func (s *trackSink) sample(smp *media.Sample, now int64) {
	ts := smp.PacketTimestamp
	if s.tsStarted {
		d := int32(ts - s.lastTS)
		if d <= 0 {
			// An old frame rebuilt from a late packet: never go back.
			s.stats.droppedFrames++
			return
		}
		s.extTS += int64(d)
	} else {
		s.tsStarted = true
		s.extTS = int64(ts)
	}
	s.lastTS = ts
	f := frame{ext: s.extTS, arrival: s.arrivalOf(ts, now), data: smp.Data, key: true}
	if smp.PrevDroppedPackets > 0 {
		s.stats.lostBursts++
	}
	if s.video {
		if !s.videoFrame(&f, smp.PrevDroppedPackets > 0, now) {
			s.stats.droppedFrames++
			return
		}
	}
	f.restart, s.restart = s.restart, false
	if !s.u.sendFrame(s.t, f) {
		s.stats.overflow++
		if s.video {
			// The decoder's reference chain is broken from here on.
			s.needKey = true
			s.requestKey(now, true)
		}
		return
	}
	s.stats.frames++
}

// videoFrame classifies a video frame and keeps the stream decodable:
// after a loss (or at the start) frames are dropped until a keyframe, and
// a keyframe is asked for. It reports whether f is to be written.
func (s *trackSink) videoFrame(f *frame, lost bool, now int64) bool {
	switch s.codec {
	case CodecVP8:
		key, w, h := vp8Keyframe(f.data)
		f.key = key
		if key && w > 0 && h > 0 {
			f.format = &videoFormat{width: w, height: h}
		}
	case CodecVP9:
		key, w, h := vp9Keyframe(f.data)
		f.key = key
		if key && w > 0 && h > 0 {
			f.format = &videoFormat{width: w, height: h}
		}
	case CodecH264:
		info, ok := inspectH264(f.data)
		if !ok {
			lost = true
			f.key = false
			break
		}
		if info.SPS != nil && string(info.SPS) != string(s.sps) {
			s.sps, s.h264Fmt = append([]byte(nil), info.SPS...), nil
		}
		if info.PPS != nil && string(info.PPS) != string(s.pps) {
			s.pps, s.h264Fmt = append([]byte(nil), info.PPS...), nil
		}
		f.key = info.IDR
		if f.key && s.sps != nil && s.pps != nil {
			if s.h264Fmt == nil {
				if cp, sps, err := avcC(s.sps, s.pps); err == nil {
					s.h264Fmt = &videoFormat{width: sps.Width, height: sps.Height, codecPrivate: cp}
				}
			}
			f.format = s.h264Fmt
		}
	}
	if lost && !f.key {
		s.needKey = true
	}
	if s.needKey {
		if !f.key || f.format == nil {
			s.requestKey(now, false)
			return false
		}
		s.needKey = false
	}
	return true
}

// SenderReport implements engine.PacketSink.
func (s *trackSink) SenderReport(ntp time.Time, rtpTime uint32) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		s.u.sendSR(s.t, ntp, rtpTime)
	}
}

// Close implements engine.PacketSink: what the buffer still holds is
// delivered, and the user learns the track ended, whatever the reason.
func (s *trackSink) Close(engine.EndReason) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.drain(time.Now().UnixNano())
	s.closed = true
	st := s.stats
	s.mu.Unlock()
	s.u.log.Debug("track ended", "kind", s.t.kind, "packets", st.packets, "frames", st.frames,
		"duplicates", st.duplicates, "late", st.late, "lost", st.lostBursts, "dropped", st.droppedFrames,
		"restarts", st.restarts, "overflow", st.overflow)
	s.u.r.trackEnded(s.u, s.t)
}
