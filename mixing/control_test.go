package mixing

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/dsp/dsptest"
)

// ramp is a clip whose sample i is (i+1)/n: a frame tells where in the
// file the player was.
func ramp(n int) *Clip {
	c := &Clip{Name: "ramp", Samples: make([]float32, n)}
	for i := range c.Samples {
		c.Samples[i] = float32(i+1) / float32(n)
	}
	return c
}

// A paused player adds nothing from the next frame on and, resumed, goes
// on from the sample where it stopped.
func TestPauseResume(t *testing.T) {
	var r rec
	m, err := New(Config{OnFinished: func(id int) { r.finished = append(r.finished, id) }})
	if err != nil {
		t.Fatal(err)
	}
	const n = 10 * FrameSamples
	// Quiet enough that the limiter (linear below -3 dBFS) leaves it be.
	c := ramp(n)
	for i := range c.Samples {
		c.Samples[i] *= 0.5
	}
	if err := m.Play(0, c, PlayConfig{Volume: 100}); err != nil {
		t.Fatal(err)
	}
	frame := make([]float32, FrameSamples)
	_ = m.ReadPCM(frame) // samples 0..959
	if err := m.Pause(0); err != nil {
		t.Fatal(err)
	}
	if err := m.Pause(0); !errors.Is(err, ErrPaused) {
		t.Fatalf("second Pause: %v, want ErrPaused", err)
	}
	for i := range 5 {
		_ = m.ReadPCM(frame)
		for j, v := range frame {
			if v != 0 {
				t.Fatalf("paused frame %d sample %d = %g, want silence", i, j, v)
			}
		}
	}
	if pos, _ := m.Position(0); pos != 20*time.Millisecond {
		t.Fatalf("position while paused %s, want 20ms", pos)
	}
	if err := m.Resume(0); err != nil {
		t.Fatal(err)
	}
	if err := m.Resume(0); !errors.Is(err, ErrNotPaused) {
		t.Fatalf("second Resume: %v, want ErrNotPaused", err)
	}
	_ = m.ReadPCM(frame)
	if want := c.Samples[FrameSamples]; frame[0] != want {
		t.Fatalf("first sample after resume %g, want sample %d of the file (%g)", frame[0], FrameSamples, want)
	}
	if len(r.finished) != 0 {
		t.Fatalf("finished %v while it still plays", r.finished)
	}
}

func TestSetVolumeSeekDuration(t *testing.T) {
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := &Clip{Samples: dsptest.Tone{Freq: 1000, Amp: 0.5, Rate: SampleRate}.Samples(0, 50*FrameSamples)}
	if err := m.Play(1, c, PlayConfig{Volume: 100}); err != nil {
		t.Fatal(err)
	}
	frame := make([]float32, FrameSamples)
	_ = m.ReadPCM(frame)
	full := dsptest.Goertzel(frame, 1000, SampleRate)
	if err := m.SetVolume(1, 50); err != nil {
		t.Fatal(err)
	}
	_ = m.ReadPCM(frame)
	// Half the amplitude: a quarter of the power.
	if half := dsptest.Goertzel(frame, 1000, SampleRate); half < full/4*0.9 || half > full/4*1.1 {
		t.Fatalf("power at volume 50: %.5f, want a quarter of %.5f", half, full)
	}
	for _, v := range []int{-1, 101} {
		if err := m.SetVolume(1, v); !errors.Is(err, ErrInvalidVolume) {
			t.Errorf("SetVolume(%d): %v, want ErrInvalidVolume", v, err)
		}
	}
	if d, err := m.Duration(1); err != nil || d != time.Second {
		t.Fatalf("Duration %s %v, want 1s", d, err)
	}
	if err := m.Seek(1, 700*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if pos, err := m.Position(1); err != nil || pos != 700*time.Millisecond {
		t.Fatalf("Position after Seek: %s %v", pos, err)
	}
	for _, d := range []time.Duration{-time.Millisecond, time.Second} {
		if err := m.Seek(1, d); !errors.Is(err, ErrInvalidParam) {
			t.Errorf("Seek(%s): %v, want ErrInvalidParam", d, err)
		}
	}
	if _, err := m.Position(0); !errors.Is(err, ErrNotPlaying) {
		t.Fatalf("Position of an idle id: %v, want ErrNotPlaying", err)
	}
	if err := m.Pause(2); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("Pause(2): %v, want ErrInvalidID", err)
	}
}

