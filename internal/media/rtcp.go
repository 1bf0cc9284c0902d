package media

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Every track we hand out reads its own RTCP, so the engine must not call
// RTPSender.Read/ReadRTCP on their senders: two readers of one sender split
// the packets between them, and a PLI read by the wrong one never reaches
// the encoder.
//
// pion's interceptors (NACK responder, reports, TWCC) see a sender's RTCP
// only while someone reads it; unread, NACKs go unanswered and the packets
// pile up in the SRTP buffer. mdLocal (mediadevices tracks) reads its own
// senders' RTCP for every kind and turns PLI/FIR into key frames;
// TrackLocalStaticSample never reads it, so rtcpDrainer does for the
// tracks built on it (sampleLocal).
//
// A drain goroutine belongs to the sender: it ends when the sender stops
// (RemoveTrack, PeerConnection.Close), which closes the stream it reads.
// Unbind cannot stop it (it sits in Read), so a sender that unbinds and
// binds again (ReplaceTrack(nil) then back, the engine's mute) keeps its
// one drainer rather than gaining another per cycle.
type rtcpDrainer struct {
	mu     sync.Mutex
	active map[string]bool // by TrackLocalContext.ID, one per sender
}

func (d *rtcpDrainer) drain(ctx webrtc.TrackLocalContext) {
	id := ctx.ID()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.active[id] {
		return
	}
	if d.active == nil {
		d.active = map[string]bool{}
	}
	d.active[id] = true
	r := ctx.RTCPReader()
	go func() {
		defer func() {
			d.mu.Lock()
			delete(d.active, id)
			d.mu.Unlock()
		}()
		buf := make([]byte, 1500)
		for {
			if _, _, err := r.Read(buf, interceptor.Attributes{}); err != nil {
				return
			}
		}
	}()
}

func (d *rtcpDrainer) draining() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.active)
}

// sampleLocal is a TrackLocalStaticSample that reads its own RTCP.
type sampleLocal struct {
	*webrtc.TrackLocalStaticSample
	rtcp rtcpDrainer
}

func (l *sampleLocal) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	c, err := l.TrackLocalStaticSample.Bind(ctx)
	if err != nil {
		return c, err
	}
	l.rtcp.drain(ctx)
	return c, nil
}
