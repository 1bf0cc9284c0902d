package media

import (
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

func TestPickMic(t *testing.T) {
	alsa := []AudioDevice{
		{ID: alsaNullID, Name: "Discard all samples"},
		{ID: "6c617672617465", Name: "Rate Converter Plugin"},
		{ID: "70756c7365", Name: "PulseAudio Sound Server"},
	}
	pulse := []AudioDevice{
		{ID: "a", Name: "Monitor of Null Output"},
		{ID: "b", Name: "Null Input", IsDefault: true},
	}
	for _, c := range []struct {
		name string
		ds   []AudioDevice
		id   string
		want string // device id, or "" for ErrNoDevice
	}{
		{"default flagged", pulse, "", "b"},
		{"by id", pulse, "a", "a"},
		{"unknown id", pulse, "zz", ""},
		{"no default: first that is not null", alsa, "", "6c617672617465"},
		{"null by hex id", alsa, alsaNullID, ""},
		{"null by name", alsa, "null", ""},
		{"only null", alsa[:1], "", ""},
		{"nothing", nil, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := pickMic(c.ds, c.id)
			if c.want == "" {
				if !errors.Is(err, ErrNoDevice) {
					t.Fatalf("got %+v, %v; want ErrNoDevice", d, err)
				}
				return
			}
			if err != nil || d.ID != c.want {
				t.Fatalf("got %+v, %v; want %s", d, err, c.want)
			}
		})
	}
}

// fakeClock is a settable time source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ramp(n int, from float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = from + float32(i)
	}
	return s
}

func TestMicBufferFramesInOrder(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	b := newMicBuffer(clk.now)
	// Periods of 10 ms, read in frames of 20: the frames are the periods
	// in order.
	for i := range 4 {
		b.push(ramp(480, float32(i*480)))
		clk.add(10 * time.Millisecond)
	}
	frame := make([]float32, PCMFrameSamples)
	for f := range 2 {
		if err := b.read(frame, nil); err != nil {
			t.Fatal(err)
		}
		for i, v := range frame {
			if want := float32(f*PCMFrameSamples + i); v != want {
				t.Fatalf("frame %d sample %d = %g, want %g", f, i, v, want)
			}
		}
	}
}

func TestMicBufferUnderrunPadsWithSilence(t *testing.T) {
	b := newMicBuffer(time.Now)
	// Before the device's first audio: silence, not counted as a glitch.
	if err := b.read(make([]float32, PCMFrameSamples), nil); err != nil || b.underruns.Load() != 0 {
		t.Fatalf("start-up read: %v, %d underruns counted", err, b.underruns.Load())
	}
	b.push(ramp(100, 1))
	frame := ramp(PCMFrameSamples, 7)
	start := time.Now()
	if err := b.read(frame, nil); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < micUnderrunWait {
		t.Errorf("returned after %s, want a wait of %s for the rest", waited, micUnderrunWait)
	}
	if frame[0] != 1 || frame[99] != 100 || frame[100] != 0 || frame[PCMFrameSamples-1] != 0 {
		t.Fatalf("frame %v ... %v: want the 100 samples then silence", frame[:3], frame[98:102])
	}
	if n := b.underruns.Load(); n != 1 {
		t.Fatalf("%d underruns counted, want 1", n)
	}
}

func TestMicBufferLateDataIsWaitedFor(t *testing.T) {
	b := newMicBuffer(time.Now)
	b.push(ramp(PCMFrameSamples, 0)) // the device has started
	frame := make([]float32, PCMFrameSamples)
	if err := b.read(frame, nil); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(micUnderrunWait / 4)
		b.push(ramp(PCMFrameSamples, 1))
	}()
	if err := b.read(frame, nil); err != nil {
		t.Fatal(err)
	}
	if frame[0] != 1 || frame[PCMFrameSamples-1] != PCMFrameSamples {
		t.Fatalf("late period not read whole: %v ... %v", frame[0], frame[PCMFrameSamples-1])
	}
}

func TestMicBufferCutsLatency(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	b := newMicBuffer(clk.now)
	for i := range 7 { // 140 ms unread
		b.push(ramp(PCMFrameSamples, float32(i*PCMFrameSamples)))
		clk.add(20 * time.Millisecond)
	}
	b.mu.Lock()
	n := len(b.samples)
	b.mu.Unlock()
	if n > micMaxBuffered {
		t.Fatalf("%d samples buffered, want at most %d", n, micMaxBuffered)
	}
	frame := make([]float32, PCMFrameSamples)
	if err := b.read(frame, nil); err != nil {
		t.Fatal(err)
	}
	// What is kept is the newest audio.
	if frame[0] < 4*PCMFrameSamples {
		t.Fatalf("oldest audio kept (first sample %g)", frame[0])
	}
}

func TestMicBufferGoneDrainsThenEOF(t *testing.T) {
	b := newMicBuffer(time.Now)
	b.push(ramp(PCMFrameSamples+10, 1))
	b.end(io.EOF)
	frame := make([]float32, PCMFrameSamples)
	for i, want := range []error{nil, nil, io.EOF, io.EOF} {
		if err := b.read(frame, nil); !errors.Is(err, want) {
			t.Fatalf("read %d: %v, want %v", i, err, want)
		}
	}
	b.push(ramp(PCMFrameSamples, 1)) // a late callback changes nothing
	if err := b.read(frame, nil); !errors.Is(err, io.EOF) {
		t.Fatalf("after a late push: %v", err)
	}
}

