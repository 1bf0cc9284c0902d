package push

import "time"

// rtpClock maps one track's RTP timestamps to wall-clock time, so that
// audio and video land on one timeline.
//
// Two anchors are kept: the arrival time of the track's first packet, and
// the first RTCP sender report (the sender's wall clock for an RTP time).
// The muxer picks one kind of anchor for all tracks when it starts (sender
// reports if every track has one, else arrival): mixing the two would put
// the tracks on clocks of two machines. The anchor is then kept for good,
// so timestamps never jump; later sender reports would only correct slow
// drift between the sender's RTP clock and its wall clock, which is small
// over the length of a push (see the package comment).
type rtpClock struct {
	rate float64 // Hz

	started bool
	last    int64 // extended (unwrapped) RTP time of the newest packet

	arrival    time.Time // arrival of the first packet
	arrivalExt int64

	haveSR bool
	srWall time.Time
	srExt  int64
}

func newRTPClock(rate uint32) *rtpClock {
	if rate == 0 {
		rate = 90000
	}
	return &rtpClock{rate: float64(rate)}
}

// extend unwraps a 32-bit RTP time near the newest one seen.
func (c *rtpClock) extend(ts uint32) int64 {
	if !c.started {
		return int64(ts)
	}
	return c.last + int64(int32(ts-uint32(c.last)))
}

// packet records a packet's RTP time and arrival; it returns the extended
// RTP time.
func (c *rtpClock) packet(ts uint32, arrival time.Time) int64 {
	ext := c.extend(ts)
	if !c.started {
		c.started = true
		c.last = ext
	}
	if c.arrival.IsZero() {
		c.arrival, c.arrivalExt = arrival, ext
	}
	if ext > c.last {
		c.last = ext
	}
	return ext
}

// senderReport records the first sender report.
func (c *rtpClock) senderReport(wall time.Time, rtpTime uint32) {
	if c.haveSR {
		return
	}
	ext := c.extend(rtpTime)
	if !c.started {
		c.started = true
		c.last = ext
	}
	c.haveSR, c.srWall, c.srExt = true, wall, ext
}

// wall is the wall-clock time of an extended RTP time, from the sender
// report anchor if useSR (and there is one), else from arrival.
func (c *rtpClock) wall(ext int64, useSR bool) (time.Time, bool) {
	switch {
	case useSR && c.haveSR:
		return c.srWall.Add(c.dur(ext - c.srExt)), true
	case !useSR && !c.arrival.IsZero():
		return c.arrival.Add(c.dur(ext - c.arrivalExt)), true
	}
	return time.Time{}, false
}

func (c *rtpClock) dur(ticks int64) time.Duration {
	return time.Duration(float64(ticks) / c.rate * float64(time.Second))
}
