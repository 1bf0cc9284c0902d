package engine

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/media"
)

type capture struct {
	mu    sync.Mutex
	lines []string
}

func (c *capture) Emit(name string, data any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, fmt.Sprintf("%s %v", name, data))
}

// The wiring between subscribed tracks, the room's streams and the
// telemetry: who is listed, muted is 0, receive exceptions carry the
// remote uid and skip muted tracks.
func TestQualityWiring(t *testing.T) {
	c := &capture{}
	e, err := New(Config{Backend: noBackend{}, Server: "ws://127.0.0.1:1", AppID: "1", RoomID: "r1", UID: "me", Tokens: staticTokens{}, Events: c,
		Subscribe: []string{"alice", "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	add := func(uid string, audioMuted bool) {
		e.streams[uid] = &remote{info: Stream{UID: uid, RoomID: "r1", Tracks: []Track{
			{Kind: "audio", Codec: "opus", Muted: audioMuted}, {Kind: "video", Codec: "VP8"},
		}}}
	}
	add("alice", false)
	add("bob", true)
	add("carol", false) // not subscribed: not listed
	e.sub = &subscriber{e: e}
	aa := &rxTrack{uid: "alice", kind: "audio", ssrc: 1}
	ba := &rxTrack{uid: "bob", kind: "audio", ssrc: 2}
	e.sub.addTrack(aa)
	e.sub.addTrack(ba)

	aa.level.addPCM(sine(0.5, 960))
	ba.level.addPCM(sine(0.9, 960)) // still arriving, but bob is muted
	got := e.sampleLevels()
	want := []event.AudioLevel{{UID: "alice", AudioLevel: 50}, {UID: "bob", AudioLevel: 0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("levels %v, want %v", got, want)
	}

	// Both audio tracks flow for 8 s, then stand still for 8 s.
	for n := 1; n <= 16; n++ {
		if n <= 8 {
			aa.bytes.Add(4000)
			ba.bytes.Add(4000)
		}
		e.checkExceptions(n%exceptionEvery == 0)
	}
	lines := strings.Join(c.lines, "\n")
	if want := "exception {alice r1 AUDIO_RECEIVE_BITRATE_TOO_LOW}"; lines != want {
		t.Fatalf("events:\n%s\nwant\n%s", lines, want)
	}

	// A track that goes away takes its watch with it.
	e.sub.removeTrack(aa)
	e.checkExceptions(true)
	if _, ok := e.q.watches[watchKey{"alice", excAudioReceiveBitrate}]; ok {
		t.Fatal("watch of a removed track kept")
	}
}

// Send-side exceptions: our uid; none for a muted kind or a track whose
// source ended by itself (a file without --loop).
func TestQualitySendExceptions(t *testing.T) {
	c := &capture{}
	e, err := New(Config{Backend: noBackend{}, Server: "ws://127.0.0.1:1", AppID: "1", RoomID: "r1", UID: "me", Tokens: staticTokens{}, Events: c})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	audio, video := &sendCounters{kind: "audio"}, &sendCounters{kind: "video"}
	e.pub = &publisher{
		tracks: []media.Track{{Info: media.TrackInfo{Kind: "audio"}}, {Info: media.TrackInfo{Kind: "video"}, Ended: ended}},
		sent:   []*sendCounters{audio, video},
	}
	e.muted["audio"] = true
	tick := func(n int, flowing bool) {
		for i := 1; i <= n; i++ {
			if flowing {
				audio.bytes.Add(100)
				video.bytes.Add(1000)
				video.frames.Add(30)
				video.encoded.Add(30)
			}
			e.q.samples++
			e.checkExceptions(e.q.samples%exceptionEvery == 0)
		}
	}
	tick(8, true)
	tick(8, false) // audio muted: nothing; video stalls: raised
	close(ended)
	tick(8, false) // the file ended: nothing more, the raised codes hold
	e.muted["audio"] = false
	tick(8, false) // audio unmuted but silent: raised
	want := []string{
		"exception {me r1 VIDEO_SEND_BITRATE_TOO_LOW}",
		"exception {me r1 VIDEO_SEND_FRAMERATE_TOO_LOW}",
		"exception {me r1 VIDEO_ENCODE_FRAMERATE_TOO_LOW}",
		"exception {me r1 AUDIO_SEND_BITRATE_TOO_LOW}",
	}
	if got := strings.Join(c.lines, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}
