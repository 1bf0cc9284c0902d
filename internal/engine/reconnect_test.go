package engine_test

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/engine/enginetest"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/token"
)

// What pion calls on PeerConnections the engine has closed — callbacks it
// queued before the close and that run after it, or that come late — must
// not reach the script: after a new session replaced both PeerConnections,
// the old ones' ICE going down, connecting, and gathering print nothing,
// start nothing and send nothing. (Issue 15 #4: a stray
// stream_reconnect_start 38 ms after the new connected, never ended.)
func TestCallbacksOfClosedPeerConnections(t *testing.T) {
	fake, src, r := startMediaBothWays(t)
	oldPub, oldSub := r.eng.PCCallbacks()
	if oldPub == nil || oldSub == nil {
		t.Fatal("no publish or subscribe PeerConnection")
	}

	// A new session: the engine closes both PeerConnections and makes new ones.
	fake.RefuseResume()
	from := len(r.rec.Lines())
	fake.Cut()
	r.rec.WaitFor(t, from, event.FirstVideoFrameDecode, isUID("alice"))
	waitUntil(t, "the new publication started", func() bool { return src.Starts() == 2 })
	r.eng.Sync()

	mark := len(r.rec.Lines())
	const stale = "candidate:1 1 udp 2130706431 192.0.2.1 9 typ host"
	cand := &webrtc.ICECandidate{
		Foundation: "1", Priority: 2130706431, Address: "192.0.2.1", Protocol: webrtc.ICEProtocolUDP,
		Port: 9, Typ: webrtc.ICECandidateTypeHost, Component: 1,
	}
	for _, st := range []webrtc.ICEConnectionState{webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed} {
		oldPub.ICE(st)
		oldSub.ICE(st)
	}
	oldPub.Connection(webrtc.PeerConnectionStateConnected)
	oldPub.Candidate(cand)
	oldSub.Candidate(cand)
	r.eng.Sync()                                    // everything they queued has run
	fake.Send(engine.AuthVerdict{Result: token.OK}) // a marker, handled after them
	r.rec.WaitFor(t, mark, event.SDKAuthResult, isAuth(token.OK))

	if got := story(r.rec, mark); len(got) != 1 {
		t.Errorf("callbacks of closed PeerConnections printed events: %v", got)
	}
	if n := src.Starts(); n != 2 {
		t.Errorf("source started %d times, want 2", n)
	}
	for i := 1; i <= fake.CountCalls("Candidate"); i++ {
		if c := fake.WaitCall(t, "Candidate", i); c.Candidate == stale {
			t.Errorf("a candidate of a closed PeerConnection was sent on %s (%s pc)", c.Session, c.PC)
		}
	}
	if n := fake.CountCalls("RestartSubscribeICE"); n != 0 {
		t.Errorf("%d ICE restarts asked for", n)
	}
}

// The publication's transport goes down while signaling reconnects into a
// new session: stream_reconnect_start is printed then (the run loop is not
// blocked by the reconnect), and its stream_reconnect_end once the new
// session's publication is connected — no start is left without its end.
func TestPublishReconnectEndsInNewSession(t *testing.T) {
	fake, src, r := startMediaBothWays(t)
	pub, _ := r.eng.PCCallbacks()

	release := fake.Block()
	defer release()
	fake.RefuseResume()
	from := len(r.rec.Lines())
	fake.Cut()
	from, _ = r.rec.WaitFor(t, from, event.Reconnect, nil)
	fake.WaitJoin(t, 2)
	pub.ICE(webrtc.ICEConnectionStateDisconnected) // the server is gone: so is its media
	start, _ := r.rec.WaitFor(t, from, event.StreamReconnectStart, isUID("me"))
	release()
	waitUntil(t, "the new publication started", func() bool { return src.Starts() == 2 })
	end, _ := r.rec.WaitFor(t, start, event.StreamReconnectEnd, isUID("me"))
	auth, _ := r.rec.WaitFor(t, from, event.SDKAuthResult, isAuth(token.OK))
	if end < auth {
		t.Errorf("stream_reconnect_end (#%d) before the new session (#%d)", end, auth)
	}
	if n := r.rec.Count(0, event.StreamReconnectStart); n != 1 {
		t.Errorf("%d stream_reconnect_start", n)
	}
}

