package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/engine/enginetest"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/token"
)

// Engine.Run against the in-memory backend: what a script sees on stdout
// for each thing a room service can do.

// running is one Engine.Run in a test.
type running struct {
	eng    *engine.Engine
	rec    *enginetest.Recorder
	tokens *enginetest.Tokens
	cancel context.CancelFunc
	done   chan error
}

// start runs an engine joined to fake as uid "me"; edit adjusts its Config.
// The engine is stopped when the test ends.
func start(t *testing.T, fake *enginetest.Fake, edit func(*engine.Config)) *running {
	t.Helper()
	r := &running{rec: enginetest.NewRecorder(), tokens: &enginetest.Tokens{Renew: true}, done: make(chan error, 1)}
	cfg := engine.Config{
		Backend: fake, Server: "fake://room", AppID: "app1", RoomID: enginetest.Room, UID: "me",
		Tokens: r.tokens, Events: r.rec, Logger: testLogger(t),
		ReconnectMax: 50 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.eng = eng
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- eng.Run(ctx) }()
	t.Cleanup(func() { _ = r.stop(t) })
	return r
}

// stop ends Run as SIGINT does and returns its result.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.result(t)
}

// result waits for Run to return.
func (r *running) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the next caller (cleanup)
		return err
	case <-time.After(enginetest.Wait):
		t.Fatal("Run did not return")
		return nil
	}
}

