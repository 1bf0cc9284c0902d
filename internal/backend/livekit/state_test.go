package livekit

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	lk "github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/token"
)

func audio(sid string, muted bool) *lk.TrackInfo {
	return &lk.TrackInfo{Sid: sid, Type: lk.TrackType_AUDIO, MimeType: "audio/opus", Muted: muted, Source: lk.TrackSource_MICROPHONE,
		AudioFeatures: []lk.AudioTrackFeature{lk.AudioTrackFeature_TF_STEREO}}
}

func video(sid string, muted bool) *lk.TrackInfo {
	return &lk.TrackInfo{Sid: sid, Type: lk.TrackType_VIDEO, MimeType: "video/VP8", Width: 640, Height: 480, Muted: muted, Source: lk.TrackSource_CAMERA}
}

func part(sid, id string, v uint32, state lk.ParticipantInfo_State, tracks ...*lk.TrackInfo) *lk.ParticipantInfo {
	return &lk.ParticipantInfo{Sid: sid, Identity: id, Version: v, State: state, Tracks: tracks}
}

func update(ps ...*lk.ParticipantInfo) *lk.SignalResponse {
	return &lk.SignalResponse{Message: &lk.SignalResponse_Update{Update: &lk.ParticipantUpdate{Participants: ps}}}
}

func stream(id string, tracks ...engine.Track) engine.Stream {
	return engine.Stream{UID: id, RoomID: "r1", Tracks: tracks}
}

var (
	aliceAudio      = engine.Track{ID: "TR_A1", Kind: "audio", Codec: "opus", SampleRate: 48000, Channel: 2}
	aliceVideo      = engine.Track{ID: "TR_V1", Kind: "video", Codec: "VP8", Width: 640, Height: 480}
	aliceVideoMuted = engine.Track{ID: "TR_V1", Kind: "video", Codec: "VP8", Width: 640, Height: 480, Muted: true}
)

