package mixing

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/dsp/dsptest"
)

func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ffmpeg is required in CI")
		}
		t.Skip("ffmpeg is not installed")
	}
}

func makeTone(t *testing.T, name string, codec ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100", "-t", "1"}, codec...)
	if b, err := exec.Command("ffmpeg", append(args, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

func TestDecodeFormats(t *testing.T) {
	needFFmpeg(t)
	for _, c := range []struct {
		name  string
		codec []string
	}{
		{"x.wav", nil},
		{"x.mp3", nil},
		{"x.ogg", []string{"-c:a", "libvorbis"}},
		{"x.opus", []string{"-c:a", "libopus"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clip, err := DecodeFile(makeTone(t, c.name, c.codec...))
			if err != nil {
				t.Fatal(err)
			}
			got := time.Duration(clip.Len()) * time.Second / SampleRate
			if d := got - time.Second; d < -10*time.Millisecond || d > 10*time.Millisecond {
				t.Errorf("length %s, want 1s ± 10ms", got)
			}
			// The tone must start at once: no leading silence (MP3 delay).
			if p := dsptest.Goertzel(clip.Samples[:480], 1000, SampleRate); p < 0.003 { // ffmpeg's sine is 1/8 of full scale: 0.0039
				t.Errorf("first 10 ms: 1 kHz power %.4f: leading silence", p)
			}
			mid := clip.Samples[4800 : 4800+24000]
			p := dsptest.Goertzel(mid, 1000, SampleRate)
			for _, f := range []float64{900, 1100, 440, 2000} {
				if q := dsptest.Goertzel(mid, f, SampleRate); q > p/1000 {
					t.Errorf("%g Hz power %.2g vs 1 kHz %.2g", f, q, p)
				}
			}
			if p < 0.003 { // ffmpeg's sine is 1/8 of full scale: 0.0039
				t.Errorf("1 kHz power %.4f", p)
			}
		})
	}
}

func TestDecodeCorrupt(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"text.mp3":  []byte("this is not audio at all, not even close"),
		"trunc.wav": []byte("RIFF\x24\x00\x00\x00WAVEfmt "),
		"bad.ogg":   append([]byte("OggS\x00\x02"), make([]byte, 60)...),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeFile(p); err == nil {
			t.Errorf("%s decoded", name)
		}
	}
	// start_mixing_fail's error names the file once, without its directory.
	_, err := DecodeFile(filepath.Join(dir, "missing.wav"))
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "open missing.wav: no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
}

type rec struct {
	played   []int
	finished []int
}

func ones(n int) *Clip {
	c := &Clip{Name: "ones", Samples: make([]float32, n)}
	for i := range c.Samples {
		c.Samples[i] = 0.5
	}
	return c
}

// Samples from the file in each frame, until it finishes.
func run(t *testing.T, m *Mixer, r *rec, id, maxFrames int) (samples int) {
	t.Helper()
	frame := make([]float32, FrameSamples)
	for range maxFrames {
		_ = m.ReadPCM(frame)
		for _, v := range frame {
			if v != 0 {
				samples++
			}
		}
		for _, f := range r.finished {
			if f == id {
				return samples
			}
		}
	}
	return samples
}

func TestPlayArithmetic(t *testing.T) {
	for _, c := range []struct {
		name   string
		clip   int
		pc     PlayConfig
		want   int
		finish bool
	}{
		{"once", 1000, PlayConfig{Volume: 100}, 1000, true},
		{"cycle3", 1000, PlayConfig{Cycle: 3, Volume: 100}, 3000, true},
		{"frame-exact", 960, PlayConfig{Cycle: 2, Volume: 100}, 1920, true},
		{"playtime", 4800, PlayConfig{Cycle: 2, PlayTime: 50 * time.Millisecond, Volume: 100}, 2400 + 4800, true},
		{"playtime-past-end", 480, PlayConfig{Cycle: 2, PlayTime: time.Second, Volume: 100}, 480, true},
		{"loop", 500, PlayConfig{Loop: true, Volume: 100}, 100 * FrameSamples, false},
		{"mute", 1000, PlayConfig{Volume: 0}, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &rec{}
			m, err := New(Config{ // silent mic
				OnPlayed:   func(id int, _ string) { r.played = append(r.played, id) },
				OnFinished: func(id int) { r.finished = append(r.finished, id) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Play(0, ones(c.clip), c.pc); err != nil {
				t.Fatal(err)
			}
			got := run(t, m, r, 0, 100)
			if got != c.want {
				t.Errorf("played %d samples, want %d", got, c.want)
			}
			if fin := len(r.finished) == 1; fin != c.finish {
				t.Errorf("finished %v, want %v", r.finished, c.finish)
			}
			select {
			case <-m.Done():
				if !c.finish {
					t.Error("done while looping")
				}
			default:
				if c.finish {
					t.Error("not done")
				}
			}
			m.Close()
			if len(r.finished) != 1 || len(r.played) != 1 && c.pc.Volume > 0 {
				t.Errorf("after Close: played %v finished %v", r.played, r.finished)
			}
		})
	}
}

func TestVolumeAndMic(t *testing.T) {
	m, err := New(Config{MicTone: 440})
	if err != nil {
		t.Fatal(err)
	}
	c := &Clip{Samples: dsptest.Tone{Freq: 1000, Amp: 0.5, Rate: SampleRate}.Samples(0, SampleRate)}
	if err := m.Play(0, c, PlayConfig{Volume: 50}); err != nil {
		t.Fatal(err)
	}
	var out []float32
	frame := make([]float32, FrameSamples)
	for range 25 {
		_ = m.ReadPCM(frame)
		out = append(out, frame...)
	}
	// 0.5 × 0.5 = 0.25 peak for the file, 0.25 for the mic: power 1/64 each.
	for _, f := range []float64{1000, 440} {
		if p := dsptest.Goertzel(out, f, SampleRate); math.Abs(p-1.0/64) > 0.001 {
			t.Errorf("%g Hz power %.4f, want %.4f", f, p, 1.0/64)
		}
	}
	if m.Play(0, c, PlayConfig{Volume: 100}) == nil {
		t.Error("second Play on a playing id accepted")
	}
	if m.Play(2, c, PlayConfig{Volume: 100}) == nil {
		t.Error("id 2 accepted")
	}
}

// Both ids at once, loud: the sum stays within full scale.
func TestMixLimited(t *testing.T) {
	m, err := New(Config{MicTone: 440, MicLevel: 1})
	if err != nil {
		t.Fatal(err)
	}
	loud := &Clip{Samples: dsptest.Tone{Freq: 1000, Amp: 0.5, Rate: SampleRate}.Samples(0, SampleRate)}
	for id := range 2 {
		loud := &Clip{Samples: append([]float32(nil), loud.Samples...)}
		for i := range loud.Samples {
			loud.Samples[i] *= 2
		}
		if err := m.Play(id, loud, PlayConfig{Volume: 100}); err != nil {
			t.Fatal(err)
		}
	}
	frame := make([]float32, FrameSamples)
	for range 50 {
		_ = m.ReadPCM(frame)
		for _, v := range frame {
			if v > 1 || v < -1 {
				t.Fatalf("sample %g beyond full scale", v)
			}
		}
	}
}

// micStub yields frames of a constant until it runs out, then err.
type micStub struct {
	frames int
	value  float32
	err    error
}

func (m *micStub) ReadPCM(frame []float32) error {
	if m.frames == 0 {
		return m.err
	}
	m.frames--
	for i := range frame {
		frame[i] = m.value
	}
	return nil
}

// A captured microphone replaces the tone; when it ends, OnMicEnded is
// called once and the files go on over silence.
func TestCapturedMicEnds(t *testing.T) {
	gone := errors.New("device gone")
	var ended []error
	m, err := New(Config{MicTone: 440, Mic: &micStub{frames: 3, value: 0.125, err: gone},
		OnMicEnded: func(err error) { ended = append(ended, err) }})
	if err != nil {
		t.Fatal(err)
	}
	c := &Clip{Samples: make([]float32, 10*FrameSamples)}
	for i := range c.Samples {
		c.Samples[i] = 0.25
	}
	if err := m.Play(0, c, PlayConfig{Volume: 100}); err != nil {
		t.Fatal(err)
	}
	frame := make([]float32, FrameSamples)
	for f := range 6 {
		if err := m.ReadPCM(frame); err != nil {
			t.Fatalf("frame %d: %v", f, err)
		}
		want := float32(0.25) // the file alone
		if f < 3 {
			want = 0.375 // mic + file
		}
		for i, v := range frame {
			if math.Abs(float64(v-want)) > 1e-6 {
				t.Fatalf("frame %d sample %d = %g, want %g", f, i, v, want)
			}
		}
	}
	if len(ended) != 1 || !errors.Is(ended[0], gone) {
		t.Fatalf("OnMicEnded calls: %v, want one with the device's error", ended)
	}
}

// --replace leaves the microphone out only while a file plays: before the
// first Play, when no Play succeeded (start_mixing_fail) and after the
// file finished, the microphone is heard, as the SDK's replace.
func TestReplaceWhilePlaying(t *testing.T) {
	m, err := New(Config{MicTone: 440, Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]float32, FrameSamples)
	power := func(f float64) float64 {
		_ = m.ReadPCM(frame)
		return dsptest.Goertzel(frame, f, SampleRate)
	}
	// 0.25 peak: power 1/64 (Goertzel: amplitude² / 4).
	if p := power(440); p < 0.01 {
		t.Fatalf("before Play: mic power %.4f, want the mic", p)
	}
	if m.Play(0, nil, PlayConfig{Volume: 100}) == nil {
		t.Fatal("nil clip accepted")
	}
	if p := power(440); p < 0.01 {
		t.Fatalf("after a failed Play: mic power %.4f, want the mic", p)
	}
	c := &Clip{Samples: dsptest.Tone{Freq: 1000, Amp: 0.5, Rate: SampleRate}.Samples(0, 10*FrameSamples)}
	if err := m.Play(0, c, PlayConfig{Volume: 100}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		_ = m.ReadPCM(frame)
		if p := dsptest.Goertzel(frame, 440, SampleRate); p > 0.0001 {
			t.Fatalf("frame %d while the file plays: mic power %.4f", i, p)
		}
		if p := dsptest.Goertzel(frame, 1000, SampleRate); p < 0.05 {
			t.Fatalf("frame %d: file power %.4f", i, p)
		}
	}
	select {
	case <-m.Done():
	default:
		t.Fatal("not done after the file's 10 frames")
	}
	if p := power(440); p < 0.01 {
		t.Fatalf("after the file: mic power %.4f, want the mic", p)
	}
}
