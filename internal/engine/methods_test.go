package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/engine/enginetest"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/media"
	"github.com/roomctl/roomctl/internal/token"
)

// The methods a controller calls while the engine runs (methods.go),
// against the in-memory backend.

// callCtx bounds one method call.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), enginetest.Wait)
	t.Cleanup(cancel)
	return ctx
}

// methodCalls calls every run-time method of the engine once and returns
// their errors by name.
func methodCalls(t *testing.T, e *engine.Engine) map[string]error {
	ctx := callCtx(t)
	errs := map[string]error{
		"UpdateToken":          e.UpdateToken(ctx, "tok-x"),
		"MuteLocal":            e.MuteLocal(ctx, "audio", true),
		"Subscribe":            e.Subscribe(ctx, "alice"),
		"Unsubscribe":          e.Unsubscribe(ctx, "alice"),
		"SetRemoteAudioVolume": e.SetRemoteAudioVolume(ctx, "alice", 0),
		"SetAudioLevelReport":  e.SetAudioLevelReport(ctx, true),
	}
	_, errs["SessionStats"] = e.SessionStats(ctx)
	_, errs["UplinkStats"] = e.UplinkStats(ctx, "audio")
	_, errs["DownlinkStats"] = e.DownlinkStats(ctx, "video")
	return errs
}

