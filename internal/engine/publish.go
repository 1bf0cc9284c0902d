package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/media"
	"github.com/roomctl/roomctl/internal/pionlog"
)

// newAPI builds a pion API for one PeerConnection: the codecs register
// fills in, the default interceptors (NACK, RTCP reports, TWCC, and stats
// that the engine reads), and ICE that works on a machine whose only
// network is loopback.
//
// Without withStats there is no stats interceptor (Config.CountOnly): the
// rtpStats returned then never has a Getter.
func newAPI(register func(*webrtc.MediaEngine) error, withStats bool, addrs iceopt.Config, log *slog.Logger) (*webrtc.API, *rtpStats, error) {
	me := &webrtc.MediaEngine{}
	if err := register(me); err != nil {
		return nil, nil, fmt.Errorf("register codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	st, err := registerInterceptors(me, ir, withStats)
	if err != nil {
		return nil, nil, fmt.Errorf("register interceptors: %w", err)
	}
	se := webrtc.SettingEngine{LoggerFactory: pionlog.Factory(log)}
	// UDP4, loopback candidates, no mDNS, and the operator's interface and
	// address choice: iceopt's, shared with the server.
	addrs.Apply(&se)
	// Notice a media cut within seconds, not pion's default 5 s / 25 s.
	se.SetICETimeouts(iceDisconnectedAfter, iceFailedAfter, iceKeepalive)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), st, nil
}

// candidates holds remote ICE candidates until the remote description is set.
type candidates struct {
	pending   []webrtc.ICECandidateInit
	remoteSet bool
}

func (c *candidates) add(pc *webrtc.PeerConnection, ci webrtc.ICECandidateInit) error {
	if !c.remoteSet {
		c.pending = append(c.pending, ci)
		return nil
	}
	return pc.AddICECandidate(ci)
}

func (c *candidates) flush(pc *webrtc.PeerConnection) error {
	c.remoteSet = true
	var errs []error
	for _, ci := range c.pending {
		errs = append(errs, pc.AddICECandidate(ci))
	}
	c.pending = nil
	return errors.Join(errs...)
}

// publisher is the participant's sending PeerConnection. Its methods run
// on the engine's run loop, except the pion callbacks, which post there.
type publisher struct {
	e       *Engine
	pc      *webrtc.PeerConnection
	src     media.Source
	tracks  []media.Track // Local is the sendTrack wrapping the source's
	sent    []*sendCounters
	senders []*webrtc.RTPSender
	stats   *rtpStats
	loss    lossMeter // owned by the run loop
	cands   candidates
	started bool
	// answered is set once the first answer is applied: before it a sender
	// must keep its track (see setMuted).
	answered bool
	ice      iceDown
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func newPublisher(ctx context.Context, e *Engine, src media.Source) (*publisher, error) {
	api, st, err := newAPI(src.RegisterCodecs, true, e.cfg.ICE, e.log)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new publish peer connection: %w", err)
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &publisher{e: e, pc: pc, src: src, stats: st, ctx: pctx, cancel: cancel}
	var infos []Track
	for _, t := range src.Tracks() {
		if !e.publishing(t) {
			// Unpublished (Unpublish), or ended by itself before this
			// session (a device unplugged, a file run out): mediadevices
			// keeps the error of a track's source and refuses to bind it
			// again, which would fail the whole answer and the tracks
			// still alive with it.
			continue
		}
		// Counted and metered on the way out (quality telemetry); mute
		// replaces the sender's track with this same wrapper.
		w := newSendTrack(t.Local, t.Info.Kind)
		t.Local = w
		s, err := pc.AddTrack(w)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("add %s track: %w", t.Info.Kind, err)
		}
		p.tracks = append(p.tracks, t)
		p.sent = append(p.sent, w.c)
		p.senders = append(p.senders, s)
		infos = append(infos, Track{
			ID: t.Local.ID(), Kind: t.Info.Kind, Codec: t.Info.Codec, Width: t.Info.Width, Height: t.Info.Height,
			FrameRate: t.Info.FrameRate, SampleRate: t.Info.SampleRate, Channel: t.Info.Channel,
			Bitrate: t.Info.Bitrate,
		})
		// No RTCP reading here: mediadevices tracks read their sender's
		// RTCP themselves (PLI → keyframe) and media's file tracks do too;
		// a second reader would steal packets (see media.Track.Local).
		p.watchEnd(t)
	}
	// pion's callbacks (ice.go): what they queue for the run loop is
	// dropped once p is closed or replaced.
	pc.OnICECandidate(p.onLocalCandidate)
	pc.OnICEConnectionStateChange(p.onICEChange)
	pc.OnConnectionStateChange(p.onConnectionChange)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		p.close()
		return nil, fmt.Errorf("create publish offer: %w", err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		p.close()
		return nil, fmt.Errorf("set publish offer: %w", err)
	}
	err = e.request("publish offer", func(ctx context.Context, s Session) error { return s.PublishOffer(ctx, offer.SDP, infos) })
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// ended reports whether t's source has ended by itself.
func ended(t media.Track) bool {
	select {
	case <-t.Ended: // a nil channel never is
		return true
	default:
		return false
	}
}

// watchEnd reports a track whose source ended by itself (a file without
// --loop), as the SDK reports a capture track that ended.
func (p *publisher) watchEnd(t media.Track) {
	if t.Ended == nil {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-t.Ended:
		case <-p.ctx.Done():
			return
		}
		// A publisher made after a new session sees the same channel
		// closed: the track ended once.
		if _, told := p.e.endsTold.LoadOrStore(t.Ended, true); told {
			return
		}
		name := event.AudioTrackEnd
		if t.Info.Kind == "video" {
			name = event.VideoTrackEnd
		}
		p.e.ev.Emit(name, p.e.uidRoom())
	}()
}

func (p *publisher) start() {
	if p.started {
		return
	}
	p.started = true
	if err := p.src.Start(p.ctx); err != nil {
		p.e.log.Error("start media source", "err", err)
	}
}

func (p *publisher) onAnswer(sdp string) {
	err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
	if err != nil {
		p.e.log.Error("set publish answer", "err", err)
		return
	}
	if err := p.cands.flush(p.pc); err != nil {
		p.e.log.Warn("add publish candidates", "err", err)
	}
	if !p.answered {
		// Muted before this publication was answered (a mute during the
		// join, or the state carried into a new session): applied now,
		// since pion cannot start a sender without its track.
		p.answered = true
		for _, kind := range []string{"audio", "video"} {
			if p.e.isMuted(kind) {
				p.setMuted(kind, true)
			}
		}
	}
}

func (p *publisher) addCandidate(ci webrtc.ICECandidateInit) {
	if err := p.cands.add(p.pc, ci); err != nil {
		p.e.log.Warn("add publish candidate", "err", err)
	}
}

// setMuted stops sending a kind while muted: the sender's track is
// replaced by nothing, and put back on unmute. A sender already in the
// asked state is left alone: a ReplaceTrack unbinds and binds the track
// again, which restarts a mediadevices track's encoder (and its RTP
// numbering, see rtpContinuity) for nothing.
func (p *publisher) setMuted(kind string, muted bool) {
	if !p.answered {
		return // onAnswer applies the state: RTPSender.Send refuses a sender without its track
	}
	for i, t := range p.tracks {
		if t.Info.Kind != kind || (!muted && ended(t)) {
			continue // an ended track cannot be bound again (see newPublisher)
		}
		if (p.senders[i].Track() == nil) == muted {
			continue
		}
		var tr webrtc.TrackLocal
		if !muted {
			tr = t.Local
		}
		if err := p.senders[i].ReplaceTrack(tr); err != nil {
			p.e.log.Warn("mute", "kind", kind, "err", err)
		}
	}
}

func (p *publisher) close() {
	p.ice.closed = true
	p.ice.stop()
	p.cancel()
	if err := p.pc.Close(); err != nil {
		p.e.log.Debug("close publish connection", "err", err)
	}
	p.wg.Wait()
}
