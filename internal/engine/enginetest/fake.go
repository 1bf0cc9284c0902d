// Package enginetest is an in-memory room service for tests of the engine
// and of what runs it: Fake is an engine.Backend whose verdicts, events and
// transport cuts the test scripts, and whose media side is real pion
// PeerConnections on loopback — it answers the engine's publish offers and
// offers the tracks of fake publishers — so a test runs Engine.Run (join,
// publish, subscribe, reconnect, token renewal) in one process, without a
// server. Source, Tokens and Recorder are the engine's other inputs and
// its event sink.
//
// The fake names things as LiveKit does (sessions "S<n>", a publisher's
// stream id "PA_<uid>|TR_<uid>_video"), so the engine must ask
// Session.TrackOwner for a track's publisher rather than assume that the
// stream id is the uid.
package enginetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/pionlog"
)

// Room is the room id of the fake publishers' streams: engines under test
// join it.
const Room = "room1"

// Wait bounds every wait of this package's helpers: generous for -race on
// a busy machine.
const Wait = 20 * time.Second

// ErrClosed is returned by a Session's requests once its transport closed.
var ErrClosed = errors.New("enginetest: transport closed")

// Call is one request the engine made on a session.
type Call struct {
	Method  string // the engine.Session method: "PublishOffer", "Mute", …
	Session string // the session it was made on
	SDP     string
	Tracks  []engine.Track
	PC      engine.PC
	Kind    string
	Muted   bool
	Token   string
	UIDs    []string
	// Candidate is the candidate line of a Candidate request.
	Candidate string
}

// Fake is an in-memory engine.Backend for one participant (the engine
// under test) in a room of fake publishers. Create it with New; it is
// closed when the test ends.
type Fake struct {
	api *webrtc.API
	log *slog.Logger

	mu       sync.Mutex
	cond     *sync.Cond // on mu: joins and calls
	refusals []error
	noResume bool
	blocked  chan struct{} // while set, Joins wait for it to close (Block)
	down     bool          // Joins fail as unreachable (Unreachable)
	joins    []engine.JoinRequest
	calls    []Call
	sessions int
	part     *participant
	pubs     map[string]*publisher // by uid
	closed   bool

	// media serializes negotiation: the fake's PeerConnections, their
	// pending candidates and the offer in flight. Taken before mu, never
	// by pion callbacks.
	media sync.Mutex

	wg sync.WaitGroup // publishers' writers, publish readers, RTCP readers
}

var _ engine.Backend = (*Fake)(nil)

// New returns a Fake whose PeerConnections gather on loopback; it is
// closed by tb.Cleanup.
func New(tb testing.TB) *Fake {
	tb.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		tb.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	se := webrtc.SettingEngine{LoggerFactory: pionlog.Factory(log)}
	iceopt.Loopback.Apply(&se)
	f := &Fake{
		api:  webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)),
		log:  log,
		pubs: map[string]*publisher{},
	}
	f.cond = sync.NewCond(&f.mu)
	tb.Cleanup(f.Close)
	return f
}

// Refuse makes the next Joins fail with errs, in order: an *engine.AuthError
// is a refusal (after the transport came up), an error wrapping
// engine.ErrUnreachable a server that cannot be reached.
func (f *Fake) Refuse(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refusals = append(f.refusals, errs...)
}

// RefuseResume makes later Joins with a Resume start a new session, as a
// server that forgot the participant does.
func (f *Fake) RefuseResume() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noResume = true
}

// Block makes Joins wait, from now until release is called, as a server
// that takes the connection but does not answer; a waiting Join returns
// when its ctx ends (the engine's ConnectTimeout, or Run ending).
func (f *Fake) Block() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.blocked = ch
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.blocked == ch { // else released already, or by Close
			f.blocked = nil
			close(ch)
		}
	}
}

// Unreachable makes every Join fail at once with an error wrapping
// engine.ErrUnreachable, as a server that is down does, until restore is
// called.
func (f *Fake) Unreachable() (restore func()) {
	f.mu.Lock()
	f.down = true
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.down = false
		f.mu.Unlock()
	}
}

