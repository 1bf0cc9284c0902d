package engine

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A sender's packets are one RTP stream across an unbind and a bind of its
// track (mute, unmute), however the track numbers a new binding: the
// sequence number goes on by one, the timestamp by the time in between;
// within a binding the source's distances are kept; the source's own
// headers are left alone.
func TestSendTrackContinuity(t *testing.T) {
	inner := &numberingTrack{}
	st := newSendTrack(inner, "audio")
	ctx := &wireContext{}

	if _, err := st.Bind(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		inner.send(t, uint16(100+i), uint32(1000+960*i))
	}
	if err := st.Unbind(ctx); err != nil {
		t.Fatal(err)
	}
	unbound := time.Now()
	if _, err := st.Bind(ctx); err != nil {
		t.Fatal(err)
	}
	// The new binding starts far behind, as a mediadevices track may.
	inner.send(t, 60000, 7)
	inner.send(t, 60001, 7+960)
	inner.send(t, 60003, 7+3*960) // one lost at the source: kept as a gap
	gap := time.Since(unbound)

	want := []uint16{100, 101, 102, 103, 104, 105, 106, 108}
	if len(ctx.sent) != len(want) {
		t.Fatalf("%d packets sent, want %d", len(ctx.sent), len(want))
	}
	for i, h := range ctx.sent {
		if h.SequenceNumber != want[i] {
			t.Errorf("packet %d: sequence number %d, want %d", i, h.SequenceNumber, want[i])
		}
	}
	for i := range 5 {
		if got := ctx.sent[i].Timestamp; got != uint32(1000+960*i) {
			t.Errorf("first binding, packet %d: timestamp %d, want the source's", i, got)
		}
	}
	last, first := ctx.sent[4].Timestamp, ctx.sent[5].Timestamp
	if d := first - last; d < 1 || d > clockTicks(gap, 48000)+1 {
		t.Errorf("timestamp after the rebinding advanced by %d, want 1 to %d (%s)", d, clockTicks(gap, 48000)+1, gap)
	}
	if ctx.sent[6].Timestamp-first != 960 || ctx.sent[7].Timestamp-first != 3*960 {
		t.Errorf("timestamps within the binding not kept: %d, %d, %d", first, ctx.sent[6].Timestamp, ctx.sent[7].Timestamp)
	}
	if h := inner.last; h.SequenceNumber != 60003 || h.Timestamp != 7+3*960 {
		t.Errorf("the source's header was changed: %d %d", h.SequenceNumber, h.Timestamp)
	}
}

func TestClockTicks(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		rate uint32
		want uint32
	}{
		{0, 48000, 1},
		{-time.Second, 48000, 1},
		{20 * time.Millisecond, 48000, 960},
		{time.Second, 90000, 90000},
		{3*time.Second + 500*time.Millisecond, 90000, 315000},
		{24 * time.Hour, 90000, uint32(uint64(24*3600*90000) % (1 << 32))},
	} {
		if got := clockTicks(c.d, c.rate); got != c.want {
			t.Errorf("clockTicks(%s, %d) = %d, want %d", c.d, c.rate, got, c.want)
		}
	}
}

// numberingTrack is a TrackLocal that writes what the test asks to its
// current binding.
type numberingTrack struct {
	w    webrtc.TrackLocalWriter
	last rtp.Header
}

func (n *numberingTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	n.w = ctx.WriteStream()
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		PayloadType:        111,
	}, nil
}

func (n *numberingTrack) Unbind(webrtc.TrackLocalContext) error { n.w = nil; return nil }
func (n *numberingTrack) ID() string                            { return "audio" }
func (n *numberingTrack) RID() string                           { return "" }
func (n *numberingTrack) StreamID() string                      { return "s" }
func (n *numberingTrack) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeAudio }

func (n *numberingTrack) send(t *testing.T, seq uint16, ts uint32) {
	t.Helper()
	n.last = rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: ts}
	if _, err := n.w.WriteRTP(&n.last, []byte{0xfc, 0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
}

// wireContext is a sender's TrackLocalContext that keeps what is written.
type wireContext struct {
	sent []rtp.Header
}

func (c *wireContext) CodecParameters() []webrtc.RTPCodecParameters           { return nil }
func (c *wireContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (c *wireContext) SSRC() webrtc.SSRC                                      { return 1234 }
func (c *wireContext) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (c *wireContext) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (c *wireContext) WriteStream() webrtc.TrackLocalWriter                   { return c }
func (c *wireContext) ID() string                                             { return "sender" }
func (c *wireContext) RTCPReader() interceptor.RTCPReader                     { return nil }

func (c *wireContext) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	c.sent = append(c.sent, *h)
	return len(payload), nil
}

func (c *wireContext) Write(b []byte) (int, error) { return len(b), nil }
