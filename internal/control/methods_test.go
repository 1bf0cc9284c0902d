package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/mixing"
	"github.com/roomctl/roomctl/push"
)

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// A method case: a request, what the fakes fail with, the call they
// see, and the reply.
type methodCase struct {
	method string
	params string // JSON object, "" for none
	err    error  // every fake call fails with it
	call   string // the one call the fakes see; "" for none
	result string // the reply's result; "" when it is an error
	code   string // the reply's error code
	msg    string // a part of the error message
}

func TestMethodsHappyPath(t *testing.T) {
	pc := func(cycle int, loop bool, playTime time.Duration, volume int) string {
		return fmt.Sprintf("%+v", mixing.PlayConfig{Cycle: cycle, Loop: loop, PlayTime: playTime, Volume: volume})
	}
	cases := []methodCase{
		{method: "leaveRoom", call: "leave", result: `{}`},
		{method: "updateToken", params: `{"token":"x.y.z"}`, call: "UpdateToken x.y.z", result: `{}`},
		{method: "getSessionStats", call: "SessionStats", result: mustJSON(fakeSession)},
		{method: "enableAudioLevelReport", call: "SetAudioLevelReport true", result: `{}`},
		{method: "disableAudioLevelReport", call: "SetAudioLevelReport false", result: `{}`},
		{method: "getUplinkAudioStats", call: "UplinkStats audio", result: mustJSON(engine.UplinkStats{Kind: "audio", Published: true})},
		{method: "getUplinkVideoStats", call: "UplinkStats video", result: mustJSON(engine.UplinkStats{Kind: "video", Published: true})},
		{method: "getDownlinkAudioStats", call: "DownlinkStats audio", result: mustJSON(fakeDownlink)},
		{method: "getDownlinkVideoStats", call: "DownlinkStats video", result: `[]`},
		{method: "muteLocalAudio", params: `{"mute":true}`, call: "MuteLocal audio true", result: `{}`},
		{method: "muteLocalVideo", params: `{"mute":false}`, call: "MuteLocal video false", result: `{}`},
		{method: "publish", call: "Publish [audio video]", result: `{}`},
		{method: "publish", params: `{"kind":"both"}`, call: "Publish [audio video]", result: `{}`},
		{method: "publish", params: `{"kind":"video"}`, call: "Publish [video]", result: `{}`},
		{method: "unpublish", params: `{"kind":"audio"}`, call: "Unpublish [audio]", result: `{}`},
		{method: "unpublish", params: `{"kind":null}`, call: "Unpublish [audio video]", result: `{}`},
		{method: "subscribe", params: `{"uid":"bob"}`, call: "Subscribe bob", result: `{}`},
		{method: "unsubscribe", params: `{"uid":"bob_2-x"}`, call: "Unsubscribe bob_2-x", result: `{}`},
		{method: "setRemoteAudioVolume", params: `{"uid":"bob","volume":0}`, call: "SetRemoteAudioVolume bob 0", result: `{}`},
		{method: "setRemoteAudioVolume", params: `{"volume":100,"uid":"bob"}`, call: "SetRemoteAudioVolume bob 100", result: `{}`},
		{method: "setToneVolume", params: `{"volume":40}`, call: "SetToneVolume 40", result: `{}`},
		{method: "startAudioMixing", params: `{"file":"a.wav"}`, call: "Start 0 a.wav " + pc(1, false, 0, 100), result: `{}`},
		{method: "startAudioMixing", params: `{"file":"b.mp3","cycle":3,"loop":true,"playTime":1500,"replace":true,"volume":0,"id":1}`,
			call: "Start 1 b.mp3 " + fmt.Sprintf("%+v", mixing.PlayConfig{Cycle: 3, Loop: true, PlayTime: 1500 * time.Millisecond, Replace: true}), result: `{}`},
		{method: "stopAudioMixing", call: "Stop 0", result: `{}`},
		{method: "stopAudioMixing", params: `{"id":1}`, call: "Stop 1", result: `{}`},
		{method: "pauseAudioMixing", params: `{"id":1}`, call: "Pause 1", result: `{}`},
		{method: "resumeAudioMixing", params: `{"id":0}`, call: "Resume 0", result: `{}`},
		{method: "setAudioMixingVolume", params: `{"volume":70,"id":1}`, call: "SetVolume 1 70", result: `{}`},
		{method: "getAudioMixingTime", params: `{"id":1}`, call: "Position 1", result: `{"time":1500}`},
		{method: "setAudioMixingTime", params: `{"time":2500}`, call: "Seek 0 2.5s", result: `{}`},
		{method: "getAudioMixingDuration", call: "Duration 0", result: `{"duration":4000}`},
		{method: "addPublishOriginStreamUrl", params: `{"url":"rtmp://127.0.0.1/live/a"}`, call: "AddURL rtmp://127.0.0.1/live/a", result: `{}`},
		{method: "removePublishOriginStreamUrl", params: `{"url":"rtmp://127.0.0.1/live/a"}`, call: "RemoveURL rtmp://127.0.0.1/live/a", result: `{}`},
	}
	runMethodCases(t, cases)
	var covered []string
	for _, c := range cases {
		covered = append(covered, c.method)
	}
	for _, name := range SDKMethods {
		if !slices.Contains(covered, name) {
			t.Errorf("no happy path for %s", name)
		}
	}
}