// Stop prints audio_mixing_finished once; the id can start again.
func TestStopAndStartAgain(t *testing.T) {
	var r rec
	m, err := New(Config{
		OnPlayed:   func(id int, _ string) { r.played = append(r.played, id) },
		OnFinished: func(id int) { r.finished = append(r.finished, id) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(0); !errors.Is(err, ErrNotPlaying) {
		t.Fatalf("Stop of an idle id: %v", err)
	}
	if err := m.Play(0, ones(100*FrameSamples), PlayConfig{Volume: 100}); err != nil {
		t.Fatal(err)
	}
	if err := m.Play(0, ones(FrameSamples), PlayConfig{Volume: 100}); !errors.Is(err, ErrBusy) {
		t.Fatalf("Play on a playing id: %v, want ErrBusy", err)
	}
	frame := make([]float32, FrameSamples)
	_ = m.ReadPCM(frame)
	if err := m.Stop(0); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(0); !errors.Is(err, ErrNotPlaying) {
		t.Fatalf("second Stop: %v", err)
	}
	_ = m.ReadPCM(frame)
	if frame[0] != 0 {
		t.Fatalf("stopped player still heard: %g", frame[0])
	}
	if err := m.Play(0, ones(FrameSamples), PlayConfig{Volume: 100}); err != nil {
		t.Fatalf("Play after Stop: %v", err)
	}
	_ = m.ReadPCM(frame)
	m.Close()
	if len(r.played) != 2 || len(r.finished) != 2 {
		t.Fatalf("played %v finished %v, want each twice", r.played, r.finished)
	}
}

// Start names a file that cannot be loaded with ErrLoad, and checks the
// id and the parameters.
func TestStartErrors(t *testing.T) {
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.wav")
	if err := os.WriteFile(junk, []byte("not audio at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   int
		path string
		pc   PlayConfig
		want error
	}{
		{0, filepath.Join(dir, "missing.wav"), PlayConfig{Volume: 100}, ErrLoad},
		{0, junk, PlayConfig{Volume: 100}, ErrLoad},
		{0, "", PlayConfig{Volume: 100}, ErrInvalidParam},
		{2, junk, PlayConfig{Volume: 100}, ErrInvalidID},
	} {
		if err := m.Start(c.id, c.path, c.pc); !errors.Is(err, c.want) {
			t.Errorf("Start(%d, %q): %v, want %v", c.id, c.path, err, c.want)
		}
	}
	if err := m.Play(0, ones(FrameSamples), PlayConfig{Volume: 100, Cycle: -1}); !errors.Is(err, ErrInvalidParam) {
		t.Errorf("cycle -1: %v", err)
	}
	if err := m.Play(0, ones(FrameSamples), PlayConfig{Volume: 120}); !errors.Is(err, ErrInvalidVolume) {
		t.Errorf("volume 120: %v", err)
	}
}

// Replace is per file: the microphone is out while a replacing file
// plays (not while it is paused), in while only another file plays.
func TestReplacePerFile(t *testing.T) {
	m, err := New(Config{MicTone: 440})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]float32, FrameSamples)
	mic := func() float64 {
		_ = m.ReadPCM(frame)
		return dsptest.Goertzel(frame, 440, SampleRate)
	}
	tone := func(hz float64) *Clip {
		return &Clip{Samples: dsptest.Tone{Freq: hz, Amp: 0.3, Rate: SampleRate}.Samples(0, 50*FrameSamples)}
	}
	if err := m.Play(1, tone(3000), PlayConfig{Volume: 100}); err != nil {
		t.Fatal(err)
	}
	if p := mic(); p < 0.01 {
		t.Fatalf("mic power %.4f beside a mixing file, want the mic", p)
	}
	if err := m.Play(0, tone(1000), PlayConfig{Volume: 100, Replace: true}); err != nil {
		t.Fatal(err)
	}
	if p := mic(); p > 0.0001 {
		t.Fatalf("mic power %.4f while a replacing file plays", p)
	}
	if err := m.Pause(0); err != nil {
		t.Fatal(err)
	}
	if p := mic(); p < 0.01 {
		t.Fatalf("mic power %.4f while the replacing file is paused, want the mic", p)
	}
}
