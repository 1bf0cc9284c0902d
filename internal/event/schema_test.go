package event_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"sync"
	"testing"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/event/eventschema"
)

// Concurrent emitters never interleave inside a line and never skip a seq.
func TestSinkConcurrent(t *testing.T) {
	var buf bytes.Buffer
	s := event.NewSink(&buf, event.SinkConfig{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s.Emit(event.AudioLevelReport, []event.AudioLevel{{UID: "a", AudioLevel: i % 101}})
			}
		}()
	}
	wg.Wait()
	v, err := eventschema.New()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	var want int64 = 1
	for sc.Scan() {
		if err := v.Validate(sc.Bytes()); err != nil {
			t.Fatal(err)
		}
		l, _ := event.Decode(sc.Bytes())
		if l.Seq != want {
			t.Fatalf("seq %d, want %d", l.Seq, want)
		}
		want++
	}
	if want != 1601 {
		t.Fatalf("%d lines", want-1)
	}
}

// Every payload type the catalogue defines passes the schema, and the
// schema refuses what the event.SDK would never pass.
func TestSchema(t *testing.T) {
	v, err := eventschema.New()
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{
		event.TokenRequest:          event.UID{UID: "a"},
		event.TokenWillExpire:       event.TokenWill{UID: "a", Token: "x.y.z"},
		event.SDKAuthResult:         event.AuthResult{UID: "a", Result: 10005},
		event.PublishAuthFail:       event.AuthResult{UID: "a", Result: 10009},
		event.AudioTrackEnd:         event.UIDRoom{UID: "a", RoomID: "r"},
		event.VideoTrackEnd:         event.UIDRoom{UID: "a", RoomID: "r"},
		event.RemoteStreamAdd:       event.RemoteStream{UID: "a", RoomID: "r", Audio: &event.RemoteAudio{SampleRate: 48000, Channel: 2}, Video: &event.RemoteVideo{Width: 640, Height: 480, FrameRate: 30, Codec: "VP8"}},
		event.RemoteStreamRemove:    event.RemoteStream{UID: "a", RoomID: "r"},
		event.RemoteStreamUpdate:    event.RemoteStream{UID: "a", RoomID: "r", Video: &event.RemoteVideo{Codec: "H264"}},
		event.PlayerStateChange:     event.PlayerState{UID: "a", State: event.StatePause, Reason: "muted"},
		event.StreamReconnectStart:  event.UIDRoom{UID: "a", RoomID: "r"},
		event.StreamReconnectEnd:    event.UIDRoom{UID: "a", RoomID: "r"},
		event.FirstAudioFrameDecode: event.UIDRoom{UID: "a", RoomID: "r"},
		event.FirstVideoFrameDecode: event.UIDRoom{UID: "a", RoomID: "r"},
		event.ActiveSpeaker:         "a",
		event.AudioLevelReport:      []event.AudioLevel{{UID: "a", AudioLevel: 100}, {UID: "b", AudioLevel: 0}},
		event.AudioInputChanged:     event.DeviceChange{State: "added", DeviceID: "x"},
		event.VideoInputChanged:     event.DeviceChange{State: "removed", DeviceID: "x"},
		event.AudioOutputChanged:    event.DeviceChange{State: "added", DeviceID: "x"},
		event.AudioMixingPlayed:     event.MixingPlayed{ID: 1, FileName: "a.wav"},
		event.AudioMixingFinished:   event.MixingFinished{ID: 0},
		event.NetworkScore:          event.Score{Uplink: 6, Downlink: 0},
		event.Connected:             event.UIDRoom{UID: "a", RoomID: "r"},
		event.Reconnect:             event.UIDRoom{UID: "a", RoomID: "r"},
		event.Exception:             event.ExceptionData{UID: "a", RoomID: "r", Error: "VIDEO_SEND_BITRATE_TOO_LOW_RESUME"},
		event.PushStreamStatus:      event.PushStatus{URL: "rtmp://h/a/k", Status: "INTERNEL_ERROR"},
		event.MutePlay:              event.UID{UID: "a"},
		event.MutePlayResume:        event.UID{UID: "a"},
		event.ServerListening:       event.Listening{Addr: "127.0.0.1:1", URL: "ws://127.0.0.1:1"},
		// The record package owns these payloads; event cannot import it.
		event.RecordingFileOpened: map[string]any{"uid": "a", "roomId": "r", "path": "/rec/r_a.webm",
			"tracks": []map[string]string{{"kind": "video", "codec": "VP8"}, {"kind": "audio", "codec": "opus"}},
			"start":  "2026-11-25T17:03:04.123Z"},
		event.RecordingFileClosed: map[string]any{"uid": "a", "roomId": "r", "path": "/rec/r_a.webm", "bytes": 1234,
			"durationMs": 8000, "tracks": []map[string]string{{"kind": "audio", "codec": "opus"}}, "reason": "stopped"},
		event.Device:          event.DeviceInfo{Kind: "audiooutput", DeviceID: "72745f73696e6b", Label: "Null Output"},
		event.StartMixingFail: event.MixingFail{Error: "jingle.mp3: not an audio file"},
		event.RecordingError:  map[string]any{"uid": "a", "roomId": "r", "path": "/rec", "error": "no space left on device"},
		event.Reply:           event.ReplyData{ID: json.RawMessage(`7`), Method: "getSessionStats", Result: json.RawMessage(`{"duration":3}`)},
		// internal/load owns these payloads.
		event.LoadTick: map[string]any{"t": 3.0, "started": 11, "joined": 11, "failed": 0, "receiving": 10, "subscribers": 10,
			"packets": 1200, "kbps": 10240.5, "lost": 3, "loss": 0.0025,
			"joinMs": map[string]any{"n": 11, "p50": 30.1, "p90": 40, "p99": 41, "max": 41.2}},
		event.LoadSummary: map[string]any{"seconds": 30.0, "rooms": 1, "publishers": 1, "subscribers": 10, "joined": 11, "failed": 0,
			"packets": 36000, "bytes": 36000000, "lost": 0, "loss": 0, "kbps": 10000,
			"firstVideoMs": map[string]any{"n": 10, "p50": 80, "p90": 90, "p99": 95, "max": 95},
			"firstAudioMs": map[string]any{"n": 10, "p50": 40, "p90": 45, "p99": 50, "max": 50}},
	}
	for _, name := range append(append([]string{}, event.SDK...), event.Extensions...) {
		if _, ok := good[name]; !ok {
			t.Errorf("no schema test for %s", name)
		}
	}
	for name, data := range good {
		var buf bytes.Buffer
		event.NewSink(&buf, event.SinkConfig{}).Emit(name, data)
		if err := v.Validate(buf.Bytes()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := []string{
		`{"seq":1,"ts":"2026-11-25T17:03:04.123Z","event":"connected","data":{"uid":"a"}}`,
		`{"seq":1,"ts":"2026-11-25T17:03:04.123Z","event":"nope","data":{}}`,
		`{"seq":0,"ts":"2026-11-25T17:03:04.123Z","event":"active_speaker","data":"a"}`,
		`{"seq":1,"ts":"2026-11-25T17:03:04.123Z","event":"active_speaker","data":{"uid":"a"}}`,
		`{"seq":1,"ts":"2026-11-25T17:03:04.123Z","event":"network_score","data":{"uplinkNetworkScore":7,"downlinkNetworkScore":1}}`,
		`{"seq":1,"ts":"2026-11-25T17:03:04.123Z","event":"player_state_change","data":{"uid":"a","reason":"","state":"stopped"}}`,
		`{"seq":1,"ts":"yesterday","event":"connected","data":{"uid":"a","roomId":"r"}}`,
	}
	for _, l := range bad {
		if err := v.Validate([]byte(l)); err == nil {
			t.Errorf("schema accepted %s", l)
		}
	}
	if len(event.SDK) != 28 {
		t.Fatalf("SDK names: %d", len(event.SDK))
	}
	var anySchema map[string]any
	if err := json.Unmarshal(event.SchemaJSON, &anySchema); err != nil {
		t.Fatal(err)
	}
}

// A reply carries any id and exactly one of result and error; an error
// code is an event.SDK error name.
func TestSchemaReply(t *testing.T) {
	v, err := eventschema.New()
	if err != nil {
		t.Fatal(err)
	}
	good := []event.ReplyData{
		{ID: json.RawMessage(`"a"`), Method: "stopAudioMixing", Error: &event.ReplyError{Code: "MIX_AUDIO_NOT_EXISTED", Message: "mixing id 1 is not playing"}},
		{ID: json.RawMessage(`{"n":[1,2]}`), Method: "getDownlinkAudioStats", Result: json.RawMessage(`[]`)},
		{ID: json.RawMessage(`1.5e3`), Method: "publish", Result: json.RawMessage(`{}`)},
		{Error: &event.ReplyError{Code: "BAD_REQUEST", Message: "not JSON"}}, // id null, no method
		{Method: "getAudioMixingTime", Result: json.RawMessage(`null`)},
	}
	for _, d := range good {
		var buf bytes.Buffer
		event.NewSink(&buf, event.SinkConfig{}).Emit(event.Reply, d)
		if err := v.Validate(buf.Bytes()); err != nil {
			t.Errorf("%s", err)
		}
	}
	const head = `{"seq":1,"ts":"2026-11-25T17:03:04.123Z","event":"reply","data":`
	bad := []string{
		`{"method":"publish","result":{}}`,                                           // no id
		`{"id":1,"method":"publish"}`,                                                // neither result nor error
		`{"id":1,"method":"publish","result":{},"error":{"code":"X","message":"m"}}`, // both
		`{"id":1,"error":{"code":"bad code","message":"m"}}`,
		`{"id":1,"error":{"code":"INVALID_PARAM"}}`,
		`{"id":1,"error":{"code":"INVALID_PARAM","message":""}}`,
		`{"id":1,"method":"","result":{}}`,
		`{"id":1,"result":{},"extra":true}`,
	}
	for _, d := range bad {
		if err := v.Validate([]byte(head + d + "}")); err == nil {
			t.Errorf("schema accepted reply %s", d)
		}
	}
}