// Join implements engine.Backend.
func (f *Fake) Join(ctx context.Context, req engine.JoinRequest) (engine.Session, *engine.Joined, error) {
	f.mu.Lock()
	f.joins = append(f.joins, req)
	f.cond.Broadcast()
	if f.down {
		f.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: dial %s: connection refused", engine.ErrUnreachable, req.Server)
	}
	if b := f.blocked; b != nil {
		f.mu.Unlock()
		select {
		case <-b:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("enginetest: join: %w", ctx.Err())
		}
		f.mu.Lock()
	}
	var refusal error
	if len(f.refusals) > 0 {
		refusal, f.refusals = f.refusals[0], f.refusals[1:]
	}
	f.mu.Unlock()
	if refusal != nil && errors.Is(refusal, engine.ErrUnreachable) {
		return nil, nil, refusal
	}
	if req.Connected != nil {
		req.Connected()
	}
	if refusal != nil {
		return nil, nil, refusal
	}

	f.media.Lock()
	defer f.media.Unlock()
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, nil, ErrClosed
	}
	f.sessions++
	var old *participant
	p := f.part
	resumed := p != nil && !f.noResume && req.Resume != "" && req.Resume == p.id
	if !resumed {
		old = p
		p = &participant{id: fmt.Sprintf("S%d", f.sessions)}
		f.part = p
	}
	p.subscribe = slices.Clone(req.Subscribe)
	s := newSession(f, p.id)
	p.sess = s
	joined := &engine.Joined{Session: p.id, Resumed: resumed}
	for _, uid := range slices.Sorted(maps.Keys(f.pubs)) {
		joined.Streams = append(joined.Streams, f.pubs[uid].stream)
	}
	f.mu.Unlock()
	if old != nil {
		old.close()
	}
	f.syncSubs(p)
	return s, joined, nil
}

// Joins returns the requests of every Join so far.
func (f *Fake) Joins() []engine.JoinRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.joins)
}

// WaitJoin waits for the n-th Join (from 1) and returns its request.
func (f *Fake) WaitJoin(tb testing.TB, n int) engine.JoinRequest {
	tb.Helper()
	var req engine.JoinRequest
	f.waitUntil(tb, fmt.Sprintf("join #%d", n), func() bool {
		if len(f.joins) < n {
			return false
		}
		req = f.joins[n-1]
		return true
	})
	return req
}

// WaitCall waits for the n-th request (from 1) of method and returns it.
func (f *Fake) WaitCall(tb testing.TB, method string, n int) Call {
	tb.Helper()
	var c Call
	f.waitUntil(tb, fmt.Sprintf("%s #%d", method, n), func() bool {
		i := 0
		for _, call := range f.calls {
			if call.Method == method {
				if i++; i == n {
					c = call
					return true
				}
			}
		}
		return false
	})
	return c
}

// CountCalls returns how many requests of method the engine made.
func (f *Fake) CountCalls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// waitUntil waits, under mu, until ok holds or Wait passes.
func (f *Fake) waitUntil(tb testing.TB, what string, ok func() bool) {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !waitCond(f.cond, ok) {
		tb.Fatalf("enginetest: no %s within %s", what, Wait)
	}
}

// waitCond waits on c, whose lock the caller holds, until ok holds; false
// when Wait passed first.
func waitCond(c *sync.Cond, ok func() bool) bool {
	timer := time.AfterFunc(Wait, func() {
		c.L.Lock()
		c.Broadcast()
		c.L.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(Wait)
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		c.Wait()
	}
	return true
}

// every runs f every d until ctx ends or stop is closed.
func every(ctx context.Context, stop <-chan struct{}, d time.Duration, f func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-tick.C:
			f()
		}
	}
}

func (f *Fake) record(c Call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	f.cond.Broadcast()
}

// Send delivers ev on the current session, as the service would; false
// when there is none (the transport is cut).
func (f *Fake) Send(ev engine.Event) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.part == nil || f.part.sess == nil {
		return false
	}
	return f.part.sess.push(ev)
}

