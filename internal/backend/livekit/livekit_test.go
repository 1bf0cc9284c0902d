package livekit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/internal/token"
)

// Every test ends with no goroutine of the backend, its sessions or the
// test's PeerConnections left.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newBackend is a Backend whose HTTP client keeps no idle connection
// (no goroutine outlives a test).
func newBackend(t testing.TB) *Backend {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return New(Config{HTTPClient: &http.Client{Transport: tr}, Logger: log})
}

// testWriter logs a Backend's lines through t (with -v).
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func isStream(uid string, want func(engine.Stream) bool) func(engine.Event) bool {
	return func(ev engine.Event) bool {
		var s engine.Stream
		switch ev := ev.(type) {
		case engine.StreamAdded:
			s = ev.Stream
		case engine.StreamUpdated:
			s = ev.Stream
		default:
			return false
		}
		return s.UID == uid && (want == nil || want(s))
	}
}

// full: the stream has both tracks (LiveKit lists a track once its media
// reached the SFU, so the first StreamAdded may carry only one).
func full(s engine.Stream) bool { return s.Track("audio") != nil && s.Track("video") != nil }

func is[T engine.Event](ev engine.Event) bool {
	_, ok := ev.(T)
	return ok
}

func TestJoinAndPing(t *testing.T) {
	srv := startServer(t)
	b := newBackend(t)
	room := roomName(t)
	connected := 0
	alice := join(t, b, srv, room, "alice", func(r *engine.JoinRequest) { r.Connected = func() { connected++ } })
	if connected != 1 {
		t.Errorf("Connected called %d times, want 1", connected)
	}
	if !strings.HasPrefix(alice.joined.Session, "PA_") || alice.joined.Resumed || len(alice.joined.Streams) != 0 {
		t.Errorf("joined = %+v, want a new PA_ session without streams", alice.joined)
	}
	from := alice.mark()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := alice.session().Ping(ctx); err != nil {
		t.Fatal(err)
	}
	ev, _ := alice.waitEvent(from, "Pong", is[engine.Pong])
	if rtt := ev.(engine.Pong).RTT; rtt <= 0 || rtt > wait {
		t.Errorf("RTT = %s", rtt)
	}
	// LiveKit renews the token at once after a join.
	alice.waitEvent(0, "TokenRefreshed", func(ev engine.Event) bool {
		r, ok := ev.(engine.TokenRefreshed)
		return ok && r.Token != ""
	})
	// Close twice; Events closes; requests fail.
	for range 2 {
		if err := alice.session().Close("done"); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	alice.waitEvent(0, "Events closed", is[closedEvent])
	if err := alice.session().Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close: %v, want ErrClosed", err)
	}
}

func TestRefusals(t *testing.T) {
	srv := startServer(t)
	b := newBackend(t)
	room := roomName(t)
	now := time.Now()
	cases := []struct {
		name  string
		token string
		want  int
	}{
		{"wrong secret", rawToken(t, testKey, "another-secret-0123456789abcdef-0123456", room, "alice", now, now.Add(time.Hour)), token.BadSignature},
		{"unknown key", rawToken(t, "nokey", testSecret, room, "alice", now, now.Add(time.Hour)), token.UnknownApp},
		{"expired", rawToken(t, testKey, testSecret, room, "alice", now.Add(-time.Hour), now.Add(-5*time.Minute)), token.Expired},
		{"not valid yet", rawToken(t, testKey, testSecret, room, "alice", now.Add(5*time.Minute), now.Add(time.Hour)), token.BadSignature},
		{"missing", "", token.NoToken},
		{"not a jwt", "garbage", token.BadSignature},
		{"another room", mint(t, "elsewhere", "alice"), token.UIDMismatch},
		{"another identity", mint(t, room, "mallory"), token.UIDMismatch},
		{"another room, wrong secret", rawToken(t, testKey, "another-secret-0123456789abcdef-0123456", "elsewhere", "alice", now, now.Add(time.Hour)), token.BadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			connected := false
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			sess, _, err := b.Join(ctx, engine.JoinRequest{
				Server: srv.URL, AppID: testKey, RoomID: room, UID: "alice", Token: c.token,
				Connected: func() { connected = true },
			})
			if sess != nil {
				_ = sess.Close("unexpected")
			}
			var ae *engine.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an *engine.AuthError", err)
			}
			t.Logf("verdict %d: %s", ae.Code, ae.Reason)
			if ae.Code != c.want {
				t.Errorf("verdict = %d (%s), want %d", ae.Code, ae.Reason, c.want)
			}
			if !connected {
				t.Error("Connected was not called before the verdict")
			}
			if c.token != "" && strings.Contains(ae.Reason, c.token) {
				t.Errorf("the reason carries the token: %q", ae.Reason)
			}
		})
	}
	t.Run("app id", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, _, err := b.Join(ctx, engine.JoinRequest{Server: srv.URL, AppID: "another-app", RoomID: room, UID: "alice", Token: mint(t, room, "alice")})
		var ae *engine.AuthError
		if !errors.As(err, &ae) || ae.Code != token.AppMismatch {
			t.Fatalf("err = %v, want verdict %d", err, token.AppMismatch)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		connected := false
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, _, err := b.Join(ctx, engine.JoinRequest{
			Server: "ws://" + testutil.FreeTCPAddr(t), AppID: testKey, RoomID: room, UID: "alice",
			Token: mint(t, room, "alice"), Connected: func() { connected = true },
		})
		if !errors.Is(err, engine.ErrUnreachable) {
			t.Fatalf("err = %v, want ErrUnreachable", err)
		}
		if connected {
			t.Error("Connected was called")
		}
	})
}

