package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/signal"
)

type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Emit(name string, data any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch d := data.(type) {
	case event.PlayerState:
		r.lines = append(r.lines, fmt.Sprintf("%s %s %s", name, d.State, d.Reason))
	default:
		r.lines = append(r.lines, name)
	}
}

func newTestEngine(t *testing.T) (*Engine, *recorder) {
	t.Helper()
	rec := &recorder{}
	e, err := New(Config{Server: "ws://127.0.0.1:1", AppID: "1", RoomID: "r1", UID: "me", Tokens: staticTokens{}, Events: rec})
	if err != nil {
		t.Fatal(err)
	}
	return e, rec
}

type staticTokens struct{}

func (staticTokens) Token(context.Context, bool) (string, error) { return "", nil }
func (staticTokens) Renewable() bool                             { return false }

func stream(audioMuted, videoMuted bool) *signal.Stream {
	return &signal.Stream{UID: "alice", RoomID: "r1", Tracks: []signal.Track{
		{Kind: "audio", Codec: "opus", SampleRate: 48000, Channel: 2, Muted: audioMuted},
		{Kind: "video", Codec: "VP8", Width: 640, Height: 480, Muted: videoMuted},
	}}
}

// The local player and the mute callbacks follow the remote stream: only
// changes are printed, a player that never played neither pauses nor ends.
func TestRemoteStreamStates(t *testing.T) {
	e, rec := newTestEngine(t)
	e.streamAdd(stream(false, false))
	e.streamUpdate(stream(true, false)) // before any frame: no player yet
	e.streamUpdate(stream(false, false))
	e.firstFrame("alice", "audio")
	e.firstFrame("alice", "audio") // once only
	e.firstFrame("alice", "video")
	e.streamUpdate(stream(true, false))
	e.streamUpdate(stream(true, true))
	e.streamUpdate(stream(true, true)) // no change: an update, nothing else
	e.streamUpdate(stream(false, true))
	e.streamRemove(stream(false, true), "stream_removed")
	e.streamRemove(stream(false, true), "stream_removed") // unknown now: nothing
	e.firstFrame("alice", "video")                        // after removal: nothing
	e.streamAdd(&signal.Stream{UID: "me", RoomID: "r1"})  // our own stream: nothing

	want := []string{
		"remote_stream_add",
		"remote_stream_update", "mute_play",
		"remote_stream_update", "mute_play_resume",
		"first_audio_frame_decode", "player_state_change play first_frame",
		"first_video_frame_decode",
		"remote_stream_update", "mute_play",
		"remote_stream_update", "player_state_change pause muted",
		"remote_stream_update",
		"remote_stream_update", "mute_play_resume", "player_state_change play unmuted",
		"remote_stream_remove", "player_state_change end stream_removed",
	}
	if got := strings.Join(rec.lines, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\n\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestRemoteStreamOf(t *testing.T) {
	rs := RemoteStreamOf(stream(false, false))
	if rs.Audio == nil || rs.Audio.SampleRate != 48000 || rs.Video == nil || rs.Video.Codec != "VP8" || rs.Video.Width != 640 {
		t.Fatalf("%+v", rs)
	}
	if rs := RemoteStreamOf(&signal.Stream{UID: "a", RoomID: "r"}); rs.Audio != nil || rs.Video != nil {
		t.Fatalf("empty stream got tracks: %+v", rs)
	}
}

func TestH264HasIDR(t *testing.T) {
	cases := []struct {
		au   []byte
		want bool
	}{
		{[]byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 1, 0, 0, 1, 0x65, 0x88}, true},
		{[]byte{0, 0, 0, 1, 0x41, 0x9a}, false},
		{[]byte{0, 0, 1}, false},
		{nil, false},
	}
	for _, c := range cases {
		if got := h264HasIDR(c.au); got != c.want {
			t.Errorf("h264HasIDR(% x) = %v", c.au, got)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []Config{
		{Server: "ws://x", AppID: "1", RoomID: "r", UID: "bad uid", Tokens: staticTokens{}, Events: &recorder{}},
		{Server: "ws://x", AppID: "1", RoomID: "", UID: "u", Tokens: staticTokens{}, Events: &recorder{}},
		{Server: "ws://x", AppID: "", RoomID: "r", UID: "u", Tokens: staticTokens{}, Events: &recorder{}},
		{Server: "ws://x", AppID: "1", RoomID: "r", UID: "u", Events: &recorder{}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
