package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strings"
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
