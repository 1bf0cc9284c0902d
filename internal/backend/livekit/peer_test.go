package livekit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/testutil"
)

// vp8Keyframe is a VP8 frame whose tag marks a 16x16 keyframe (RFC 6386
// §9.1): enough for LiveKit's SFU, which forwards video from a keyframe.
var vp8Keyframe = []byte{0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0}

// loopbackAPI is a pion API that gathers on 127.0.0.1 only (UDP4, no
// mDNS, no STUN): every packet of these tests stays on loopback.
func loopbackAPI(t testing.TB) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	iceopt.Loopback.Apply(&se)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir))
}

// tpeer drives a Session as the engine would, with plain pion
// PeerConnections: it answers subscriber offers, applies answers and
// candidates, and records every event and every RTP packet received.
type tpeer struct {
	t      testing.TB
	uid    string
	sess   engine.Session
	joined *engine.Joined
	api    *webrtc.API

	mu       sync.Mutex
	events   []engine.Event
	changed  chan struct{} // closed and replaced on every change
	pub, sub *webrtc.PeerConnection
	pubCands pending
	subCands pending
	received map[string]*atomic.Int64 // RTP packets by track id
	owners   map[string]string        // track id → TrackOwner's answer

	stop chan struct{}
	wg   sync.WaitGroup
}

// pending holds remote candidates until the remote description is set.
type pending struct {
	set   bool
	cands []webrtc.ICECandidateInit
}

// join joins uid to room on srv through a fresh Backend.
func join(t testing.TB, b *Backend, srv *testutil.LiveKit, room, uid string, mod func(*engine.JoinRequest)) *tpeer {
	t.Helper()
	req := engine.JoinRequest{Server: srv.URL, AppID: testKey, RoomID: room, UID: uid, Token: mint(t, room, uid)}
	if mod != nil {
		mod(&req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sess, joined, err := b.Join(ctx, req)
	if err != nil {
		t.Fatalf("%s: join: %v", uid, err)
	}
	p := &tpeer{
		t: t, uid: uid, sess: sess, joined: joined, api: loopbackAPI(t),
		changed: make(chan struct{}), received: map[string]*atomic.Int64{}, owners: map[string]string{},
		stop: make(chan struct{}),
	}
	p.wg.Add(1)
	go p.run(sess)
	t.Cleanup(p.close)
	return p
}

// session is the peer's current session.
func (p *tpeer) session() engine.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sess
}

// resume drops the session's socket (Close, as the engine does when the
// signalling went silent) and joins again resuming it, as the engine
// reconnects; the PeerConnections stay.
func (p *tpeer) resume(b *Backend, srv *testutil.LiveKit, room string) *engine.Joined {
	p.t.Helper()
	old := p.session()
	_ = old.Close("dropped by the test")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sess, joined, err := b.Join(ctx, engine.JoinRequest{
		Server: srv.URL, AppID: testKey, RoomID: room, UID: p.uid,
		Token: mint(p.t, room, p.uid), Resume: p.joined.Session,
	})
	if err != nil {
		p.t.Fatalf("%s: resume: %v", p.uid, err)
	}
	p.mu.Lock()
	p.sess = sess
	p.mu.Unlock()
	p.wg.Add(1)
	go p.run(sess)
	return joined
}

// run handles a session's events until its Events closes.
func (p *tpeer) run(sess engine.Session) {
	defer p.wg.Done()
	for ev := range sess.Events() {
		switch ev := ev.(type) {
		case engine.SubscribeOffer:
			p.answer(ev.SDP)
		case engine.PublishAnswer:
			p.mu.Lock()
			pc := p.pub
			p.mu.Unlock()
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.SDP}); err != nil {
				p.errorf("%s: publish answer: %v", p.uid, err)
			}
			p.flush(engine.PCPublish)
		case engine.RemoteCandidate:
			p.candidate(ev.PC, ev.Candidate)
		}
		p.mu.Lock()
		p.events = append(p.events, ev)
		p.notifyLocked()
		p.mu.Unlock()
	}
	p.mu.Lock()
	p.events = append(p.events, closedEvent{})
	p.notifyLocked()
	p.mu.Unlock()
}

// errorf fails the test, unless the peer is closing (a PeerConnection
// closed under a negotiation is no failure then).
func (p *tpeer) errorf(format string, args ...any) {
	select {
	case <-p.stop:
		p.t.Logf(format, args...)
	default:
		p.t.Errorf(format, args...)
	}
}

// closedEvent marks, in peer.events, that Events was closed.
type closedEvent struct{ engine.Event }

func (p *tpeer) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *tpeer) newPC(which engine.PC) *webrtc.PeerConnection {
	pc, err := p.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		p.t.Fatal(err)
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = p.session().Candidate(ctx, which, c.ToJSON())
	})
	return pc
}

