package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
)

// deviceChange matches a device change line (audio_input_changed…) of
// that state and device.
func deviceChange(state, id string) func(json.RawMessage) bool {
	return both(field("state", state), field("deviceId", id))
}

// A watching `roomctl devices` reports sinks and sources loaded into and
// unloaded from a PulseAudio daemon, each change once; the one-shot
// listing sees the same devices.
func TestDevicesWatchPulseAudio(t *testing.T) {
	pa := testutil.StartPulse(t)
	// NoSchema: `device` lines are not in the event schema yet.
	w := testutil.Start(t, testutil.Cmd{Path: binPath, Name: "devices", Env: pa.Env, NoSchema: true,
		Args: []string{"devices", "--watch", "--interval", "200ms", "--no-video"}})
	w.WaitStderr("watching devices") // the baseline

	sink := pa.Pactl("load-module", "module-null-sink", "sink_name=rt_sink")
	w.Wait(event.AudioOutputChanged, deviceChange("added", testutil.HexID("rt_sink")))
	w.Wait(event.AudioInputChanged, deviceChange("added", testutil.HexID("rt_sink.monitor")))
	src := pa.Pactl("load-module", "module-null-source", "source_name=rt_src")
	w.Wait(event.AudioInputChanged, deviceChange("added", testutil.HexID("rt_src")))

	// The one-shot listing sees the same devices.
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	list := exec.CommandContext(ctx, binPath, "devices", "--no-video")
	list.Env = pa.Env
	out, err := list.Output()
	if err != nil {
		t.Fatalf("roomctl devices: %v", err)
	}
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		l, err := event.Decode([]byte(line))
		if err != nil || l.Event != "device" || l.Seq != int64(i+1) {
			t.Fatalf("line %d: %q (%v)", i, line, err)
		}
		var d struct{ Kind, DeviceID, Label string }
		if err := json.Unmarshal(l.Data.(json.RawMessage), &d); err != nil {
			t.Fatal(err)
		}
		if d.Label == "" {
			t.Errorf("no label: %s", line)
		}
		seen[d.Kind+" "+d.DeviceID] = true
	}
	for _, want := range []string{"audiooutput " + testutil.HexID("rt_sink"), "audioinput " + testutil.HexID("rt_sink.monitor"), "audioinput " + testutil.HexID("rt_src")} {
		if !seen[want] {
			t.Errorf("roomctl devices did not list %s:\n%s", want, out)
		}
	}

	pa.Pactl("unload-module", sink)
	w.Wait(event.AudioOutputChanged, deviceChange("removed", testutil.HexID("rt_sink")))
	w.Wait(event.AudioInputChanged, deviceChange("removed", testutil.HexID("rt_sink.monitor")))
	pa.Pactl("unload-module", src)
	w.Wait(event.AudioInputChanged, deviceChange("removed", testutil.HexID("rt_src")))

	// Let a few more polls pass: nothing may be reported twice. (Not a
	// wait for an event: the window in which nothing may happen.)
	time.Sleep(time.Second)
	changes := deviceChanges(w)
	count := map[deviceChangeLine]int{}
	for _, c := range changes {
		count[c]++
		if count[c] > 1 {
			t.Errorf("reported twice: %+v", c)
		}
	}
	if n := len(changes); n != 6 {
		t.Errorf("%d changes, want 6:\n%s", n, strings.Join(w.Raw(), "\n"))
	}

	w.Signal(os.Interrupt)
	if code := w.ExitCode(); code != 0 {
		t.Errorf("exit %d after SIGINT, want 0", code)
	}
}

// deviceChangeLine is a device change line, as its name and fields.
type deviceChangeLine struct{ Event, State, DeviceID string }

// deviceChanges are the device change lines p printed (not its `device`
// listing lines).
func deviceChanges(p *proc) []deviceChangeLine {
	var out []deviceChangeLine
	for _, l := range p.Lines() {
		var dc event.DeviceChange
		if l.Event == "device" || json.Unmarshal(l.Data.(json.RawMessage), &dc) != nil {
			continue
		}
		out = append(out, deviceChangeLine{l.Event, dc.State, dc.DeviceID})
	}
	return out
}