// Cut drops the current session's transport, as a network cut would: its
// Events close; the session stays resumable.
func (f *Fake) Cut() {
	f.mu.Lock()
	var s *Session
	if f.part != nil {
		s, f.part.sess = f.part.sess, nil
	}
	f.mu.Unlock()
	if s != nil {
		s.shut()
	}
}

// Session returns the id of the current session, "" when none.
func (f *Fake) Session() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.part == nil {
		return ""
	}
	return f.part.id
}

// Received returns how many RTP packets of kind the fake has received from
// the engine's publication.
func (f *Fake) Received(kind string) int {
	f.mu.Lock()
	p := f.part
	f.mu.Unlock()
	if p == nil {
		return 0
	}
	if kind == "video" {
		return int(p.rxVideo.Load())
	}
	return int(p.rxAudio.Load())
}

// Close ends every session, PeerConnection and goroutine of the fake. It
// is safe to call more than once.
func (f *Fake) Close() {
	f.media.Lock()
	f.mu.Lock()
	f.closed = true
	if f.blocked != nil {
		close(f.blocked)
		f.blocked = nil
	}
	p := f.part
	f.part = nil
	pubs := f.pubs
	f.pubs = map[string]*publisher{}
	f.mu.Unlock()
	f.media.Unlock()
	if p != nil {
		if p.sess != nil {
			p.sess.shut()
		}
		p.close()
	}
	for _, pub := range pubs {
		close(pub.stop)
	}
	f.wg.Wait()
}

// participant is the engine's side of the room as the fake keeps it: it
// outlives a cut transport, for resume.
type participant struct {
	id        string
	sess      *Session // nil while cut
	subscribe []string

	// Under Fake.media.
	pubPC      *webrtc.PeerConnection // answers the engine's publish offers
	pubPending []webrtc.ICECandidateInit
	subPC      *webrtc.PeerConnection // offers the fake publishers' tracks
	subPending []webrtc.ICECandidateInit
	subSenders map[string]*webrtc.RTPSender // by publisher uid
	inFlight   bool                         // a subscribe offer awaits its answer
	dirty      bool                         // and another is due after it
	restartICE bool

	rxAudio, rxVideo atomic.Int64
}

// close closes the participant's PeerConnections; call it without Fake.mu.
func (p *participant) close() {
	for _, pc := range []*webrtc.PeerConnection{p.pubPC, p.subPC} {
		if pc != nil {
			_ = pc.Close()
		}
	}
}

// Session is one transport of the fake: an engine.Session whose requests
// are recorded (WaitCall) and acted on as a room server would.
type Session struct {
	f  *Fake
	id string

	mu     sync.Mutex
	queue  []engine.Event
	closed bool
	notify chan struct{}
	out    chan engine.Event
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newSession(f *Fake, id string) *Session {
	s := &Session{
		f: f, id: id,
		notify: make(chan struct{}, 1),
		out:    make(chan engine.Event),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go s.pump()
	return s
}

// push queues ev for Events without blocking; false once closed.
func (s *Session) push(ev engine.Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.queue = append(s.queue, ev)
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return true
}

// pump hands the queue to Events in order; the one sender of out, it
// closes it when the transport closes.
func (s *Session) pump() {
	defer close(s.done)
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.notify:
				continue
			case <-s.quit:
				return
			}
		}
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- ev:
		case <-s.quit:
			return
		}
	}
}

// shut closes the transport: Events closes, requests fail.
func (s *Session) shut() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.quit)
		<-s.done
	})
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// do records c and, while the transport is open, runs act as the server.
func (s *Session) do(c Call, act func(p *participant)) error {
	if s.isClosed() {
		return ErrClosed
	}
	c.Session = s.id
	s.f.record(c)
	if act == nil {
		return nil
	}
	s.f.media.Lock()
	defer s.f.media.Unlock()
	s.f.mu.Lock()
	p := s.f.part
	s.f.mu.Unlock()
	if p == nil || p.id != s.id {
		return nil // a session the fake has replaced
	}
	act(p)
	return nil
}