// Params are checked before any call: missing, unknown, ill-typed, out
// of range.
func TestMethodsInvalidParams(t *testing.T) {
	cases := []methodCase{
		{method: "leaveRoom", params: `{"now":true}`, code: CodeInvalidParam, msg: `unknown param "now"`},
		{method: "updateToken", code: CodeInvalidParam, msg: "token is missing"},
		{method: "updateToken", params: `{"token":""}`, code: CodeInvalidParam, msg: "token is empty"},
		{method: "updateToken", params: `{"token":5}`, code: CodeInvalidParam, msg: "token: got JSON number, want a string"},
		{method: "getSessionStats", params: `{"x":1}`, code: CodeInvalidParam, msg: `unknown param "x"`},
		{method: "enableAudioLevelReport", params: `{"on":true}`, code: CodeInvalidParam},
		{method: "getUplinkVideoStats", params: `{"kind":"video"}`, code: CodeInvalidParam},
		{method: "getDownlinkAudioStats", params: `{"uid":"bob"}`, code: CodeInvalidParam},
		{method: "muteLocalAudio", code: CodeInvalidParam, msg: "mute is missing"},
		{method: "muteLocalAudio", params: `{"mute":null}`, code: CodeInvalidParam, msg: "mute is missing"},
		{method: "muteLocalVideo", params: `{"mute":"yes"}`, code: CodeInvalidParam, msg: "mute: got JSON string, want true or false"},
		{method: "muteLocalVideo", params: `{"mtue":true}`, code: CodeInvalidParam, msg: `unknown param "mtue"`},
		{method: "publish", params: `{"kind":"screen"}`, code: CodeInvalidParam, msg: `kind "screen"`},
		{method: "unpublish", params: `{"kind":1}`, code: CodeInvalidParam, msg: "kind"},
		{method: "subscribe", code: CodeInvalidParam, msg: "uid is missing"},
		{method: "subscribe", params: `{"uid":"bad uid"}`, code: CodeInvalidParam, msg: "invalid uid"},
		{method: "unsubscribe", params: `{"uid":""}`, code: CodeInvalidParam, msg: "invalid uid"},
		{method: "setRemoteAudioVolume", params: `{"uid":"bob"}`, code: CodeInvalidParam, msg: "volume is missing"},
		{method: "setRemoteAudioVolume", params: `{"uid":"bob","volume":101}`, code: CodeInvalidParam, msg: "volume 101: want 0-100"},
		{method: "setRemoteAudioVolume", params: `{"uid":"bob","volume":-1}`, code: CodeInvalidParam, msg: "volume -1"},
		{method: "setRemoteAudioVolume", params: `{"uid":"bob","volume":50.5}`, code: CodeInvalidParam, msg: "volume: got JSON number 50.5, want an integer"},
		{method: "setRemoteAudioVolume", params: `{"volume":5}`, code: CodeInvalidParam, msg: "uid is missing"},
		{method: "setToneVolume", params: `{"volume":101}`, code: CodeInvalidParam, msg: "volume 101"},
		{method: "setToneVolume", code: CodeInvalidParam, msg: "volume is missing"},
		{method: "startAudioMixing", code: CodeInvalidParam, msg: "file is missing"},
		{method: "startAudioMixing", params: `{"file":""}`, code: CodeInvalidParam, msg: "file is empty"},
		{method: "startAudioMixing", params: `{"file":"a.wav","cycle":0}`, code: CodeInvalidParam, msg: "cycle 0"},
		{method: "startAudioMixing", params: `{"file":"a.wav","playTime":-1}`, code: CodeInvalidParam, msg: "playTime -1"},
		{method: "startAudioMixing", params: `{"file":"a.wav","playTime":9223372036855}`, code: CodeInvalidParam, msg: "playTime"},
		{method: "startAudioMixing", params: `{"file":"a.wav","volume":101}`, code: CodeInvalidVolume, msg: "volume 101"},
		{method: "startAudioMixing", params: `{"file":"a.wav","id":2}`, code: CodeInvalidMixID, msg: "mixing id 2"},
		{method: "startAudioMixing", params: `{"file":"a.wav","cylce":2}`, code: CodeInvalidParam, msg: `unknown param "cylce"`},
		{method: "stopAudioMixing", params: `{"id":-1}`, code: CodeInvalidMixID, msg: "mixing id -1"},
		{method: "stopAudioMixing", params: `{"id":"0"}`, code: CodeInvalidParam, msg: "id: got JSON string, want an integer"},
		{method: "pauseAudioMixing", params: `{"id":2}`, code: CodeInvalidMixID},
		{method: "resumeAudioMixing", params: `{"id":7}`, code: CodeInvalidMixID},
		{method: "setAudioMixingVolume", params: `{"id":0}`, code: CodeInvalidParam, msg: "volume is missing"},
		{method: "setAudioMixingVolume", params: `{"volume":-5}`, code: CodeInvalidVolume, msg: "volume -5"},
		{method: "setAudioMixingVolume", params: `{"volume":5,"id":3}`, code: CodeInvalidMixID},
		{method: "getAudioMixingTime", params: `{"id":2}`, code: CodeInvalidMixID},
		{method: "setAudioMixingTime", params: `{"id":0}`, code: CodeInvalidParam, msg: "time is missing"},
		{method: "setAudioMixingTime", params: `{"time":-1}`, code: CodeInvalidParam, msg: "time -1"},
		{method: "setAudioMixingTime", params: `{"time":1,"id":5}`, code: CodeInvalidMixID},
		{method: "getAudioMixingDuration", params: `{"id":1e3}`, code: CodeInvalidParam, msg: "id: got JSON number 1e3"},
		{method: "addPublishOriginStreamUrl", code: CodeInvalidParam, msg: "url is missing"},
		{method: "addPublishOriginStreamUrl", params: `{"url":""}`, code: CodeInvalidParam, msg: "url is empty"},
		{method: "removePublishOriginStreamUrl", params: `{"URL":"rtmp://h/a/k"}`, code: CodeInvalidParam, msg: `unknown param "URL"`},
	}
	runMethodCases(t, cases)
}

