package livekit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"
	lk "github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/token"
)

// ErrClosed is returned by a Session's requests once its socket is gone.
var ErrClosed = errors.New("livekit session closed")

// writeTimeout bounds a request the session sends by itself (a reply to
// what LiveKit said); the engine's own carry the engine's context.
const writeTimeout = 5 * time.Second

// resumeTimeout bounds a resume made inside the session (see
// RestartSubscribeICE).
const resumeTimeout = 10 * time.Second

// session is one participant's signalling with LiveKit: one WebSocket at
// a time (a resume inside the session swaps it), read by one goroutine,
// whose messages state turns into events. Another goroutine (pump) hands
// the events to the engine, so that reading never waits for the engine;
// it closes Events once the reader has ended.
type session struct {
	b    *Backend
	log  *slog.Logger
	base *url.URL

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // reader, pump, resume and token checks

	mu       sync.Mutex
	st       *state // nil once the reader ended: the state went to Backend.save
	conn     *websocket.Conn
	tok      string // the newest token: LiveKit's refresh, or one UpdateToken checked
	pings    pingClock
	queue    []engine.Event
	readDone bool          // the reader returned: the pump closes Events once the queue is empty
	resuming chan struct{} // non-nil while a resume runs; closed when it ends
	closed   bool          // Close began: no new goroutines
	ended    bool          // SessionEnded was told: nothing to resume

	wake      chan struct{} // the pump has something to do
	events    chan engine.Event
	closeOnce sync.Once
}

func newSession(b *Backend, conn *websocket.Conn, base *url.URL, st *state, tok string) *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		b: b, log: b.log, base: base, ctx: ctx, cancel: cancel,
		st: st, conn: conn, tok: tok,
		wake:   make(chan struct{}, 1),
		events: make(chan engine.Event),
	}
	s.wg.Add(2)
	go s.read()
	go s.pump()
	return s
}

// Events implements engine.Session.
func (s *session) Events() <-chan engine.Event { return s.events }

// read turns LiveKit's messages into events and replies until the socket
// ends. It reads without a deadline: Close (or a swap) closes the socket
// under it.
func (s *session) read() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		conn := s.conn
		s.mu.Unlock()
		m, err := readSignal(context.Background(), conn)
		if err != nil && s.retire(conn, err) {
			return
		}
		if err != nil {
			continue // a resume swapped the socket
		}
		s.handle(conn, m)
	}
}

// retire decides, after conn failed with err, whether the reader ends: not
// if a resume replaced conn or is about to. When it ends, the state is
// saved for the engine's resume, unless the session was left or ended.
func (s *session) retire(conn *websocket.Conn, err error) bool {
	s.mu.Lock()
	for s.conn == conn && s.resuming != nil && s.ctx.Err() == nil {
		ch := s.resuming
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.ctx.Done():
		}
		s.mu.Lock()
	}
	if s.conn != conn {
		s.mu.Unlock()
		return false
	}
	st := s.st
	s.st = nil
	s.readDone = true
	keep := st != nil && !st.leaving && !s.ended
	s.mu.Unlock()
	s.poke()
	s.log.Debug("livekit signalling ended", "err", err, "close_status", int(websocket.CloseStatus(err)))
	if keep {
		s.b.save(st.selfSID, st)
	}
	return true
}

// handle acts on one message read from conn.
func (s *session) handle(conn *websocket.Conn, m *lk.SignalResponse) {
	s.mu.Lock()
	if s.st == nil {
		s.mu.Unlock()
		return
	}
	if u := m.GetUpdate(); u != nil && s.log.Enabled(context.Background(), slog.LevelDebug) {
		var who []string
		for _, p := range u.GetParticipants() {
			who = append(who, fmt.Sprintf("%s:%s:%d:v%d", p.GetIdentity(), p.GetState(), len(p.GetTracks()), p.GetVersion()))
		}
		s.log.Debug("livekit participant update", "participants", who, "resync", s.st.resync != nil)
	}
	o := s.st.signal(m, time.Now(), &s.pings)
	if t := m.GetRefreshToken(); t != "" {
		s.tok = t
	}
	for _, ev := range o.events {
		if _, ok := ev.(engine.SessionEnded); ok {
			s.ended = true
		}
	}
	s.queue = append(s.queue, o.events...)
	s.mu.Unlock()
	s.poke()
	if len(o.events) == 0 && len(o.sends) == 0 && !o.drop {
		s.log.Debug("livekit message", "type", fmt.Sprintf("%T", m.GetMessage()))
	}
	if len(o.sends) > 0 {
		ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
		if err := s.write(ctx, o.sends...); err != nil {
			s.log.Warn("livekit reply", "err", err)
		}
		cancel()
	}
	if o.drop {
		// LeaveRequest{action: RESUME}: the engine resumes on a new socket.
		s.log.Info("livekit asks for a resume")
		_ = conn.CloseNow()
	}
}