// TestStreams: LiveKit's participant updates, as the engine's stream
// events. One case feeds a fresh state a sequence of messages.
func TestStreams(t *testing.T) {
	const A = lk.ParticipantInfo_ACTIVE
	const D = lk.ParticipantInfo_DISCONNECTED
	cases := []struct {
		name string
		msgs []*lk.SignalResponse
		want []engine.Event
	}{
		{"joins without tracks: nothing",
			[]*lk.SignalResponse{update(part("PA_a", "alice", 1, A))}, nil},
		{"publishes one track, then the other",
			[]*lk.SignalResponse{
				update(part("PA_a", "alice", 1, A)),
				update(part("PA_a", "alice", 2, A, audio("TR_A1", false))),
				update(part("PA_a", "alice", 3, A, audio("TR_A1", false), video("TR_V1", false))),
			},
			[]engine.Event{
				engine.StreamAdded{Stream: stream("alice", aliceAudio)},
				engine.StreamUpdated{Stream: stream("alice", aliceAudio, aliceVideo)},
			}},
		{"an update that changes no track: nothing",
			[]*lk.SignalResponse{
				update(part("PA_a", "alice", 1, A, audio("TR_A1", false))),
				update(&lk.ParticipantInfo{Sid: "PA_a", Identity: "alice", Version: 2, State: A, Metadata: "x", Tracks: []*lk.TrackInfo{audio("TR_A1", false)}}),
			},
			[]engine.Event{engine.StreamAdded{Stream: stream("alice", aliceAudio)}}},
		{"mute",
			[]*lk.SignalResponse{
				update(part("PA_a", "alice", 1, A, audio("TR_A1", false), video("TR_V1", false))),
				update(part("PA_a", "alice", 2, A, audio("TR_A1", false), video("TR_V1", true))),
			},
			[]engine.Event{
				engine.StreamAdded{Stream: stream("alice", aliceAudio, aliceVideo)},
				engine.StreamUpdated{Stream: stream("alice", aliceAudio, aliceVideoMuted)},
			}},
		{"an older version is ignored",
			[]*lk.SignalResponse{
				update(part("PA_a", "alice", 5, A, audio("TR_A1", false), video("TR_V1", true))),
				update(part("PA_a", "alice", 4, A, audio("TR_A1", false), video("TR_V1", false))),
			},
			[]engine.Event{engine.StreamAdded{Stream: stream("alice", aliceAudio, aliceVideoMuted)}}},
		{"unpublishes everything",
			[]*lk.SignalResponse{
				update(part("PA_a", "alice", 1, A, audio("TR_A1", false))),
				update(part("PA_a", "alice", 2, A)),
			},
			[]engine.Event{engine.StreamAdded{Stream: stream("alice", aliceAudio)}, engine.StreamRemoved{UID: "alice"}}},
		{"leaves",
			[]*lk.SignalResponse{
				update(part("PA_a", "alice", 1, A, audio("TR_A1", false))),
				update(part("PA_a", "alice", 2, D)),
			},
			[]engine.Event{engine.StreamAdded{Stream: stream("alice", aliceAudio)}, engine.StreamRemoved{UID: "alice"}}},
		{"rejoins: the old session's late DISCONNECTED is stale",
			[]*lk.SignalResponse{
				update(part("PA_a", "alice", 1, A, audio("TR_A1", false))),
				update(part("PA_b", "alice", 1, A, video("TR_V1", false))),
				update(part("PA_a", "alice", 2, D)),
			},
			[]engine.Event{
				engine.StreamAdded{Stream: stream("alice", aliceAudio)},
				engine.StreamUpdated{Stream: stream("alice", aliceVideo)},
			}},
		{"ourselves: no stream",
			[]*lk.SignalResponse{update(part("PA_me", "me", 1, A, audio("TR_A9", false)))}, nil},
		{"data tracks: no stream",
			[]*lk.SignalResponse{update(part("PA_a", "alice", 1, A, &lk.TrackInfo{Sid: "TR_D", Type: lk.TrackType_DATA}))}, nil},
		{"a screen share comes after the camera",
			[]*lk.SignalResponse{update(part("PA_a", "alice", 1, A,
				&lk.TrackInfo{Sid: "TR_VS", Type: lk.TrackType_VIDEO, MimeType: "video/H264", Source: lk.TrackSource_SCREEN_SHARE},
				video("TR_V1", false)))},
			[]engine.Event{engine.StreamAdded{Stream: stream("alice", aliceVideo, engine.Track{ID: "TR_VS", Kind: "video", Codec: "H264"})}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newState("me", "r1", nil)
			st.selfSID = "PA_me"
			var got []engine.Event
			for _, m := range c.msgs {
				got = append(got, st.signal(m, time.Now(), &pingClock{}).events...)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestResync: after a resume, the streams of those LiveKit no longer
// lists (in the updates up to the room update) are gone.
func TestResync(t *testing.T) {
	const A = lk.ParticipantInfo_ACTIVE
	st := newState("me", "r1", nil)
	st.selfSID = "PA_me"
	pc := &pingClock{}
	for _, id := range []string{"alice", "carol", "dave"} {
		st.signal(update(part("PA_"+id, id, 1, A, audio("TR_A"+id, false))), time.Now(), pc)
	}
	st.resumed()
	var got []engine.Event
	for _, m := range []*lk.SignalResponse{
		update(part("PA_carol", "carol", 2, lk.ParticipantInfo_DISCONNECTED)), // queued while down
		update(part("PA_alice", "alice", 1, A, audio("TR_Aalice", false)), part("PA_me", "me", 3, A)),
		{Message: &lk.SignalResponse_RoomUpdate{RoomUpdate: &lk.RoomUpdate{}}},
		update(part("PA_alice", "alice", 2, A, audio("TR_Aalice", true))),
	} {
		got = append(got, st.signal(m, time.Now(), pc).events...)
	}
	mutedAudio := engine.Track{ID: "TR_Aalice", Kind: "audio", Codec: "opus", SampleRate: 48000, Channel: 2, Muted: true}
	want := []engine.Event{
		engine.StreamRemoved{UID: "carol"},
		engine.StreamRemoved{UID: "dave"},
		engine.StreamUpdated{Stream: stream("alice", mutedAudio)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n got %+v\nwant %+v", got, want)
	}
}

func sendTypes(o out) []string {
	var s []string
	for _, r := range o.sends {
		s = append(s, reflect.TypeOf(r.GetMessage()).Elem().Name())
	}
	return s
}

// TestPublish: AddTrackRequest per track, the offer (and our candidates
// held meanwhile) once every track is published; a refusal.
func TestPublish(t *testing.T) {
	st := newState("me", "r1", nil)
	tracks := []engine.Track{{ID: "cid-a", Kind: "audio", Channel: 2}, {ID: "cid-v", Kind: "video", Width: 320, Height: 240}}
	o := st.publish("sdp-1", tracks)
	if got := sendTypes(o); !reflect.DeepEqual(got, []string{"SignalRequest_AddTrack", "SignalRequest_AddTrack"}) {
		t.Fatalf("sends = %v", got)
	}
	v := o.sends[1].GetAddTrack()
	if v.GetCid() != "cid-v" || v.GetType() != lk.TrackType_VIDEO || v.GetSource() != lk.TrackSource_CAMERA || v.GetWidth() != 320 || v.GetHeight() != 240 {
		t.Errorf("video AddTrackRequest = %v", v)
	}
	if a := o.sends[0].GetAddTrack(); !slices.Contains(a.GetAudioFeatures(), lk.AudioTrackFeature_TF_STEREO) || a.GetSource() != lk.TrackSource_MICROPHONE {
		t.Errorf("audio AddTrackRequest = %v", a)
	}
	c, err := st.candidate(engine.PCPublish, webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host"})
	if err != nil || len(c.sends) != 0 {
		t.Fatalf("a publisher candidate before the offer went out: %v %v", c.sends, err)
	}
	if c, _ := st.candidate(engine.PCSubscribe, webrtc.ICECandidateInit{Candidate: "candidate:2"}); len(c.sends) != 1 {
		t.Errorf("a subscriber candidate was held")
	}
	if m, _ := st.mute("video", true); len(m.sends) != 0 {
		t.Errorf("mute before the sid is known sent %v", m.sends)
	}
	o = st.signal(&lk.SignalResponse{Message: &lk.SignalResponse_TrackPublished{TrackPublished: &lk.TrackPublishedResponse{
		Cid: "cid-a", Track: &lk.TrackInfo{Sid: "TR_A", Type: lk.TrackType_AUDIO},
	}}}, time.Now(), &pingClock{})
	if len(o.sends) != 0 {
		t.Errorf("sent %v before the second track was published", sendTypes(o))
	}
	o = st.signal(&lk.SignalResponse{Message: &lk.SignalResponse_TrackPublished{TrackPublished: &lk.TrackPublishedResponse{
		Cid: "cid-v", Track: &lk.TrackInfo{Sid: "TR_V", Type: lk.TrackType_VIDEO},
	}}}, time.Now(), &pingClock{})
	if got := sendTypes(o); !reflect.DeepEqual(got, []string{"SignalRequest_Mute", "SignalRequest_Offer", "SignalRequest_Trickle"}) {
		t.Fatalf("sends = %v, want the wished mute, the offer and the held candidate", got)
	}
	if o.sends[0].GetMute().GetSid() != "TR_V" || o.sends[1].GetOffer().GetSdp() != "sdp-1" {
		t.Errorf("sends = %v", o.sends)
	}
	if m, _ := st.mute("audio", true); m.sends[0].GetMute().GetSid() != "TR_A" {
		t.Errorf("mute audio = %v", m.sends)
	}
	// A renegotiation: the offer alone.
	if got := sendTypes(st.publish("sdp-2", nil)); !reflect.DeepEqual(got, []string{"SignalRequest_Offer"}) {
		t.Errorf("renegotiation sends %v", got)
	}

	// A token without the publish right.
	st = newState("me", "r1", nil)
	st.publish("sdp", tracks[:1])
	o = st.signal(&lk.SignalResponse{Message: &lk.SignalResponse_RequestResponse{RequestResponse: &lk.RequestResponse{
		Reason: lk.RequestResponse_NOT_ALLOWED, Request: &lk.RequestResponse_AddTrack{AddTrack: &lk.AddTrackRequest{Cid: "cid-a"}},
	}}}, time.Now(), &pingClock{})
	if !reflect.DeepEqual(o.events, []engine.Event{engine.PublishRefused{Result: token.NoPublishRight}}) || len(o.sends) != 0 {
		t.Errorf("NOT_ALLOWED gave %+v %v", o.events, sendTypes(o))
	}
}

// TestPublishRevoked: our own update losing the publish right while we
// publish is a PublishRefused, once.
func TestPublishRevoked(t *testing.T) {
	st := newState("me", "r1", nil)
	st.selfSID = "PA_me"
	pc := &pingClock{}
	me := func(v uint32, can bool, tracks ...*lk.TrackInfo) *lk.SignalResponse {
		p := part("PA_me", "me", v, lk.ParticipantInfo_ACTIVE, tracks...)
		p.Permission = &lk.ParticipantPermission{CanPublish: can, CanSubscribe: true}
		return update(p)
	}
	var got []engine.Event
	for _, m := range []*lk.SignalResponse{me(1, true, audio("TR_A", false)), me(2, false), me(3, false)} {
		got = append(got, st.signal(m, time.Now(), pc).events...)
	}
	if want := []engine.Event{engine.PublishRefused{Result: token.NoPublishRight}}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %+v, want %+v", got, want)
	}
}

// TestSubscriptionRequests: what SetSubscriptions and new tracks send,
// for each auto_subscribe.
func TestSubscriptionRequests(t *testing.T) {
	const A = lk.ParticipantInfo_ACTIVE
	subs := func(o out) map[bool][]string {
		m := map[bool][]string{}
		for _, r := range o.sends {
			if s := r.GetSubscription(); s != nil {
				m[s.GetSubscribe()] = append(m[s.GetSubscribe()], s.GetTrackSids()...)
			}
		}
		return m
	}
	// Joined with a filter: auto_subscribe=0, so the listed are asked for.
	st := newState("me", "r1", []string{"alice"})
	_, o := st.join(&lk.JoinResponse{
		Participant:       part("PA_me", "me", 1, A),
		OtherParticipants: []*lk.ParticipantInfo{part("PA_a", "alice", 1, A, audio("TR_A", false)), part("PA_b", "bob", 1, A, audio("TR_B", false))},
	})
	if got := subs(o); !reflect.DeepEqual(got, map[bool][]string{true: {"TR_A"}}) {
		t.Errorf("join: %v", got)
	}
	if got := subs(st.signal(update(part("PA_b", "bob", 2, A, audio("TR_B", false), video("TR_BV", false))), time.Now(), &pingClock{})); len(got) != 0 {
		t.Errorf("bob's new track: %v", got)
	}
	if got := subs(st.setSubscriptions(nil)); !reflect.DeepEqual(got, map[bool][]string{true: {"TR_A", "TR_B", "TR_BV"}}) {
		t.Errorf("everyone: %v", got)
	}
	// Everyone, auto_subscribe=1: a filter unsubscribes the others, and
	// their new tracks.
	st = newState("me", "r1", nil)
	st.signal(update(part("PA_a", "alice", 1, A, audio("TR_A", false)), part("PA_b", "bob", 1, A, audio("TR_B", false))), time.Now(), &pingClock{})
	if got := subs(st.setSubscriptions([]string{"bob"})); !reflect.DeepEqual(got, map[bool][]string{true: {"TR_B"}, false: {"TR_A"}}) {
		t.Errorf("bob only: %v", got)
	}
	if got := subs(st.signal(update(part("PA_a", "alice", 2, A, audio("TR_A", false), video("TR_AV", false))), time.Now(), &pingClock{})); !reflect.DeepEqual(got, map[bool][]string{false: {"TR_AV"}}) {
		t.Errorf("alice's new track: %v", got)
	}
}

func TestTrickleIn(t *testing.T) {
	st := newState("me", "r1", nil)
	pc := &pingClock{}
	cand := func(target lk.SignalTarget, c string) *lk.SignalResponse {
		b, _ := json.Marshal(webrtc.ICECandidateInit{Candidate: c})
		return &lk.SignalResponse{Message: &lk.SignalResponse_Trickle{Trickle: &lk.TrickleRequest{CandidateInit: string(b), Target: target}}}
	}
	if o := st.signal(cand(lk.SignalTarget_SUBSCRIBER, "candidate:s"), time.Now(), pc); len(o.events) != 0 {
		t.Errorf("a subscriber candidate before the offer: %+v", o.events)
	}
	o := st.signal(cand(lk.SignalTarget_PUBLISHER, "candidate:p"), time.Now(), pc)
	if len(o.events) != 1 || o.events[0].(engine.RemoteCandidate).PC != engine.PCPublish {
		t.Errorf("publisher candidate: %+v", o.events)
	}
	o = st.signal(&lk.SignalResponse{Message: &lk.SignalResponse_Offer{Offer: &lk.SessionDescription{Type: "offer", Sdp: "v=0", Id: 7}}}, time.Now(), pc)
	want := []engine.Event{
		engine.SubscribeOffer{SDP: "v=0"},
		engine.RemoteCandidate{PC: engine.PCSubscribe, Candidate: webrtc.ICECandidateInit{Candidate: "candidate:s"}},
	}
	if !reflect.DeepEqual(o.events, want) || st.offerID != 7 {
		t.Errorf("offer: %+v (id %d)", o.events, st.offerID)
	}
	if o := st.signal(&lk.SignalResponse{Message: &lk.SignalResponse_Trickle{Trickle: &lk.TrickleRequest{CandidateInit: "{}", Final: true}}}, time.Now(), pc); len(o.events) != 0 {
		t.Errorf("end of candidates: %+v", o.events)
	}
}

// TestLeaveTable is the LeaveRequest → SessionEnded table of the package
// comment.
func TestLeaveTable(t *testing.T) {
	cases := []struct {
		reason lk.DisconnectReason
		action lk.LeaveRequest_Action
		want   engine.Event
	}{
		{lk.DisconnectReason_DUPLICATE_IDENTITY, lk.LeaveRequest_DISCONNECT, engine.SessionEnded{Reason: "replaced"}},
		{lk.DisconnectReason_PARTICIPANT_REMOVED, lk.LeaveRequest_DISCONNECT, engine.SessionEnded{Reason: "participant_removed"}},
		{lk.DisconnectReason_ROOM_DELETED, lk.LeaveRequest_DISCONNECT, engine.SessionEnded{Reason: "room_deleted"}},
		{lk.DisconnectReason_ROOM_CLOSED, lk.LeaveRequest_DISCONNECT, engine.SessionEnded{Reason: "room_closed"}},
		{lk.DisconnectReason_SERVER_SHUTDOWN, lk.LeaveRequest_DISCONNECT, engine.SessionEnded{Reason: "server closing", Restart: true}},
		{lk.DisconnectReason_MIGRATION, lk.LeaveRequest_DISCONNECT, engine.SessionEnded{Reason: "migration", Restart: true}},
		{lk.DisconnectReason_STATE_MISMATCH, lk.LeaveRequest_RECONNECT, engine.SessionEnded{Reason: "state_mismatch", Restart: true}},
		{lk.DisconnectReason_SIGNAL_CLOSE, lk.LeaveRequest_RESUME, nil},
	}
	for _, c := range cases {
		got := sessionEnded(&lk.LeaveRequest{Reason: c.reason, Action: c.action})
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s/%s: %+v, want %+v", c.reason, c.action, got, c.want)
		}
	}
	st := newState("me", "r1", nil)
	leave := &lk.SignalResponse{Message: &lk.SignalResponse_Leave{Leave: &lk.LeaveRequest{Action: lk.LeaveRequest_RESUME}}}
	if o := st.signal(leave, time.Now(), &pingClock{}); !o.drop || len(o.events) != 0 {
		t.Errorf("RESUME: %+v", o)
	}
	st.leaving = true
	leave.GetLeave().Action = lk.LeaveRequest_DISCONNECT
	if o := st.signal(leave, time.Now(), &pingClock{}); o.drop || len(o.events) != 0 {
		t.Errorf("the echo of our leave: %+v", o)
	}
}

func TestPingClock(t *testing.T) {
	var c pingClock
	t0 := time.Now()
	ts := c.ping(t0).GetPingReq().GetTimestamp()
	rtt, ok := c.pong(ts, t0.Add(1500*time.Microsecond))
	if !ok || rtt != 1500*time.Microsecond {
		t.Errorf("rtt = %s, %v", rtt, ok)
	}
	if got := c.ping(t0).GetPingReq().GetRtt(); got != 1 {
		t.Errorf("the next ping reports rtt %d ms, want 1", got)
	}
}

func TestTrackOwner(t *testing.T) {
	st := newState("me", "r1", nil)
	st.signal(update(part("PA_a", "alice", 1, lk.ParticipantInfo_ACTIVE, audio("TR_A", false))), time.Now(), &pingClock{})
	for _, c := range []struct{ stream, track, want string }{
		{"PA_a|TR_A", "TR_A", "alice"},
		{"PA_a|TR_X", "TR_X", "alice"}, // not listed yet: by the participant sid
		{"PA_z|TR_Z", "TR_Z", ""},
	} {
		if got, ok := st.trackOwnerOf(c.stream, c.track); got != c.want || ok != (c.want != "") {
			t.Errorf("TrackOwner(%s, %s) = %q, %v", c.stream, c.track, got, ok)
		}
	}
}

// FuzzSignal: any message LiveKit could send goes through the state
// without a panic.
func FuzzSignal(f *testing.F) {
	for _, m := range []*lk.SignalResponse{
		update(part("PA_a", "alice", 1, lk.ParticipantInfo_ACTIVE, audio("TR_A", false), video("TR_V", true))),
		update(part("PA_a", "alice", 2, lk.ParticipantInfo_DISCONNECTED)),
		{Message: &lk.SignalResponse_Offer{Offer: &lk.SessionDescription{Sdp: "v=0", Id: 3}}},
		{Message: &lk.SignalResponse_Trickle{Trickle: &lk.TrickleRequest{CandidateInit: `{"candidate":"candidate:1"}`, Target: lk.SignalTarget_SUBSCRIBER}}},
		{Message: &lk.SignalResponse_Leave{Leave: &lk.LeaveRequest{Reason: lk.DisconnectReason_STATE_MISMATCH, Action: lk.LeaveRequest_RECONNECT}}},
		{Message: &lk.SignalResponse_TrackPublished{TrackPublished: &lk.TrackPublishedResponse{Cid: "c", Track: &lk.TrackInfo{Sid: "TR_A"}}}},
		{Message: &lk.SignalResponse_RequestResponse{RequestResponse: &lk.RequestResponse{Reason: lk.RequestResponse_NOT_ALLOWED}}},
		{Message: &lk.SignalResponse_PongResp{PongResp: &lk.Pong{LastPingTimestamp: 1}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m lk.SignalResponse
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		st := newState("me", "r1", []string{"alice"})
		st.publish("sdp", []engine.Track{{ID: "c", Kind: "audio"}})
		st.resumed()
		pc := &pingClock{}
		for range 2 {
			st.signal(&m, time.Now(), pc)
		}
		st.setSubscriptions(nil)
		st.trackOwnerOf("PA_a|TR_A", "TR_A")
	})
}
