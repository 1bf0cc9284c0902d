package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// compact is v without insignificant white space.
func compact(t *testing.T, v string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(v)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The reply's id is the request's, whatever JSON it is, on results and
// errors alike; null when absent or unreadable.
func TestIDsEchoed(t *testing.T) {
	cases := []struct{ line, id, code string }{
		{`{"id":7,"method":"getSessionStats"}`, `7`, ""},
		{`{"id":-1.5e3,"method":"getSessionStats"}`, `-1.5e3`, ""},
		{`{"id":12345678901234567890123,"method":"getSessionStats"}`, `12345678901234567890123`, ""},
		{`{"id":"a","method":"getSessionStats"}`, `"a"`, ""},
		{`{"id":"\u00e9\n\"","method":"getSessionStats"}`, `"\u00e9\n\""`, ""},
		{`{"id":{"b":[1, {"c": null}],"a":true},"method":"getSessionStats"}`, `{"b":[1,{"c":null}],"a":true}`, ""},
		{`{"id":[],"method":"getSessionStats"}`, `[]`, ""},
		{`{"id":null,"method":"getSessionStats"}`, `null`, ""},
		{`{"method":"getSessionStats"}`, `null`, ""},
		{`{"id":false,"method":"nope"}`, `false`, CodeUnknownMethod},
		{`{"id":"p","method":"muteLocalAudio","params":{}}`, `"p"`, CodeInvalidParam},
		{`{"id":"m","method":7}`, `"m"`, CodeBadRequest},
		{`{"id":"q","method":"publish","params":"audio"}`, `"q"`, CodeBadRequest},
		{`{"id":1,`, `null`, CodeBadRequest},
		{`[{"id":1,"method":"getSessionStats"}]`, `null`, CodeBadRequest},
		{`mute audio`, `null`, ""},
	}
	var lines []string
	for _, c := range cases {
		lines = append(lines, c.line)
	}
	got := serveLines(t, allMethods(&recorder{}), lines...)
	if len(got) != len(cases) {
		t.Fatalf("%d replies to %d requests", len(got), len(cases))
	}
	for i, c := range cases {
		r := got[i]
		if id := compact(t, string(r.ID)); id != c.id {
			t.Errorf("%s: id %s, want %s", c.line, id, c.id)
		}
		code := ""
		if r.Error != nil {
			code = r.Error.Code
		}
		if code != c.code {
			t.Errorf("%s: reply %s, want code %q", c.line, describe(r), c.code)
		}
	}
}

// Every request gets exactly one reply, in the order of the requests;
// blank lines get none.
func TestRepliesOneToOneInOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	kinds := []string{
		`{"id":%d,"method":"getSessionStats"}`,
		`{"id":%d,"method":"stopAudioMixing","params":{"id":1}}`,
		`{"id":%d,"method":"noSuchMethod"}`,
		`{"id":%d,"method":"setToneVolume","params":{"volume":500}}`,
		`{"id":%d,"method":"publish","params":[]}`,
		`{"id":"s%d","method":"leaveRoom"}`,
	}
	var lines, want []string
	for i := range 500 {
		switch rng.Intn(8) {
		case 6:
			lines = append(lines, "  \t ")
		case 7:
			lines = append(lines, "")
		default:
			f := kinds[rng.Intn(len(kinds))]
			lines = append(lines, fmt.Sprintf(f, i))
			want = append(want, strconv.Itoa(i))
		}
	}
	got := serveLines(t, allMethods(&recorder{}), lines...)
	if len(got) != len(want) {
		t.Fatalf("%d replies to %d requests", len(got), len(want))
	}
	for i, r := range got {
		if id := strings.Trim(string(r.ID), `"s`); id != want[i] {
			t.Fatalf("reply %d has id %s, want %s", i, r.ID, want[i])
		}
	}
}

// The text forms kept from join's first --control call their methods.
func TestTextAliases(t *testing.T) {
	rec := &recorder{}
	got := serveLines(t, allMethods(rec),
		"mute audio", "unmute audio", " mute \t video ", "unmute video\r", "tone-volume 40",
		"tone-volume loud", "tone-volume 101", "leave", "mute", "Leave", "mute audio now")
	want := []struct{ method, code string }{
		{"muteLocalAudio", ""}, {"muteLocalAudio", ""}, {"muteLocalVideo", ""}, {"muteLocalVideo", ""},
		{"setToneVolume", ""}, {"setToneVolume", CodeInvalidParam}, {"setToneVolume", CodeInvalidParam},
		{"leaveRoom", ""}, {"", CodeBadRequest}, {"", CodeBadRequest}, {"", CodeBadRequest},
	}
	if len(got) != len(want) {
		t.Fatalf("%d replies, want %d", len(got), len(want))
	}
	for i, w := range want {
		r := got[i]
		code := ""
		if r.Error != nil {
			code = r.Error.Code
		}
		if r.Method != w.method || code != w.code || string(r.ID) != "null" {
			t.Errorf("reply %d %s, want method %q code %q", i, describe(r), w.method, w.code)
		}
	}
	wantCalls := []string{"MuteLocal audio true", "MuteLocal audio false", "MuteLocal video true",
		"MuteLocal video false", "SetToneVolume 40", "leave"}
	if calls := rec.log(); !slices.Equal(calls, wantCalls) {
		t.Fatalf("calls %q, want %q", calls, wantCalls)
	}
}