// pump hands queued events to the engine, in order, and closes Events
// once the reader has ended and everything queued was handed over (or
// Close was called).
func (s *session) pump() {
	defer s.wg.Done()
	defer close(s.events)
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		done := s.readDone && len(q) == 0
		s.mu.Unlock()
		if done {
			return
		}
		for _, ev := range q {
			select {
			case s.events <- ev:
			case <-s.ctx.Done():
				return
			}
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// push queues an event from a goroutine other than the reader's.
func (s *session) push(ev engine.Event) {
	s.mu.Lock()
	if !s.readDone {
		s.queue = append(s.queue, ev)
	}
	s.mu.Unlock()
	s.poke()
}

// write sends requests on the current socket, in order.
func (s *session) write(ctx context.Context, reqs ...*lk.SignalRequest) error {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	for _, r := range reqs {
		data, err := proto.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode %T: %w", r.GetMessage(), err)
		}
		if err := conn.Write(ctx, websocket.MessageBinary, data); err != nil {
			return fmt.Errorf("send %T: %w", r.GetMessage(), err)
		}
	}
	return nil
}

// do runs f on the state, under the lock, and sends what it produced.
func (s *session) do(ctx context.Context, f func(st *state) (out, error)) error {
	s.mu.Lock()
	if s.st == nil {
		s.mu.Unlock()
		return ErrClosed
	}
	o, err := f(s.st)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.write(ctx, o.sends...)
}

// PublishOffer implements engine.Session: an AddTrackRequest per track,
// and the offer once LiveKit answered each with TrackPublishedResponse
// (sent by the reader); without tracks, the offer alone.
func (s *session) PublishOffer(ctx context.Context, sdp string, tracks []engine.Track) error {
	return s.do(ctx, func(st *state) (out, error) { return st.publish(sdp, tracks), nil })
}

// SubscribeAnswer implements engine.Session: the answer echoes the id of
// the latest subscriber offer.
func (s *session) SubscribeAnswer(ctx context.Context, sdp string) error {
	return s.do(ctx, func(st *state) (out, error) {
		var o out
		o.send(&lk.SignalRequest{Message: &lk.SignalRequest_Answer{
			Answer: &lk.SessionDescription{Type: "answer", Sdp: sdp, Id: st.offerID},
		}})
		return o, nil
	})
}

// Candidate implements engine.Session: TrickleRequest with the target PC.
func (s *session) Candidate(ctx context.Context, pc engine.PC, c webrtc.ICECandidateInit) error {
	return s.do(ctx, func(st *state) (out, error) { return st.candidate(pc, c) })
}

// Mute implements engine.Session: MuteTrackRequest for our track of kind.
func (s *session) Mute(ctx context.Context, kind string, muted bool) error {
	return s.do(ctx, func(st *state) (out, error) {
		o, ok := st.mute(kind, muted)
		if !ok {
			return o, fmt.Errorf("mute: no published %s track", kind)
		}
		return o, nil
	})
}

// SetSubscriptions implements engine.Session: UpdateSubscription for the
// tracks known, and the filter kept for tracks to come.
func (s *session) SetSubscriptions(ctx context.Context, uids []string) error {
	return s.do(ctx, func(st *state) (out, error) { return st.setSubscriptions(uids), nil })
}

// Ping implements engine.Session: PingReq{timestamp, rtt}; PongResp
// echoes the timestamp.
func (s *session) Ping(ctx context.Context) error {
	return s.do(ctx, func(*state) (out, error) {
		var o out
		o.send(s.pings.ping(time.Now()))
		return o, nil
	})
}

// ErrUnpublishUnsupported is returned by Unpublish: unpublishing on LiveKit needs the publish
// PeerConnection renegotiated without the track, which the engine does not
// do yet (it republishes on a new publish connection instead).
var ErrUnpublishUnsupported = errors.New("unpublish is not supported on the livekit backend yet")

// Unpublish implements engine.Session: not supported yet.
func (s *session) Unpublish(context.Context) error { return ErrUnpublishUnsupported }

// Leave implements engine.Session: LeaveRequest{CLIENT_INITIATED,
// DISCONNECT}. LiveKit echoes it and closes the socket.
func (s *session) Leave(ctx context.Context) error {
	return s.do(ctx, func(st *state) (out, error) {
		var o out
		st.leaving = true
		o.send(leaveReq())
		return o, nil
	})
}

// UpdateToken implements engine.Session. LiveKit has no request that
// replaces the token of a live session (it renews it by itself, see
// TokenRefreshed), so the token is checked the way LiveKit checks it at a
// connection, by /rtc/validate (which joins nothing), and by roomctl's own
// claims check; the verdict comes as AuthVerdict, and an accepted token is
// the one the next resume presents.
func (s *session) UpdateToken(_ context.Context, tok string) error {
	s.mu.Lock()
	st, closed := s.st, s.closed
	if st == nil || closed {
		s.mu.Unlock()
		return ErrClosed
	}
	uid, room := st.uid, st.room
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		vctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
		defer cancel()
		code := token.OK
		c, ok := unverifiedClaims(tok)
		status, body, err := s.b.validate(vctx, s.base, tok)
		switch {
		case err != nil:
			s.push(engine.ServerError{Code: http.StatusServiceUnavailable, Reason: "token check: " + err.Error()})
			return
		case status != http.StatusOK:
			code = verdictOf(status, body, tok != "")
		case ok:
			// The API key is whatever signed the session's token.
			code, _ = mismatch(c, "", room, uid)
		}
		if code == token.OK {
			s.mu.Lock()
			s.tok = tok
			s.mu.Unlock()
		}
		s.push(engine.AuthVerdict{Result: code})
	}()
	return nil
}

