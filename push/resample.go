package push

import "math"

// Resampling 48 kHz (Opus) to 44.1 kHz (the AAC rate CDNs expect) is a
// rational conversion by L/M = 147/160. The resampler is a polyphase
// windowed-sinc FIR: 64 taps per phase, Kaiser window (beta 8, about 80 dB
// stopband), cutoff 19.8 kHz, so the passband is flat to about 18 kHz and
// what lies above the 22.05 kHz output Nyquist is attenuated before it can
// alias. Linear interpolation would be cheaper but aliases audibly; 64 taps
// cost 64 multiply-adds per output sample and channel, a few ms of CPU per
// second of stereo audio. The filter is zero-phase by construction: output
// sample j is centred on input position j*M/L, so timestamps need no delay
// correction; the cost is a lookahead of 32 input samples (0.7 ms).
const (
	resampleL      = 147
	resampleM      = 160
	resampleTaps   = 64
	resampleCutoff = 19800.0 / 48000 // cycles per input sample
	resampleBeta   = 8.0
)

// resampleCoef[p][k] weighs input n-taps/2+1+k for output phase p, where
// output j sits at input n + p/L (n = floor(j*M/L), p = j*M mod L).
var resampleCoef = makeResampleCoef()

func makeResampleCoef() [][]float32 {
	coef := make([][]float32, resampleL)
	half := float64(resampleTaps / 2)
	for p := range coef {
		c := make([]float32, resampleTaps)
		frac := float64(p) / resampleL
		var sum float64
		vals := make([]float64, resampleTaps)
		for k := range vals {
			t := float64(k) - half + 1 - frac // input distance from the output position
			v := 2 * resampleCutoff * sinc(2*resampleCutoff*t) * kaiser(t/half, resampleBeta)
			vals[k] = v
			sum += v
		}
		for k, v := range vals {
			c[k] = float32(v / sum) // unity gain at DC for every phase
		}
		coef[p] = c
	}
	return coef
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// kaiser is the Kaiser window at x in [-1, 1].
func kaiser(x, beta float64) float64 {
	if x < -1 || x > 1 {
		return 0
	}
	return besselI0(beta*math.Sqrt(1-x*x)) / besselI0(beta)
}

func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}

// resampler converts one channel from 48 kHz to 44.1 kHz, streaming.
type resampler struct {
	buf  []float32 // pending input; buf[0] is input sample number base
	base int64
	next int64 // number of the next output sample
}

// process appends the input and returns out with every output sample that
// the input received so far determines.
func (r *resampler) process(out, in []float32) []float32 {
	r.buf = append(r.buf, in...)
	const half = resampleTaps / 2
	end := r.base + int64(len(r.buf))
	for {
		pos := r.next * resampleM
		n, p := pos/resampleL, pos%resampleL
		if n+half >= end {
			break
		}
		lo := n - half + 1 - r.base
		c := resampleCoef[p]
		var acc float32
		if lo >= 0 {
			x := r.buf[lo : lo+resampleTaps]
			for k, w := range c {
				acc += w * x[k]
			}
		} else { // the first outputs: the input before sample 0 is silence
			for k, w := range c {
				if i := lo + int64(k); i >= 0 {
					acc += w * r.buf[i]
				}
			}
		}
		out = append(out, acc)
		r.next++
	}
	// Keep what the next output still needs.
	need := r.next*resampleM/resampleL - half + 1 - r.base
	if need > 0 {
		if need > int64(len(r.buf)) {
			need = int64(len(r.buf))
		}
		r.buf = append(r.buf[:0], r.buf[need:]...)
		r.base += need
	}
	return out
}

// flush returns the outputs still held back by the lookahead (as if the
// input continued with silence), up to the end of the input, and resets
// the resampler.
func (r *resampler) flush(out []float32) []float32 {
	total := r.base + int64(len(r.buf))
	want := (total*resampleL + resampleM - 1) / resampleM // outputs up to the last input
	n := len(out)
	out = r.process(out, make([]float32, resampleTaps))
	if extra := r.next - want; extra > 0 && int64(len(out)-n) >= extra {
		out = out[:int64(len(out))-extra]
	}
	*r = resampler{buf: r.buf[:0]}
	return out
}
