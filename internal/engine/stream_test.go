package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/roomctl/roomctl/internal/event"
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
	e, err := New(Config{Backend: noBackend{}, Server: "ws://127.0.0.1:1", AppID: "1", RoomID: "r1", UID: "me", Tokens: staticTokens{}, Events: rec})
	if err != nil {
		t.Fatal(err)
	}
	return e, rec
}

type staticTokens struct{}

func (staticTokens) Token(context.Context, bool) (string, error) { return "", nil }
func (staticTokens) Renewable() bool                             { return false }

func stream(audioMuted, videoMuted bool) *Stream {
	return &Stream{UID: "alice", RoomID: "r1", Tracks: []Track{
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
	e.streamRemove("alice", ReasonStreamRemoved)
	e.streamRemove("alice", ReasonStreamRemoved)  // unknown now: nothing
	e.firstFrame("alice", "video")                // after removal: nothing
	e.streamAdd(&Stream{UID: "me", RoomID: "r1"}) // our own stream: nothing

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
	if rs := RemoteStreamOf(&Stream{UID: "a", RoomID: "r"}); rs.Audio != nil || rs.Video != nil {
		t.Fatalf("empty stream got tracks: %+v", rs)
	}
}

func TestNewValidates(t *testing.T) {
	ok := Config{Backend: noBackend{}, Server: "ws://x", AppID: "1", RoomID: "r", UID: "u", Tokens: staticTokens{}, Events: &recorder{}}
	cases := []struct {
		field string
		edit  func(*Config)
	}{
		{"Backend", func(c *Config) { c.Backend = nil }},
		{"UID", func(c *Config) { c.UID = "bad uid" }},
		{"RoomID", func(c *Config) { c.RoomID = "" }},
		{"AppID", func(c *Config) { c.AppID = "" }},
		{"Server", func(c *Config) { c.Server = "" }},
		{"Tokens", func(c *Config) { c.Tokens = nil }},
		{"Events", func(c *Config) { c.Events = nil }},
		{"Subscribe", func(c *Config) { c.Subscribe = []string{"ok", "not ok"} }},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			_, err := New(cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != c.field {
				t.Fatalf("New: %v, want a ConfigError on %s", err, c.field)
			}
		})
	}
	if _, err := New(ok); err != nil {
		t.Fatalf("New(valid): %v", err)
	}
}

// noBackend is a Backend for tests that never run the engine.
type noBackend struct{}

func (noBackend) Join(context.Context, JoinRequest) (Session, *Joined, error) {
	return nil, nil, ErrUnreachable
}