// The errors of the engine, the mixer and the pusher get the SDK's names.
func TestMethodsErrorNames(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("%w: the problem", err) }
	other := errors.New("engine stopped")
	cases := []methodCase{
		{method: "updateToken", params: `{"token":"t"}`, err: wrap(engine.ErrNotJoined), call: "UpdateToken t", code: CodeHasNotJoin, msg: "not joined: the problem"},
		{method: "getSessionStats", err: other, call: "SessionStats", code: CodeError, msg: "engine stopped"},
		{method: "enableAudioLevelReport", err: wrap(engine.ErrInvalidOperation), call: "SetAudioLevelReport true", code: CodeInvalidOperation},
		{method: "disableAudioLevelReport", err: wrap(engine.ErrInvalidOperation), call: "SetAudioLevelReport false", code: CodeInvalidOperation},
		{method: "getUplinkAudioStats", err: wrap(engine.ErrNotJoined), call: "UplinkStats audio", code: CodeHasNotJoin},
		{method: "getDownlinkVideoStats", err: other, call: "DownlinkStats video", code: CodeError},
		{method: "muteLocalVideo", params: `{"mute":true}`, err: wrap(engine.ErrInvalidOperation), call: "MuteLocal video true", code: CodeInvalidOperation},
		{method: "publish", err: wrap(engine.ErrInvalidOperation), call: "Publish [audio video]", code: CodeInvalidOperation, msg: "invalid operation: the problem"},
		{method: "unpublish", err: wrap(engine.ErrInvalidOperation), call: "Unpublish [audio video]", code: CodeInvalidOperation},
		{method: "subscribe", params: `{"uid":"bob"}`, err: wrap(engine.ErrInvalidOperation), call: "Subscribe bob", code: CodeInvalidOperation},
		{method: "unsubscribe", params: `{"uid":"bob"}`, err: wrap(engine.ErrNotJoined), call: "Unsubscribe bob", code: CodeHasNotJoin},
		{method: "setRemoteAudioVolume", params: `{"uid":"me","volume":1}`, err: wrap(engine.ErrInvalidOperation), call: "SetRemoteAudioVolume me 1", code: CodeInvalidOperation},
		{method: "startAudioMixing", params: `{"file":"x"}`, err: wrap(mixing.ErrLoad), call: "Start 0 x " + fmt.Sprintf("%+v", mixing.PlayConfig{Cycle: 1, Volume: 100}), code: CodeSourceLoadError},
		{method: "startAudioMixing", params: `{"file":"x","id":1}`, err: wrap(mixing.ErrBusy), call: "Start 1 x " + fmt.Sprintf("%+v", mixing.PlayConfig{Cycle: 1, Volume: 100}), code: CodeInvalidOperation},
		{method: "startAudioMixing", params: `{"file":"x"}`, err: wrap(mixing.ErrInvalidParam), call: "Start 0 x " + fmt.Sprintf("%+v", mixing.PlayConfig{Cycle: 1, Volume: 100}), code: CodeInvalidParam},
		{method: "stopAudioMixing", params: `{"id":1}`, err: wrap(mixing.ErrNotPlaying), call: "Stop 1", code: CodeMixAudioNotExisted},
		{method: "pauseAudioMixing", err: wrap(mixing.ErrPaused), call: "Pause 0", code: CodeInvalidOperation},
		{method: "pauseAudioMixing", err: wrap(mixing.ErrNotPlaying), call: "Pause 0", code: CodeMixAudioNotExisted},
		{method: "resumeAudioMixing", err: wrap(mixing.ErrNotPaused), call: "Resume 0", code: CodeInvalidOperation},
		{method: "setAudioMixingVolume", params: `{"volume":5}`, err: wrap(mixing.ErrInvalidVolume), call: "SetVolume 0 5", code: CodeInvalidVolume},
		{method: "setAudioMixingVolume", params: `{"volume":5}`, err: wrap(mixing.ErrInvalidID), call: "SetVolume 0 5", code: CodeInvalidMixID},
		{method: "getAudioMixingTime", err: wrap(mixing.ErrNotPlaying), call: "Position 0", code: CodeMixAudioNotExisted},
		{method: "setAudioMixingTime", params: `{"time":99999}`, err: wrap(mixing.ErrInvalidParam), call: "Seek 0 1m39.999s", code: CodeInvalidParam},
		{method: "getAudioMixingDuration", params: `{"id":1}`, err: wrap(mixing.ErrNotPlaying), call: "Duration 1", code: CodeMixAudioNotExisted},
		{method: "addPublishOriginStreamUrl", params: `{"url":"rtmp://h/a/k"}`, err: wrap(push.ErrURLExists), call: "AddURL rtmp://h/a/k", code: CodeHasAddURL},
		{method: "addPublishOriginStreamUrl", params: `{"url":"rtmp://h/a/k"}`, err: wrap(push.ErrTooManyURLs), call: "AddURL rtmp://h/a/k", code: CodeTooMuchURLs},
		{method: "addPublishOriginStreamUrl", params: `{"url":"http://h"}`, err: wrap(push.ErrInvalidURL), call: "AddURL http://h", code: CodeInvalidParam},
		{method: "removePublishOriginStreamUrl", params: `{"url":"rtmp://h/a/k"}`, err: wrap(push.ErrURLNotExist), call: "RemoveURL rtmp://h/a/k", code: CodeURLNotExist},
		{method: "removePublishOriginStreamUrl", params: `{"url":"rtmp://h/a/k"}`, err: errors.New(""), call: "RemoveURL rtmp://h/a/k", code: CodeError, msg: "failed"},
	}
	runMethodCases(t, cases)
}