// RestartSubscribeICE implements engine.Session. LiveKit restarts the
// subscriber's ICE when the participant resumes (and has no request for
// it otherwise), so the session resumes on a new socket by itself,
// reconnect=1 with the newest token, and swaps it in: the engine sees the
// ICE-restart offer as a SubscribeOffer and no signalling reconnect. If
// the resume fails, the socket is dropped and the engine reconnects.
func (s *session) RestartSubscribeICE(context.Context) error {
	s.mu.Lock()
	if s.st == nil || s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.resuming != nil {
		s.mu.Unlock()
		return nil // one is on its way
	}
	done := make(chan struct{})
	s.resuming = done
	tok, sid, autoSub := s.tok, s.st.selfSID, s.st.autoSub
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			s.resuming = nil
			s.mu.Unlock()
			close(done)
		}()
		ctx, cancel := context.WithTimeout(s.ctx, resumeTimeout)
		defer cancel()
		conn, first, err := s.b.dial(ctx, s.base, tok, dialParams{autoSub: autoSub, resume: sid, reason: lk.ReconnectReason_RR_SUBSCRIBER_FAILED})
		if err == nil && first.GetReconnect() == nil {
			_ = conn.CloseNow()
			err = fmt.Errorf("livekit answered the resume with %T", first.GetMessage())
		}
		if err != nil {
			s.log.Warn("livekit resume for an ICE restart failed; dropping the socket", "err", err)
			s.mu.Lock()
			old := s.conn
			s.mu.Unlock()
			_ = old.CloseNow()
			return
		}
		s.mu.Lock()
		if s.st == nil || s.closed {
			s.mu.Unlock()
			_ = conn.CloseNow()
			return
		}
		old := s.conn
		s.conn = conn
		s.st.resumed()
		s.mu.Unlock()
		_ = old.CloseNow()
		s.log.Info("livekit signalling resumed for a subscriber ICE restart")
	}()
	return nil
}

// TrackOwner implements engine.Session: the track sid's publisher, or the
// participant named by the "PA_xxx|TR_xxx" stream id.
func (s *session) TrackOwner(streamID, trackID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == nil {
		return "", false
	}
	return s.st.trackOwnerOf(streamID, trackID)
}

// Close implements engine.Session: a normal closure of the socket (LiveKit
// keeps the participant for a resume: closing is not leaving); the
// goroutines end and Events closes. Safe to call more than once.
func (s *session) Close(reason string) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		conn := s.conn
		s.mu.Unlock()
		if len(reason) > 100 {
			reason = reason[:100] // a close frame's reason is at most 123 bytes
		}
		// Cancelled first: the pump stops handing events to an engine that
		// is no longer reading.
		s.cancel()
		if err := conn.Close(websocket.StatusNormalClosure, reason); err != nil {
			// Gone already (dropped, or LiveKit closed it after a leave).
			_ = conn.CloseNow()
		}
		s.wg.Wait()
	})
	return nil
}