// Events implements engine.Session.
func (s *Session) Events() <-chan engine.Event { return s.out }

// PublishOffer implements engine.Session: a real pion answer, limited to
// what the fake's MediaEngine receives.
func (s *Session) PublishOffer(_ context.Context, sdp string, tracks []engine.Track) error {
	return s.do(Call{Method: "PublishOffer", SDP: sdp, Tracks: slices.Clone(tracks)}, func(p *participant) {
		if err := s.f.answerPublish(p, sdp); err != nil {
			s.f.log.Warn("answer publish offer", "err", err)
			s.push(engine.ServerError{Code: 500, Reason: err.Error()})
		}
	})
}

// SubscribeAnswer implements engine.Session.
func (s *Session) SubscribeAnswer(_ context.Context, sdp string) error {
	return s.do(Call{Method: "SubscribeAnswer", SDP: sdp}, func(p *participant) {
		if err := s.f.applySubscribeAnswer(p, sdp); err != nil {
			s.f.log.Warn("apply subscribe answer", "err", err)
			s.push(engine.ServerError{Code: 500, Reason: err.Error()})
		}
	})
}

// Candidate implements engine.Session.
func (s *Session) Candidate(_ context.Context, pc engine.PC, c webrtc.ICECandidateInit) error {
	return s.do(Call{Method: "Candidate", PC: pc, Candidate: c.Candidate}, func(p *participant) {
		s.f.addCandidate(p, pc, c)
	})
}

// RestartSubscribeICE implements engine.Session: an ICE-restart offer.
func (s *Session) RestartSubscribeICE(context.Context) error {
	return s.do(Call{Method: "RestartSubscribeICE"}, func(p *participant) {
		p.restartICE = true
		s.f.negotiate(p)
	})
}

// Mute implements engine.Session (recorded only).
func (s *Session) Mute(_ context.Context, kind string, muted bool) error {
	return s.do(Call{Method: "Mute", Kind: kind, Muted: muted}, nil)
}

// Unpublish implements engine.Session (recorded only).
func (s *Session) Unpublish(_ context.Context) error {
	return s.do(Call{Method: "Unpublish"}, nil)
}

// UpdateToken implements engine.Session (recorded only: the test answers
// with an AuthVerdict through Send).
func (s *Session) UpdateToken(_ context.Context, token string) error {
	return s.do(Call{Method: "UpdateToken", Token: token}, nil)
}

// SetSubscriptions implements engine.Session: the subscribe offer follows.
func (s *Session) SetSubscriptions(_ context.Context, uids []string) error {
	return s.do(Call{Method: "SetSubscriptions", UIDs: slices.Clone(uids)}, func(p *participant) {
		p.subscribe = slices.Clone(uids)
		s.f.syncSubs(p)
	})
}

// Ping implements engine.Session: a Pong of 1 ms follows.
func (s *Session) Ping(context.Context) error {
	return s.do(Call{Method: "Ping"}, func(*participant) {
		s.push(engine.Pong{RTT: time.Millisecond})
	})
}

// Leave implements engine.Session (recorded only).
func (s *Session) Leave(context.Context) error {
	return s.do(Call{Method: "Leave"}, nil)
}

// Close implements engine.Session: the transport closes; the session stays
// resumable.
func (s *Session) Close(string) error {
	s.shut()
	return nil
}

// TrackOwner implements engine.Session: the fake's stream ids are
// "PA_<uid>|TR_<uid>_<kind>", resolved through the room's publishers.
func (s *Session) TrackOwner(streamID, _ string) (string, bool) {
	sid, _, _ := strings.Cut(streamID, "|")
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	for uid, pub := range s.f.pubs {
		if pub.sid == sid {
			return uid, true
		}
	}
	return "", false
}

// deliver sends ev to the participant's transport of the moment, if any.
func (f *Fake) deliver(p *participant, ev engine.Event) {
	f.mu.Lock()
	s := p.sess
	f.mu.Unlock()
	if s != nil {
		s.push(ev)
	}
}

