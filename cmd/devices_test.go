package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/roomctl/roomctl/devices"
	"github.com/roomctl/roomctl/event"
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
