package record

import (
	"slices"
	"time"
)

// Timing of a user's tracks.
//
// Every frame gets a "wall" time: nanoseconds of the recorder's clock at
// which it was (as best we know) captured. Within a track, wall follows the
// RTP clock exactly, so frames keep their cadence and never go backwards.
// Each track is anchored by the arrival time of its first frame; as soon as
// both audio and video have an RTCP sender report, the video track is moved
// so that the two agree with the sender's clock (lip sync). A discontinuity —
// the RTP clock jumping or standing still while time passes (a mute, a
// publisher that restarted its encoder) — re-anchors the track on arrival,
// so a gap stays a gap in the file and never shifts the other track.
const (
	// jumpTolerance is how far the RTP clock may disagree with arrival
	// times between two frames before it is taken as a discontinuity. It is
	// far above network jitter and the jitter buffer's delay.
	jumpTolerance = 500 * time.Millisecond
	// syncMin and syncMax bound a correction from sender reports: below
	// syncMin it is report jitter; above syncMax the report is stale (made
	// across a discontinuity) and the next one decides.
	syncMin = 20 * time.Millisecond
	syncMax = time.Second
)

// trackClock maps one track's extended RTP timestamps to wall time.
type trackClock struct {
	rate int64 // Hz

	anchored   bool
	anchorExt  int64
	anchorWall int64

	lastExt  int64
	lastArr  int64
	lastWall int64
	// lastSpan is the duration of the latest frame as the RTP clock gave
	// it (1 ms until known): a re-anchored frame starts no earlier than
	// the previous frame's end, so frames never overlap in the file (an
	// Opus packet 1 ms after a 20-ms one is time going backwards to a
	// decoder).
	lastSpan int64

	hasSR bool
	srNTP int64 // sender's wall clock, ns since the Unix epoch
	srExt int64

	// floorFrom is set when syncTo moved the track earlier: the wall of
	// the last frame on the old timeline. A frame that falls before that
	// frame's end (floorFrom + lastSpan; the span is measured on the frame
	// after it when only one frame came before) is early. Squeezed in after
	// it, such frames would be a burst 1 ms apart, which decoders take for
	// time going backwards (ffmpeg: "non monotonically increasing dts" for
	// the video stream); the user drops them instead (see user.catchUp).
	floorFrom int64
}

// floor is the earliest wall a frame may have after a backward sync; 0
// when there was none since the last anchoring.
func (c *trackClock) floor() int64 {
	if c.floorFrom == 0 {
		return 0
	}
	return c.floorFrom + c.lastSpan
}

func newTrackClock(rate uint32) trackClock {
	if rate == 0 {
		rate = 90000
	}
	return trackClock{rate: int64(rate), lastSpan: int64(time.Millisecond)}
}

func (c *trackClock) span(dExt int64) int64 {
	return dExt * int64(time.Second) / c.rate
}

// wall returns the wall time of a frame with extended RTP timestamp ext
// that arrived at arrival (ns). restart forces a re-anchor (the sink saw the
// sequence numbers jump). The result is strictly after the previous frame's,
// unless the frame is early: a sync moved the track earlier and the frame
// falls before the floor; then the frame is not taken as the track's latest
// (the next frame is placed after the one before it) and the caller drops it.
func (c *trackClock) wall(ext, arrival int64, restart bool) (wall int64, reanchored, early bool) {
	forced := restart // a new stream: its timestamps tell nothing of the old one's
	if c.anchored && !restart {
		dRTP := c.span(ext - c.lastExt)
		dArr := arrival - c.lastArr
		if dRTP < 0 || dRTP-dArr > int64(jumpTolerance) || dArr-dRTP > int64(jumpTolerance) {
			restart = true
		}
	}
	prev, had := c.lastWall, c.anchored
	if !c.anchored || restart {
		if d := c.span(ext - c.lastExt); had && !forced && d > 0 && d <= int64(jumpTolerance) {
			// Re-anchored on arrival while the RTP clock went on as usual
			// (a frame's first packet came before the previous frame's,
			// behind a stalled reader): the RTP clock still says how long
			// the previous frame lasts, even before two frames in a row
			// told it (lastSpan is 1 ms until then, and the re-anchored
			// frame would follow 1 ms after the previous one).
			c.lastSpan = d
		}
		c.anchored, reanchored = true, had
		c.anchorExt, c.anchorWall = ext, arrival
		if had && arrival < prev+c.lastSpan {
			c.anchorWall = prev + c.lastSpan
		}
		// A new timeline starts after everything of the old one.
		c.anchorWall = max(c.anchorWall, c.floor())
		c.floorFrom = 0
		// Reports made before the discontinuity describe the old timeline.
		c.hasSR = false
	} else if d := c.span(ext - c.lastExt); d > 0 && d <= int64(time.Second) {
		c.lastSpan = d
	}
	wall = c.anchorWall + c.span(ext-c.anchorExt)
	c.lastExt, c.lastArr = ext, arrival
	if had && wall < c.floor() {
		return wall, reanchored, true
	}
	c.floorFrom = 0 // past it
	if had && wall <= prev {
		wall = prev + int64(time.Millisecond)
	}
	c.lastWall = wall
	return wall, reanchored, false
}

