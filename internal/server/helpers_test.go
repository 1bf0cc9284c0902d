package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"go.uber.org/goleak"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testApp     = "app1"
	testSecret  = "app1-secret-0123456789abcdef0123456789"
	otherApp    = "app2"
	otherSecret = "app2-secret-0123456789abcdef0123456789"
	bannedUID   = "mallory"
	// wait bounds every wait for an event; generous for -race on a busy machine.
	wait = 15 * time.Second
)

// testLog writes the server's log to t.Log while the test runs.
type testLog struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

// startServer runs a server on 127.0.0.1:0 and returns its ws:// URL.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	reg, err := token.NewRegistry(
		token.App{ID: testApp, Secret: testSecret, Banned: []string{bannedUID}},
		token.App{ID: otherApp, Secret: otherSecret},
	)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Registry = reg
	lw := &testLog{t: t}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		lw.mu.Lock()
		lw.done = true
		lw.mu.Unlock()
	})
	return s, "ws://" + ln.Addr().String() + signal.Path
}

func mint(t *testing.T, room, uid string, ttl time.Duration, mod ...func(*token.Options)) string {
	t.Helper()
	o := token.Options{AppID: testApp, RoomID: room, UID: uid, TTL: ttl}
	for _, f := range mod {
		f(&o)
	}
	secret := testSecret
	if o.AppID == otherApp {
		secret = otherSecret
	}
	tok, err := token.Mint(secret, o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func joinMsg(room, uid, tok string) *signal.Message {
	return &signal.Message{Type: signal.TypeJoin, AppID: testApp, RoomID: room, UID: uid,
		Token: tok, Version: signal.Version}
}

// client is a test participant: a signaling socket whose reader also drives
// the client's PeerConnections (answers, subscribe offers, candidates) and
// hands every message to the test.
type client struct {
	t    *testing.T
	name string
	ws   *websocket.Conn
	msgs chan *signal.Message
	quit chan struct{}
	done chan struct{}

	api *webrtc.API

	mu         sync.Mutex
	pub, sub   *webrtc.PeerConnection
	pendingPub []webrtc.ICECandidateInit
	pendingSub []webrtc.ICECandidateInit
	subscribe  bool // answer subscribe offers

	tracks   sync.WaitGroup
	rtp      atomic.Int64
	gotTrack chan *webrtc.TrackRemote
	srs      chan uint32 // SSRCs of the RTCP sender reports the subscribe PC receives
}

func dial(t *testing.T, url, name string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	ws.SetReadLimit(1 << 20)
	c := &client{
		t: t, name: name, ws: ws,
		msgs:     make(chan *signal.Message, 1024),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		gotTrack: make(chan *webrtc.TrackRemote, 16),
		srs:      make(chan uint32, 64),
	}
	go c.readLoop()
	t.Cleanup(c.close)
	return c
}

func (c *client) close() {
	c.mu.Lock()
	pcs := []*webrtc.PeerConnection{c.pub, c.sub}
	c.mu.Unlock()
	for _, pc := range pcs {
		if pc != nil {
			_ = pc.Close()
		}
	}
	c.tracks.Wait()
	_ = c.ws.CloseNow()
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	<-c.done
}

func (c *client) readLoop() {
	defer close(c.done)
	defer close(c.msgs)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		m, err := signal.Decode(b)
		if err != nil {
			m = &signal.Message{Type: "!invalid", Reason: err.Error()}
		} else if err := c.drive(m); err != nil {
			m = &signal.Message{Type: "!failed", Reason: fmt.Sprintf("%s: %v", m.Type, err)}
		}
		select {
		case c.msgs <- m:
		case <-c.quit:
			return
		}
	}
}

func (c *client) send(m *signal.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	b, err := signal.Encode(m)
	if err == nil {
		err = c.ws.Write(ctx, websocket.MessageText, b)
	}
	if err != nil {
		c.t.Logf("%s: send %s: %v", c.name, m.Type, err)
	}
}

func (c *client) sendRaw(b []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("%s: send raw: %v", c.name, err)
	}
}