// scoreGap is the longest gap allowed between two network_score events;
// they are due every 2 s.
const scoreGap = 3 * time.Second

// checkBeat fails when two consecutive network_score events are more than
// scoreGap apart.
func checkBeat(t *testing.T, rec *enginetest.Recorder) {
	t.Helper()
	scores := rec.Between(0, event.NetworkScore)
	for i := 1; i < len(scores); i++ {
		if gap := scores[i].At.Sub(scores[i-1].At); gap > scoreGap {
			t.Errorf("network_score #%d came %v after the one before", i+1, gap.Round(time.Millisecond))
		}
	}
}

// Telemetry keeps its 2-s beat through every kind of reconnect: the run
// loop goes on while the reconnect dials (issue 15 #5: network_score
// stopped for 4-6 s). While signaling is down and there is no media
// connection, network_score says 6 (down), as the SDK does.
func TestTelemetryThroughReconnect(t *testing.T) {
	cases := []struct {
		name  string
		media bool
		// down makes the fake unreachable or unresponsive; up ends that.
		down func(f *enginetest.Fake) (up func())
		// newSession: the service forgot the session.
		newSession bool
	}{
		{name: "signaling drop, resumed", media: true, down: (*enginetest.Fake).Block},
		{name: "server restart, new session", media: true, down: (*enginetest.Fake).Block, newSession: true},
		{name: "unreachable, backoff", media: true, down: (*enginetest.Fake).Unreachable},
		{name: "unreachable, no media", down: (*enginetest.Fake).Unreachable, newSession: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var (
				fake *enginetest.Fake
				r    *running
			)
			if c.media {
				fake, _, r = startMediaBothWays(t)
			} else {
				fake = enginetest.New(t)
				r = start(t, fake, nil)
			}
			first, _ := r.rec.WaitFor(t, 0, event.NetworkScore, nil)
			if c.newSession {
				fake.RefuseResume()
			}
			up := c.down(fake)
			defer up()
			fake.Cut()
			i, _ := r.rec.WaitFor(t, first, event.Reconnect, nil)
			// Three beats while the service stays away: 4-6 s.
			for range 3 {
				i, _ = r.rec.WaitFor(t, i+1, event.NetworkScore, nil)
				if !c.media {
					if s := r.rec.Lines()[i].Data.(event.Score); s.Uplink != 6 || s.Downlink != 6 {
						t.Errorf("network_score while down %+v, want 6/6", s)
					}
				}
			}
			if n := r.rec.Count(first, event.SDKAuthResult); n != 0 {
				t.Fatalf("joined while the service was away (%d verdicts)", n)
			}
			up()
			j, _ := r.rec.WaitFor(t, i, event.SDKAuthResult, isAuth(token.OK))
			r.rec.WaitFor(t, j, event.NetworkScore, nil)
			checkBeat(t, r.rec)
			want := "S1"
			if c.newSession {
				want = "S2"
			}
			if got := fake.Session(); got != want {
				t.Errorf("session %s, want %s", got, want)
			}
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Stopping (SIGINT) while a reconnect dials returns promptly, whether the
// service does not answer or cannot be reached, and leaves nothing
// running (TestMain checks goroutines).
func TestStopWhileReconnecting(t *testing.T) {
	cases := []struct {
		name  string
		down  func(f *enginetest.Fake) (up func())
		joins int // Joins made by the time it is stopped
	}{
		{"unanswered", (*enginetest.Fake).Block, 2},
		{"unreachable", (*enginetest.Fake).Unreachable, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := enginetest.New(t)
			r := start(t, fake, func(cfg *engine.Config) { cfg.ConnectTimeout = time.Minute })
			r.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
			up := c.down(fake)
			defer up()
			fake.Cut()
			fake.WaitJoin(t, c.joins)
			began := time.Now()
			if err := r.stop(t); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if d := time.Since(began); d > 2*time.Second {
				t.Errorf("Run took %v to return after the stop", d)
			}
		})
	}
}
