package media

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// mdMTU is the RTP packet size mediadevices' own Bind packetizes to.
const mdMTU = 1200

// mdLocal is the webrtc.TrackLocal we hand out for a mediadevices track.
//
// It binds the track itself (the track's encoder through NewRTPReader, a
// sending goroutine of its own, the sender's RTCP) instead of calling the
// track's Bind and Unbind, because these break pion's TrackLocal contract
// (Unbind returns, and nothing is written after it):
//   - mediadevices' Unbind takes the binding out of the track's table, then
//     sends on an unbuffered channel that only the binding's sending
//     goroutine receives from, at the top of its loop, or closes, on its
//     way out, if it still finds its binding in the table. A goroutine that
//     leaves for any other reason while an Unbind is under way (its source
//     ended or failed: a read error; or its sender stopped: pion's
//     RTPSender.Stop closes the sender before it unbinds, so a write fails
//     with io.ErrClosedPipe when the connection never came up) neither
//     receives nor closes, and Unbind blocks forever. So did
//     PeerConnection.Close, and with it the process (mix-audio with a file
//     it could not decode, which fails before the connection is up).
//   - Its Bind registers the binding before it knows it can encode: a Bind
//     that fails leaves a binding no goroutine serves, and an Unbind of it
//     blocks the same way.
//   - A single write error ends the goroutine and marks the whole track
//     failed, so it can never be bound again.
//   - StreamID returns a fresh UUID on every call. pion calls it for each
//     SDP it writes and compares it with the msid it wrote last time, so
//     every check sees "negotiation needed", and the cname differs between
//     the SSRC lines of one description.
//   - Its packets carry the encoder's built-in payload type (VP8 96, H.264
//     125, Opus 111) instead of the negotiated one, which is wrong whenever
//     the remote side made the offer with its own numbering (pion's default
//     table has 125 as an RTX type).
//
// Here Unbind never waits for the sending goroutine: it tells it to stop
// and shuts the binding's writer, under the lock every write holds, so
// that no packet is written once it returns. The goroutine closes its
// encoder after its current read (at most one frame: sources pace their
// reads, and Close ends a read). Write errors drop the packet: they come
// from a sender that is stopping (pion unbinds it next) or a transport that
// is down for a while (ICE restart), neither a reason to end the track.
type mdLocal struct {
	track    mediadevices.Track
	id       string
	streamID string
	mime     string
	// stopped reports that the track's source returns no more media (it
	// ended, failed or was closed): Bind refuses it at once (nil: never).
	stopped func() bool

	mu       sync.Mutex
	bindings map[string]*mdBinding // by TrackLocalContext.ID, one per sender
	rtcp     map[string]bool       // senders whose RTCP a goroutine reads
}

// mdBinding is one sender's binding: its encoder and sending goroutine.
type mdBinding struct {
	r    mediadevices.RTPReadCloser
	w    webrtc.TrackLocalWriter
	pt   uint8         // negotiated payload type
	stop chan struct{} // closed by Unbind
	done chan struct{} // closed when the sending goroutine has returned
	// keyFrame asks the sending goroutine for a key frame before its next
	// read: the encoder is only ever touched from that goroutine (it
	// closes the encoder; openh264's ForceKeyFrame writes to the C
	// encoder unlocked, and to freed memory after Close).
	keyFrame atomic.Bool

	mu  sync.Mutex // held by every write and by shut
	off bool       // unbound, or the goroutine left: nothing is written
}

func (l *mdLocal) ID() string                { return l.id }
func (l *mdLocal) RID() string               { return "" }
func (l *mdLocal) StreamID() string          { return l.streamID }
func (l *mdLocal) Kind() webrtc.RTPCodecType { return l.track.Kind() }