// next returns the next message, or nil when the socket closed.
func (c *client) next() *signal.Message {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		if m != nil && strings.HasPrefix(m.Type, "!") {
			c.t.Fatalf("%s: %s: %s", c.name, m.Type, m.Reason)
		}
		return m
	case <-time.After(wait):
		c.t.Fatalf("%s: no message within %v", c.name, wait)
		return nil
	}
}

// expect returns the next message and checks its type.
func (c *client) expect(typ string) *signal.Message {
	c.t.Helper()
	m := c.next()
	if m == nil {
		c.t.Fatalf("%s: socket closed, want %s", c.name, typ)
	}
	if m.Type != typ {
		c.t.Fatalf("%s: got %s %+v, want %s", c.name, m.Type, m, typ)
	}
	return m
}

// waitFor skips messages until one of type typ; a message of a forbidden type
// on the way fails the test.
func (c *client) waitFor(typ string, forbidden ...string) *signal.Message {
	c.t.Helper()
	for {
		m := c.next()
		if m == nil {
			c.t.Fatalf("%s: socket closed while waiting for %s", c.name, typ)
		}
		if m.Type == typ {
			return m
		}
		for _, f := range forbidden {
			if m.Type == f {
				c.t.Fatalf("%s: got %s %+v while waiting for %s", c.name, m.Type, m, typ)
			}
		}
	}
}

// expectClosed waits for the server to close the socket.
func (c *client) expectClosed() {
	c.t.Helper()
	for {
		m := c.next()
		if m == nil {
			return
		}
		c.t.Logf("%s: %s before close", c.name, m.Type)
	}
}

// join sends a join and checks that it is accepted.
func (c *client) join(room, tok string) *signal.Message {
	c.t.Helper()
	c.send(joinMsg(room, c.name, tok))
	m := c.expect(signal.TypeJoinResult)
	if m.Result != token.OK || m.Session == "" {
		c.t.Fatalf("%s: join_result %+v", c.name, m)
	}
	return m
}

// ping round-trips a ping; messages before the pong must not be of a
// forbidden type.
func (c *client) ping(forbidden ...string) {
	c.t.Helper()
	ts := time.Now().UnixMilli()
	c.send(&signal.Message{Type: signal.TypePing, TS: ts})
	m := c.waitFor(signal.TypePong, forbidden...)
	if m.TS != ts {
		c.t.Fatalf("%s: pong ts %d, want %d", c.name, m.TS, ts)
	}
}

// newTestAPI is a client-side pion API that works over loopback only.
func newTestAPI(t *testing.T) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// drive applies a signaling message to the client's PeerConnections.
func (c *client) drive(m *signal.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case m.Type == signal.TypeAnswer && m.PC == signal.PCPublish && c.pub != nil:
		if err := c.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			return err
		}
		return flush(c.pub, &c.pendingPub)
	case m.Type == signal.TypeOffer && m.PC == signal.PCSubscribe && c.subscribe:
		if c.sub == nil {
			if err := c.newSubscribePC(); err != nil {
				return err
			}
		}
		if err := c.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
			return err
		}
		if err := flush(c.sub, &c.pendingSub); err != nil {
			return err
		}
		answer, err := c.sub.CreateAnswer(nil)
		if err != nil {
			return err
		}
		c.send(&signal.Message{Type: signal.TypeAnswer, PC: signal.PCSubscribe, SDP: answer.SDP})
		return c.sub.SetLocalDescription(answer)
	case m.Type == signal.TypeCandidate:
		pc, pending := c.pub, &c.pendingPub
		if m.PC == signal.PCSubscribe {
			pc, pending = c.sub, &c.pendingSub
		}
		if pc == nil || pc.RemoteDescription() == nil {
			*pending = append(*pending, *m.Candidate)
			return nil
		}
		return pc.AddICECandidate(*m.Candidate)
	}
	return nil
}

