package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/event/eventschema"
)

// decodeCases feed both TestDecode and FuzzDecode's seed corpus.
var decodeCases = []struct {
	line   string
	id     string // "" for none
	method string
	params string // when decoded
	msg    string // a part of the BAD_REQUEST message; "" when decoded
}{
	{line: `{"id":1,"method":"muteLocalAudio","params":{"mute":true}}`, id: `1`, method: "muteLocalAudio", params: `{"mute":true}`},
	{line: `  {"method":"leaveRoom"}  `, method: "leaveRoom", params: `{}`},
	{line: `{"method":"leaveRoom","params":null,"id":null}`, id: `null`, method: "leaveRoom", params: `{}`},
	{line: `{"id":{"a":[1]},"method":"publish","params":{ "kind" : "audio" }}`, id: `{"a":[1]}`, method: "publish", params: `{ "kind" : "audio" }`},
	{line: `{"method":"x","method":"getSessionStats"}`, method: "getSessionStats", params: `{}`},
	{line: `{"method":"nope"}`, method: "nope", params: `{}`}, // the dispatcher refuses it
	{line: "mute audio", method: "muteLocalAudio", params: `{"mute":true}`},
	{line: "unmute audio", method: "muteLocalAudio", params: `{"mute":false}`},
	{line: "mute video", method: "muteLocalVideo", params: `{"mute":true}`},
	{line: "\tunmute  video ", method: "muteLocalVideo", params: `{"mute":false}`},
	{line: "tone-volume 40", method: "setToneVolume", params: `{"volume":40}`},
	{line: "tone-volume -3", method: "setToneVolume", params: `{"volume":-3}`},
	{line: `tone-volume "x"`, method: "setToneVolume", params: `{"volume":"\"x\""}`},
	{line: "leave", method: "leaveRoom", params: `{}`},
	{line: "leave room", msg: "neither JSON nor a text command"},
	{line: "mute", msg: "neither JSON nor a text command"},
	{line: "tone-volume", msg: "neither JSON nor a text command"},
	{line: "", msg: "neither JSON"},
	{line: `{"id":1,`, msg: "neither JSON"},
	{line: "{\"method\":\"leaveRoom\"}\xff", msg: "not UTF-8"},
	{line: "{\"method\":\"\xc3\x28\"}", msg: "not UTF-8"},
	{line: `[1,2]`, msg: "an array, not a JSON object"},
	{line: `"leave"`, msg: "a string, not a JSON object"},
	{line: `42`, msg: "a number, not a JSON object"},
	{line: `null`, msg: "null, not a JSON object"},
	{line: `{"id":3}`, id: `3`, msg: "method is missing"},
	{line: `{"id":3,"method":null}`, id: `3`, msg: "method is null, not a string"},
	{line: `{"id":3,"method":["leaveRoom"]}`, id: `3`, msg: "method is an array, not a string"},
	{line: `{"id":3,"method":""}`, id: `3`, msg: "method is empty"},
	{line: `{"id":3,"method":"publish","params":[]}`, id: `3`, method: "publish", msg: "params is an array, not an object"},
	{line: `{"id":3,"method":"publish","params":"audio"}`, id: `3`, method: "publish", msg: "params is a string"},
	{line: `{"id":3,"method":"publish","param":{}}`, id: `3`, msg: `unknown request field "param"`},
	{line: `{"id":3,"Method":"publish"}`, id: `3`, msg: `unknown request field "Method"`},
}

func TestDecode(t *testing.T) {
	for _, c := range decodeCases {
		req, err := decode([]byte(c.line))
		if string(req.id) != c.id || req.method != c.method {
			t.Errorf("%q: id %s method %q, want %s %q", c.line, req.id, req.method, c.id, c.method)
		}
		var e *Error
		switch {
		case c.msg == "" && err != nil:
			t.Errorf("%q: %v", c.line, err)
		case c.msg == "" && string(req.params) != c.params:
			t.Errorf("%q: params %s, want %s", c.line, req.params, c.params)
		case c.msg != "" && (!errors.As(err, &e) || e.Code != CodeBadRequest || !strings.Contains(e.Message, c.msg)):
			t.Errorf("%q: error %v, want BAD_REQUEST with %q", c.line, err, c.msg)
		}
	}
}

// Whatever the line, decode gives a request with a method and params
// that are an object, or a BAD_REQUEST, and the reply prints as the
// schema says.
func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c.line))
	}
	v, err := eventschema.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := decode(line)
		var e *Error
		switch {
		case err == nil:
			if req.method == "" || !json.Valid(req.params) || req.params[0] != '{' {
				t.Fatalf("%q: decoded to method %q params %s", line, req.method, req.params)
			}
		case !errors.As(err, &e) || e.Code != CodeBadRequest || e.Message == "":
			t.Fatalf("%q: error %v, want BAD_REQUEST", line, err)
		}
		if req.id != nil && !json.Valid(req.id) {
			t.Fatalf("%q: id %q is not JSON", line, req.id)
		}
		var buf bytes.Buffer
		event.NewSink(&buf, event.SinkConfig{}).Emit(event.Reply, replyTo(req, nil, err))
		if err := v.Validate(buf.Bytes()); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
	})
}
