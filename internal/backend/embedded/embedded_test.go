package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const wait = 10 * time.Second

// server is a scripted room server: it answers join with reply and hands
// every later message to the test; the test can send on the socket.
type server struct {
	url   string
	join  chan *signal.Message // the join received
	in    chan *signal.Message // what the client sent after joining
	conns chan *signal.Conn
}

func newServer(t *testing.T, reply signal.Message) *server {
	t.Helper()
	s := &server{join: make(chan *signal.Message, 4), in: make(chan *signal.Message, 64), conns: make(chan *signal.Conn, 4)}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := signal.Accept(w, r)
		if err != nil {
			return
		}
		defer func() { _ = c.Close("done") }()
		m, err := c.Recv(r.Context())
		if err != nil {
			return
		}
		s.join <- m
		res := reply
		if err := c.Send(r.Context(), &res); err != nil {
			return
		}
		s.conns <- c
		for {
			m, err := c.Recv(r.Context())
			if err != nil {
				return
			}
			s.in <- m
		}
	}))
	t.Cleanup(hs.Close)
	s.url = "ws" + strings.TrimPrefix(hs.URL, "http")
	return s
}

func (s *server) next(t *testing.T) *signal.Message {
	t.Helper()
	select {
	case m := <-s.in:
		return m
	case <-time.After(wait):
		t.Fatal("nothing received")
		return nil
	}
}

func (s *server) conn(t *testing.T) *signal.Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(wait):
		t.Fatal("no connection")
		return nil
	}
}

func joinReq(url string) engine.JoinRequest {
	return engine.JoinRequest{Server: url, AppID: "app1", RoomID: "r1", UID: "me", Token: "tok"}
}

func ctxWait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// Join: the join message as the protocol has it, the verdict, resume,
// and subscribe sent right after a joined join_result.
func TestJoin(t *testing.T) {
	alice := signal.Stream{UID: "alice", RoomID: "r1", Tracks: []signal.Track{{Kind: "video", Codec: "VP8", Width: 640, Height: 480, Muted: true}}}
	cases := []struct {
		name      string
		resume    string
		subscribe []string
		reply     signal.Message
		code      int // AuthError code; 0 joined
		resumed   bool
	}{
		{name: "new", reply: signal.Message{Type: signal.TypeJoinResult, Session: "s1", Streams: []signal.Stream{alice}}},
		{name: "resumed", resume: "s1", reply: signal.Message{Type: signal.TypeJoinResult, Session: "s1"}, resumed: true},
		{name: "not resumed", resume: "s1", reply: signal.Message{Type: signal.TypeJoinResult, Session: "s2"}},
		{name: "subscribe", subscribe: []string{"alice", "bob"}, reply: signal.Message{Type: signal.TypeJoinResult, Session: "s1"}},
		{name: "bad signature", reply: signal.Message{Type: signal.TypeJoinResult, Result: token.BadSignature}, code: token.BadSignature},
		{name: "expired", reply: signal.Message{Type: signal.TypeJoinResult, Result: token.Expired}, code: token.Expired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newServer(t, c.reply)
			req := joinReq(srv.url)
			req.Resume, req.Subscribe = c.resume, c.subscribe
			connected := 0
			req.Connected = func() { connected++ }
			sess, joined, err := New(Config{}).Join(ctxWait(t), req)
			if connected != 1 {
				t.Errorf("Connected called %d times", connected)
			}
			want := &signal.Message{Type: signal.TypeJoin, AppID: "app1", RoomID: "r1", UID: "me", Token: "tok", Version: signal.Version, Session: c.resume}
			if got := <-srv.join; !reflect.DeepEqual(got, want) {
				t.Errorf("join %+v, want %+v", got, want)
			}
			if c.code != 0 {
				var ae *engine.AuthError
				if !errors.As(err, &ae) || ae.Code != c.code {
					t.Fatalf("Join: %v, want AuthError %d", err, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sess.Close("test") }()
			if joined.Session != c.reply.Session || joined.Resumed != c.resumed {
				t.Errorf("joined %+v", joined)
			}
			if len(c.reply.Streams) > 0 {
				want := []engine.Stream{{UID: "alice", RoomID: "r1", Tracks: []engine.Track{{Kind: "video", Codec: "VP8", Width: 640, Height: 480, Muted: true}}}}
				if !reflect.DeepEqual(joined.Streams, want) {
					t.Errorf("streams %+v", joined.Streams)
				}
			}
			if c.subscribe != nil {
				if m := srv.next(t); m.Type != signal.TypeSubscribe || !reflect.DeepEqual(m.UIDs, c.subscribe) {
					t.Errorf("after join: %+v", m)
				}
			}
		})
	}
}

func TestJoinUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + ln.Addr().String()
	_ = ln.Close()
	req := joinReq(url)
	req.Connected = func() { t.Error("connected without a server") }
	if _, _, err := New(Config{}).Join(ctxWait(t), req); !errors.Is(err, engine.ErrUnreachable) {
		t.Fatalf("Join: %v, want ErrUnreachable", err)
	}
}