// A 1 MB line gets one LINE_TOO_LONG reply; the request after it is
// answered.
func TestLineTooLong(t *testing.T) {
	in := io.MultiReader(strings.NewReader(`{"id":1,"method":"getSessionStats","params":{"pad":"`),
		strings.NewReader(strings.Repeat("x", 1<<20)),
		strings.NewReader(`"}}`+"\n"+`{"id":2,"method":"getSessionStats"}`+"\n"))
	got := serve(t, allMethods(&recorder{}), in)
	if len(got) != 2 {
		t.Fatalf("%d replies, want 2", len(got))
	}
	if r := got[0]; r.Error == nil || r.Error.Code != CodeLineTooLong || string(r.ID) != "null" || r.Method != "" ||
		r.Error.Message != "the line is longer than 65536 bytes" {
		t.Errorf("reply %s, want LINE_TOO_LONG", describe(r))
	}
	if r := got[1]; r.Error != nil || string(r.ID) != "2" {
		t.Errorf("reply %s, want the stats of id 2", describe(r))
	}
}

// A line of exactly MaxLine bytes is a request; one byte more is not.
func TestMaxLineBoundary(t *testing.T) {
	request := func(n int) string {
		head, tail := `{"id":"`, `","method":"getSessionStats"}`
		return head + strings.Repeat("i", n-len(head)-len(tail)) + tail
	}
	for _, max := range []int{0, 100} {
		limit := max
		if limit == 0 {
			limit = DefaultMaxLine
		}
		in := strings.NewReader(request(limit) + "\r\n" + request(limit+1) + "\n" + request(limit))
		got := serve(t, allMethods(&recorder{}), in, func(c *Config) { c.MaxLine = max })
		if len(got) != 3 || got[0].Error != nil || got[1].Error == nil || got[1].Error.Code != CodeLineTooLong || got[2].Error != nil {
			t.Fatalf("MaxLine %d: replies %v", max, got)
		}
	}
}

// 10,000 lines of garbage get 10,000 error replies (none for the blank
// ones) without a crash or a stall, and the session goes on.
func TestGarbage(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	tokens := []string{`{`, `}`, `[`, `]`, `"id"`, `"method"`, `"params"`, `:`, `,`, `null`, `"leaveRoom"`,
		`"publish"`, `{"kind":`, `1e999`, `-0`, `"\u0000"`, `"\ud800"`, `true`, ` `, "\t", "mute", "audio", "tone-volume"}
	var in bytes.Buffer
	want := 0
	for range 10_000 {
		var line []byte
		switch rng.Intn(3) {
		case 0: // bytes, a newline excepted
			line = make([]byte, rng.Intn(300))
			for i := range line {
				line[i] = byte(rng.Intn(256))
				if line[i] == '\n' {
					line[i] = ' '
				}
			}
		case 1: // printable ASCII
			line = make([]byte, rng.Intn(300))
			for i := range line {
				line[i] = byte(' ' + rng.Intn(95))
			}
		default: // JSON-like
			for range rng.Intn(30) {
				line = append(line, tokens[rng.Intn(len(tokens))]...)
			}
		}
		if len(bytes.TrimSpace(line)) > 0 {
			want++
		}
		in.Write(line)
		in.WriteByte('\n')
	}
	in.WriteString(`{"id":"last","method":"getSessionStats"}` + "\n")
	rec := &recorder{}
	got := serve(t, allMethods(rec), &in)
	if len(got) != want+1 {
		t.Fatalf("%d replies, want %d errors and one result", len(got), want)
	}
	for _, r := range got[:want] {
		if r.Error == nil {
			t.Fatalf("garbage got a result: %s", describe(r))
		}
	}
	if r := got[want]; r.Error != nil || string(r.ID) != `"last"` {
		t.Fatalf("the request after the garbage got %s", describe(r))
	}
	if calls := rec.log(); !slices.Equal(calls, []string{"SessionStats"}) {
		t.Fatalf("garbage made calls: %q", calls)
	}
	t.Logf("%d garbage lines, %d not blank", 10_000, want)
}

// Serve returns when ctx ends while its read of In is blocked.
func TestServeReturnsOnCancelWhileReading(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close() // ends the blocked read, so the reading goroutine
	c := newCollector(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, Config{In: pr, Events: newSink(c), Methods: allMethods(&recorder{})})
	}()
	if _, err := io.WriteString(pw, `{"id":1,"method":"leaveRoom"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	c.wait(1, 10*time.Second)
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still blocked in its read 10 s after ctx ended")
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// A read error ends Serve with that error; the end of input with nil.
func TestServeReadError(t *testing.T) {
	boom := errors.New("boom")
	c := newCollector(t)
	in := io.MultiReader(strings.NewReader(`{"id":1,"method":"getSessionStats"}`+"\n"+`{"id":2,"method"`), failingReader{boom})
	err := Serve(t.Context(), Config{In: in, Events: newSink(c), Methods: allMethods(&recorder{})})
	if !errors.Is(err, boom) {
		t.Fatalf("Serve: %v, want boom", err)
	}
	if got := c.replies(); len(got) != 1 {
		t.Fatalf("%d replies, want 1 (the cut line is dropped)", len(got))
	}
	// The last line needs no newline.
	got := serve(t, allMethods(&recorder{}), strings.NewReader(`{"id":1,"method":"getSessionStats"}`))
	if len(got) != 1 || got[0].Error != nil {
		t.Fatalf("replies %v", got)
	}
}

func TestServeNeedsInAndEvents(t *testing.T) {
	if err := Serve(t.Context(), Config{In: strings.NewReader("")}); err == nil {
		t.Fatal("Serve without Events: no error")
	}
	if err := Serve(t.Context(), Config{Events: newSink(newCollector(t))}); err == nil {
		t.Fatal("Serve without In: no error")
	}
}
