package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

// room is one room: its participants and everything about them is guarded by
// mu.
type room struct {
	s     *Server
	id    string
	appID string // the app (tenant) the room belongs to: rooms are keyed by (appID, id)

	mu    sync.Mutex
	gone  bool // dropped from the server (empty, or the server closed)
	parts map[string]*participant
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return hex.EncodeToString(b[:])
}

// join admits c's join (already verified) into r. retry is true when r was
// dropped meanwhile and the caller must ask for the room again.
func (r *room) join(c *conn, m *signal.Message, claims token.Claims, log *slog.Logger) (p *participant, retry bool) {
	var cl cleanup
	defer cl.run(r.s)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return nil, true
	}
	if old := r.parts[m.UID]; old != nil {
		if m.Session != "" && m.Session == old.session {
			r.resumeLocked(old, c, m, claims, &cl)
			log.Info("resumed", "session", old.session)
			return old, false
		}
		log.Info("replacing participant with a new join", "old_session", old.session)
		r.removeLocked(old, "replaced", &cl)
		old.detach(&signal.Message{Type: signal.TypeBye, Code: signal.ErrReplaced, Reason: "replaced"}, "replaced")
	}
	if len(r.parts) >= MaxParticipants {
		log.Warn("join refused: room full")
		c.send(&signal.Message{Type: signal.TypeJoinResult, Result: token.Internal, Reason: "room is full"})
		c.close("room full")
		if len(r.parts) == 0 {
			cl.empty = append(cl.empty, r)
		}
		return nil, false
	}
	p = &participant{
		r:       r,
		uid:     m.UID,
		appID:   m.AppID,
		session: newSessionID(),
		token:   m.Token,
		rights:  claims.Rights,
	}
	p.setExpiry(claims)
	r.parts[p.uid] = p
	r.s.markJoined(c)
	// join_result goes out first, then anything else about p.
	c.send(r.joinResult(p))
	p.conn.Store(c)
	p.scheduleTokenLocked(&cl)
	r.syncSubs(p)
	log.Info("joined", "session", p.session, "participants", len(r.parts),
		"publish", p.rights.Publish, "subscribe", p.rights.Subscribe)
	return p, false
}

// resumeLocked attaches c to p, whose PeerConnections are kept as they are.
func (r *room) resumeLocked(p *participant, c *conn, m *signal.Message, claims token.Claims, cl *cleanup) {
	if old := p.conn.Swap(nil); old != nil && old != c {
		old.close("session resumed on another connection")
	}
	p.resumeGen++
	if p.resumeTimer != nil {
		p.resumeTimer.Stop()
		p.resumeTimer = nil
	}
	r.s.markJoined(c)
	c.send(r.joinResult(p))
	p.conn.Store(c)
	// An offer sent while the socket was down may have been lost: send the
	// current one again. It carries the candidates gathered so far.
	if sub := p.sub; sub != nil && sub.inFlight {
		if ld := sub.pc.LocalDescription(); ld != nil {
			p.send(&signal.Message{Type: signal.TypeOffer, PC: signal.PCSubscribe, SDP: ld.SDP})
		}
	}
	// The resuming join carries a verified token: it is the current one now.
	r.applyTokenLocked(p, m.Token, claims, cl)
}

func (r *room) joinResult(p *participant) *signal.Message {
	m := &signal.Message{Type: signal.TypeJoinResult, Result: token.OK, Session: p.session}
	uids := make([]string, 0, len(r.parts))
	for uid := range r.parts {
		if uid != p.uid {
			uids = append(uids, uid)
		}
	}
	slices.Sort(uids)
	m.Participants = uids
	for _, uid := range uids {
		if q := r.parts[uid]; q.pub != nil {
			m.Streams = append(m.Streams, cloneStream(q.pub.stream))
		}
	}
	return m
}

func cloneStream(st signal.Stream) signal.Stream {
	st.Tracks = slices.Clone(st.Tracks)
	return st
}

// broadcastLocked sends a copy of m built by mk to everyone in r but except.
func (r *room) broadcastLocked(except *participant, mk func() *signal.Message) {
	for _, q := range r.parts {
		if q != except {
			q.send(mk())
		}
	}
}

// streamEventLocked tells everyone but p about p's stream.
func (r *room) streamEventLocked(p *participant, typ string) {
	st := p.pub.stream
	r.broadcastLocked(p, func() *signal.Message {
		s := cloneStream(st)
		return &signal.Message{Type: typ, Stream: &s}
	})
}