// Every request is the message PROTOCOL.md gives it.
func TestRequests(t *testing.T) {
	srv := newServer(t, signal.Message{Type: signal.TypeJoinResult, Session: "s1"})
	sess, _, err := New(Config{}).Join(ctxWait(t), joinReq(srv.url))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sess.Close("test") }()
	cand := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host"}
	track := engine.Track{ID: "t1", Kind: "audio", Codec: "opus", SampleRate: 48000, Channel: 2, Bitrate: 32}
	ctx := ctxWait(t)
	cases := []struct {
		name string
		call func() error
		want signal.Message
	}{
		{"publish offer", func() error { return sess.PublishOffer(ctx, "v=0", []engine.Track{track}) },
			signal.Message{Type: signal.TypeOffer, PC: signal.PCPublish, SDP: "v=0", Tracks: []signal.Track{{Kind: "audio", Codec: "opus", SampleRate: 48000, Channel: 2, Bitrate: 32}}}},
		{"publish re-offer", func() error { return sess.PublishOffer(ctx, "v=0", nil) },
			signal.Message{Type: signal.TypeOffer, PC: signal.PCPublish, SDP: "v=0"}},
		{"subscribe answer", func() error { return sess.SubscribeAnswer(ctx, "v=0") },
			signal.Message{Type: signal.TypeAnswer, PC: signal.PCSubscribe, SDP: "v=0"}},
		{"publish candidate", func() error { return sess.Candidate(ctx, engine.PCPublish, cand) },
			signal.Message{Type: signal.TypeCandidate, PC: signal.PCPublish, Candidate: &cand}},
		{"subscribe candidate", func() error { return sess.Candidate(ctx, engine.PCSubscribe, cand) },
			signal.Message{Type: signal.TypeCandidate, PC: signal.PCSubscribe, Candidate: &cand}},
		{"restart ice", func() error { return sess.RestartSubscribeICE(ctx) },
			signal.Message{Type: signal.TypeRestartICE, PC: signal.PCSubscribe}},
		{"mute", func() error { return sess.Mute(ctx, "video", true) },
			signal.Message{Type: signal.TypeMute, Kind: "video", Muted: true}},
		{"unmute", func() error { return sess.Mute(ctx, "audio", false) },
			signal.Message{Type: signal.TypeMute, Kind: "audio"}},
		{"update token", func() error { return sess.UpdateToken(ctx, "tok2") },
			signal.Message{Type: signal.TypeUpdateToken, Token: "tok2"}},
		{"subscribe", func() error { return sess.SetSubscriptions(ctx, []string{"bob"}) },
			signal.Message{Type: signal.TypeSubscribe, UIDs: []string{"bob"}}},
		{"subscribe to everyone", func() error { return sess.SetSubscriptions(ctx, nil) },
			signal.Message{Type: signal.TypeSubscribe}},
		{"leave", func() error { return sess.Leave(ctx) },
			signal.Message{Type: signal.TypeLeave}},
	}
	for _, c := range cases {
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, _ := json.Marshal(srv.next(t))
		want, _ := json.Marshal(&c.want)
		if string(got) != string(want) {
			t.Errorf("%s: sent %s, want %s", c.name, got, want)
		}
	}
	// A ping carries the sender's clock.
	before := time.Now().UnixMilli()
	if err := sess.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if m := srv.next(t); m.Type != signal.TypePing || m.TS < before || m.TS > time.Now().UnixMilli() {
		t.Errorf("ping %+v", m)
	}
}

// The server's messages as the engine's events, in order; one the engine
// does not need is skipped; the socket's end closes Events.
func TestEvents(t *testing.T) {
	srv := newServer(t, signal.Message{Type: signal.TypeJoinResult, Session: "s1"})
	sess, _, err := New(Config{}).Join(ctxWait(t), joinReq(srv.url))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sess.Close("test") }()
	c := srv.conn(t)
	ctx := ctxWait(t)
	for _, m := range []*signal.Message{
		{Type: signal.TypeStreamAdd, Stream: &signal.Stream{UID: "alice", RoomID: "r1"}},
		{Type: signal.TypeJoinResult}, // nothing the engine needs
		{Type: signal.TypePong, TS: time.Now().UnixMilli()},
	} {
		if err := c.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"engine.StreamAdded", "engine.Pong"}
	for _, w := range want {
		select {
		case ev := <-sess.Events():
			if got := reflect.TypeOf(ev).String(); got != w {
				t.Errorf("event %s, want %s", got, w)
			}
		case <-time.After(wait):
			t.Fatalf("no %s", w)
		}
	}
	_ = c.Close("bye")
	select {
	case _, ok := <-sess.Events():
		if ok {
			t.Error("an event after the socket closed")
		}
	case <-time.After(wait):
		t.Fatal("Events not closed after the socket closed")
	}
	_ = sess.Close("after the server")
	_ = sess.Close("idempotent")
}