// runMethodCases sends each case's request to a command offering every
// method and checks the reply and the call.
func runMethodCases(t *testing.T, cases []methodCase) {
	t.Helper()
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d_%s", i, c.method), func(t *testing.T) {
			rec := &recorder{err: c.err}
			line := fmt.Sprintf(`{"id":%d,"method":%q}`, i, c.method)
			if c.params != "" {
				line = fmt.Sprintf(`{"id":%d,"method":%q,"params":%s}`, i, c.method, c.params)
			}
			got := serveLines(t, allMethods(rec), line)
			if len(got) != 1 {
				t.Fatalf("%d replies, want 1", len(got))
			}
			r := got[0]
			if string(r.ID) != fmt.Sprint(i) || r.Method != c.method {
				t.Errorf("reply %s: want id %d, method %s", describe(r), i, c.method)
			}
			wantCalls := []string{}
			if c.call != "" {
				wantCalls = []string{c.call}
			}
			if calls := rec.log(); !slices.Equal(calls, wantCalls) {
				t.Errorf("calls %q, want %q", calls, wantCalls)
			}
			switch {
			case c.result != "":
				if r.Error != nil || string(r.Result) != c.result {
					t.Errorf("reply %s, want result %s", describe(r), c.result)
				}
			case r.Error == nil || r.Error.Code != c.code || !strings.Contains(r.Error.Message, c.msg):
				t.Errorf("reply %s, want error %s with %q", describe(r), c.code, c.msg)
			}
		})
	}
}

