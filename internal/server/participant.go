package server

import (
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

// maxPendingCandidates bounds the remote candidates kept per PeerConnection
// until its remote description is set.
const maxPendingCandidates = 64

// participant is one joined user. Everything but conn is guarded by r.mu.
type participant struct {
	r       *room
	uid     string
	appID   string
	session string

	// conn is the current socket, nil while it is down. It is written under
	// r.mu and read without it, by pion callbacks that send candidates.
	conn atomic.Pointer[conn]

	token  string
	exp    time.Time // zero: the token has no expiry
	rights token.Rights

	tokenGen    uint64 // invalidates timers of a replaced token
	tokenStage  int
	tokenTimer  *time.Timer
	resumeGen   uint64 // invalidates a resume timer after a resume
	resumeTimer *time.Timer
	removed     bool

	pub    *publisher
	sub    *subscriber
	filter map[string]bool // subscribe{uids}; nil means everyone

	pendingPub []webrtc.ICECandidateInit
	pendingSub []webrtc.ICECandidateInit

	// Remote candidates counted per PeerConnection (candidates.go).
	pubCands candidateBudget
	subCands candidateBudget
	// offers limits the rate of publish offers (limits.go).
	offers tokenBucket
}

// send queues m on p's socket; while the socket is down, m is dropped (a
// resume gets the state again in join_result).
func (p *participant) send(m *signal.Message) {
	if c := p.conn.Load(); c != nil {
		c.send(m)
	}
}

func (p *participant) sendError(code int, reason string) {
	p.send(&signal.Message{Type: signal.TypeError, Code: code, Reason: reason})
}

// sendCandidate trickles a local candidate of one of p's PeerConnections. The
// description it belongs to was queued before SetLocalDescription started
// gathering, so the client always gets the description first.
func (p *participant) sendCandidate(pc string, c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	init := c.ToJSON()
	p.send(&signal.Message{Type: signal.TypeCandidate, PC: pc, Candidate: &init})
}

// detach sends bye (if any) as the last message of p's socket and closes it.
func (p *participant) detach(bye *signal.Message, reason string) {
	c := p.conn.Swap(nil)
	if c == nil {
		return
	}
	if bye != nil {
		c.send(bye)
	}
	c.close(reason)
}

func (p *participant) stopTimersLocked() {
	p.tokenGen++
	if p.tokenTimer != nil {
		p.tokenTimer.Stop()
		p.tokenTimer = nil
	}
	p.resumeGen++
	if p.resumeTimer != nil {
		p.resumeTimer.Stop()
		p.resumeTimer = nil
	}
}

func (p *participant) setExpiry(c token.Claims) {
	p.exp = time.Time{}
	if c.ExpiresAt != nil {
		p.exp = c.ExpiresAt.Time
	}
}

// Token stages: what the token timer does next.
const (
	stageWarn    = iota // send token_will_expire at exp-TokenWarning
	stageRequest        // send token_request at exp
	stageBye            // end the session at exp+TokenGrace
)

// scheduleTokenLocked restarts p's token timer for its current token. What is
// already due (token_will_expire for a token expiring within TokenWarning) is
// sent right away.
func (p *participant) scheduleTokenLocked(cl *cleanup) {
	p.tokenGen++
	if p.tokenTimer != nil {
		p.tokenTimer.Stop()
		p.tokenTimer = nil
	}
	p.tokenStage = stageWarn
	if p.exp.IsZero() {
		return
	}
	p.r.tokenTickLocked(p, cl)
}

// tokenTickLocked does what p's token stages have due and arms the timer for
// the next one.
func (r *room) tokenTickLocked(p *participant, cl *cleanup) {
	cfg := r.s.cfg
	now := r.s.now()
	for {
		var at time.Time
		switch p.tokenStage {
		case stageWarn:
			at = p.exp.Add(-cfg.TokenWarning)
		case stageRequest:
			at = p.exp
		default:
			at = p.exp.Add(cfg.TokenGrace)
		}
		if now.Before(at) {
			gen := p.tokenGen
			p.tokenTimer = r.s.afterFunc(at.Sub(now), func() { r.tokenTimerFired(p, gen) })
			return
		}
		switch p.tokenStage {
		case stageWarn:
			p.send(&signal.Message{Type: signal.TypeTokenWillExpire, Token: p.token})
			p.tokenStage = stageRequest
		case stageRequest:
			p.send(&signal.Message{Type: signal.TypeTokenRequest})
			p.tokenStage = stageBye
		default:
			r.s.log.Info("token expired without renewal", "room", r.id, "uid", p.uid)
			r.removeLocked(p, "token expired", cl)
			p.detach(&signal.Message{Type: signal.TypeBye, Result: token.Expired, Reason: "token expired"}, "token expired")
			return
		}
	}
}

func (r *room) tokenTimerFired(p *participant, gen uint64) {
	var cl cleanup
	r.mu.Lock()
	if !p.removed && p.tokenGen == gen {
		p.tokenTimer = nil
		r.tokenTickLocked(p, &cl)
	}
	r.mu.Unlock()
	cl.run(r.s)
}

// updateTokenLocked checks a renewed token and, when it is good, makes it
// p's token.
func (r *room) updateTokenLocked(p *participant, tok string, cl *cleanup) {
	claims, verdict := r.s.cfg.Registry.Verify(tok, p.appID, r.id, p.uid, r.s.now())
	p.send(&signal.Message{Type: signal.TypeAuthResult, Result: verdict})
	if verdict != token.OK {
		r.s.log.Info("token update refused", "room", r.id, "uid", p.uid, "result", verdict)
		return
	}
	r.s.log.Debug("token updated", "room", r.id, "uid", p.uid)
	r.applyTokenLocked(p, tok, claims, cl)
}

// applyTokenLocked makes a verified token p's token: new expiry timers, and
// rights that may have been taken away.
func (r *room) applyTokenLocked(p *participant, tok string, claims token.Claims, cl *cleanup) {
	old := p.rights
	p.token = tok
	p.setExpiry(claims)
	p.rights = claims.Rights
	if !p.rights.Publish && p.pub != nil {
		r.s.log.Info("publish right revoked", "room", r.id, "uid", p.uid)
		r.unpublishLocked(p, cl)
		p.send(&signal.Message{Type: signal.TypePublishRefused, Result: token.NoPublishRight,
			Reason: "publish right revoked"})
	}
	switch {
	case !p.rights.Subscribe && p.sub != nil:
		cl.closePC(p.sub.pc)
		p.sub = nil
		p.pendingSub = nil
		p.subCands = candidateBudget{}
	case p.rights.Subscribe && !old.Subscribe:
		r.syncSubs(p)
	}
	p.scheduleTokenLocked(cl)
}

// addCandidateLocked adds a client candidate to one of p's PeerConnections,
// or keeps it until that PeerConnection has a remote description. The
// candidate policy (candidates.go) comes first: what it drops is logged,
// not reported to the client.
func (p *participant) addCandidateLocked(name string, c webrtc.ICECandidateInit) {
	var pc *webrtc.PeerConnection
	pending := &p.pendingPub
	if name == signal.PCPublish && !p.rights.Publish {
		return // its offer was refused; so are its candidates
	}
	if !p.filterCandidate(name, c) {
		return
	}
	if name == signal.PCPublish {
		if p.pub != nil {
			pc = p.pub.pc
		}
	} else {
		pending = &p.pendingSub
		if p.sub != nil {
			pc = p.sub.pc
		}
	}
	if pc == nil || pc.RemoteDescription() == nil {
		if len(*pending) < maxPendingCandidates {
			*pending = append(*pending, c)
		}
		return
	}
	if err := pc.AddICECandidate(c); err != nil {
		p.sendError(signal.ErrBadMessage, "candidate: "+err.Error())
	}
}

// flushCandidates adds the candidates kept for pc, now that it has a remote
// description.
func (p *participant) flushCandidates(pc *webrtc.PeerConnection, pending *[]webrtc.ICECandidateInit) {
	for _, c := range *pending {
		if err := pc.AddICECandidate(c); err != nil {
			p.sendError(signal.ErrBadMessage, "candidate: "+err.Error())
		}
	}
	*pending = nil
}