// TestMedia: bob is in the room when alice publishes; carol joins after.
func TestMedia(t *testing.T) {
	srv := startServer(t)
	b := newBackend(t)
	room := roomName(t)
	alice := join(t, b, srv, room, "alice", nil)
	bob := join(t, b, srv, room, "bob", nil)
	alice.publish()

	ev, _ := bob.waitEvent(0, "alice's stream with audio and video", isStream("alice", full))
	s := streamOfEvent(ev)
	if v := s.Track("video"); v.Codec != "VP8" || v.Width != 16 || v.Height != 16 || v.Muted || !strings.HasPrefix(v.ID, "TR_") {
		t.Errorf("video track = %+v", v)
	}
	if a := s.Track("audio"); a.Codec != "opus" || a.Muted {
		t.Errorf("audio track = %+v", a)
	}
	if s.RoomID != room {
		t.Errorf("stream room = %q, want %q", s.RoomID, room)
	}
	bob.waitEvent(0, "a subscribe offer", is[engine.SubscribeOffer])
	video := bob.waitPackets("video", 20)
	audio := bob.waitPackets("audio", 20)
	for _, id := range []string{video, audio} {
		if got := bob.owner(id); got != "alice" {
			t.Errorf("TrackOwner(%s) = %q, want alice", id, got)
		}
	}
	if v := s.Track("video"); v.ID != video {
		t.Errorf("received video %s, stream says %s", video, v.ID)
	}

	carol := join(t, b, srv, room, "carol", nil)
	if len(carol.joined.Streams) != 1 || carol.joined.Streams[0].UID != "alice" || !full(carol.joined.Streams[0]) {
		t.Errorf("carol joined with streams %+v, want alice's two tracks", carol.joined.Streams)
	}
	carol.waitPackets("video", 5)

	// Mute: the others see the track muted.
	from := bob.mark()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := alice.session().Mute(ctx, "video", true); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(from, "alice's video muted", func(ev engine.Event) bool {
		u, ok := ev.(engine.StreamUpdated)
		return ok && u.Stream.UID == "alice" && u.Stream.Track("video").Muted && !u.Stream.Track("audio").Muted
	})
	if err := alice.session().Mute(ctx, "video", false); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(from, "alice's video unmuted", func(ev engine.Event) bool {
		u, ok := ev.(engine.StreamUpdated)
		return ok && u.Stream.UID == "alice" && !u.Stream.Track("video").Muted
	})

	// Leave: the others see the stream removed; alice's Events end.
	from = bob.mark()
	if err := alice.session().Leave(ctx); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(from, "alice's stream removed", func(ev engine.Event) bool {
		r, ok := ev.(engine.StreamRemoved)
		return ok && r.UID == "alice"
	})
	alice.waitEvent(0, "Events closed", is[closedEvent])
}

func streamOfEvent(ev engine.Event) engine.Stream {
	switch ev := ev.(type) {
	case engine.StreamAdded:
		return ev.Stream
	case engine.StreamUpdated:
		return ev.Stream
	}
	return engine.Stream{}
}