// newSource returns a publishable source, closed when the test ends.
func newSource(t *testing.T) *enginetest.Source {
	t.Helper()
	src, err := enginetest.NewSource()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// testLogger writes the engine's log to t.Log while the test runs.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

// describe renders an event with what identifies it, for comparisons.
func describe(l enginetest.Line) string {
	switch d := l.Data.(type) {
	case event.AuthResult:
		return fmt.Sprintf("%s %d", l.Name, d.Result)
	case event.PlayerState:
		return fmt.Sprintf("%s %s %s %s", l.Name, d.UID, d.State, d.Reason)
	case event.RemoteStream:
		return l.Name + " " + d.UID
	case event.UIDRoom:
		return l.Name + " " + d.UID
	}
	return l.Name
}

// story returns the events from index from on, described, without the
// periodic telemetry.
func story(r *enginetest.Recorder, from int) []string {
	var out []string
	for _, l := range r.Lines()[from:] {
		switch l.Name {
		case event.NetworkScore, event.ActiveSpeaker, event.AudioLevelReport, event.Exception:
			continue
		}
		out = append(out, describe(l))
	}
	return out
}

func isAuth(result int) func(any) bool {
	return func(d any) bool { a, ok := d.(event.AuthResult); return ok && a.Result == result }
}

func isUID(uid string) func(any) bool {
	return func(d any) bool {
		switch d := d.(type) {
		case event.RemoteStream:
			return d.UID == uid
		case event.UIDRoom:
			return d.UID == uid
		case event.PlayerState:
			return d.UID == uid
		}
		return false
	}
}

func checkStory(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("events\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// waitUntil polls cond until it holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(enginetest.Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, enginetest.Wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestJoin(t *testing.T) {
	auth := func(code int) error { return &engine.AuthError{Code: code} }
	unreachable := fmt.Errorf("%w: dial fake://room: connection refused", engine.ErrUnreachable)
	cases := []struct {
		name     string
		refuse   []error
		renew    bool
		wantCode int  // verdict of Run's *AuthError; 0: joined
		wantDown bool // Run fails with ErrUnreachable
		want     []string
		tokens   []bool // renew flag of every token asked for
	}{
		{name: "accepted", want: []string{"connected me", "sdk_auth_result 0"}, tokens: []bool{false}},
		{name: "bad signature", refuse: []error{auth(token.BadSignature)}, wantCode: token.BadSignature,
			want: []string{"connected me", "sdk_auth_result 10002"}, tokens: []bool{false}},
		{name: "banned", refuse: []error{auth(token.Banned)}, wantCode: token.Banned,
			want: []string{"connected me", "sdk_auth_result 10008"}, tokens: []bool{false}},
		{name: "expired, fixed token", refuse: []error{auth(token.Expired)}, wantCode: token.Expired,
			want: []string{"connected me", "sdk_auth_result 10005", "token_request"}, tokens: []bool{false}},
		{name: "expired, renewed", refuse: []error{auth(token.Expired)}, renew: true,
			want:   []string{"connected me", "sdk_auth_result 10005", "token_request", "connected me", "sdk_auth_result 0"},
			tokens: []bool{false, true}},
		{name: "expired, renewed, expired again", refuse: []error{auth(token.Expired), auth(token.Expired)}, renew: true,
			wantCode: token.Expired,
			want: []string{"connected me", "sdk_auth_result 10005", "token_request",
				"connected me", "sdk_auth_result 10005", "token_request"},
			tokens: []bool{false, true}},
		{name: "unreachable", refuse: []error{unreachable}, wantDown: true, tokens: []bool{false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := enginetest.New(t)
			fake.Refuse(c.refuse...)
			r := start(t, fake, func(cfg *engine.Config) {
				cfg.Subscribe = []string{"alice"}
				cfg.Tokens.(*enginetest.Tokens).Renew = c.renew
			})
			var err error
			if c.wantCode == 0 && !c.wantDown {
				r.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
				err = r.stop(t)
				if c := fake.WaitCall(t, "Leave", 1); c.Session != "S1" {
					t.Errorf("left session %q", c.Session)
				}
			} else {
				err = r.result(t)
			}
			var ae *engine.AuthError
			switch {
			case c.wantDown:
				if !errors.Is(err, engine.ErrUnreachable) {
					t.Fatalf("Run: %v, want ErrUnreachable", err)
				}
			case c.wantCode != 0:
				if !errors.As(err, &ae) || ae.Code != c.wantCode {
					t.Fatalf("Run: %v, want AuthError %d", err, c.wantCode)
				}
			case err != nil:
				t.Fatalf("Run: %v", err)
			}
			checkStory(t, story(r.rec, 0), c.want)
			if got := r.tokens.Calls(); !slices.Equal(got, c.tokens) {
				t.Errorf("token calls %v, want %v", got, c.tokens)
			}
			joins := fake.Joins()
			last := joins[len(joins)-1]
			if last.AppID != "app1" || last.RoomID != enginetest.Room || last.UID != "me" || last.Resume != "" ||
				!slices.Equal(last.Subscribe, []string{"alice"}) || last.Token != fmt.Sprintf("tok-%d", len(c.tokens)) {
				t.Errorf("join request %+v", last)
			}
		})
	}
}

// The publication: an offer declaring the source's tracks by the ids of
// their msid, a real answer, and media flowing once connected.
func TestPublish(t *testing.T) {
	fake := enginetest.New(t)
	src := newSource(t)
	r := start(t, fake, func(cfg *engine.Config) { cfg.Publish = src })
	offer := fake.WaitCall(t, "PublishOffer", 1)
	want := []engine.Track{
		{ID: "fake-audio", Kind: "audio", Codec: "opus", SampleRate: 48000, Channel: 2},
		{ID: "fake-video", Kind: "video", Codec: "VP8", Width: 16, Height: 16, FrameRate: 50},
	}
	if !slices.Equal(offer.Tracks, want) {
		t.Fatalf("declared tracks %+v, want %+v", offer.Tracks, want)
	}
	for _, tr := range want {
		if !strings.Contains(offer.SDP, "a=msid:fake-stream "+tr.ID) {
			t.Errorf("track %s not in the offer's msid lines", tr.ID)
		}
	}
	waitUntil(t, "media from the publication", func() bool {
		return fake.Received("audio") > 10 && fake.Received("video") > 10
	})
	if n := src.Starts(); n != 1 {
		t.Errorf("source started %d times", n)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	checkStory(t, story(r.rec, 0), []string{"connected me", "sdk_auth_result 0"})
}

// trackLog is a TrackHandler that keeps every sink it hands out.
type trackLog struct {
	mu    sync.Mutex
	sinks []*sink
	added chan *sink
}

func newTrackLog() *trackLog { return &trackLog{added: make(chan *sink, 16)} }

func (h *trackLog) HandleTrack(t *engine.RemoteTrack) engine.PacketSink {
	s := &sink{track: *t, closed: make(chan engine.EndReason, 2)}
	h.mu.Lock()
	h.sinks = append(h.sinks, s)
	h.mu.Unlock()
	h.added <- s
	return s
}

func (h *trackLog) next(t *testing.T) *sink {
	t.Helper()
	select {
	case s := <-h.added:
		return s
	case <-time.After(enginetest.Wait):
		t.Fatal("no subscribed track")
		return nil
	}
}

type sink struct {
	track   engine.RemoteTrack
	packets atomic.Int64
	after   atomic.Int64 // writes after Close
	ended   atomic.Bool
	closed  chan engine.EndReason
}

func (s *sink) WriteRTP(*rtp.Packet, time.Time) {
	if s.ended.Load() {
		s.after.Add(1)
	}
	s.packets.Add(1)
}

func (s *sink) SenderReport(time.Time, uint32) {}

func (s *sink) Close(reason engine.EndReason) {
	s.ended.Store(true)
	s.closed <- reason
}

// reason waits for Close and checks it came once.
func (s *sink) reason(t *testing.T) engine.EndReason {
	t.Helper()
	var r engine.EndReason
	select {
	case r = <-s.closed:
	case <-time.After(enginetest.Wait):
		t.Fatal("track not closed")
	}
	select {
	case again := <-s.closed:
		t.Fatalf("closed twice: %s, %s", r, again)
	case <-time.After(50 * time.Millisecond):
	}
	if n := s.after.Load(); n > 0 {
		t.Errorf("%d packets after Close", n)
	}
	return r
}

// A subscribed track: remote_stream_add, the first frame, the consumer's
// sink under its publisher's uid (the fake's stream ids are LiveKit's, so
// this goes through Session.TrackOwner) — and how it ends, with the reason
// the consumer is given.
func TestSubscribedTrackEnds(t *testing.T) {
	cases := []struct {
		name   string
		end    func(t *testing.T, fake *enginetest.Fake, r *running)
		reason engine.EndReason
		want   []string // events after the end
	}{
		{
			name:   "publisher left",
			end:    func(_ *testing.T, fake *enginetest.Fake, _ *running) { fake.RemovePublisher("alice") },
			reason: engine.ReasonStreamRemoved,
			want:   []string{"remote_stream_remove alice", "player_state_change alice end stream_removed"},
		},
		{
			name: "unsubscribed",
			end: func(t *testing.T, fake *enginetest.Fake, r *running) {
				r.eng.SetSubscriptions([]string{"bob"})
				if c := fake.WaitCall(t, "SetSubscriptions", 1); !slices.Equal(c.UIDs, []string{"bob"}) {
					t.Errorf("subscriptions %v", c.UIDs)
				}
			},
			reason: engine.ReasonUnsubscribed,
		},
		{
			name: "session lost",
			end: func(t *testing.T, fake *enginetest.Fake, r *running) {
				fake.RefuseResume()
				fake.Cut()
			},
			reason: engine.ReasonSessionLost,
			// The new session brings alice back, as a new track.
			want: []string{"reconnect me", "connected me", "sdk_auth_result 0",
				"remote_stream_remove alice", "player_state_change alice end session_lost", "remote_stream_add alice",
				"first_video_frame_decode alice", "player_state_change alice play first_frame"},
		},
		{
			name:   "engine stopped",
			end:    func(t *testing.T, _ *enginetest.Fake, r *running) { _ = r.stop(t) },
			reason: engine.ReasonLeft,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := enginetest.New(t)
			fake.AddPublisher(t, "alice")
			tracks := newTrackLog()
			r := start(t, fake, func(cfg *engine.Config) { cfg.Tracks = tracks })
			s := tracks.next(t)
			if s.track.UID != "alice" || s.track.Kind != "video" || s.track.Codec != "VP8" || s.track.RoomID != enginetest.Room {
				t.Fatalf("track %+v", s.track)
			}
			r.rec.WaitFor(t, 0, event.PlayerStateChange, isUID("alice"))
			checkStory(t, story(r.rec, 0), []string{
				"connected me", "sdk_auth_result 0", "remote_stream_add alice",
				"first_video_frame_decode alice", "player_state_change alice play first_frame",
			})
			waitUntil(t, "packets in the sink", func() bool { return s.packets.Load() > 5 })

			from := len(r.rec.Lines())
			c.end(t, fake, r)
			if got := s.reason(t); got != c.reason {
				t.Fatalf("closed with %q, want %q", got, c.reason)
			}
			if c.want != nil {
				last := c.want[len(c.want)-1]
				r.rec.WaitFor(t, from, strings.Fields(last)[0], func(d any) bool {
					return describe(enginetest.Line{Name: strings.Fields(last)[0], Data: d}) == last
				})
				checkStory(t, story(r.rec, from), c.want)
			}
		})
	}
}

// startMediaBothWays runs an engine that publishes in a room where alice
// publishes, and returns once media flows both ways.
func startMediaBothWays(t *testing.T) (*enginetest.Fake, *enginetest.Source, *running) {
	t.Helper()
	fake := enginetest.New(t)
	fake.AddPublisher(t, "alice")
	src := newSource(t)
	r := start(t, fake, func(cfg *engine.Config) { cfg.Publish = src })
	r.rec.WaitFor(t, 0, event.FirstVideoFrameDecode, isUID("alice"))
	waitUntil(t, "media from the publication", func() bool { return fake.Received("video") > 5 })
	return fake, src, r
}

// A transport cut within the resume window: reconnect, connected, the
// session resumed — no stream removed, no new publication, mute state told
// again, media flowing on.
func TestReconnectResumes(t *testing.T) {
	fake, _, r := startMediaBothWays(t)
	r.eng.Mute("audio", true)
	fake.WaitCall(t, "Mute", 1)

	from := len(r.rec.Lines())
	fake.Cut()
	r.rec.WaitFor(t, from, event.SDKAuthResult, isAuth(token.OK))
	if mute := fake.WaitCall(t, "Mute", 2); mute.Session != "S1" || mute.Kind != "audio" || !mute.Muted {
		t.Errorf("mute after resume %+v", mute)
	}
	if join := fake.WaitJoin(t, 2); join.Resume != "S1" {
		t.Errorf("rejoin resumes %q, want S1", join.Resume)
	}
	// The join's streams (alice, unchanged) come as an update.
	checkStory(t, story(r.rec, from), []string{"reconnect me", "connected me", "sdk_auth_result 0", "remote_stream_update alice"})
	n := fake.Received("video")
	waitUntil(t, "media after the resume", func() bool { return fake.Received("video") > n+5 })
	if got := fake.CountCalls("PublishOffer"); got != 1 {
		t.Errorf("%d publish offers", got)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

// A transport cut the service did not wait for: the rejoin is a new
// session; the old streams go (session_lost), the publication is offered
// again and the source started again.
func TestReconnectNewSession(t *testing.T) {
	fake, src, r := startMediaBothWays(t)

	fake.RefuseResume()
	from := len(r.rec.Lines())
	fake.Cut()
	r.rec.WaitFor(t, from, event.FirstVideoFrameDecode, isUID("alice"))
	got := story(r.rec, from)
	got = got[:slices.Index(got, "first_video_frame_decode alice")+1]
	checkStory(t, got, []string{
		"reconnect me", "connected me", "sdk_auth_result 0",
		"remote_stream_remove alice", "player_state_change alice end session_lost", "remote_stream_add alice",
		"first_video_frame_decode alice",
	})
	if join := fake.WaitJoin(t, 2); join.Resume != "S1" || fake.Session() != "S2" {
		t.Errorf("rejoin %+v into %s", join, fake.Session())
	}
	if offer := fake.WaitCall(t, "PublishOffer", 2); offer.Session != "S2" || len(offer.Tracks) != 2 {
		t.Errorf("publication offered again %+v", offer)
	}
	waitUntil(t, "media in the new session", func() bool { return fake.Received("video") > 5 && src.Starts() == 2 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

// Token renewal as the service asks for it: the SDK's callbacks, the token
// source asked with renew=true, the new token sent, and its verdict.
func TestTokenRenewal(t *testing.T) {
	cases := []struct {
		name  string
		ask   engine.Event
		renew bool
		want  []string
	}{
		{"will expire", engine.TokenExpiring{}, true, []string{"sdk_auth_result 10007", "token_will_expire"}},
		{"expired", engine.TokenRequested{}, true, []string{"sdk_auth_result 10005", "token_request"}},
		{"verdict 10007", engine.AuthVerdict{Result: token.WillExpire}, true, []string{"sdk_auth_result 10007", "token_will_expire"}},
		{"will expire, fixed token", engine.TokenExpiring{}, false, []string{"sdk_auth_result 10007", "token_will_expire"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := enginetest.New(t)
			r := start(t, fake, func(cfg *engine.Config) { cfg.Tokens.(*enginetest.Tokens).Renew = c.renew })
			from, _ := r.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
			from++
			fake.Send(c.ask)
			if c.renew {
				if up := fake.WaitCall(t, "UpdateToken", 1); up.Token != "tok-2" {
					t.Errorf("sent token %q", up.Token)
				}
			}
			// The verdict on the new token (or, without one, a marker that
			// the request was handled).
			fake.Send(engine.AuthVerdict{Result: token.OK})
			r.rec.WaitFor(t, from, event.SDKAuthResult, isAuth(token.OK))
			checkStory(t, story(r.rec, from), append(c.want, "sdk_auth_result 0"))
			wantCalls := []bool{false}
			if c.renew {
				wantCalls = append(wantCalls, true)
			}
			if got := r.tokens.Calls(); !slices.Equal(got, wantCalls) {
				t.Errorf("token calls %v, want %v", got, wantCalls)
			}
			if !c.renew && fake.CountCalls("UpdateToken") != 0 {
				t.Error("a fixed token was sent again")
			}
		})
	}
}

// A token the service refreshed itself (LiveKit's RefreshToken) is kept
// for the next join, silently, and nothing is asked of the token source.
func TestTokenRefreshedByService(t *testing.T) {
	fake := enginetest.New(t)
	r := start(t, fake, nil)
	from, _ := r.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
	fake.Send(engine.TokenRefreshed{Token: "lk-refreshed"})
	fake.Send(engine.AuthVerdict{Result: token.OK}) // a marker: the refresh was handled
	from, _ = r.rec.WaitFor(t, from+1, event.SDKAuthResult, isAuth(token.OK))
	fake.Cut()
	if join := fake.WaitJoin(t, 2); join.Token != "lk-refreshed" {
		t.Errorf("rejoined with %q", join.Token)
	}
	r.rec.WaitFor(t, from+1, event.SDKAuthResult, isAuth(token.OK))
	checkStory(t, story(r.rec, from), []string{"sdk_auth_result 0", "reconnect me", "connected me", "sdk_auth_result 0"})
	if got := r.tokens.Calls(); !slices.Equal(got, []bool{false}) {
		t.Errorf("token calls %v", got)
	}
}

// A refused publication: publish_auth_fail, and no new offer in a later
// session.
func TestPublishRefused(t *testing.T) {
	fake := enginetest.New(t)
	src := newSource(t)
	r := start(t, fake, func(cfg *engine.Config) { cfg.Publish = src })
	fake.WaitCall(t, "PublishOffer", 1)
	fake.Send(engine.PublishRefused{Result: token.NoPublishRight})
	_, d := r.rec.WaitFor(t, 0, event.PublishAuthFail, nil)
	if a := d.(event.AuthResult); a.UID != "me" || a.Result != token.NoPublishRight {
		t.Errorf("publish_auth_fail %+v", a)
	}
	fake.RefuseResume()
	fake.Cut()
	from, _ := r.rec.WaitFor(t, 0, event.Reconnect, nil)
	i, _ := r.rec.WaitFor(t, from, event.SDKAuthResult, isAuth(token.OK))
	// Handled after the new session's publication, if there were one.
	fake.Send(engine.AuthVerdict{Result: token.OK})
	r.rec.WaitFor(t, i+1, event.SDKAuthResult, isAuth(token.OK))
	if n := fake.CountCalls("PublishOffer"); n != 1 {
		t.Errorf("%d publish offers", n)
	}
}

// The service ending the session: a restart is a reconnect into a new
// session; otherwise Run ends, with the verdict when there is one.
func TestSessionEnded(t *testing.T) {
	cases := []struct {
		name  string
		ended engine.SessionEnded
		check func(t *testing.T, err error)
	}{
		{"server restart", engine.SessionEnded{Restart: true, Reason: "server closing"}, nil},
		{"token expired", engine.SessionEnded{Result: token.Expired, Reason: "token expired"}, func(t *testing.T, err error) {
			var ae *engine.AuthError
			if !errors.As(err, &ae) || ae.Code != token.Expired {
				t.Fatalf("Run: %v, want AuthError 10005", err)
			}
		}},
		{"replaced", engine.SessionEnded{Reason: "replaced"}, func(t *testing.T, err error) {
			if !errors.Is(err, engine.ErrSessionEnded) || !strings.Contains(err.Error(), "replaced") {
				t.Fatalf("Run: %v, want ErrSessionEnded", err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := enginetest.New(t)
			r := start(t, fake, nil)
			from, _ := r.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
			from++
			fake.Send(c.ended)
			if c.check != nil {
				c.check(t, r.result(t))
				checkStory(t, story(r.rec, from), nil)
				return
			}
			if join := fake.WaitJoin(t, 2); join.Resume != "" {
				t.Errorf("rejoin after a restart resumes %q", join.Resume)
			}
			r.rec.WaitFor(t, from, event.SDKAuthResult, isAuth(token.OK))
			checkStory(t, story(r.rec, from), []string{"reconnect me", "connected me", "sdk_auth_result 0"})
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// CountOnly (roomctl load's subscribers): the tracks reach the consumer's
// sink as always, but nothing is assembled, decoded or measured: no first
// frame, no player state, no downlink stats from the stats interceptor.
func TestCountOnly(t *testing.T) {
	fake := enginetest.New(t)
	fake.AddPublisher(t, "alice")
	tracks := newTrackLog()
	r := start(t, fake, func(cfg *engine.Config) { cfg.Tracks = tracks; cfg.CountOnly = true })
	s := tracks.next(t)
	if s.track.UID != "alice" || s.track.Kind != "video" {
		t.Fatalf("track %+v", s.track)
	}
	waitUntil(t, "packets in the sink", func() bool { return s.packets.Load() > 100 })
	// Two network scores: the quality telemetry ran with the track flowing.
	i, _ := r.rec.WaitFor(t, 0, event.NetworkScore, nil)
	r.rec.WaitFor(t, i+1, event.NetworkScore, nil)
	if r.rec.Count(0, event.FirstVideoFrameDecode)+r.rec.Count(0, event.PlayerStateChange) != 0 {
		t.Fatalf("frame events with CountOnly: %v", story(r.rec, 0))
	}
	down, err := r.eng.DownlinkStats(callCtx(t), "video")
	if err != nil {
		t.Fatal(err)
	}
	if len(down) != 1 || down[0].BytesReceived == 0 || down[0].PacketsReceived != 0 || down[0].FrameRate != nil && *down[0].FrameRate != 0 {
		t.Fatalf("downlink stats %+v: want bytes counted, no packet stats, no frames", down)
	}
}
