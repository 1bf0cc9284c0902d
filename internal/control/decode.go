package control

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// request is one decoded line.
type request struct {
	id     json.RawMessage // as sent; nil when absent
	method string
	params json.RawMessage // a JSON object
}

// aliases are the text forms kept from join's first --control, by their
// words; tone-volume N is decodeAlias's.
var aliases = map[string]request{
	"mute audio":   {method: "muteLocalAudio", params: json.RawMessage(`{"mute":true}`)},
	"unmute audio": {method: "muteLocalAudio", params: json.RawMessage(`{"mute":false}`)},
	"mute video":   {method: "muteLocalVideo", params: json.RawMessage(`{"mute":true}`)},
	"unmute video": {method: "muteLocalVideo", params: json.RawMessage(`{"mute":false}`)},
	"leave":        {method: "leaveRoom", params: json.RawMessage(`{}`)},
}

const aliasHelp = "mute audio, unmute audio, mute video, unmute video, tone-volume N, leave"

// requestFields are the fields of a JSON request.
var requestFields = []string{"id", "method", "params"}

// decode reads one line that is not blank as a request: a text alias or
// a JSON object {"id": any, "method": string, "params": object}. When it
// cannot, the error is BAD_REQUEST and req has what could be read (the
// id, the method) for the reply.
func decode(line []byte) (req request, err error) {
	if !utf8.Valid(line) {
		return req, errorf(CodeBadRequest, "the line is not UTF-8 text")
	}
	if req, ok := decodeAlias(line); ok {
		return req, nil
	}
	line = bytes.TrimSpace(line)
	if !json.Valid(line) {
		return req, errorf(CodeBadRequest, "the line is neither JSON nor a text command (%s)", aliasHelp)
	}
	if line[0] != '{' {
		return req, errorf(CodeBadRequest, "the request is %s, not a JSON object", jsonKind(line))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return req, errorf(CodeBadRequest, "the request cannot be read: %v", err)
	}
	req.id = fields["id"]
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(requestFields, name) {
			return req, errorf(CodeBadRequest, "unknown request field %q (want id, method, params)", name)
		}
	}
	raw, ok := fields["method"]
	if !ok {
		return req, errorf(CodeBadRequest, "method is missing")
	}
	if err := json.Unmarshal(raw, &req.method); err != nil || raw[0] != '"' {
		return req, errorf(CodeBadRequest, "method is %s, not a string", jsonKind(raw))
	}
	if req.method == "" {
		return req, errorf(CodeBadRequest, "method is empty")
	}
	switch params := fields["params"]; {
	case params == nil || string(params) == "null":
		req.params = json.RawMessage(`{}`)
	case params[0] == '{':
		req.params = params
	default:
		return req, errorf(CodeBadRequest, "params is %s, not an object", jsonKind(params))
	}
	return req, nil
}

// decodeAlias reads line as a text alias, its words separated by any
// white space.
func decodeAlias(line []byte) (request, bool) {
	words := strings.Fields(string(line))
	if req, ok := aliases[strings.Join(words, " ")]; ok {
		return req, true
	}
	if len(words) != 2 || words[0] != "tone-volume" {
		return request{}, false
	}
	// A volume that is not an integer goes on as a string, for
	// setToneVolume to refuse with INVALID_PARAM as for a JSON request.
	var v any = words[1]
	if n, err := strconv.Atoi(words[1]); err == nil {
		v = n
	}
	params, _ := json.Marshal(map[string]any{"volume": v}) // cannot fail: a string or an int
	return request{method: "setToneVolume", params: params}, true
}

// jsonKind names the kind of a valid JSON value for messages.
func jsonKind(v json.RawMessage) string {
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
