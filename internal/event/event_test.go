package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func fixedClock() func() time.Time {
	t := time.Date(2026, 11, 25, 17, 3, 4, 123456789, time.UTC)
	return func() time.Time { return t }
}

func TestSinkLineFormat(t *testing.T) {
	var buf bytes.Buffer
	s := NewSink(&buf, SinkConfig{Now: fixedClock()})
	s.Emit(Connected, UIDRoom{UID: "alice", RoomID: "r1"})
	s.Emit(ActiveSpeaker, "bob")
	want := `{"seq":1,"ts":"2026-11-25T17:03:04.123Z","event":"connected","data":{"uid":"alice","roomId":"r1"}}` + "\n" +
		`{"seq":2,"ts":"2026-11-25T17:03:04.123Z","event":"active_speaker","data":"bob"}` + "\n"
	if got := buf.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSinkFilterKeepsSeqGapFree(t *testing.T) {
	var buf bytes.Buffer
	var seen []string
	s := NewSink(&buf, SinkConfig{Only: []string{Connected, MutePlay}, Observe: func(l Line) { seen = append(seen, l.Event) }})
	s.Emit(Connected, UIDRoom{UID: "a", RoomID: "r"})
	s.Emit(NetworkScore, Score{Uplink: 1, Downlink: 1})
	s.Emit(MutePlay, UID{UID: "b"})
	var seqs []int64
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		l, err := Decode(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, l.Seq)
	}
	if len(seqs) != 2 || seqs[0] != 1 || seqs[1] != 2 {
		t.Fatalf("seqs %v, want [1 2]", seqs)
	}
	if strings.Join(seen, ",") != "connected,mute_play" {
		t.Fatalf("observed %v", seen)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("broken pipe")
}

// A controller waits for its replies: --events cannot filter them out.
func TestSinkAlwaysPrintsReply(t *testing.T) {
	var buf bytes.Buffer
	s := NewSink(&buf, SinkConfig{Only: []string{Connected}})
	s.Emit(NetworkScore, Score{Uplink: 1, Downlink: 1})
	s.Emit(Reply, ReplyData{Method: "leaveRoom", Result: json.RawMessage(`{}`)})
	want := `"event":"reply","data":{"id":null,"method":"leaveRoom","result":{}}}`
	if got := buf.String(); strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, want+"\n") {
		t.Fatalf("got %q, want one line ending %s", got, want)
	}
}

func TestSinkStopsAfterWriteError(t *testing.T) {
	w := &failWriter{}
	s := NewSink(w, SinkConfig{})
	s.Emit(Connected, UIDRoom{UID: "a", RoomID: "r"})
	s.Emit(Connected, UIDRoom{UID: "a", RoomID: "r"})
	if s.Err() == nil || w.n != 1 {
		t.Fatalf("err %v after %d writes", s.Err(), w.n)
	}
}