func flush(pc *webrtc.PeerConnection, pending *[]webrtc.ICECandidateInit) error {
	for _, c := range *pending {
		if err := pc.AddICECandidate(c); err != nil {
			return err
		}
	}
	*pending = nil
	return nil
}

func (c *client) trickle(name string) func(*webrtc.ICECandidate) {
	return func(ci *webrtc.ICECandidate) {
		if ci == nil {
			return
		}
		init := ci.ToJSON()
		c.send(&signal.Message{Type: signal.TypeCandidate, PC: name, Candidate: &init})
	}
}

// newSubscribePC creates the client's subscribe PeerConnection; c.mu is held.
func (c *client) newSubscribePC() error {
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	pc.OnICECandidate(c.trickle(signal.PCSubscribe))
	pc.OnTrack(func(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		c.tracks.Add(1)
		defer c.tracks.Done()
		select {
		case c.gotTrack <- tr:
		default:
		}
		go func() {
			for {
				pkts, _, err := rcv.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok {
						select {
						case c.srs <- sr.SSRC:
						default:
						}
					}
				}
			}
		}()
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			c.rtp.Add(1)
		}
	})
	c.sub = pc
	return nil
}

// enableSubscribe makes the client answer subscribe offers.
func (c *client) enableSubscribe(api *webrtc.API) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.api = api
	c.subscribe = true
}

// vp8Keyframe is a frame whose header is a VP8 keyframe's (320x240).
var vp8Keyframe = append([]byte{0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}, make([]byte, 200)...)

// h264Frame is an Annex-B access unit: SPS, PPS and an IDR slice (the
// payloads are filler; only the NAL unit types matter to the packetizer).
var h264Frame = slices.Concat(
	[]byte{0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02, 0x80},
	[]byte{0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80},
	[]byte{0, 0, 0, 1, 0x65}, make([]byte, 300))

// publishVideo creates the client's publish PeerConnection with one VP8
// track, sends the offer and starts writing frames until the test ends. It
// returns the sender and a channel that gets the PLIs and NACKs the publisher
// receives.
func (c *client) publishVideo(api *webrtc.API, declare []signal.Track) (*webrtc.RTPSender, <-chan rtcp.Packet) {
	c.t.Helper()
	return c.publish(api, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, vp8Keyframe, declare)
}

// publish is publishVideo with another codec and frame.
func (c *client) publish(api *webrtc.API, codec webrtc.RTPCodecCapability, frame []byte,
	declare []signal.Track,
) (*webrtc.RTPSender, <-chan rtcp.Packet) {
	c.t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		c.t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(codec, "video", c.name)
	if err != nil {
		c.t.Fatal(err)
	}
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		c.t.Fatal(err)
	}
	pc.OnICECandidate(c.trickle(signal.PCPublish))
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	// The offer goes out before SetLocalDescription starts gathering, so
	// the server never gets a candidate before it; c.mu is held across
	// both, so an answer the read loop gets in between waits for the local
	// offer instead of failing in signaling state stable.
	c.mu.Lock()
	c.pub = pc
	c.send(&signal.Message{Type: signal.TypeOffer, PC: signal.PCPublish, SDP: offer.SDP, Tracks: declare})
	err = pc.SetLocalDescription(offer)
	c.mu.Unlock()
	if err != nil {
		c.t.Fatal(err)
	}

	feedback := make(chan rtcp.Packet, 64)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			pkts, _, err := tr.Sender().ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.TransportLayerNack:
					select {
					case feedback <- p:
					default:
					}
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := track.WriteSample(media.Sample{Data: frame, Duration: 20 * time.Millisecond}); err != nil &&
					!errors.Is(err, net.ErrClosed) {
					c.t.Logf("%s: write sample: %v", c.name, err)
				}
			}
		}
	}()
	// Runs before c.close (cleanups run last-registered first): stop writing,
	// close the PC so the RTCP reader ends.
	c.t.Cleanup(func() {
		close(stop)
		_ = pc.Close()
		wg.Wait()
	})
	return tr.Sender(), feedback
}

// waitUntil polls cond (for state without an event, like Rooms) until it
// holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
