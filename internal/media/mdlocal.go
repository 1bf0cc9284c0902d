package media

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/pion/mediadevices"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// mdLocal is the webrtc.TrackLocal we hand out for a mediadevices track.
// It fixes two things the raw track gets wrong when used with pion v4:
//   - StreamID returns a fresh UUID on every call. pion calls it for each
//     SDP it writes and compares it with the msid it wrote last time, so
//     every check sees "negotiation needed", and the cname differs between
//     the SSRC lines of one description.
//   - Its packets carry the encoder's built-in payload type (VP8 96, H.264
//     125, Opus 111) instead of the negotiated one, which is wrong whenever
//     the remote side made the offer with its own numbering (pion's default
//     table has 125 as an RTX type).
type mdLocal struct {
	track    mediadevices.Track
	id       string
	streamID string
	mime     string
	rtcp     rtcpDrainer
	// stopped reports that the track's source has ended or was closed, so
	// that mediadevices' sending goroutine returns by itself (nil: never).
	stopped func() bool
}

func (l *mdLocal) ID() string                { return l.id }
func (l *mdLocal) RID() string               { return "" }
func (l *mdLocal) StreamID() string          { return l.streamID }
func (l *mdLocal) Kind() webrtc.RTPCodecType { return l.track.Kind() }

func (l *mdLocal) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	// mediadevices binds the first negotiated codec whose MIME type one of
	// its encoders produces; we have one encoder per track, so that is the
	// first codec with our MIME type.
	var pt webrtc.PayloadType
	found := false
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, l.mime) {
			pt, found = c.PayloadType, true
			break
		}
	}
	if !found {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("bind %s track: %s not negotiated: %w", l.id, l.mime, webrtc.ErrUnsupportedCodec)
	}
	w := &ptWriter{w: ctx.WriteStream()}
	w.pt.Store(uint32(pt))
	c, err := l.track.Bind(&ptContext{TrackLocalContext: ctx, w: w})
	if err != nil {
		return c, fmt.Errorf("bind %s track: %w", l.id, err)
	}
	w.pt.Store(uint32(c.PayloadType)) // what mediadevices chose, should it differ
	if l.track.Kind() == webrtc.RTPCodecTypeAudio {
		l.rtcp.drain(ctx) // mediadevices reads RTCP only for video encoders
	}
	return c, nil
}

// Unbind gets pion's context, not our wrapper: mediadevices keys bindings
// by ctx.ID(), which the wrapper passes through.
//
// Not once the source has stopped: mediadevices' unbind takes the binding
// out of its table, then sends on a channel that only the sending goroutine
// receives from or closes — and a goroutine ending on the source's EOF at
// that moment finds its binding gone and does neither, so Unbind blocks
// forever (seen in CI: a test source closed just before its PeerConnection).
// A goroutine whose source stopped ends by itself and unbinds itself.
func (l *mdLocal) Unbind(ctx webrtc.TrackLocalContext) error {
	if l.stopped != nil && l.stopped() {
		return nil
	}
	return l.track.Unbind(ctx)
}

type ptContext struct {
	webrtc.TrackLocalContext
	w *ptWriter
}

func (c *ptContext) WriteStream() webrtc.TrackLocalWriter { return c.w }

// ptWriter rewrites the payload type of every packet to the negotiated one.
type ptWriter struct {
	w  webrtc.TrackLocalWriter
	pt atomic.Uint32
}

func (w *ptWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	h.PayloadType = uint8(w.pt.Load())
	return w.w.WriteRTP(h, payload)
}

func (w *ptWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, fmt.Errorf("rewrite payload type: %w", err)
	}
	return w.WriteRTP(&p.Header, p.Payload)
}