// TestResume drops bob's socket and resumes: the PeerConnections and the
// streams hold, what changed meanwhile comes as events.
func TestResume(t *testing.T) {
	srv := startServer(t)
	b := newBackend(t)
	room := roomName(t)
	alice := join(t, b, srv, room, "alice", nil)
	carol := join(t, b, srv, room, "carol", nil)
	bob := join(t, b, srv, room, "bob", nil)
	alice.publish()
	carol.publish()
	bob.waitEvent(0, "alice's full stream", isStream("alice", full))
	bob.waitEvent(0, "carol's full stream", isStream("carol", full))
	video := bob.waitPackets("video", 10)

	// carol leaves while bob's socket is down.
	_ = bob.session().Close("dropped by the test")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := carol.session().Leave(ctx); err != nil {
		t.Fatal(err)
	}
	carol.waitEvent(0, "carol's Events closed", is[closedEvent])
	from := bob.mark()
	before := bob.count(video)
	j := bob.resume(b, srv, room)
	if !j.Resumed || j.Session != bob.joined.Session {
		t.Fatalf("resume joined %+v, want Resumed with session %s", j, bob.joined.Session)
	}
	bob.waitEvent(from, "carol's stream removed", func(ev engine.Event) bool {
		r, ok := ev.(engine.StreamRemoved)
		return ok && r.UID == "carol"
	})
	bob.waitEvent(from, "the ICE-restart offer", is[engine.SubscribeOffer])
	bob.waitPackets("video", before+25) // media goes on on the same PeerConnection
	if err := alice.session().Mute(ctx, "audio", true); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(from, "alice's audio muted", func(ev engine.Event) bool {
		u, ok := ev.(engine.StreamUpdated)
		return ok && u.Stream.UID == "alice" && u.Stream.Track("audio").Muted
	})
	bob.mu.Lock()
	for _, ev := range bob.events[from:] {
		if a, ok := ev.(engine.StreamAdded); ok {
			t.Errorf("after the resume: %+v (the streams told before should carry over)", a)
		}
		if r, ok := ev.(engine.StreamRemoved); ok && r.UID == "alice" {
			t.Errorf("after the resume: %+v", r)
		}
	}
	bob.mu.Unlock()

	// The publisher resumes: its media goes on, and Mute still knows its
	// track sids.
	if j := alice.resume(b, srv, room); !j.Resumed {
		t.Fatalf("alice's resume: %+v", j)
	}
	bob.waitPackets("video", bob.count(video)+25)
	from = bob.mark()
	if err := alice.session().Mute(ctx, "video", true); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(from, "alice's video muted", func(ev engine.Event) bool {
		u, ok := ev.(engine.StreamUpdated)
		return ok && u.Stream.UID == "alice" && u.Stream.Track("video").Muted
	})
}

// TestResumeLost: resuming a session LiveKit does not have joins anew.
func TestResumeLost(t *testing.T) {
	srv := startServer(t)
	b := newBackend(t)
	room := roomName(t)
	dave := join(t, b, srv, room, "dave", func(r *engine.JoinRequest) { r.Resume = "PA_gone" })
	if dave.joined.Resumed || dave.joined.Session == "PA_gone" || !strings.HasPrefix(dave.joined.Session, "PA_") {
		t.Fatalf("joined %+v, want a new session", dave.joined)
	}
}

// TestRestartSubscribeICE: the session resumes on a new socket by itself
// and the engine gets an ICE-restart offer, its Events going on.
func TestRestartSubscribeICE(t *testing.T) {
	srv := startServer(t)
	b := newBackend(t)
	room := roomName(t)
	alice := join(t, b, srv, room, "alice", nil)
	bob := join(t, b, srv, room, "bob", nil)
	alice.publish()
	video := bob.waitPackets("video", 10)
	from := bob.mark()
	before := bob.count(video)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := bob.session().RestartSubscribeICE(ctx); err != nil {
		t.Fatal(err)
	}
	ev, _ := bob.waitEvent(from, "the ICE-restart offer", is[engine.SubscribeOffer])
	if !strings.Contains(ev.(engine.SubscribeOffer).SDP, "a=ice-ufrag:") {
		t.Errorf("offer without ufrag")
	}
	bob.waitPackets("video", before+25)
	// The new socket carries requests and answers.
	if err := bob.session().Ping(ctx); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(from, "Pong", is[engine.Pong])
	bob.mu.Lock()
	defer bob.mu.Unlock()
	for _, ev := range bob.events[from:] {
		if _, ok := ev.(closedEvent); ok {
			t.Error("Events closed")
		}
	}
}