// Concurrent emitters never interleave inside a line and never skip a seq.
func TestSinkConcurrent(t *testing.T) {
	var buf bytes.Buffer
	s := NewSink(&buf, SinkConfig{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s.Emit(AudioLevelReport, []AudioLevel{{UID: "a", AudioLevel: i % 101}})
			}
		}()
	}
	wg.Wait()
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	var want int64 = 1
	for sc.Scan() {
		if err := v.Validate(sc.Bytes()); err != nil {
			t.Fatal(err)
		}
		l, _ := Decode(sc.Bytes())
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
// schema refuses what the SDK would never pass.
func TestSchema(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{
		TokenRequest:          UID{UID: "a"},
		TokenWillExpire:       TokenWill{UID: "a", Token: "x.y.z"},
		SDKAuthResult:         AuthResult{UID: "a", Result: 10005},
		PublishAuthFail:       AuthResult{UID: "a", Result: 10009},
		AudioTrackEnd:         UIDRoom{UID: "a", RoomID: "r"},
		VideoTrackEnd:         UIDRoom{UID: "a", RoomID: "r"},
		RemoteStreamAdd:       RemoteStream{UID: "a", RoomID: "r", Audio: &RemoteAudio{SampleRate: 48000, Channel: 2}, Video: &RemoteVideo{Width: 640, Height: 480, FrameRate: 30, Codec: "VP8"}},
		RemoteStreamRemove:    RemoteStream{UID: "a", RoomID: "r"},
		RemoteStreamUpdate:    RemoteStream{UID: "a", RoomID: "r", Video: &RemoteVideo{Codec: "H264"}},
		PlayerStateChange:     PlayerState{UID: "a", State: StatePause, Reason: "muted"},
		StreamReconnectStart:  UIDRoom{UID: "a", RoomID: "r"},
		StreamReconnectEnd:    UIDRoom{UID: "a", RoomID: "r"},
		FirstAudioFrameDecode: UIDRoom{UID: "a", RoomID: "r"},
		FirstVideoFrameDecode: UIDRoom{UID: "a", RoomID: "r"},
		ActiveSpeaker:         "a",
		AudioLevelReport:      []AudioLevel{{UID: "a", AudioLevel: 100}, {UID: "b", AudioLevel: 0}},
		AudioInputChanged:     DeviceChange{State: "added", DeviceID: "x"},
		VideoInputChanged:     DeviceChange{State: "removed", DeviceID: "x"},
		AudioOutputChanged:    DeviceChange{State: "added", DeviceID: "x"},
		AudioMixingPlayed:     MixingPlayed{ID: 1, FileName: "a.wav"},
		AudioMixingFinished:   MixingFinished{ID: 0},
		NetworkScore:          Score{Uplink: 6, Downlink: 0},
		Connected:             UIDRoom{UID: "a", RoomID: "r"},
		Reconnect:             UIDRoom{UID: "a", RoomID: "r"},
		Exception:             ExceptionData{UID: "a", RoomID: "r", Error: "VIDEO_SEND_BITRATE_TOO_LOW_RESUME"},
		PushStreamStatus:      PushStatus{URL: "rtmp://h/a/k", Status: "INTERNEL_ERROR"},
		MutePlay:              UID{UID: "a"},
		MutePlayResume:        UID{UID: "a"},
		ServerListening:       Listening{Addr: "127.0.0.1:1", URL: "ws://127.0.0.1:1"},
		// The record package owns these payloads; event cannot import it.
		RecordingFileOpened: map[string]any{"uid": "a", "roomId": "r", "path": "/rec/r_a.webm",
			"tracks": []map[string]string{{"kind": "video", "codec": "VP8"}, {"kind": "audio", "codec": "opus"}},
			"start":  "2026-11-25T17:03:04.123Z"},
		RecordingFileClosed: map[string]any{"uid": "a", "roomId": "r", "path": "/rec/r_a.webm", "bytes": 1234,
			"durationMs": 8000, "tracks": []map[string]string{{"kind": "audio", "codec": "opus"}}, "reason": "stopped"},
		Device:          DeviceInfo{Kind: "audiooutput", DeviceID: "72745f73696e6b", Label: "Null Output"},
		StartMixingFail: MixingFail{Error: "jingle.mp3: not an audio file"},
		RecordingError:  map[string]any{"uid": "a", "roomId": "r", "path": "/rec", "error": "no space left on device"},
		Reply:           ReplyData{ID: json.RawMessage(`7`), Method: "getSessionStats", Result: json.RawMessage(`{"duration":3}`)},
		// internal/load owns these payloads.
		LoadTick: map[string]any{"t": 3.0, "started": 11, "joined": 11, "failed": 0, "receiving": 10, "subscribers": 10,
			"packets": 1200, "kbps": 10240.5, "lost": 3, "loss": 0.0025,
			"joinMs": map[string]any{"n": 11, "p50": 30.1, "p90": 40, "p99": 41, "max": 41.2}},
		LoadSummary: map[string]any{"seconds": 30.0, "rooms": 1, "publishers": 1, "subscribers": 10, "joined": 11, "failed": 0,
			"packets": 36000, "bytes": 36000000, "lost": 0, "loss": 0, "kbps": 10000,
			"firstVideoMs": map[string]any{"n": 10, "p50": 80, "p90": 90, "p99": 95, "max": 95},
			"firstAudioMs": map[string]any{"n": 10, "p50": 40, "p90": 45, "p99": 50, "max": 50}},
	}
	for _, name := range append(append([]string{}, SDK...), Extensions...) {
		if _, ok := good[name]; !ok {
			t.Errorf("no schema test for %s", name)
		}
	}
	for name, data := range good {
		var buf bytes.Buffer
		NewSink(&buf, SinkConfig{}).Emit(name, data)
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
	if len(SDK) != 28 {
		t.Fatalf("SDK names: %d", len(SDK))
	}
	var anySchema map[string]any
	if err := json.Unmarshal(SchemaJSON, &anySchema); err != nil {
		t.Fatal(err)
	}
}

// A reply carries any id and exactly one of result and error; an error
// code is an SDK error name.
func TestSchemaReply(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	good := []ReplyData{
		{ID: json.RawMessage(`"a"`), Method: "stopAudioMixing", Error: &ReplyError{Code: "MIX_AUDIO_NOT_EXISTED", Message: "mixing id 1 is not playing"}},
		{ID: json.RawMessage(`{"n":[1,2]}`), Method: "getDownlinkAudioStats", Result: json.RawMessage(`[]`)},
		{ID: json.RawMessage(`1.5e3`), Method: "publish", Result: json.RawMessage(`{}`)},
		{Error: &ReplyError{Code: "BAD_REQUEST", Message: "not JSON"}}, // id null, no method
		{Method: "getAudioMixingTime", Result: json.RawMessage(`null`)},
	}
	for _, d := range good {
		var buf bytes.Buffer
		NewSink(&buf, SinkConfig{}).Emit(Reply, d)
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
