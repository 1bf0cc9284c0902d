package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/devices"
	"github.com/roomctl/roomctl/internal/event"
)

type fakeDevices struct {
	ds  []devices.Device
	err error
}

func (f fakeDevices) Enumerate(context.Context) ([]devices.Device, error) { return f.ds, f.err }

func TestRunDevicesList(t *testing.T) {
	mic := devices.Device{Kind: devices.AudioInput, DeviceID: "m", Label: "Mic"}
	out := devices.Device{Kind: devices.AudioOutput, DeviceID: "o", Label: "Out"}
	vt := devices.Device{Kind: devices.VideoInput, DeviceID: "x", Label: "VideoTest"}
	cases := []struct {
		name string
		ds   []devices.Device
		want []string
	}{
		{name: "none", ds: nil},
		{name: "deduped and sorted, test drivers dropped", ds: []devices.Device{out, mic, mic, vt},
			want: []string{`{"kind":"audioinput","deviceId":"m","label":"Mic"}`, `{"kind":"audiooutput","deviceId":"o","label":"Out"}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			o := &devicesOptions{interval: devices.DefaultInterval, enum: fakeDevices{ds: tc.ds}}
			o.level = "info"
			if err := runDevices(context.Background(), o, Streams{Out: &stdout, ErrOut: &stderr}); err != nil {
				t.Fatal(err)
			}
			var lines []string
			if s := strings.TrimSpace(stdout.String()); s != "" {
				lines = strings.Split(s, "\n")
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(tc.want), stdout.String())
			}
			for i, line := range lines {
				l, err := event.Decode([]byte(line))
				if err != nil {
					t.Fatal(err)
				}
				if l.Event != event.Device || l.Seq != int64(i+1) || string(l.Data.(json.RawMessage)) != tc.want[i] {
					t.Errorf("line %d: %s", i, line)
				}
			}
		})
	}
}

func TestRunDevicesErrors(t *testing.T) {
	boom := errors.New("boom")
	var stdout, stderr bytes.Buffer
	s := Streams{Out: &stdout, ErrOut: &stderr}
	o := &devicesOptions{interval: devices.DefaultInterval, enum: fakeDevices{err: boom}}
	o.level = "info"
	if err := runDevices(context.Background(), o, s); !errors.Is(err, boom) {
		t.Errorf("got %v, want boom", err)
	}
	for _, o := range []*devicesOptions{
		{interval: 0},
		{interval: time.Second, duration: time.Second},
		{interval: time.Second, watch: true, duration: -time.Second},
	} {
		o.level = "info"
		o.enum = fakeDevices{}
		if err := runDevices(context.Background(), o, s); ExitCode(err) != ExitUsage {
			t.Errorf("%+v: got %v, want a usage error", o, err)
		}
	}
}

func TestRunDevicesWatchDuration(t *testing.T) {
	var stdout, stderr bytes.Buffer
	o := &devicesOptions{watch: true, interval: 10 * time.Millisecond, duration: 100 * time.Millisecond,
		enum: fakeDevices{ds: []devices.Device{{Kind: devices.AudioInput, DeviceID: "m", Label: "Mic"}}}}
	o.level = "info"
	if err := runDevices(context.Background(), o, Streams{Out: &stdout, ErrOut: &stderr}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stdout.String(), "\n"); n != 1 {
		t.Errorf("want the one baseline device line, got:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "watching devices") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

// seqDevices returns its snapshots in turn, then the last one forever.
type seqDevices struct {
	mu    sync.Mutex
	snaps [][]devices.Device
}

func (s *seqDevices) Enumerate(context.Context) ([]devices.Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.snaps[0]
	if len(s.snaps) > 1 {
		s.snaps = s.snaps[1:]
	}
	return d, nil
}

// The watcher of a joined session prints changes to the session's sink
// (not the baseline), and stop waits for it.
func TestDeviceWatchInSession(t *testing.T) {
	mic := devices.Device{Kind: devices.AudioInput, DeviceID: "m", Label: "Mic"}
	cam := devices.Device{Kind: devices.VideoInput, DeviceID: "c", Label: "Cam"}
	var stdout syncWriter
	f := &roomFlags{}
	f.level = "info"
	se, err := f.newSession(context.Background(), Streams{Out: &stdout, ErrOut: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	w := deviceWatch{interval: 5 * time.Millisecond, enum: &seqDevices{snaps: [][]devices.Device{{mic}, {mic, cam}, {cam}}}}
	stop := w.start(se)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(stdout.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	se.cancel()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		l, err := event.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l.Event+" "+string(l.Data.(json.RawMessage)))
	}
	want := []string{
		`video_input_changed {"state":"added","deviceId":"c"}`,
		`audio_input_changed {"state":"removed","deviceId":"m"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := (&deviceWatch{interval: -time.Second}).check(); ExitCode(err) != ExitUsage {
		t.Errorf("negative --device-interval: %v", err)
	}
	(&deviceWatch{}).start(se)() // 0: no watcher, and stop returns at once
}

// syncWriter is a bytes.Buffer safe for a writer and a reader goroutine.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
