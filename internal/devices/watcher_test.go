package devices

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomctl/roomctl/internal/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeEnum returns one scripted snapshot per call and repeats the last one;
// steps tells the test how many calls were made.
type fakeEnum struct {
	mu    sync.Mutex
	snaps [][]Device
	errs  map[int]error
	calls int
}

// waitCalls waits until Enumerate was called at least n times.
func (f *fakeEnum) waitCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		c := f.calls
		f.mu.Unlock()
		if c >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("watcher polled %d times, want %d", c, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *fakeEnum) Enumerate(context.Context) ([]Device, error) {
	f.mu.Lock()
	i := f.calls
	f.calls++
	f.mu.Unlock()
	if err := f.errs[i]; err != nil {
		return nil, err
	}
	if i >= len(f.snaps) {
		i = len(f.snaps) - 1
	}
	return f.snaps[i], nil
}

type recorder struct {
	mu    sync.Mutex
	lines []Change
}

func (r *recorder) Emit(name string, data any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dc := data.(event.DeviceChange)
	r.lines = append(r.lines, Change{Event: name, State: dc.State, DeviceID: dc.DeviceID})
}

func (r *recorder) get() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Change(nil), r.lines...)
}

func mic(id string) Device { return Device{Kind: AudioInput, DeviceID: id, Label: "mic " + id} }
func spk(id string) Device { return Device{Kind: AudioOutput, DeviceID: id, Label: "out " + id} }
func cam(id string) Device { return Device{Kind: VideoInput, DeviceID: id, Label: "cam " + id} }

func added(ev, id string) Change   { return Change{Event: ev, State: StateAdded, DeviceID: id} }
func removed(ev, id string) Change { return Change{Event: ev, State: StateRemoved, DeviceID: id} }

func TestWatcher(t *testing.T) {
	const ai, vi, ao = event.AudioInputChanged, event.VideoInputChanged, event.AudioOutputChanged
	cases := []struct {
		name  string
		snaps [][]Device
		errs  map[int]error
		want  []Change
	}{
		{name: "nothing changes", snaps: [][]Device{{mic("a")}, {mic("a")}, {mic("a")}}},
		{
			name:  "add and remove each kind",
			snaps: [][]Device{{}, {mic("a"), cam("v"), spk("o")}, {spk("o")}, {}},
			want: []Change{
				added(ai, "a"), added(ao, "o"), added(vi, "v"),
				removed(ai, "a"), removed(vi, "v"),
				removed(ao, "o"),
			},
		},
		{
			name:  "flapping device",
			snaps: [][]Device{{mic("a")}, {}, {mic("a")}, {}, {mic("a")}},
			want:  []Change{removed(ai, "a"), added(ai, "a"), removed(ai, "a"), added(ai, "a")},
		},
		{
			name: "duplicates in one snapshot",
			snaps: [][]Device{
				{mic("a"), mic("a")},
				{mic("a"), mic("a"), mic("b"), mic("b"), mic("b")},
				{mic("b"), mic("a"), mic("b")},
			},
			want: []Change{added(ai, "b")},
		},
		{
			name:  "same id in two kinds is two devices",
			snaps: [][]Device{{mic("x")}, {mic("x"), spk("x")}, {spk("x")}},
			want:  []Change{added(ao, "x"), removed(ai, "x")},
		},
		{
			name:  "test drivers are ignored",
			snaps: [][]Device{{}, {{Kind: VideoInput, DeviceID: "u1", Label: "VideoTest"}, {Kind: AudioInput, DeviceID: "u2", Label: "AudioTest"}}},
		},
		{
			name:  "an error is not a removal",
			snaps: [][]Device{{mic("a")}, {mic("a")}, {mic("a")}, {}},
			errs:  map[int]error{1: errors.New("boom"), 2: errors.New("boom")},
			want:  []Change{removed(ai, "a")},
		},
		{
			name:  "error before the baseline",
			snaps: [][]Device{{}, {mic("a")}, {mic("a"), mic("b")}},
			errs:  map[int]error{0: errors.New("boom")},
			want:  []Change{added(ai, "b")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeEnum{snaps: tc.snaps, errs: tc.errs}
			rec := &recorder{}
			var base []Device
			w, err := New(Config{Enumerator: f, Interval: time.Millisecond, Events: rec, Baseline: func(ds []Device) { base = ds }})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- w.Run(context.Background()) }()
			f.waitCalls(t, len(tc.snaps)+1)
			_ = w.Close()
			_ = w.Close()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if base == nil {
				t.Fatal("no baseline")
			}
			got := rec.get()
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("change %d: got %v, want %v (all: %v)", i, got[i], tc.want[i], got)
				}
			}
		})
	}
}

func TestWatcherStopsOnContext(t *testing.T) {
	f := &fakeEnum{snaps: [][]Device{{}}}
	w, err := New(Config{Enumerator: f, Interval: time.Hour, Events: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	f.waitCalls(t, 1)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestNewValidates(t *testing.T) {
	f := &fakeEnum{snaps: [][]Device{{}}}
	for _, cfg := range []Config{
		{Events: &recorder{}},
		{Enumerator: f},
		{Enumerator: f, Events: &recorder{}, Interval: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): want an error", cfg)
		}
	}
	w, err := New(Config{Enumerator: f, Events: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	if w.cfg.Interval != DefaultInterval {
		t.Errorf("interval %s, want %s", w.cfg.Interval, DefaultInterval)
	}
}

func TestDedupe(t *testing.T) {
	got := Dedupe([]Device{spk("b"), mic("b"), mic("a"), mic("b"), cam("c")})
	want := []Device{mic("a"), mic("b"), spk("b"), cam("c")}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// TestSystemEnumerates runs the real enumerator: whatever this machine has,
// it must not fail or list a device twice.
func TestSystemEnumerates(t *testing.T) {
	ds, err := (&System{}).Enumerate(context.Background())
	if err != nil {
		t.Skipf("no audio backend here: %v", err)
	}
	t.Logf("devices: %+v", ds)
	if len(Dedupe(ds)) != len(ds) {
		t.Logf("raw enumeration has duplicates (Dedupe removes them)")
	}
}
