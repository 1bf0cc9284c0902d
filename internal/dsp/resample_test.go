package dsp

import (
	"errors"
	"math"
	"testing"

	"github.com/roomctl/roomctl/internal/dsp/dsptest"
)

// resampleChunks streams in through a new Resampler in chunks of chunk
// samples, then flushes.
func resampleChunks(t testing.TB, in []float32, from, to, chunk int) []float32 {
	t.Helper()
	r, err := NewResampler(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	for len(in) > 0 {
		n := min(chunk, len(in))
		out = r.Process(out, in[:n])
		in = in[n:]
	}
	return r.Flush(out)
}

// rmsDB is the level of x[skip:len(x)-skip] relative to a sine of peak amp.
func rmsDB(x []float32, skip int, amp float64) float64 {
	x = x[skip : len(x)-skip]
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return 20 * math.Log10(math.Sqrt(sum/float64(len(x)))/(amp/math.Sqrt2))
}

// The push's conversion, 48 → 44.1 kHz in chunks of any size: a 1 kHz tone
// comes out as the ideal 44.1 kHz tone sample by sample, with nothing at
// other frequencies.
func TestResampleTone(t *testing.T) {
	in := dsptest.Tone{Freq: 1000, Amp: 0.5, Rate: 48000}.Samples(0, 48000)
	ideal := dsptest.Tone{Freq: 1000, Amp: 0.5, Rate: 44100}.Samples(0, 44100)
	for _, chunk := range []int{960, 1, 137, 48000} {
		out := resampleChunks(t, in, 48000, 44100, chunk)
		if len(out) != 44100 {
			t.Fatalf("chunk %d: %d samples out of 48000, want 44100", chunk, len(out))
		}
		// Zero phase: output j is the input signal at j/44100 s.
		var maxErr float64
		for j := 100; j < len(out)-100; j++ {
			maxErr = math.Max(maxErr, math.Abs(float64(out[j]-ideal[j])))
		}
		if maxErr > 1e-3 {
			t.Errorf("chunk %d: output deviates from the ideal 1 kHz sine by %.2g", chunk, maxErr)
		}
		mid := out[441 : len(out)-441] // exactly 980 periods: no leakage
		p1k := dsptest.Goertzel(mid, 1000, 44100)
		for _, f := range []float64{900, 1100, 2000, 3000} {
			if p := dsptest.Goertzel(mid, f, 44100); p > p1k*1e-6 {
				t.Errorf("chunk %d: %g Hz at %.1f dB of 1 kHz", chunk, f, 10*math.Log10(p/p1k))
			}
		}
	}
}

// Tones keep their level in the pass band; above the output's Nyquist
// frequency they must not alias into it, and upsampling must not image.
func TestResampleBands(t *testing.T) {
	for _, c := range []struct {
		name        string
		from, to    int
		freq        float64
		maxDB       float64 // level of the output
		minDB       float64
		aliasAt     float64 // where an alias or image would be; 0: none
		aliasMaxDB  float64
		streamChunk int // 0: Resample, the whole buffer
	}{
		{"48→44.1 kHz: 23 kHz would alias to 21.1 kHz", 48000, 44100, 23000, -40, -200, 0, 0, 960},
		{"48→44.1 kHz: 15 kHz is pass band", 48000, 44100, 15000, 0.5, -0.5, 0, 0, 960},
		{"96→48 kHz: 30 kHz would alias to 18 kHz", 96000, 48000, 30000, 0, -200, 18000, -80, 0},
		{"44.1→48 kHz: 1 kHz passes, no image at 43.1 kHz", 44100, 48000, 1000, 0.1, -0.1, 43100, -80, 0},
		{"44.056→48 kHz (interpolated phases): 1 kHz passes", 44056, 48000, 1000, 0.1, -0.1, 43000, -80, 0},
		{"8→48 kHz: 3 kHz passes", 8000, 48000, 3000, 0.1, -0.1, 5000, -80, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := dsptest.Tone{Freq: c.freq, Amp: 0.5, Rate: c.from}.Samples(0, c.from)
			var out []float32
			if c.streamChunk > 0 {
				out = resampleChunks(t, in, c.from, c.to, c.streamChunk)
			} else {
				var err error
				if out, err = Resample(in, c.from, c.to); err != nil {
					t.Fatal(err)
				}
			}
			if len(out) != c.to {
				t.Fatalf("%d samples, want %d", len(out), c.to)
			}
			if db := rmsDB(out, c.to/10, 0.5); db > c.maxDB || db < c.minDB {
				t.Errorf("level %.2f dB, want %g to %g", db, c.minDB, c.maxDB)
			}
			if c.aliasAt > 0 {
				mid := out[c.to/10 : c.to*9/10]
				// A full-scale tone's power is 1/4; this one's 1/16.
				if p := dsptest.Goertzel(mid, c.aliasAt, c.to); 10*math.Log10(p/0.0625) > c.aliasMaxDB {
					t.Errorf("%g Hz at %.1f dB of the tone", c.aliasAt, 10*math.Log10(p/0.0625))
				}
			}
		})
	}
}