// Before the first join every method fails with ErrNotJoined and sends
// nothing; once joined Joined holds until Run returns, and then the
// methods fail with ErrNotJoined again.
func TestMethodsNeedAJoinedSession(t *testing.T) {
	fake := enginetest.New(t)
	release := fake.Block()
	defer release()
	r := start(t, fake, func(cfg *engine.Config) { cfg.Publish = newSource(t) })
	fake.WaitJoin(t, 1) // the join waits for the service
	if r.eng.Joined() {
		t.Fatal("Joined before the join was answered")
	}
	for name, err := range methodCalls(t, r.eng) {
		if !errors.Is(err, engine.ErrNotJoined) {
			t.Errorf("%s before the join: %v, want ErrNotJoined", name, err)
		}
	}
	release()
	r.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
	if !r.eng.Joined() {
		t.Fatal("not Joined after sdk_auth_result 0")
	}
	for _, m := range []string{"UpdateToken", "Mute", "SetSubscriptions"} {
		if n := fake.CountCalls(m); n != 0 {
			t.Errorf("%d %s requests made by calls before the join", n, m)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if r.eng.Joined() {
		t.Error("Joined after Run returned")
	}
	for name, err := range methodCalls(t, r.eng) {
		if !errors.Is(err, engine.ErrNotJoined) {
			t.Errorf("%s after Run returned: %v, want ErrNotJoined", name, err)
		}
	}
}

// UpdateToken sends the token, the verdict comes back as sdk_auth_result;
// while reconnecting it is kept for the rejoin, which sends it once in
// and joins with it from then on.
func TestUpdateToken(t *testing.T) {
	fake := enginetest.New(t)
	r := start(t, fake, nil)
	from, _ := r.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
	ctx := callCtx(t)
	if err := r.eng.UpdateToken(ctx, ""); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty token: %v", err)
	}
	if err := r.eng.UpdateToken(ctx, "manual-1"); err != nil {
		t.Fatal(err)
	}
	if c := fake.WaitCall(t, "UpdateToken", 1); c.Token != "manual-1" || c.Session != "S1" {
		t.Errorf("sent %+v", c)
	}
	fake.Send(engine.AuthVerdict{Result: token.BadSignature})
	r.rec.WaitFor(t, from+1, event.SDKAuthResult, isAuth(token.BadSignature))

	// While reconnecting: the join in progress has the token of before.
	release := fake.Block()
	defer release()
	fake.Cut()
	if j := fake.WaitJoin(t, 2); j.Token != "manual-1" {
		t.Errorf("rejoined with %q", j.Token)
	}
	if err := r.eng.UpdateToken(ctx, "manual-2"); err != nil {
		t.Fatal(err)
	}
	release()
	if c := fake.WaitCall(t, "UpdateToken", 2); c.Token != "manual-2" || c.Session != "S1" {
		t.Errorf("after the rejoin: sent %+v", c)
	}
	fake.Cut()
	if j := fake.WaitJoin(t, 3); j.Token != "manual-2" {
		t.Errorf("next rejoin with %q, want manual-2", j.Token)
	}
	if got := r.tokens.Calls(); len(got) != 1 {
		t.Errorf("token source asked %v: a token given by hand needs none", got)
	}
}

// audioOnly is a source with an audio track only.
type audioOnly struct{ *enginetest.Source }

func (s audioOnly) Tracks() []media.Track {
	return slices.DeleteFunc(s.Source.Tracks(), func(t media.Track) bool { return t.Info.Kind != media.KindAudio })
}

// MuteLocal is Mute, done when it returns; a kind the source does not
// have is an invalid operation.
func TestMuteLocal(t *testing.T) {
	fake := enginetest.New(t)
	r := start(t, fake, func(cfg *engine.Config) { cfg.Publish = audioOnly{newSource(t)} })
	r.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
	fake.WaitCall(t, "PublishOffer", 1)
	ctx := callCtx(t)
	for i, muted := range []bool{true, false} {
		if err := r.eng.MuteLocal(ctx, "audio", muted); err != nil {
			t.Fatal(err)
		}
		// Made before MuteLocal returned.
		if n := fake.CountCalls("Mute"); n != i+1 {
			t.Fatalf("after MuteLocal(audio, %v): %d Mute requests, want %d", muted, n, i+1)
		}
		if c := fake.WaitCall(t, "Mute", i+1); c.Kind != "audio" || c.Muted != muted {
			t.Fatalf("after MuteLocal(audio, %v): %+v", muted, c)
		}
	}
	if err := r.eng.MuteLocal(ctx, "video", true); !errors.Is(err, engine.ErrInvalidOperation) {
		t.Errorf("mute video of an audio-only source: %v, want ErrInvalidOperation", err)
	}
	if err := r.eng.MuteLocal(ctx, "screen", true); err == nil || errors.Is(err, engine.ErrInvalidOperation) {
		t.Errorf("mute kind screen: %v, want a bad-kind error", err)
	}
	if n := fake.CountCalls("Mute"); n != 2 {
		t.Errorf("%d Mute requests, want 2", n)
	}

	// Publishing nothing: nothing to mute.
	fake2 := enginetest.New(t)
	r2 := start(t, fake2, nil)
	r2.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
	if err := r2.eng.MuteLocal(ctx, "audio", true); !errors.Is(err, engine.ErrInvalidOperation) {
		t.Errorf("mute without a publication: %v, want ErrInvalidOperation", err)
	}
}

// sinksByUID waits for n subscribed tracks and returns them by publisher.
func sinksByUID(t *testing.T, tracks *trackLog, n int) map[string]*sink {
	t.Helper()
	out := map[string]*sink{}
	for range n {
		s := tracks.next(t)
		out[s.track.UID] = s
	}
	return out
}

// lastSubscriptions waits for the n-th SetSubscriptions and returns its
// list.
func lastSubscriptions(t *testing.T, fake *enginetest.Fake, n int) []string {
	t.Helper()
	c := fake.WaitCall(t, "SetSubscriptions", n)
	if got := fake.CountCalls("SetSubscriptions"); got != n {
		t.Fatalf("%d SetSubscriptions requests, want %d", got, n)
	}
	return c.UIDs
}

// Everyone is subscribed to: Unsubscribe excludes one publisher (its track
// ends as unsubscribed) and a newcomer is still subscribed to; Subscribe
// undoes the exclusion.
func TestUnsubscribeFromEveryone(t *testing.T) {
	fake := enginetest.New(t)
	fake.AddPublisher(t, "alice")
	fake.AddPublisher(t, "bob")
	tracks := newTrackLog()
	r := start(t, fake, func(cfg *engine.Config) { cfg.Tracks = tracks })
	sinks := sinksByUID(t, tracks, 2)
	if j := fake.WaitJoin(t, 1); j.Subscribe != nil {
		t.Fatalf("joined subscribing to %v, want everyone", j.Subscribe)
	}
	ctx := callCtx(t)

	if err := r.eng.Subscribe(ctx, "bob"); !errors.Is(err, engine.ErrInvalidOperation) {
		t.Errorf("subscribe to bob, subscribed: %v, want ErrInvalidOperation", err)
	}
	if err := r.eng.Unsubscribe(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if got := lastSubscriptions(t, fake, 1); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("subscriptions %v, want [alice]", got)
	}
	if got := sinks["bob"].reason(t); got != engine.ReasonUnsubscribed {
		t.Errorf("bob's track ended with %q", got)
	}
	if err := r.eng.Unsubscribe(ctx, "bob"); !errors.Is(err, engine.ErrInvalidOperation) {
		t.Errorf("unsubscribe bob twice: %v, want ErrInvalidOperation", err)
	}

	// A newcomer: subscribed to, bob still not.
	fake.AddPublisher(t, "carol")
	if got := lastSubscriptions(t, fake, 2); !slices.Equal(got, []string{"alice", "carol"}) {
		t.Errorf("subscriptions after carol came %v, want [alice carol]", got)
	}
	if s := tracks.next(t); s.track.UID != "carol" {
		t.Fatalf("subscribed to %s, want carol", s.track.UID)
	}

	// Back to everyone.
	if err := r.eng.Subscribe(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if got := lastSubscriptions(t, fake, 3); got != nil {
		t.Errorf("subscriptions %v, want everyone (nil)", got)
	}
	if s := tracks.next(t); s.track.UID != "bob" {
		t.Fatalf("subscribed to %s, want bob again", s.track.UID)
	}
	if got := sinks["alice"]; got.ended.Load() {
		t.Error("alice's track ended")
	}

	// Everyone excluded: the list names nobody else (empty would be everyone).
	for i, uid := range []string{"alice", "bob", "carol"} {
		if err := r.eng.Unsubscribe(ctx, uid); err != nil {
			t.Fatal(err)
		}
		lastSubscriptions(t, fake, 4+i)
	}
	if got := lastSubscriptions(t, fake, 6); !slices.Equal(got, []string{"me"}) {
		t.Errorf("subscriptions with everyone excluded %v, want [me]", got)
	}
	for _, uid := range []string{"me", "bad uid"} {
		if err := r.eng.Subscribe(ctx, uid); err == nil {
			t.Errorf("subscribe to %q: no error", uid)
		}
	}
}

// Config.Subscribe names the uids: Subscribe adds one (not in the room
// yet: it applies when it publishes), Unsubscribe removes one; the list
// is carried into a rejoin.
func TestSubscribeToNamed(t *testing.T) {
	fake := enginetest.New(t)
	fake.AddPublisher(t, "alice")
	fake.AddPublisher(t, "bob")
	tracks := newTrackLog()
	r := start(t, fake, func(cfg *engine.Config) {
		cfg.Tracks = tracks
		cfg.Subscribe = []string{"alice"}
	})
	alice := tracks.next(t)
	if alice.track.UID != "alice" {
		t.Fatalf("subscribed to %s", alice.track.UID)
	}
	ctx := callCtx(t)
	if err := r.eng.Unsubscribe(ctx, "bob"); !errors.Is(err, engine.ErrInvalidOperation) {
		t.Errorf("unsubscribe bob, not subscribed: %v, want ErrInvalidOperation", err)
	}
	if err := r.eng.Subscribe(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	if got := lastSubscriptions(t, fake, 1); !slices.Equal(got, []string{"alice", "dave"}) {
		t.Errorf("subscriptions %v, want [alice dave]", got)
	}
	if err := r.eng.Unsubscribe(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := alice.reason(t); got != engine.ReasonUnsubscribed {
		t.Errorf("alice's track ended with %q", got)
	}
	if got := lastSubscriptions(t, fake, 2); !slices.Equal(got, []string{"dave"}) {
		t.Errorf("subscriptions %v, want [dave]", got)
	}
	fake.AddPublisher(t, "dave")
	if s := tracks.next(t); s.track.UID != "dave" {
		t.Fatalf("subscribed to %s, want dave", s.track.UID)
	}
	if n := fake.CountCalls("SetSubscriptions"); n != 2 {
		t.Errorf("%d SetSubscriptions requests: a named newcomer needs none", n)
	}
	if err := r.eng.Unsubscribe(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	if got := lastSubscriptions(t, fake, 3); !slices.Equal(got, []string{"me"}) {
		t.Errorf("subscriptions with nobody named %v, want [me]", got)
	}
	fake.Cut()
	if j := fake.WaitJoin(t, 2); !slices.Equal(j.Subscribe, []string{"me"}) {
		t.Errorf("rejoined subscribing to %v, want [me]", j.Subscribe)
	}
}

// muteStory returns the mute_play and mute_play_resume events from from on,
// with remote_stream_update as a marker.
func muteStory(r *enginetest.Recorder, from int) []string {
	var out []string
	for _, l := range r.Lines()[from:] {
		switch l.Name {
		case event.MutePlay, event.MutePlayResume:
			out = append(out, l.Name+" "+l.Data.(event.UID).UID)
		case event.RemoteStreamUpdate:
			out = append(out, "update")
		}
	}
	return out
}

// The playback of a uid's audio is muted while its publisher mutes it or
// its local volume is 0: mute_play when that starts, mute_play_resume when
// it ends, once each, whichever causes overlap.
func TestRemoteAudioVolume(t *testing.T) {
	fake := enginetest.New(t)
	fake.AddPublisher(t, "alice")
	r := start(t, fake, nil)
	from, _ := r.rec.WaitFor(t, 0, event.RemoteStreamAdd, isUID("alice"))
	ctx := callCtx(t)
	updates := 0
	remoteMute := func(muted bool) {
		t.Helper()
		fake.Send(engine.StreamUpdated{Stream: engine.Stream{UID: "alice", RoomID: enginetest.Room, Tracks: []engine.Track{
			{Kind: "video", Codec: "VP8"}, {Kind: "audio", Codec: "opus", Muted: muted},
		}}})
		updates++
		i := from
		for range updates {
			i, _ = r.rec.WaitFor(t, i+1, event.RemoteStreamUpdate, isUID("alice"))
		}
	}
	volume := func(v int) {
		t.Helper()
		if err := r.eng.SetRemoteAudioVolume(ctx, "alice", v); err != nil {
			t.Fatal(err)
		}
	}
	remoteMute(false)
	volume(0)         // mute_play
	remoteMute(true)  // muted already
	volume(30)        // still muted by the publisher
	remoteMute(false) // mute_play_resume
	remoteMute(true)  // mute_play
	volume(0)         // muted already
	volume(0)
	remoteMute(false) // still muted by the volume
	volume(100)       // mute_play_resume
	volume(50)
	checkStory(t, muteStory(r.rec, from), []string{
		"update", "mute_play alice", "update", "update", "mute_play_resume alice",
		"update", "mute_play alice", "update", "mute_play_resume alice",
	})

	// A uid not in the room: remembered for when it publishes.
	if err := r.eng.SetRemoteAudioVolume(ctx, "zed", 0); err != nil {
		t.Fatal(err)
	}
	i := len(r.rec.Lines())
	fake.AddPublisher(t, "zed")
	i, _ = r.rec.WaitFor(t, i, event.RemoteStreamAdd, isUID("zed"))
	if got := r.rec.Lines()[i+1]; got.Name != event.MutePlay || got.Data.(event.UID).UID != "zed" {
		t.Errorf("after zed's remote_stream_add: %v, want mute_play zed", got)
	}
	for _, v := range []int{-1, 101} {
		if err := r.eng.SetRemoteAudioVolume(ctx, "alice", v); err == nil {
			t.Errorf("volume %d: no error", v)
		}
	}
	if err := r.eng.SetRemoteAudioVolume(ctx, "me", 0); !errors.Is(err, engine.ErrInvalidOperation) {
		t.Errorf("own volume: %v, want ErrInvalidOperation", err)
	}
}

// audio_level_report follows SetAudioLevelReport; asking for the state
// that is is an invalid operation.
func TestSetAudioLevelReport(t *testing.T) {
	fake := enginetest.New(t)
	r := start(t, fake, func(cfg *engine.Config) {
		cfg.Publish = newSource(t)
		cfg.AudioLevelReport = true
	})
	r.rec.WaitFor(t, 0, event.AudioLevelReport, nil)
	ctx := callCtx(t)
	if err := r.eng.SetAudioLevelReport(ctx, true); !errors.Is(err, engine.ErrInvalidOperation) {
		t.Errorf("enable, enabled: %v, want ErrInvalidOperation", err)
	}
	if err := r.eng.SetAudioLevelReport(ctx, false); err != nil {
		t.Fatal(err)
	}
	off := len(r.rec.Lines())
	// Two beats (network_score comes with the report, every 2 s) without one.
	i, _ := r.rec.WaitFor(t, off, event.NetworkScore, nil)
	r.rec.WaitFor(t, i+1, event.NetworkScore, nil)
	if n := r.rec.Count(off, event.AudioLevelReport); n != 0 {
		t.Fatalf("%d audio_level_report after disabling", n)
	}
	if err := r.eng.SetAudioLevelReport(ctx, false); !errors.Is(err, engine.ErrInvalidOperation) {
		t.Errorf("disable, disabled: %v, want ErrInvalidOperation", err)
	}
	if err := r.eng.SetAudioLevelReport(ctx, true); err != nil {
		t.Fatal(err)
	}
	_, data := r.rec.WaitFor(t, len(r.rec.Lines()), event.AudioLevelReport, nil)
	if levels := data.([]event.AudioLevel); len(levels) != 1 || levels[0].UID != "me" {
		t.Errorf("report %v, want the local publication's level", levels)
	}
}

// jsonKeys returns the keys of v marshalled.
func jsonKeys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(m))
}

// The stats snapshots, from what flows both ways, and their JSON names;
// the session's byte totals go on across a new session.
func TestStats(t *testing.T) {
	fake, _, r := startMediaBothWays(t)
	ctx := callCtx(t)
	var (
		sess engine.SessionStats
		up   engine.UplinkStats
		down []engine.DownlinkStats
		err  error
	)
	// Rates need two samples of the flowing tracks (one a second).
	waitUntil(t, "rates measured", func() bool {
		if sess, err = r.eng.SessionStats(ctx); err != nil {
			t.Fatal(err)
		}
		if up, err = r.eng.UplinkStats(ctx, "video"); err != nil {
			t.Fatal(err)
		}
		if down, err = r.eng.DownlinkStats(ctx, "video"); err != nil {
			t.Fatal(err)
		}
		return sess.SendBitrate > 0 && sess.RecvBitrate > 0 && up.Bitrate > 0 && up.FrameRate != nil && *up.FrameRate > 0 &&
			len(down) == 1 && down[0].Bitrate > 0 && down[0].FrameRate != nil && *down[0].FrameRate > 0 && sess.RTT != nil
	})
	if sess.UserCount != 2 || sess.SendBytes == 0 || sess.RecvBytes == 0 || sess.Duration < 0 || *sess.RTT != 1 {
		t.Errorf("session stats %+v", sess)
	}
	if !up.Published || up.Muted || up.Kind != "video" || up.Codec != "VP8" || up.BytesSent == 0 || up.PacketsSent == 0 || up.RTT == nil {
		t.Errorf("uplink video stats %+v", up)
	}
	if d := down[0]; d.UID != "alice" || d.Kind != "video" || d.Codec != "VP8" || d.Muted || d.BytesReceived == 0 || d.PacketsReceived == 0 {
		t.Errorf("downlink video stats %+v", d)
	}
	if got, want := jsonKeys(t, sess), []string{"duration", "recvBitrate", "recvBytes", "rtt", "sendBitrate", "sendBytes", "userCount"}; !slices.Equal(got, want) {
		t.Errorf("session stats JSON %v, want %v", got, want)
	}
	upKeys := []string{"bitrate", "bytesSent", "codec", "frameRate", "kind", "muted", "packetsSent", "published", "rtt"}
	if got := jsonKeys(t, up); !slices.Equal(slices.DeleteFunc(got, func(k string) bool { return k == "packetLossRate" || k == "packetsLost" }), upKeys) {
		t.Errorf("uplink stats JSON %v, want %v (+ packetLossRate, packetsLost once reported)", got, upKeys)
	}
	downKeys := []string{"bitrate", "bytesReceived", "codec", "frameRate", "jitter", "kind", "muted", "packetLossRate", "packetsLost", "packetsReceived", "rtt", "uid"}
	if got := jsonKeys(t, down[0]); !slices.Equal(got, downKeys) {
		t.Errorf("downlink stats JSON %v, want %v", got, downKeys)
	}

	// Audio: the local track muted, and nothing of alice's (video only).
	if err := r.eng.MuteLocal(ctx, "audio", true); err != nil {
		t.Fatal(err)
	}
	if up, err = r.eng.UplinkStats(ctx, "audio"); err != nil || !up.Published || !up.Muted || up.Codec != "opus" || up.FrameRate != nil {
		t.Errorf("uplink audio stats %+v, %v", up, err)
	}
	if down, err = r.eng.DownlinkStats(ctx, "audio"); err != nil || down == nil || len(down) != 0 {
		t.Errorf("downlink audio stats %v, %v; want none", down, err)
	}
	for _, kind := range []string{"", "screen"} {
		if _, err := r.eng.UplinkStats(ctx, kind); err == nil || errors.Is(err, engine.ErrInvalidOperation) {
			t.Errorf("uplink stats of %q: %v, want a bad-kind error", kind, err)
		}
		if _, err := r.eng.DownlinkStats(ctx, kind); err == nil {
			t.Errorf("downlink stats of %q: no error", kind)
		}
	}

	// A new session makes new connections: the totals keep what the old
	// ones moved.
	before := sess
	fake.RefuseResume()
	from := len(r.rec.Lines())
	fake.Cut()
	r.rec.WaitFor(t, from, event.FirstVideoFrameDecode, isUID("alice"))
	if sess, err = r.eng.SessionStats(ctx); err != nil {
		t.Fatal(err)
	}
	if sess.SendBytes < before.SendBytes || sess.RecvBytes < before.RecvBytes {
		t.Errorf("totals went down across a new session: %+v, then %+v", before, sess)
	}
}

// Without a publication the uplink says so, and nothing else.
func TestUplinkStatsUnpublished(t *testing.T) {
	fake := enginetest.New(t)
	r := start(t, fake, nil)
	r.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
	up, err := r.eng.UplinkStats(callCtx(t), "audio")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jsonKeys(t, up), []string{"bitrate", "bytesSent", "kind", "muted", "packetsSent", "published"}; up.Published || !slices.Equal(got, want) {
		t.Errorf("uplink stats without a publication %+v, JSON %v", up, got)
	}
}
