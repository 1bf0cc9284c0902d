package livekit

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/engine/enginetest"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/media"
	"github.com/roomctl/roomctl/internal/testutil"
)

// minted is an engine.TokenSource that mints test tokens, as --app-secret
// does on LiveKit.
type minted struct{ room, uid string }

func (m minted) Token(context.Context, bool) (string, error) {
	return MintToken(testKey, testSecret, m.room, m.uid, time.Hour, true, true)
}

func (minted) Renewable() bool { return true }

// runEngine runs an engine.Engine for uid over b until the test ends (or
// stop is called), gathering on loopback only.
func runEngine(t *testing.T, b *Backend, srv *testutil.LiveKit, room, uid string, pub media.Source) (rec *enginetest.Recorder, stop func()) {
	t.Helper()
	rec = enginetest.NewRecorder()
	e, err := engine.New(engine.Config{
		Backend: b, Server: srv.URL, AppID: testKey, RoomID: room, UID: uid,
		Tokens: minted{room, uid}, Publish: pub, Events: rec,
		ICE: iceopt.Config{Interfaces: []string{"lo"}, IPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Run: %v", uid, err)
			}
		case <-time.After(wait):
			t.Errorf("%s: Run did not return within %s of its context's end", uid, wait)
		}
	}
	t.Cleanup(stop)
	return rec, stop
}

// TestEngine runs roomctl's engine over the LiveKit backend: what a
// script sees of `roomctl join --backend livekit`.
func TestEngine(t *testing.T) {
	srv := startServer(t)
	b := newBackend(t)
	room := roomName(t)
	src, err := enginetest.NewSource()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	bobRec, _ := runEngine(t, b, srv, room, "bob", nil)
	aliceRec, stopAlice := runEngine(t, b, srv, room, "alice", src)

	for _, rec := range []*enginetest.Recorder{aliceRec, bobRec} {
		i, _ := rec.WaitFor(t, 0, event.Connected, nil)
		j, data := rec.WaitFor(t, i, event.SDKAuthResult, nil)
		if r := data.(event.AuthResult); r.Result != 0 || j < i {
			t.Errorf("sdk_auth_result = %+v after connected, want 0", r)
		}
	}
	byAlice := func(d any) bool {
		switch d := d.(type) {
		case event.RemoteStream:
			return d.UID == "alice"
		case event.UIDRoom:
			return d.UID == "alice"
		}
		return false
	}
	_, data := bobRec.WaitFor(t, 0, event.RemoteStreamAdd, byAlice)
	if rs := data.(event.RemoteStream); rs.RoomID != room {
		t.Errorf("remote_stream_add = %+v", rs)
	}
	bobRec.WaitFor(t, 0, event.FirstVideoFrameDecode, byAlice)
	bobRec.WaitFor(t, 0, event.FirstAudioFrameDecode, byAlice)
	// The engine leaves when its context ends: the others see the stream go.
	stopAlice()
	bobRec.WaitFor(t, 0, event.RemoteStreamRemove, byAlice)
	if n := aliceRec.Count(0, event.PublishAuthFail); n != 0 {
		t.Errorf("alice: %d publish_auth_fail", n)
	}
}