// removeLocked takes p out of r: others see its stream go and stop receiving
// its tracks; its PeerConnections are closed by cl. The caller deals with
// p's socket (see participant.detach).
func (r *room) removeLocked(p *participant, why string, cl *cleanup) {
	if p.removed {
		return
	}
	p.removed = true
	delete(r.parts, p.uid)
	p.stopTimersLocked()
	if r.gone {
		// The server is closing: nobody is left to tell.
		if p.pub != nil {
			cl.closePC(p.pub.pc)
			p.pub = nil
		}
	} else {
		r.unpublishLocked(p, cl)
	}
	if p.sub != nil {
		cl.closePC(p.sub.pc)
		p.sub = nil
	}
	if len(r.parts) == 0 {
		cl.empty = append(cl.empty, r)
	}
	r.s.log.Info("left", "room", r.id, "uid", p.uid, "session", p.session, "reason", why)
}

// socketLost handles the end of c, p's socket, without leave: p is kept for
// ResumeWindow.
func (r *room) socketLost(p *participant, c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.removed || !p.conn.CompareAndSwap(c, nil) {
		return
	}
	p.resumeGen++
	gen := p.resumeGen
	r.s.log.Info("signaling lost; keeping session for resume", "room", r.id, "uid", p.uid,
		"window", r.s.cfg.ResumeWindow)
	p.resumeTimer = r.s.afterFunc(r.s.cfg.ResumeWindow, func() {
		var cl cleanup
		r.mu.Lock()
		if !p.removed && p.resumeGen == gen && p.conn.Load() == nil {
			r.removeLocked(p, "not resumed in time", &cl)
		}
		r.mu.Unlock()
		cl.run(r.s)
	})
}

// handle runs one message of a joined participant's socket.
func (r *room) handle(p *participant, c *conn, m *signal.Message) {
	var cl cleanup
	r.mu.Lock()
	if p.removed || p.conn.Load() != c {
		// A socket replaced by a resume, or a participant already gone.
		r.mu.Unlock()
		return
	}
	r.handleLocked(p, c, m, &cl)
	r.mu.Unlock()
	cl.run(r.s)
}

func (r *room) handleLocked(p *participant, c *conn, m *signal.Message, cl *cleanup) {
	switch m.Type {
	case signal.TypeJoin:
		c.sendError(signal.ErrConflict, "already joined")
	case signal.TypePing:
		c.send(&signal.Message{Type: signal.TypePong, TS: m.TS})
	case signal.TypeOffer:
		if m.PC != signal.PCPublish {
			c.sendError(signal.ErrBadMessage, "the server makes the offers on the subscribe pc")
			return
		}
		r.publishLocked(p, m, cl)
	case signal.TypeAnswer:
		if m.PC != signal.PCSubscribe {
			c.sendError(signal.ErrBadMessage, "the server answers on the publish pc")
			return
		}
		r.subscribeAnswerLocked(p, m)
	case signal.TypeCandidate:
		p.addCandidateLocked(m.PC, *m.Candidate)
	case signal.TypeMute:
		r.muteLocked(p, m)
	case signal.TypeSubscribe:
		if !p.rights.Subscribe {
			c.sendError(signal.ErrForbidden, "token has no subscribe right")
			return
		}
		p.filter = nil
		if len(m.UIDs) > 0 {
			p.filter = make(map[string]bool, len(m.UIDs))
			for _, u := range m.UIDs {
				p.filter[u] = true
			}
		}
		r.syncSubs(p)
	case signal.TypeRestartICE:
		if p.sub == nil {
			c.sendError(signal.ErrBadMessage, "no subscribe pc to restart")
			return
		}
		r.s.log.Info("ice restart requested", "room", r.id, "uid", p.uid)
		p.sub.restartICE = true
		r.negotiateLocked(p)
	case signal.TypeUpdateToken:
		r.updateTokenLocked(p, m.Token, cl)
	case signal.TypeUnpublish:
		r.unpublishLocked(p, cl)
	case signal.TypeLeave:
		r.removeLocked(p, "leave", cl)
		p.detach(nil, "leave")
	default:
		c.sendError(signal.ErrBadMessage, fmt.Sprintf("%s is not sent by clients", m.Type))
	}
}

// muteLocked marks a track of p's stream muted or not and tells the others.
func (r *room) muteLocked(p *participant, m *signal.Message) {
	var t *signal.Track
	if p.pub != nil {
		t = p.pub.stream.Track(m.Kind)
	}
	if t == nil {
		p.send(&signal.Message{Type: signal.TypeError, Code: signal.ErrBadMessage,
			Reason: "no published " + m.Kind + " track to mute"})
		return
	}
	if t.Muted == m.Muted {
		return
	}
	t.Muted = m.Muted
	r.streamEventLocked(p, signal.TypeStreamUpdate)
}