func TestPublishRefused(t *testing.T) {
	srv := startServer(t)
	b := newBackend(t)
	room := roomName(t)
	tok, err := MintToken(testKey, testSecret, room, "viewer", time.Hour, false, true)
	if err != nil {
		t.Fatal(err)
	}
	v := join(t, b, srv, room, "viewer", func(r *engine.JoinRequest) { r.Token = tok })
	v.publish()
	ev, _ := v.waitEvent(0, "PublishRefused", is[engine.PublishRefused])
	if r := ev.(engine.PublishRefused).Result; r != token.NoPublishRight {
		t.Errorf("result = %d, want %d", r, token.NoPublishRight)
	}
}

// TestSubscriptions: bob subscribes to nobody at first (auto_subscribe=0),
// then to alice, then to nobody again.
func TestSubscriptions(t *testing.T) {
	srv := startServer(t)
	b := newBackend(t)
	room := roomName(t)
	alice := join(t, b, srv, room, "alice", nil)
	bob := join(t, b, srv, room, "bob", func(r *engine.JoinRequest) { r.Subscribe = []string{"nobody"} })
	alice.publish()
	ev, _ := bob.waitEvent(0, "alice's full stream", isStream("alice", full))
	s := streamOfEvent(ev)
	video := s.Track("video").ID
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := bob.session().SetSubscriptions(ctx, []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	if got := bob.waitPackets("video", 10); got != video {
		t.Errorf("received %s, want %s", got, video)
	}
	from := bob.mark()
	if err := bob.session().SetSubscriptions(ctx, []string{"nobody"}); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(from, "an offer without alice's video", func(ev engine.Event) bool {
		o, ok := ev.(engine.SubscribeOffer)
		return ok && !slicesContains(sendingTracks(o.SDP), video)
	})
}

// sendingTracks lists the msid track ids of an offer's m-sections that
// send.
func sendingTracks(sdp string) []string {
	var out []string
	for _, sec := range strings.Split(sdp, "\r\nm=")[1:] {
		if !strings.Contains(sec, "a=sendonly") && !strings.Contains(sec, "a=sendrecv") {
			continue
		}
		for _, l := range strings.Split(sec, "\r\n") {
			if rest, ok := strings.CutPrefix(l, "a=msid:"); ok {
				if _, tr, ok := strings.Cut(rest, " "); ok {
					out = append(out, tr)
				}
			}
		}
	}
	return out
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestUpdateToken(t *testing.T) {
	srv := startServer(t)
	b := newBackend(t)
	room := roomName(t)
	alice := join(t, b, srv, room, "alice", nil)
	now := time.Now()
	cases := []struct {
		name  string
		token string
		want  int
	}{
		{"fresh", mint(t, room, "alice"), token.OK},
		{"wrong secret", rawToken(t, testKey, "another-secret-0123456789abcdef-0123456", room, "alice", now, now.Add(time.Hour)), token.BadSignature},
		{"expired", rawToken(t, testKey, testSecret, room, "alice", now.Add(-time.Hour), now.Add(-5*time.Minute)), token.Expired},
		{"another room", mint(t, "elsewhere", "alice"), token.UIDMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			from := alice.mark()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := alice.session().UpdateToken(ctx, c.token); err != nil {
				t.Fatal(err)
			}
			ev, _ := alice.waitEvent(from, "AuthVerdict", is[engine.AuthVerdict])
			if got := ev.(engine.AuthVerdict).Result; got != c.want {
				t.Errorf("verdict = %d, want %d", got, c.want)
			}
		})
	}
}

// TestReplaced: a second join under the same identity ends the first
// session, as roomctl serve's "replaced".
func TestReplaced(t *testing.T) {
	srv := startServer(t)
	b := newBackend(t)
	room := roomName(t)
	first := join(t, b, srv, room, "alice", nil)
	join(t, b, srv, room, "alice", nil)
	ev, _ := first.waitEvent(0, "SessionEnded", is[engine.SessionEnded])
	if e := ev.(engine.SessionEnded); e.Reason != "replaced" || e.Restart || e.Result != 0 {
		t.Errorf("ended = %+v, want replaced without restart", e)
	}
	first.waitEvent(0, "Events closed", is[closedEvent])
}