// newPC makes one of the fake's PeerConnections. They do not trickle:
// their descriptions carry their candidates (setLocal), so that none can
// reach the engine before the description it belongs to.
func (f *Fake) newPC(pc engine.PC) (*webrtc.PeerConnection, error) {
	c, err := f.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new %s peer connection: %w", pc, err)
	}
	return c, nil
}

// setLocal sets d and returns it with the gathered candidates.
func setLocal(pc *webrtc.PeerConnection, d webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-time.After(Wait):
		return "", errors.New("ice gathering did not complete")
	}
	return pc.LocalDescription().SDP, nil
}

// answerPublish answers an offer on the publish PeerConnection and counts
// the RTP of each kind that arrives. Under media.
func (f *Fake) answerPublish(p *participant, sdp string) error {
	if p.pubPC == nil {
		pc, err := f.newPC(engine.PCPublish)
		if err != nil {
			return err
		}
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			f.mu.Lock()
			if f.closed { // Close may be waiting on wg already
				f.mu.Unlock()
				return
			}
			f.wg.Add(1)
			f.mu.Unlock()
			defer f.wg.Done()
			n := &p.rxAudio
			if t.Kind() == webrtc.RTPCodecTypeVideo {
				n = &p.rxVideo
			}
			for {
				if _, _, err := t.ReadRTP(); err != nil {
					return
				}
				n.Add(1)
			}
		})
		p.pubPC = pc
	}
	if err := p.pubPC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("set publish offer: %w", err)
	}
	for _, c := range p.pubPending {
		_ = p.pubPC.AddICECandidate(c)
	}
	p.pubPending = nil
	ans, err := p.pubPC.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create publish answer: %w", err)
	}
	sdp, err = setLocal(p.pubPC, ans)
	if err != nil {
		return fmt.Errorf("set publish answer: %w", err)
	}
	f.deliver(p, engine.PublishAnswer{SDP: sdp})
	return nil
}

// addCandidate applies one of the engine's candidates, or keeps it until
// the description it belongs to is in. Under media.
func (f *Fake) addCandidate(p *participant, pc engine.PC, c webrtc.ICECandidateInit) {
	switch pc {
	case engine.PCPublish:
		if p.pubPC == nil || p.pubPC.RemoteDescription() == nil {
			p.pubPending = append(p.pubPending, c)
			return
		}
		_ = p.pubPC.AddICECandidate(c)
	case engine.PCSubscribe:
		if p.subPC == nil || p.subPC.RemoteDescription() == nil || p.inFlight {
			p.subPending = append(p.subPending, c)
			return
		}
		_ = p.subPC.AddICECandidate(c)
	}
}

// syncSubs makes the subscribe PeerConnection carry the tracks of the
// publishers p subscribes to, and offers when that changed. Under media.
func (f *Fake) syncSubs(p *participant) {
	f.mu.Lock()
	want := map[string]*publisher{}
	for uid, pub := range f.pubs {
		if len(p.subscribe) == 0 || slices.Contains(p.subscribe, uid) {
			want[uid] = pub
		}
	}
	f.mu.Unlock()
	changed := false
	for uid, sender := range p.subSenders {
		if want[uid] == nil {
			_ = p.subPC.RemoveTrack(sender)
			delete(p.subSenders, uid)
			changed = true
		}
	}
	for _, uid := range slices.Sorted(maps.Keys(want)) {
		if p.subSenders[uid] != nil {
			continue
		}
		if p.subPC == nil {
			pc, err := f.newPC(engine.PCSubscribe)
			if err != nil {
				f.log.Warn("subscribe", "err", err)
				return
			}
			p.subPC = pc
			p.subSenders = map[string]*webrtc.RTPSender{}
		}
		sender, err := p.subPC.AddTrack(want[uid].track)
		if err != nil {
			f.log.Warn("subscribe", "uid", uid, "err", err)
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for {
				if _, _, err := sender.ReadRTCP(); err != nil {
					return
				}
			}
		}()
		p.subSenders[uid] = sender
		changed = true
	}
	if changed {
		f.negotiate(p)
	}
}