// senderReport records an RTCP sender report: the sender's wall clock ntp
// for RTP timestamp rtp. Reports before the first frame are ignored (the
// next comes within seconds).
func (c *trackClock) senderReport(ntp time.Time, rtp uint32) {
	if !c.anchored {
		return
	}
	c.hasSR = true
	c.srNTP = ntp.UnixNano()
	c.srExt = c.lastExt + int64(int32(rtp-uint32(c.lastExt)))
}

// offset is how far our wall time is ahead of the sender's clock for this
// track (network delay + clock offset + anchoring error). Two tracks of one
// sender are in sync when their offsets are equal.
func (c *trackClock) offset() (int64, bool) {
	if !c.anchored || !c.hasSR {
		return 0, false
	}
	senderAtAnchor := c.srNTP + c.span(c.anchorExt-c.srExt)
	return c.anchorWall - senderAtAnchor, true
}

// syncTo moves c so that its offset matches ref's, when both have sender
// reports and the difference is worth a correction. It returns the shift.
// A backward shift does not make timestamps go backwards or squeeze frames
// together: the frames that would land before the end of the last one are
// early (see wall) until the new timeline has passed it.
func (c *trackClock) syncTo(ref *trackClock) time.Duration {
	or, ok1 := ref.offset()
	oc, ok2 := c.offset()
	if !ok1 || !ok2 {
		return 0
	}
	d := or - oc
	if a := time.Duration(max(d, -d)); a < syncMin || a > syncMax {
		return 0
	}
	if d < 0 {
		c.floorFrom = c.lastWall
	}
	c.anchorWall += d
	return time.Duration(d)
}

// Video frame spacing.
//
// Some publishers stamp video frames when the encoder is done with them,
// not when they were captured: a slow frame (a keyframe) comes out late and
// the next one a few milliseconds after it — seen from the test publisher:
// 81 ms then 6 ms at 30 fps. Players and ffmpeg map a video track onto its
// frame rate, and two frames within one frame period collide there (ffmpeg:
// "non monotonically increasing dts"). The smoother holds one frame back to
// see the next, and when the next is less than a frame period away it moves
// the held frame earlier — towards where it was due, never closer than a
// period to the frame before it and never by more than a period. Frames are
// never moved later and never reordered, so a regular stream, or one that
// is merely early, is untouched and nothing drifts.
const (
	smoothSamples = 48                     // intervals the frame period is estimated from
	smoothSlack   = 2 * time.Millisecond   // an interval this much under the period is "too close"
	smoothHold    = 150 * time.Millisecond // a held frame goes out after this without a successor
)

// frameIntervals are the frame periods an estimate snaps to; until there
// are enough intervals to estimate, 1/30 s (what WebRTC senders mostly use).
var frameIntervals = []time.Duration{
	time.Second / 60, time.Second / 50, time.Second / 30, time.Second / 25, time.Second / 15,
}

const defaultFramePeriod = time.Second / 30

type smoother struct {
	deltas  [smoothSamples]int64
	n, next int

	held    bool
	frame   qframe
	heldAt  time.Time
	hasPrev bool
	prevOut int64
}

// period is the publisher's frame period: the longest standard period
// not above (a little over) the median of the shortest third of recent
// intervals — jitter and skipped frames make intervals longer, rarely
// shorter.
func (s *smoother) period() int64 {
	if s.n < 16 {
		return int64(defaultFramePeriod)
	}
	d := append([]int64(nil), s.deltas[:s.n]...)
	slices.Sort(d)
	m := d[len(d)/6] * 11 / 10
	best := int64(frameIntervals[0])
	for _, iv := range frameIntervals {
		if int64(iv) <= m {
			best = int64(iv)
		}
	}
	return best
}

// push takes the next frame (wall already set) and returns the frame held
// before it, now placed, if there was one.
func (s *smoother) push(f qframe, now time.Time) (qframe, bool) {
	if !s.held {
		s.held, s.frame, s.heldAt = true, f, now
		return qframe{}, false
	}
	if d := f.wall - s.frame.wall; d > 0 && d < int64(time.Second) {
		s.deltas[s.next] = d
		s.next = (s.next + 1) % smoothSamples
		s.n = min(s.n+1, smoothSamples)
	}
	out := s.place(f.wall, true)
	s.frame, s.heldAt = f, now
	return out, true
}

// flush returns the held frame, placed without knowing its successor.
func (s *smoother) flush() (qframe, bool) {
	if !s.held {
		return qframe{}, false
	}
	s.held = false
	return s.place(0, false), true
}

// due reports whether the held frame waited long enough for a successor.
func (s *smoother) due(now time.Time) bool {
	return s.held && now.Sub(s.heldAt) >= smoothHold
}

func (s *smoother) place(nextWall int64, hasNext bool) qframe {
	f := s.frame
	raw := f.wall
	if t := s.period(); hasNext && s.hasPrev && nextWall-raw < t-int64(smoothSlack) {
		// Whole milliseconds, rounded up: the file's timestamps are in ms.
		tc := (t + int64(time.Millisecond) - 1) / int64(time.Millisecond) * int64(time.Millisecond)
		target := max(nextWall-tc, s.prevOut+tc)
		if target < raw && raw-target <= t {
			f.wall = target
		}
	}
	s.hasPrev, s.prevOut = true, f.wall
	return f
}