func (p *tpeer) answer(sdp string) {
	p.mu.Lock()
	if p.sub == nil {
		p.sub = p.newPC(engine.PCSubscribe)
		p.sub.OnTrack(p.onTrack)
	}
	pc := p.sub
	p.mu.Unlock()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		p.errorf("%s: subscribe offer: %v", p.uid, err)
		return
	}
	p.flush(engine.PCSubscribe)
	ans, err := pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(ans)
	}
	if err != nil {
		p.errorf("%s: subscribe answer: %v", p.uid, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := p.session().SubscribeAnswer(ctx, ans.SDP); errors.Is(err, ErrClosed) {
		p.t.Logf("%s: subscribe answer after the session ended: %v", p.uid, err) // LiveKit ended it meanwhile
	} else if err != nil {
		p.errorf("%s: send subscribe answer: %v", p.uid, err)
	}
}

func (p *tpeer) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	uid, ok := p.session().TrackOwner(tr.StreamID(), tr.ID())
	n := &atomic.Int64{}
	p.mu.Lock()
	if ok {
		p.owners[tr.ID()] = uid
	}
	p.received[tr.ID()] = n
	p.notifyLocked()
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			n.Add(1)
			p.mu.Lock()
			p.notifyLocked()
			p.mu.Unlock()
		}
	}()
}

func (p *tpeer) candidate(which engine.PC, c webrtc.ICECandidateInit) {
	p.mu.Lock()
	q, pc := &p.pubCands, p.pub
	if which == engine.PCSubscribe {
		q, pc = &p.subCands, p.sub
	}
	if !q.set || pc == nil {
		q.cands = append(q.cands, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if err := pc.AddICECandidate(c); err != nil {
		p.t.Logf("%s: add %s candidate: %v", p.uid, which, err)
	}
}

func (p *tpeer) flush(which engine.PC) {
	p.mu.Lock()
	q, pc := &p.pubCands, p.pub
	if which == engine.PCSubscribe {
		q, pc = &p.subCands, p.sub
	}
	q.set = true
	cands := q.cands
	q.cands = nil
	p.mu.Unlock()
	for _, c := range cands {
		if err := pc.AddICECandidate(c); err != nil {
			p.t.Logf("%s: add %s candidate: %v", p.uid, which, err)
		}
	}
}

// publish publishes an Opus and a VP8 track and sends samples every 20 ms
// until the peer closes. It returns the tracks as declared.
func (p *tpeer) publish() []engine.Track {
	p.t.Helper()
	a, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, p.uid+"-audio", p.uid)
	if err != nil {
		p.t.Fatal(err)
	}
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, p.uid+"-video", p.uid)
	if err != nil {
		p.t.Fatal(err)
	}
	pc := p.newPC(engine.PCPublish)
	for _, tr := range []webrtc.TrackLocal{a, v} {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			p.t.Fatal(err)
		}
	}
	p.mu.Lock()
	p.pub = pc
	p.mu.Unlock()
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	tracks := []engine.Track{
		{ID: a.ID(), Kind: "audio", Codec: "opus", SampleRate: 48000, Channel: 2},
		{ID: v.ID(), Kind: "video", Codec: "VP8", Width: 16, Height: 16, FrameRate: 50},
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := p.session().PublishOffer(ctx, offer.SDP, tracks); err != nil {
		p.t.Fatalf("%s: publish: %v", p.uid, err)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				_ = a.WriteSample(pionmedia.Sample{Data: []byte{0xfc, 0xff, 0xfe}, Duration: 20 * time.Millisecond})
				_ = v.WriteSample(pionmedia.Sample{Data: vp8Keyframe, Duration: 20 * time.Millisecond})
			}
		}
	}()
	return tracks
}

// waitEvent waits for the first event from index from on that matches,
// and returns it with its index.
func (p *tpeer) waitEvent(from int, what string, match func(engine.Event) bool) (engine.Event, int) {
	p.t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for i := from; i < len(p.events); i++ {
			if match(p.events[i]) {
				ev := p.events[i]
				p.mu.Unlock()
				return ev, i
			}
		}
		ch := p.changed
		evs := fmt.Sprintf("%#v", p.events)
		p.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			p.t.Fatalf("%s: no %s within %s; events: %s", p.uid, what, wait, evs)
		}
	}
}

// mark is the index of the next event.
func (p *tpeer) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// waitPackets waits until at least n RTP packets came on a track of kind,
// and returns that track's id.
func (p *tpeer) waitPackets(kind string, n int64) string {
	p.t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for id, c := range p.received {
			if trackKind(id) == kind && c.Load() >= n {
				p.mu.Unlock()
				return id
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			p.t.Fatalf("%s: no %d %s packets within %s", p.uid, n, kind, wait)
		}
	}
}

// trackKind tells a LiveKit track sid's kind: TR_A… audio, TR_V… video.
func trackKind(sid string) string {
	if len(sid) > 3 && sid[3] == 'A' {
		return "audio"
	}
	return "video"
}

func (p *tpeer) count(id string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.received[id]; ok {
		return c.Load()
	}
	return 0
}

func (p *tpeer) owner(id string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.owners[id]
}

// close closes the session and the PeerConnections and waits for every
// goroutine of the peer.
func (p *tpeer) close() {
	select {
	case <-p.stop:
		return
	default:
		close(p.stop)
	}
	_ = p.session().Close("test done")
	p.mu.Lock()
	pcs := []*webrtc.PeerConnection{p.pub, p.sub}
	p.mu.Unlock()
	for _, pc := range pcs {
		if pc != nil {
			_ = pc.Close()
		}
	}
	p.wg.Wait()
}
