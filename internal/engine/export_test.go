package engine

import "github.com/pion/webrtc/v4"

// Callbacks are the pion callbacks the engine registered on one of its
// PeerConnections, for tests that replay what pion calls late: on a
// PeerConnection the engine has already closed or replaced.
type Callbacks struct {
	ICE        func(webrtc.ICEConnectionState)
	Connection func(webrtc.PeerConnectionState) // nil on the subscribe pc
	Candidate  func(*webrtc.ICECandidate)
}

// PCCallbacks returns the callbacks of the current publish and subscribe
// PeerConnections (nil for one the engine has not made), read on the run
// loop; nil, nil once Run has returned.
func (e *Engine) PCCallbacks() (pub, sub *Callbacks) {
	done := make(chan struct{})
	e.post(func() {
		if p := e.pub; p != nil {
			pub = &Callbacks{ICE: p.onICEChange, Connection: p.onConnectionChange, Candidate: p.onLocalCandidate}
		}
		if s := e.sub; s != nil {
			sub = &Callbacks{ICE: s.onICEChange, Candidate: s.onLocalCandidate}
		}
		close(done)
	})
	select {
	case <-done:
	case <-e.done:
	}
	return pub, sub
}

// Sync returns once the run loop has run everything posted to it before
// (the actions queue is FIFO), or Run has returned.
func (e *Engine) Sync() {
	done := make(chan struct{})
	e.post(func() { close(done) })
	select {
	case <-done:
	case <-e.done:
	}
}