// Every method the contract lists is in exactly one table, and
// SDKMethods is their union, sorted.
func TestTablesCoverSDKMethods(t *testing.T) {
	rec := &recorder{}
	e := fakeEngine{rec}
	tables := []Methods{SessionMethods(e, func() {}), PublishMethods(e), SubscribeMethods(e), ToneMethods(fakeTone{rec}),
		MixingMethods(fakeMixer{rec}), PushMethods(fakePusher{rec})}
	var all []string
	for _, m := range tables {
		all = append(all, m.Names()...)
	}
	slices.Sort(all)
	if !slices.Equal(all, SDKMethods) {
		t.Fatalf("the tables have\n%q\nSDKMethods\n%q", all, SDKMethods)
	}
	if len(SDKMethods) != 27 {
		t.Fatalf("%d methods, the contract lists 27", len(SDKMethods))
	}
}

// Before the join, the methods that need the session are refused without
// a call; the others run.
func TestNeedsJoin(t *testing.T) {
	noJoin := []string{"leaveRoom", "setToneVolume", "startAudioMixing", "stopAudioMixing", "pauseAudioMixing",
		"resumeAudioMixing", "setAudioMixingVolume", "getAudioMixingTime", "setAudioMixingTime",
		"getAudioMixingDuration", "removePublishOriginStreamUrl"}
	rec := &recorder{}
	methods := allMethods(rec)
	for _, name := range methods.Names() {
		if want := !slices.Contains(noJoin, name); methods[name].NeedsJoin != want {
			t.Errorf("%s: NeedsJoin %v, want %v", name, methods[name].NeedsJoin, want)
		}
	}
	joined := false
	in := strings.NewReader(`{"id":1,"method":"subscribe","params":{"uid":"bob"}}` + "\n" +
		`{"id":2,"method":"stopAudioMixing"}` + "\n")
	got := serve(t, methods, in, func(c *Config) { c.Joined = func() bool { return joined } })
	if len(got) != 2 || got[0].Error == nil || got[0].Error.Code != CodeHasNotJoin ||
		!strings.Contains(got[0].Error.Message, "subscribe") || got[1].Error != nil {
		t.Fatalf("replies %v", got)
	}
	if calls := rec.log(); !slices.Equal(calls, []string{"Stop 0"}) {
		t.Fatalf("calls %q, want only Stop 0", calls)
	}
}