// Bind starts encoding for ctx's sender. Our one encoder per track
// produces one MIME type: the first negotiated codec with that type is
// the one bound, as mediadevices' Bind picks it.
func (l *mdLocal) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var c webrtc.RTPCodecParameters
	found := false
	for _, p := range ctx.CodecParameters() {
		if strings.EqualFold(p.MimeType, l.mime) {
			c, found = p, true
			break
		}
	}
	if !found {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("bind %s track: %s not negotiated: %w", l.id, l.mime, webrtc.ErrUnsupportedCodec)
	}
	if l.stopped != nil && l.stopped() {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("bind %s track: %w", l.id, ErrClosed)
	}
	// Reads the source's first frame (mediadevices probes its format).
	r, err := l.track.NewRTPReader(c.MimeType, uint32(ctx.SSRC()), mdMTU)
	if err != nil {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("bind %s track: %w", l.id, err)
	}
	b := &mdBinding{
		r: r, w: ctx.WriteStream(), pt: uint8(c.PayloadType),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	l.mu.Lock()
	old := l.bindings[ctx.ID()]
	if l.bindings == nil {
		l.bindings = map[string]*mdBinding{}
	}
	l.bindings[ctx.ID()] = b
	l.mu.Unlock()
	old.shut() // a second Bind without Unbind: pion does not, but be safe
	go b.send()
	l.readRTCP(ctx)
	return c, nil
}

// Unbind stops ctx's binding. It returns without waiting for the sending
// goroutine (see mdLocal), and does nothing for a binding that is not
// there: never bound, already unbound, or its Bind failed.
func (l *mdLocal) Unbind(ctx webrtc.TrackLocalContext) error {
	l.mu.Lock()
	b := l.bindings[ctx.ID()]
	delete(l.bindings, ctx.ID())
	l.mu.Unlock()
	b.shut()
	return nil
}

// shut ends the binding: the goroutine stops at its next turn, and no
// write gets through from now on. A nil binding is a no-op.
func (b *mdBinding) shut() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.off {
		b.off = true
		close(b.stop)
	}
}

// send is the sending goroutine: it encodes frame after frame until
// Unbind or the end of the source (a read error: NewRTPReader's reader
// closes itself and reports the error to the track).
func (b *mdBinding) send() {
	defer close(b.done)
	for {
		select {
		case <-b.stop:
			_ = b.r.Close() // what the encoder says on its way out is of no use
			return
		default:
		}
		if b.keyFrame.Swap(false) {
			if kf, ok := b.r.Controller().(codec.KeyFrameController); ok {
				_ = kf.ForceKeyFrame() // best effort, as mediadevices does
			}
		}
		// The release function has been called already (mediadevices'
		// own sending goroutine drops it too).
		pkts, _, err := b.r.Read()
		if err != nil {
			b.shut()
			return
		}
		b.write(pkts)
	}
}

func (b *mdBinding) write(pkts []*rtp.Packet) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.off {
		return
	}
	for _, p := range pkts {
		p.Header.PayloadType = b.pt
		// An error drops the packet (see mdLocal).
		_, _ = b.w.WriteRTP(&p.Header, p.Payload)
	}
}

// readRTCP reads the sender's RTCP, so that pion's interceptors see it
// (NACKs answered, reports), and turns PLI and FIR into key frames of the
// sender's current binding. One goroutine per sender: it ends when the
// sender stops (RemoveTrack, PeerConnection.Close), which fails its read;
// an Unbind cannot end it (it sits in Read), so a sender that unbinds and
// binds again (the engine's mute) keeps its one reader.
func (l *mdLocal) readRTCP(ctx webrtc.TrackLocalContext) {
	id := ctx.ID()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rtcp[id] {
		return
	}
	if l.rtcp == nil {
		l.rtcp = map[string]bool{}
	}
	l.rtcp[id] = true
	r := ctx.RTCPReader()
	video := l.track.Kind() == webrtc.RTPCodecTypeVideo
	go func() {
		defer func() {
			l.mu.Lock()
			delete(l.rtcp, id)
			l.mu.Unlock()
		}()
		buf := make([]byte, 1500)
		for {
			n, _, err := r.Read(buf, interceptor.Attributes{})
			if err != nil {
				return
			}
			if video && wantsKeyFrame(buf[:n]) {
				l.mu.Lock()
				b := l.bindings[id]
				l.mu.Unlock()
				if b != nil {
					b.keyFrame.Store(true)
				}
			}
		}
	}()
}

// rtcpReaders counts the senders whose RTCP is being read.
func (l *mdLocal) rtcpReaders() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.rtcp)
}

// wantsKeyFrame reports a PLI or FIR in a compound RTCP packet.
func wantsKeyFrame(b []byte) bool {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return false
	}
	for _, p := range pkts {
		switch p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			return true
		}
	}
	return false
}