// negotiate offers the subscribe PeerConnection, one offer at a time.
// Under media.
func (f *Fake) negotiate(p *participant) {
	if p.subPC == nil {
		return
	}
	if p.inFlight {
		p.dirty = true
		return
	}
	offer, err := p.subPC.CreateOffer(&webrtc.OfferOptions{ICERestart: p.restartICE})
	sdp := ""
	if err == nil {
		sdp, err = setLocal(p.subPC, offer)
	}
	if err != nil {
		f.log.Warn("subscribe offer", "err", err)
		return
	}
	p.restartICE = false
	p.inFlight = true
	f.deliver(p, engine.SubscribeOffer{SDP: sdp})
}

// applySubscribeAnswer takes the engine's answer, then what waited for
// it. Under media.
func (f *Fake) applySubscribeAnswer(p *participant, sdp string) error {
	if p.subPC == nil || !p.inFlight {
		return errors.New("answer without an offer")
	}
	if err := p.subPC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("set subscribe answer: %w", err)
	}
	p.inFlight = false
	for _, c := range p.subPending {
		_ = p.subPC.AddICECandidate(c)
	}
	p.subPending = nil
	if p.dirty {
		p.dirty = false
		f.negotiate(p)
	}
	return nil
}

// publisher is another participant of the room: one VP8 video track of
// synthetic keyframes.
type publisher struct {
	sid    string // "PA_<uid>", the participant's id on the service
	stream engine.Stream
	track  *webrtc.TrackLocalStaticSample
	stop   chan struct{}
}

// vp8Keyframe is a VP8 frame whose tag marks a keyframe (RFC 6386 §9.1),
// with the keyframe start code and a 16×16 size: enough for the engine's
// first_video_frame_decode, which looks at the frame tag.
var vp8Keyframe = []byte{0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0}

// AddPublisher makes uid publish in the room: the engine gets StreamAdded
// and, when it subscribes to uid, a subscribe offer with uid's video track,
// on which a keyframe is sent every 20 ms until RemovePublisher.
func (f *Fake) AddPublisher(tb testing.TB, uid string) {
	tb.Helper()
	sid := "PA_" + uid
	trackID := "TR_" + uid + "_video"
	track, err := webrtc.NewTrackLocalStaticSample(
		webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, trackID, sid+"|"+trackID)
	if err != nil {
		tb.Fatal(err)
	}
	pub := &publisher{
		sid: sid, track: track, stop: make(chan struct{}),
		stream: engine.Stream{UID: uid, RoomID: Room, Tracks: []engine.Track{
			{ID: trackID, Kind: "video", Codec: "VP8", Width: 16, Height: 16, FrameRate: 50},
		}},
	}
	f.media.Lock()
	defer f.media.Unlock()
	f.mu.Lock()
	if f.closed || f.pubs[uid] != nil {
		f.mu.Unlock()
		tb.Fatalf("enginetest: cannot add publisher %s", uid)
	}
	f.pubs[uid] = pub
	p := f.part
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		every(context.Background(), pub.stop, 20*time.Millisecond, func() {
			_ = track.WriteSample(pionmedia.Sample{Data: vp8Keyframe, Duration: 20 * time.Millisecond})
		})
	}()
	if p != nil {
		f.deliver(p, engine.StreamAdded{Stream: pub.stream})
		f.syncSubs(p)
	}
}

// RemovePublisher makes uid leave: the engine gets StreamRemoved, then a
// subscribe offer without uid's track.
func (f *Fake) RemovePublisher(uid string) {
	f.media.Lock()
	defer f.media.Unlock()
	f.mu.Lock()
	pub := f.pubs[uid]
	delete(f.pubs, uid)
	p := f.part
	f.mu.Unlock()
	if pub == nil {
		return
	}
	close(pub.stop)
	if p != nil {
		f.deliver(p, engine.StreamRemoved{UID: uid})
		f.syncSubs(p)
	}
}
