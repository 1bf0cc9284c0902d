package engine

import (
	"context"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/event"
)

// Media reconnect. When a PeerConnection's ICE goes disconnected (no
// traffic for iceDisconnectedAfter) or failed, the engine prints
// stream_reconnect_start and restarts ICE: the publish pc with an
// ICE-restart offer of its own, the subscribe pc by asking the server for
// one (restart_ice). It tries again every iceRetry until ICE is back;
// stream_reconnect_end follows when media flows again (publish: ICE
// connected; subscribe: the first RTP packet of each affected stream).
const (
	iceDisconnectedAfter = 3 * time.Second
	iceFailedAfter       = 10 * time.Second
	iceKeepalive         = time.Second
	// iceRestartAfter: a short disconnection often heals by itself
	// (consent checks resume); restart only if it lasts.
	iceRestartAfter = time.Second
	iceRetry        = 4 * time.Second
)

// iceDown is one PeerConnection's media-reconnect state. Owned by the run loop.
type iceDown struct {
	down   bool
	timer  *time.Timer
	closed bool
}

// schedule runs restart on the run loop after d, and again every iceRetry
// while the connection stays down.
func (d *iceDown) schedule(e *Engine, after time.Duration, restart func()) {
	if d.timer != nil || d.closed {
		return
	}
	d.timer = time.AfterFunc(after, func() {
		e.post(func() {
			d.timer = nil
			if !d.down || d.closed {
				return
			}
			restart()
			d.schedule(e, iceRetry, restart)
		})
	})
}

func (d *iceDown) stop() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

func isDown(st webrtc.ICEConnectionState) bool {
	return st == webrtc.ICEConnectionStateDisconnected || st == webrtc.ICEConnectionStateFailed
}

func isUp(st webrtc.ICEConnectionState) bool {
	return st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted
}

func restartDelay(st webrtc.ICEConnectionState) time.Duration {
	if st == webrtc.ICEConnectionStateFailed {
		return 0
	}
	return iceRestartAfter
}

// onICE runs on the run loop for the publish pc's ICE state.
func (p *publisher) onICE(st webrtc.ICEConnectionState) {
	e := p.e
	switch {
	case isDown(st):
		if !p.ice.down {
			p.ice.down = true
			e.log.Warn("publish media transport down; reconnecting", "ice", st.String())
			e.ev.Emit(event.StreamReconnectStart, e.uidRoom())
		}
		p.ice.schedule(e, restartDelay(st), p.restartICE)
	case isUp(st) && p.ice.down:
		p.ice.down = false
		p.ice.stop()
		e.log.Info("publish media transport back")
		e.ev.Emit(event.StreamReconnectEnd, e.uidRoom())
	}
}

// restartICE sends an ICE-restart offer, or the pending offer again when
// its answer has not come (it may have been lost with the signaling).
func (p *publisher) restartICE() {
	if p.pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
		return
	}
	if p.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		if ld := p.pc.LocalDescription(); ld != nil {
			p.sendOffer(ld.SDP)
		}
		return
	}
	offer, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		p.e.log.Warn("ice restart offer", "err", err)
		return
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		p.e.log.Warn("ice restart offer", "err", err)
		return
	}
	p.cands.remoteSet = false // the server's new candidates wait for its answer
	p.e.log.Info("ice restart", "pc", PCPublish)
	p.sendOffer(offer.SDP)
}

// sendOffer sends a renegotiating offer: the tracks stay as declared.
func (p *publisher) sendOffer(sdp string) {
	_ = p.e.request("publish offer", func(ctx context.Context, s Session) error { return s.PublishOffer(ctx, sdp, nil) })
}

// onICE runs on the run loop for the subscribe pc's ICE state.
func (s *subscriber) onICE(st webrtc.ICEConnectionState) {
	e := s.e
	switch {
	case isDown(st):
		if !s.ice.down {
			s.ice.down = true
			e.log.Warn("subscribe media transport down; reconnecting", "ice", st.String())
			s.mu.Lock()
			s.awaiting = map[string]bool{}
			for uid, r := range e.streams {
				if r.firstAudio || r.firstVideo { // media was flowing from it
					s.awaiting[uid] = false
					e.ev.Emit(event.StreamReconnectStart, event.UIDRoom{UID: uid, RoomID: e.cfg.RoomID})
				}
			}
			s.mu.Unlock()
		}
		s.ice.schedule(e, restartDelay(st), s.restartICE)
	case isUp(st) && s.ice.down:
		s.ice.down = false
		s.ice.stop()
		e.log.Info("subscribe media transport back")
		s.mu.Lock()
		for uid := range s.awaiting {
			s.awaiting[uid] = true // end printed at its next packet
		}
		s.mu.Unlock()
	}
}

func (s *subscriber) restartICE() {
	s.e.log.Info("ice restart", "pc", PCSubscribe)
	_ = s.e.request("restart ice", func(ctx context.Context, ss Session) error { return ss.RestartSubscribeICE(ctx) })
}

// mediaBack reports, once, that uid's media flows again after a reconnect.
func (s *subscriber) mediaBack(uid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.awaiting[uid] {
		delete(s.awaiting, uid)
		return true
	}
	return false
}

// The pion callbacks of the PeerConnections. pion calls them on its own
// goroutines, and may call them late: a state change queued on the run loop
// before the engine closed or replaced the PeerConnection runs after it
// (the run loop was busy with the new session), and pion reports the ICE
// state of a transport it is tearing down. Nothing of a PeerConnection
// that is no longer the engine's may print an event, start a source or
// send a request: each callback checks live on the run loop (or, for
// candidates, which are sent at once, that the PeerConnection is not
// closing).

// live reports whether p is still the engine's publisher. On the run loop.
func (p *publisher) live() bool { return !p.ice.closed && p.e.pub == p }

// live reports whether s is still the engine's subscriber. On the run loop.
func (s *subscriber) live() bool { return !s.ice.closed && s.e.sub == s }

// postLive runs f on the run loop if p is still the engine's publisher then.
func (p *publisher) postLive(f func()) {
	p.e.post(func() {
		if p.live() {
			f()
		}
	})
}

// postLive runs f on the run loop if s is still the engine's subscriber then.
func (s *subscriber) postLive(f func()) {
	s.e.post(func() {
		if s.live() {
			f()
		}
	})
}

func (p *publisher) onLocalCandidate(c *webrtc.ICECandidate) {
	if c == nil || p.ctx.Err() != nil { // closing: p.close cancels before pc.Close
		return
	}
	ci := c.ToJSON()
	_ = p.e.request("publish candidate", func(ctx context.Context, s Session) error { return s.Candidate(ctx, PCPublish, ci) })
}

func (p *publisher) onICEChange(st webrtc.ICEConnectionState) {
	p.postLive(func() { p.onICE(st) })
}

func (p *publisher) onConnectionChange(st webrtc.PeerConnectionState) {
	p.e.log.Debug("publish connection", "state", st.String())
	if st == webrtc.PeerConnectionStateConnected {
		p.postLive(p.start)
	}
}

func (s *subscriber) onLocalCandidate(c *webrtc.ICECandidate) {
	if c == nil || s.isClosing() {
		return
	}
	ci := c.ToJSON()
	_ = s.e.request("subscribe candidate", func(ctx context.Context, ss Session) error { return ss.Candidate(ctx, PCSubscribe, ci) })
}

func (s *subscriber) onICEChange(st webrtc.ICEConnectionState) {
	s.postLive(func() { s.onICE(st) })
}

// isClosing reports whether close has begun. Any goroutine.
func (s *subscriber) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing != ""
}
