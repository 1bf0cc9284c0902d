package engine

import (
	"fmt"
	"sync/atomic"

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
type sendTrack struct {
	webrtc.TrackLocal
	c *sendCounters
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
	w := &countingWriter{w: ctx.WriteStream(), c: t.c}
	if t.c.kind == "audio" {
		w.meter = newOpusMeter(&t.c.level)
	}
	return t.TrackLocal.Bind(&countingContext{TrackLocalContext: ctx, w: w})
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
}

func (w *countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	video := w.c.kind == "video"
	if video && h.Marker {
		w.c.encoded.Add(1)
	}
	if w.meter != nil {
		w.meter.feed(payload)
	}
	n, err := w.w.WriteRTP(h, payload)
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
