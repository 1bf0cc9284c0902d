package push

import (
	"math"
	"testing"
)

func sine(freq float64, rate, n int, amp float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

func goertzel(x []float32, freq float64, rate int) float64 {
	w := 2 * math.Pi * freq / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

func resampleAll(in []float32, chunk int) []float32 {
	var r resampler
	var out []float32
	for len(in) > 0 {
		n := min(chunk, len(in))
		out = r.process(out, in[:n])
		in = in[n:]
	}
	return r.flush(out)
}

func TestResampleTone(t *testing.T) {
	for _, chunk := range []int{960, 1, 137, 48000} {
		in := sine(1000, 48000, 48000, 0.5)
		out := resampleAll(in, chunk)
		if len(out) != 44100 {
			t.Fatalf("chunk %d: %d samples out of 48000, want 44100", chunk, len(out))
		}
		// Zero phase: output j is the input signal at j/44100 s, so it
		// matches the ideal 44.1 kHz sine sample by sample.
		var maxErr float64
		ideal := sine(1000, 44100, len(out), 0.5)
		for j := 100; j < len(out)-100; j++ {
			maxErr = math.Max(maxErr, math.Abs(float64(out[j]-ideal[j])))
		}
		if maxErr > 1e-3 {
			t.Errorf("chunk %d: output deviates from the ideal 1 kHz sine by %.2g", chunk, maxErr)
		}
		mid := out[441 : len(out)-441] // exactly 980 periods: no leakage
		p1k := goertzel(mid, 1000, 44100)
		for _, f := range []float64{900, 1100, 2000, 3000} {
			if p := goertzel(mid, f, 44100); p > p1k*1e-6 {
				t.Errorf("chunk %d: %g Hz at %.1f dB of 1 kHz", chunk, f, 10*math.Log10(p/p1k))
			}
		}
	}
}

// What lies above the output Nyquist frequency must not alias down.
func TestResampleAntiAlias(t *testing.T) {
	in := sine(23000, 48000, 48000, 0.5) // would alias to 21.1 kHz
	out := resampleAll(in, 960)
	var sum float64
	for _, v := range out[1000 : len(out)-1000] {
		sum += float64(v) * float64(v)
	}
	rms := math.Sqrt(sum / float64(len(out)-2000))
	if db := 20 * math.Log10(rms/(0.5/math.Sqrt2)); db > -40 {
		t.Errorf("23 kHz leaks through at %.1f dB", db)
	}
	// The passband is flat: 15 kHz keeps its level.
	out = resampleAll(sine(15000, 48000, 48000, 0.5), 960)
	sum = 0
	for _, v := range out[1000 : len(out)-1000] {
		sum += float64(v) * float64(v)
	}
	rms = math.Sqrt(sum / float64(len(out)-2000))
	if db := 20 * math.Log10(rms/(0.5/math.Sqrt2)); math.Abs(db) > 0.5 {
		t.Errorf("15 kHz changes level by %.2f dB", db)
	}
}

func BenchmarkResample20ms(b *testing.B) {
	in := sine(1000, 48000, 960, 0.5)
	var r resampler
	out := make([]float32, 0, 1024)
	for b.Loop() {
		out = r.process(out[:0], in)
	}
}