// Streaming in chunks and converting the whole buffer give the same
// samples.
func TestResampleStreamIsWhole(t *testing.T) {
	for _, c := range []struct{ from, to, n, chunk int }{
		{48000, 44100, 4800, 960},
		{44100, 48000, 4410, 441},
		{22050, 48000, 1000, 7},
		{96000, 48000, 9600, 1000},
		{44056, 48000, 4405, 333},
		{48000, 44100, 10, 3}, // shorter than the kernel
	} {
		in := dsptest.Tone{Freq: 440, Amp: 0.5, Rate: c.from}.Samples(0, c.n)
		whole, err := Resample(in, c.from, c.to)
		if err != nil {
			t.Fatal(err)
		}
		stream := resampleChunks(t, in, c.from, c.to, c.chunk)
		// Resample rounds the length, Flush stops at the last input's position.
		if d := len(stream) - len(whole); d < 0 || d > 1 {
			t.Fatalf("%d→%d: %d streamed, %d whole", c.from, c.to, len(stream), len(whole))
		}
		for i := range whole {
			if math.Abs(float64(whole[i]-stream[i])) > 1e-6 {
				t.Fatalf("%d→%d: sample %d: %g streamed, %g whole", c.from, c.to, i, stream[i], whole[i])
			}
		}
	}
}

// After Flush a Resampler starts anew: the same input gives the same output.
func TestResampleFlushResets(t *testing.T) {
	r, err := NewResampler(48000, 44100)
	if err != nil {
		t.Fatal(err)
	}
	in := dsptest.Tone{Freq: 1000, Amp: 0.5, Rate: 48000}.Samples(0, 2000)
	first := r.Flush(r.Process(nil, in))
	second := r.Flush(r.Process(nil, in))
	if len(first) != 1838 || len(second) != len(first) { // ceil(2000·147/160)
		t.Fatalf("%d and %d samples, want 1838", len(first), len(second))
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("sample %d: %g then %g", i, first[i], second[i])
		}
	}
}

func TestResampleRates(t *testing.T) {
	for _, c := range []struct {
		from, to int
		ok       bool
	}{
		{48000, 44100, true},
		{1, 48000, true},
		{1024 * 48000, 48000, true},
		{1024*48000 + 1, 48000, false},
		{0, 48000, false},
		{48000, -1, false},
	} {
		_, err := NewResampler(c.from, c.to)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrRate)) {
			t.Errorf("%d→%d: %v", c.from, c.to, err)
		}
	}
	if y, err := Resample([]float32{1, 2}, 48000, 48000); err != nil || len(y) != 2 || y[1] != 2 {
		t.Errorf("equal rates: %v %v", y, err)
	}
	if _, err := Resample([]float32{1}, 0, 48000); !errors.Is(err, ErrRate) {
		t.Errorf("rate 0: %v", err)
	}
	if y, err := Resample([]float32{1}, 48000, 1000); err != nil || len(y) != 0 {
		t.Errorf("one sample to nothing: %v %v", y, err)
	}
}

// The push's load: one 20-ms Opus frame of one channel, 48 → 44.1 kHz.
func BenchmarkResample20ms(b *testing.B) {
	in := dsptest.Tone{Freq: 1000, Amp: 0.5, Rate: 48000}.Samples(0, 960)
	r, err := NewResampler(48000, 44100)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]float32, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		out = r.Process(out[:0], in)
	}
}

// The mixer's load: a second of a 44.1 kHz file to 48 kHz, filter design
// included.
func BenchmarkResampleClip(b *testing.B) {
	in := dsptest.Tone{Freq: 1000, Amp: 0.5, Rate: 44100}.Samples(0, 44100)
	for b.Loop() {
		if _, err := Resample(in, 44100, 48000); err != nil {
			b.Fatal(err)
		}
	}
}