func TestMicBufferFlood(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	b := newMicBuffer(clk.now)
	// Real time for a second and a half: fine.
	for range 75 {
		b.push(make([]float32, PCMFrameSamples))
		clk.add(20 * time.Millisecond)
	}
	if b.ended() {
		t.Fatal("real-time capture taken for a flood")
	}
	// ALSA's null device: a second of audio every millisecond.
	for range 1100 {
		b.push(make([]float32, PCMSampleRate))
		clk.add(time.Millisecond)
	}
	frame := make([]float32, PCMFrameSamples)
	if err := b.read(frame, nil); !errors.Is(err, errMicFlood) {
		t.Fatalf("read: %v, want errMicFlood", err)
	}
}

func TestMicBufferStop(t *testing.T) {
	b := newMicBuffer(time.Now)
	b.push(ramp(10, 1)) // started, a frame short: a read waits
	stop := make(chan struct{})
	close(stop)
	if err := b.read(make([]float32, PCMFrameSamples), stop); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after stop: %v", err)
	}
}

// The watchdog ends the capture when the device is no longer listed, and
// not when listing fails.
func TestMicWatchEndsWhenUnlisted(t *testing.T) {
	var mu sync.Mutex
	listed, listErr := true, error(nil)
	present := func(string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return listed, listErr
	}
	halted := make(chan struct{})
	m := &Mic{dev: AudioDevice{ID: "x"}, buf: newMicBuffer(time.Now), stop: make(chan struct{}),
		halt: func() { close(halted) }, giveUp: time.Hour}
	m.wg.Add(1)
	go m.watch(present)
	defer func() {
		close(m.stop)
		m.wg.Wait()
	}()

	mu.Lock()
	listed, listErr = false, errors.New("audio server restarting")
	mu.Unlock()
	// No audio for longer than micStaleAfter: checked every tick; the
	// failing listing must not end anything.
	time.Sleep(micStaleAfter + 3*micWatchTick)
	if m.buf.ended() {
		t.Fatal("a failed listing ended the capture")
	}
	mu.Lock()
	listErr = nil
	mu.Unlock()
	select {
	case <-halted:
	case <-time.After(10 * time.Second):
		t.Fatal("device not stopped after it went unlisted")
	}
	if err := m.ReadPCM(make([]float32, PCMFrameSamples)); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadPCM: %v, want io.EOF", err)
	}
}

// Opening ALSA's null device is refused before it is opened: its first
// read panics in mediadevices' driver and it floods in miniaudio.
func TestOpenMicRefusesALSANull(t *testing.T) {
	if _, err := OpenMic(alsaNullID); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("OpenMic(null): %v, want ErrNoDevice", err)
	}
}

// A listing that keeps failing while no audio comes ends the capture after
// giveUp (the audio server went away with the device).
func TestMicWatchGivesUp(t *testing.T) {
	halted := make(chan struct{})
	m := &Mic{dev: AudioDevice{ID: "x"}, buf: newMicBuffer(time.Now), stop: make(chan struct{}),
		halt: func() { close(halted) }, giveUp: 300 * time.Millisecond}
	m.wg.Add(1)
	go m.watch(func(string) (bool, error) { return false, errors.New("connection refused") })
	defer func() {
		close(m.stop)
		m.wg.Wait()
	}()
	select {
	case <-halted:
	case <-time.After(10 * time.Second):
		t.Fatal("capture not ended while the listing kept failing without audio")
	}
	if !m.buf.ended() {
		t.Fatal("halted without ending the buffer")
	}
}

// Once a wait for audio ran out, reads return silence at once until audio
// comes again: the track keeps its pace.
func TestMicBufferStarvedKeepsPace(t *testing.T) {
	b := newMicBuffer(time.Now)
	frame := make([]float32, PCMFrameSamples)
	start := time.Now()
	for range 5 { // before the device's first audio
		if err := b.read(frame, nil); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > micUnderrunWait {
		t.Fatalf("5 start-up reads took %s: they must not wait", d)
	}
	b.push(ramp(PCMFrameSamples, 1))
	_ = b.read(frame, nil)
	_ = b.read(frame, nil) // waits, runs out: starved
	start = time.Now()
	for range 5 {
		_ = b.read(frame, nil)
	}
	if d := time.Since(start); d > micUnderrunWait {
		t.Fatalf("5 starved reads took %s: they must not wait", d)
	}
	if n := b.underruns.Load(); n != 6 {
		t.Fatalf("%d padded frames counted, want 6 (not the 5 before start-up)", n)
	}
	b.push(ramp(PCMFrameSamples/2, 1)) // audio again: a short frame is waited for
	go func() {
		time.Sleep(micUnderrunWait / 4)
		b.push(ramp(PCMFrameSamples/2, 1000))
	}()
	if err := b.read(frame, nil); err != nil || frame[PCMFrameSamples-1] == 0 {
		t.Fatalf("after starving, a frame coming in two halves was not waited for: %v", err)
	}
}