func TestEventOf(t *testing.T) {
	now := time.UnixMilli(10_000)
	cand := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host"}
	stream := &signal.Stream{UID: "alice", RoomID: "r1", Tracks: []signal.Track{{Kind: "audio", Codec: "opus", Muted: true}}}
	estream := engine.Stream{UID: "alice", RoomID: "r1", Tracks: []engine.Track{{Kind: "audio", Codec: "opus", Muted: true}}}
	cases := []struct {
		m    signal.Message
		want engine.Event
	}{
		{signal.Message{Type: signal.TypeStreamAdd, Stream: stream}, engine.StreamAdded{Stream: estream}},
		{signal.Message{Type: signal.TypeStreamUpdate, Stream: stream}, engine.StreamUpdated{Stream: estream}},
		{signal.Message{Type: signal.TypeStreamRemove, Stream: stream}, engine.StreamRemoved{UID: "alice"}},
		{signal.Message{Type: signal.TypeOffer, PC: signal.PCSubscribe, SDP: "o"}, engine.SubscribeOffer{SDP: "o"}},
		{signal.Message{Type: signal.TypeOffer, PC: signal.PCPublish, SDP: "o"}, nil},
		{signal.Message{Type: signal.TypeAnswer, PC: signal.PCPublish, SDP: "a"}, engine.PublishAnswer{SDP: "a"}},
		{signal.Message{Type: signal.TypeAnswer, PC: signal.PCSubscribe, SDP: "a"}, nil},
		{signal.Message{Type: signal.TypeCandidate, PC: signal.PCPublish, Candidate: &cand}, engine.RemoteCandidate{PC: engine.PCPublish, Candidate: cand}},
		{signal.Message{Type: signal.TypeCandidate, PC: signal.PCSubscribe, Candidate: &cand}, engine.RemoteCandidate{PC: engine.PCSubscribe, Candidate: cand}},
		{signal.Message{Type: signal.TypePublishRefused, Result: token.NoPublishRight}, engine.PublishRefused{Result: token.NoPublishRight}},
		{signal.Message{Type: signal.TypeAuthResult, Result: token.WillExpire}, engine.AuthVerdict{Result: token.WillExpire}},
		{signal.Message{Type: signal.TypeTokenWillExpire, Token: "old"}, engine.TokenExpiring{}},
		{signal.Message{Type: signal.TypeTokenRequest}, engine.TokenRequested{}},
		{signal.Message{Type: signal.TypeBye, Code: signal.ErrServerClosing, Reason: "server closing"}, engine.SessionEnded{Reason: "server closing", Restart: true}},
		{signal.Message{Type: signal.TypeBye, Code: signal.ErrReplaced, Reason: "replaced"}, engine.SessionEnded{Reason: "replaced"}},
		{signal.Message{Type: signal.TypeBye, Result: token.Expired, Reason: "token expired"}, engine.SessionEnded{Result: token.Expired, Reason: "token expired"}},
		{signal.Message{Type: signal.TypePong, TS: 9_970}, engine.Pong{RTT: 30 * time.Millisecond}},
		{signal.Message{Type: signal.TypeError, Code: signal.ErrRateExceeded, Reason: "slow down"}, engine.ServerError{Code: signal.ErrRateExceeded, Reason: "slow down"}},
		{signal.Message{Type: signal.TypeJoinResult}, nil},
	}
	for _, c := range cases {
		if got := eventOf(&c.m, now); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s: %#v, want %#v", c.m.Type, c.m.PC, got, c.want)
		}
	}
}

func TestTrackOwner(t *testing.T) {
	s := &session{}
	for _, c := range []struct {
		stream string
		uid    string
		ok     bool
	}{
		{"alice", "alice", true},
		{"PA_x|TR_y", "PA_x|TR_y", false},
		{"", "", false},
	} {
		if uid, ok := s.TrackOwner(c.stream, "alice-video"); uid != c.uid || ok != c.ok {
			t.Errorf("TrackOwner(%q) = %q, %v", c.stream, uid, ok)
		}
	}
}
