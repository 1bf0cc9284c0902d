package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// sendTrack wraps a source's TrackLocal to see what the engine really
// sends, without touching the source: it wraps the write stream that pion
// hands to Bind, so every RTP packet the source writes passes through it.
// It counts for the send-side exceptions and measures the local audio
// level.
//
// The local level is measured by decoding the Opus that is sent rather
// than on the PCM before encoding: media's sources hand the engine only a
// webrtc.TrackLocal (mediadevices encodes inside it, file sources carry no
// PCM at all), so decoding what is sent is the one place that sees every
// source the same way, and it is what the room hears.
//
// It also keeps the sender's RTP stream one stream across bindings (see
// rtpContinuity): mute unbinds the track and unmute binds it again, on the
// same SSRC.
type sendTrack struct {
	webrtc.TrackLocal
	c    *sendCounters
	cont rtpContinuity
}

// sendCounters are one published track's counters. The source's writer
// goroutine adds, the run loop reads.
type sendCounters struct {
	kind string
	ssrc atomic.Uint32
	// bytes and frames the transport took (a write that moved data; pion
	// drops packets silently, n = 0, while ICE has no candidate pair).
	bytes  atomic.Uint64
	frames atomic.Uint64 // video: packets with the marker bit (ends of frames)
	// encoded counts the video frames the source produced (marker packets
	// written to us, sent or not): for mediadevices the encoder's output,
	// for files the frames read.
	encoded atomic.Uint64
	level   levelMeter // audio: peak of the decoded Opus sent
}

func newSendTrack(l webrtc.TrackLocal, kind string) *sendTrack {
	return &sendTrack{TrackLocal: l, c: &sendCounters{kind: kind}}
}

func (t *sendTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	t.c.ssrc.Store(uint32(ctx.SSRC()))
	w := &countingWriter{w: ctx.WriteStream(), c: t.c, cont: &t.cont, kind: t.c.kind}
	if t.c.kind == "audio" {
		w.meter = newOpusMeter(&t.c.level)
	}
	codec, err := t.TrackLocal.Bind(&countingContext{TrackLocalContext: ctx, w: w})
	if err == nil {
		w.clock.Store(codec.ClockRate)
	}
	return codec, err
}

// Unbind gets pion's own context: tracks key their bindings by ctx.ID(),
// which the wrapper passes through.
func (t *sendTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	return t.TrackLocal.Unbind(ctx)
}

type countingContext struct {
	webrtc.TrackLocalContext
	w *countingWriter
}

func (c *countingContext) WriteStream() webrtc.TrackLocalWriter { return c.w }

// countingWriter is one binding's write stream; one goroutine of the
// source writes to it.
type countingWriter struct {
	w     webrtc.TrackLocalWriter
	c     *sendCounters
	meter *opusMeter // audio only
	cont  *rtpContinuity
	kind  string
	// clock is the bound codec's RTP clock rate, known once Bind returns
	// (a source may write before that: continuity then assumes the
	// kind's usual one).
	clock atomic.Uint32
	// The binding's mapping onto the sender's stream, set at its first
	// packet; under cont.mu.
	mapped bool
	shift  rtpShift
}

func (w *countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	video := w.c.kind == "video"
	if video && h.Marker {
		w.c.encoded.Add(1)
	}
	if w.meter != nil {
		w.meter.feed(payload)
	}
	out := w.cont.rewrite(w, h, time.Now())
	n, err := w.w.WriteRTP(&out, payload)
	if err == nil && n > 0 {
		w.c.bytes.Add(uint64(len(payload)))
		if video && h.Marker {
			w.c.frames.Add(1)
		}
	}
	return n, err
}

func (w *countingWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, fmt.Errorf("count sent packet: %w", err)
	}
	return w.WriteRTP(&p.Header, p.Payload)
}

func (w *countingWriter) clockRate() uint32 {
	if c := w.clock.Load(); c != 0 {
		return c
	}
	if w.kind == "video" {
		return 90000 // every RTP video codec's
	}
	return 48000 // Opus's, the one audio codec of our sources
}

// rtpContinuity keeps what a sender sends on its SSRC one RTP stream
// whatever its track does between bindings.
//
// The engine mutes by replacing the sender's track with nothing and
// unmutes by putting it back (RTPSender.ReplaceTrack): pion unbinds the
// track, then binds it again on the same SSRC. A track that packetizes per
// binding — every mediadevices track (test source, microphone, camera,
// mixer): each Bind builds a new encoder and rtp.Packetizer with a random
// first sequence number and timestamp — starts a new numbering on the old
// SSRC. To the receiver's SRTP that is one stream jumping by a random
// amount: when the jump lands "behind" (half of the time), the packet
// index it infers is older than the highest seen, so its replay protection
// (pion's default, a 64-packet window) drops every packet as a replay
// until the new numbers catch up with the old — up to 32768 packets,
// minutes of media. The server never gets them, so no subscriber does:
// audio level 0 and *_RECEIVE_*_TOO_LOW while the publisher encodes on.
// A timestamp jump also breaks receivers' jitter and A/V timelines.
//
// So the numbers on the wire are the sender's, not the binding's: a
// binding's first packet follows the sender's last one (sequence number
// + 1) and its timestamp advances by the wall time since, in the codec's
// clock, as a browser's sender does across replaceTrack; later packets of
// the binding keep their distances to its first. The first binding is
// sent as the source numbers it.
type rtpContinuity struct {
	mu      sync.Mutex
	started bool
	seq     uint16    // last sequence number sent
	ts      uint32    // timestamp of the last packet sent
	at      time.Time // when it was sent
}

// rtpShift is what a binding adds to its packets' sequence numbers and
// timestamps (mod 2^16, 2^32).
type rtpShift struct {
	seq uint16
	ts  uint32
}

// rewrite returns h as w's binding sends it on the stream at now: a copy
// (the source's header is its own), renumbered, recorded as the last sent.
func (c *rtpContinuity) rewrite(w *countingWriter, h *rtp.Header, now time.Time) rtp.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !w.mapped {
		w.mapped = true
		if c.started {
			w.shift = rtpShift{
				seq: c.seq + 1 - h.SequenceNumber,
				ts:  c.ts + clockTicks(now.Sub(c.at), w.clockRate()) - h.Timestamp,
			}
		}
	}
	out := *h
	out.SequenceNumber += w.shift.seq
	out.Timestamp += w.shift.ts
	c.started = true
	c.seq, c.ts, c.at = out.SequenceNumber, out.Timestamp, now
	return out
}

// clockTicks is d in a clock of rate ticks per second, mod 2^32 as RTP
// timestamps are, and at least one tick: the new packet is later than the
// last one.
func clockTicks(d time.Duration, rate uint32) uint32 {
	d = max(d, 0)
	secs, frac := uint64(d/time.Second), uint64(d%time.Second)
	t := uint32(secs*uint64(rate) + frac*uint64(rate)/uint64(time.Second))
	return max(t, 1)
}
