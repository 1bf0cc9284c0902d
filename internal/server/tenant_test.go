package server

import (
	"slices"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

// joinAs joins c to room as app's participant and checks it is accepted.
func (c *client) joinAs(app, room string) *signal.Message {
	c.t.Helper()
	m := joinMsg(room, c.name, mint(c.t, room, c.name, time.Hour, func(o *token.Options) { o.AppID = app }))
	m.AppID = app
	c.send(m)
	r := c.expect(signal.TypeJoinResult)
	if r.Result != token.OK || r.Session == "" {
		c.t.Fatalf("%s (app %s): join_result %+v", c.name, app, r)
	}
	return r
}

// Rooms are per app: two apps each have a room "standup" at once, even with
// the same uids in them, and neither sees, blocks or replaces the other's
// participants and streams.
func TestTenantsShareRoomIDs(t *testing.T) {
	s, url := startServer(t, Config{})
	api := newTestAPI(t)
	wide := []signal.Track{{Kind: "video", Codec: "VP8", Width: 640, Height: 480, FrameRate: 30}}

	// App 2 is in standup first, publishing.
	alice2 := dial(t, url, "alice")
	if r := alice2.joinAs(otherApp, "standup"); len(r.Participants) != 0 {
		t.Fatalf("app2 alice: participants %v in a new room", r.Participants)
	}
	alice2.publishVideo(api, wide)
	alice2.waitFor(signal.TypeAnswer)
	carol2 := dial(t, url, "carol")
	if r := carol2.joinAs(otherApp, "standup"); !slices.Equal(r.Participants, []string{"alice"}) || len(r.Streams) != 1 {
		t.Fatalf("app2 carol: join_result %+v", r)
	}

	// App 1 joins its own standup: accepted (not 10003), alone in it.
	alice1 := dial(t, url, "alice")
	if r := alice1.joinAs(testApp, "standup"); len(r.Participants) != 0 || len(r.Streams) != 0 {
		t.Fatalf("app1 alice sees app2's room: %+v", r)
	}
	bob1 := dial(t, url, "bob")
	bob1.enableSubscribe(api)
	if r := bob1.joinAs(testApp, "standup"); !slices.Equal(r.Participants, []string{"alice"}) || len(r.Streams) != 0 {
		t.Fatalf("app1 bob: join_result %+v, want only app1's alice and no stream", r)
	}
	alice1.publishVideo(api, videoVP8)
	alice1.waitFor(signal.TypeAnswer)
	// bob gets app1 alice's stream, never app2's (640 wide).
	if m := bob1.waitFor(signal.TypeStreamAdd); m.Stream.UID != "alice" || m.Stream.Tracks[0].Width != 320 {
		t.Fatalf("app1 bob got stream_add %+v", m.Stream)
	}
	awaitTrack(t, bob1)

	// App 2 saw nothing of it and was not replaced.
	alice2.ping(signal.TypeBye, signal.TypeStreamAdd)
	carol2.ping(signal.TypeBye, signal.TypeStreamAdd, signal.TypeStreamUpdate)

	if got := s.Rooms(testApp)["standup"]; !slices.Equal(got, []string{"alice", "bob"}) {
		t.Errorf("Rooms(app1) standup = %v", got)
	}
	if got := s.Rooms(otherApp)["standup"]; !slices.Equal(got, []string{"alice", "carol"}) {
		t.Errorf("Rooms(app2) standup = %v", got)
	}

	// App 1's alice leaving is nothing to app 2.
	alice1.send(&signal.Message{Type: signal.TypeLeave})
	alice1.expectClosed()
	if m := bob1.waitFor(signal.TypeStreamRemove); m.Stream.UID != "alice" {
		t.Fatalf("app1 bob: stream_remove %+v", m.Stream)
	}
	carol2.ping(signal.TypeStreamRemove)
	waitUntil(t, "app1's alice gone", func() bool { return !slices.Contains(s.Rooms(testApp)["standup"], "alice") })
	if got := s.Rooms(otherApp)["standup"]; !slices.Equal(got, []string{"alice", "carol"}) {
		t.Errorf("Rooms(app2) standup after app1's alice left = %v", got)
	}
}