// A method of another command is NOT_SUPPORTED, naming the command; a
// name no command has is UNKNOWN_METHOD.
func TestNotSupportedAndUnknown(t *testing.T) {
	rec := &recorder{}
	e := fakeEngine{rec}
	c := newCollector(t)
	in := strings.NewReader(`{"id":1,"method":"startAudioMixing","params":{"file":"a.wav"}}` + "\n" +
		`{"id":2,"method":"startAudioMixin"}` + "\n" + `{"id":3,"method":"subscribe","params":{"uid":"bob"}}` + "\n")
	err := Serve(t.Context(), Config{In: in, Events: newSink(c), Command: "record",
		Methods: SessionMethods(e, func() {}).With(SubscribeMethods(e))})
	if err != nil {
		t.Fatal(err)
	}
	got := c.replies()
	if len(got) != 3 {
		t.Fatalf("%d replies", len(got))
	}
	if r := got[0]; r.Error == nil || r.Error.Code != CodeNotSupported || r.Error.Message != "startAudioMixing is not offered by record" {
		t.Errorf("reply %s", describe(r))
	}
	if r := got[1]; r.Error == nil || r.Error.Code != CodeUnknownMethod || !strings.Contains(r.Error.Message, `"startAudioMixin"`) {
		t.Errorf("reply %s", describe(r))
	}
	if r := got[2]; r.Error != nil {
		t.Errorf("reply %s", describe(r))
	}
	if calls := rec.log(); !slices.Equal(calls, []string{"Subscribe bob"}) {
		t.Errorf("calls %q", calls)
	}
}

// With merges tables into a new one; later tables win.
func TestMethodsWith(t *testing.T) {
	a := Methods{"x": {NeedsJoin: true}, "y": {}}
	b := Methods{"y": {NeedsJoin: true}, "z": {}}
	m := a.With(b)
	if !slices.Equal(m.Names(), []string{"x", "y", "z"}) || !m["y"].NeedsJoin {
		t.Fatalf("With: %v", m)
	}
	if len(a) != 2 || a["y"].NeedsJoin {
		t.Fatalf("With changed its receiver: %v", a)
	}
	if m := Methods(nil).With(b); len(m) != 2 {
		t.Fatalf("nil.With: %v", m)
	}
}

// leaveRoom's reply is out before the command starts leaving.
func TestLeaveRoomRepliesFirst(t *testing.T) {
	c := newCollector(t)
	var before []int
	leave := func() { before = append(before, len(c.replies())) }
	err := Serve(t.Context(), Config{In: strings.NewReader(`{"id":1,"method":"leaveRoom"}` + "\nleave\n"),
		Events: newSink(c), Methods: SessionMethods(fakeEngine{&recorder{}}, leave)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, []int{1, 2}) {
		t.Fatalf("leave saw %v replies, want [1 2]", before)
	}
}

// A Handler called with params that are not an object refuses them (null
// is no params, as in a request).
func TestHandlerRefusesParamsNotAnObject(t *testing.T) {
	for _, params := range []string{`[]`, `"audio"`, `7`, ``} {
		_, err := allMethods(&recorder{})["publish"].Handle(t.Context(), json.RawMessage(params))
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidParam {
			t.Errorf("params %q: %v, want INVALID_PARAM", params, err)
		}
	}
}
