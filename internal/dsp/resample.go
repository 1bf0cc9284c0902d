package dsp

import (
	"errors"
	"fmt"
	"math"
)

// The one filter of every conversion. The cutoff (-6 dB), 0.9 of the lower
// Nyquist frequency, is 19.8 kHz for 44.1 kHz: the pass band is flat
// (±0.01 dB) to 18 kHz, and what lies above the output's Nyquist frequency
// is attenuated by more than 85 dB (beta 8.6) before it can alias. 26 zero
// crossings a side are 64 taps for 48 → 44.1 kHz: 64 multiply-adds per
// output sample. Linear interpolation would be cheaper but aliases
// audibly.
const (
	resampleCutoff = 0.9
	resampleZeros  = 26
	resampleBeta   = 8.6
)

// Limits on the coefficient bank. A conversion of at most maxPhases
// phases (out/in reduced: 147/160 for 48 → 44.1 kHz) gets a row of
// coefficients per phase; others, such as 44.056 kHz, get maxPhases rows
// with the output interpolated between the two nearest. maxBank bounds
// the bank's size, and maxDown the downsampling ratio, whose kernel grows
// with it.
const (
	maxPhases = 1024
	maxBank   = 1 << 22 // coefficients: 16 MiB
	maxDown   = 1024
)

// ErrRate is a sample rate that is not positive, or a downsampling ratio
// over 1024 (a file that claims megahertz).
var ErrRate = errors.New("dsp: unsupported sample rates")

// Resampler converts one channel from one sample rate to another with a
// polyphase windowed-sinc filter. It is zero-phase: output sample j is
// centred on input position j·in/out, so timestamps need no delay
// correction; the cost is a lookahead of half the kernel (32 input
// samples, 0.7 ms, for 48 → 44.1 kHz). Input before the first sample and
// after Flush is silence.
//
// A Resampler streams: Process takes input in chunks of any size and
// returns what it determines, Flush the rest. Resample converts a whole
// buffer. It is not safe for concurrent use.
type Resampler struct {
	l, m  int64 // out/in reduced: output j sits at input j·m/l
	taps  int   // a multiple of 4
	bank  [][]float32
	exact bool // bank has a row per phase; else rows are interpolated

	buf     []float32 // pending input; buf[0] is input sample number base
	base    int64
	n, rem  int64 // the next output sits at input n + rem/l
	emitted int64 // outputs since the start
	scratch []float32
	zeros   []float32 // input for Flush
}

// NewResampler returns a Resampler from rate in to rate out (Hz).
func NewResampler(in, out int) (*Resampler, error) {
	if in <= 0 || out <= 0 || int64(in) > maxDown*int64(out) {
		return nil, fmt.Errorf("%w: %d Hz to %d Hz", ErrRate, in, out)
	}
	g := gcd(in, out)
	r := &Resampler{l: int64(out / g), m: int64(in / g)}
	// Cutoff and kernel width in input samples.
	fc := resampleCutoff * min(1, float64(out)/float64(in))
	halfWidth := resampleZeros / fc
	r.taps = (2*int(math.Ceil(halfWidth)) + 3) / 4 * 4
	phases := int(r.l)
	r.exact = phases <= maxPhases && phases*r.taps <= maxBank
	if !r.exact {
		phases = min(maxPhases, maxBank/r.taps-1) + 1 // rows for positions 0, 1/(phases-1), ..., 1
	}
	r.bank = make([][]float32, phases)
	coef := make([]float32, phases*r.taps)
	for p := range r.bank {
		row := coef[p*r.taps : (p+1)*r.taps : (p+1)*r.taps]
		frac := float64(p) / float64(r.l)
		if !r.exact {
			frac = float64(p) / float64(phases-1)
		}
		windowedSinc(row, fc, halfWidth, resampleBeta, frac)
		r.bank[p] = row
	}
	r.scratch = make([]float32, r.taps)
	r.zeros = make([]float32, r.taps)
	return r, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Process appends src to the input and returns dst with every output
// sample that the input so far determines appended.
func (r *Resampler) Process(dst, src []float32) []float32 {
	r.buf = append(r.buf, src...)
	dst = r.emit(dst, r.buf, r.base)
	// Keep what the next output still needs.
	if need := min(r.n-int64(r.taps/2)+1-r.base, int64(len(r.buf))); need > 0 {
		r.buf = append(r.buf[:0], r.buf[need:]...)
		r.base += need
	}
	return dst
}

// Flush appends the outputs still held back by the lookahead, up to the
// position of the last input sample, as if the input went on in silence.
// The Resampler then starts anew, at input and output sample 0.
func (r *Resampler) Flush(dst []float32) []float32 {
	total := r.base + int64(len(r.buf))
	want := (total*r.l + r.m - 1) / r.m // outputs up to the last input
	start := len(dst)
	dst = r.Process(dst, r.zeros)
	if extra := min(r.emitted-want, int64(len(dst)-start)); extra > 0 {
		dst = dst[:int64(len(dst))-extra]
	}
	r.buf, r.base, r.n, r.rem, r.emitted = r.buf[:0], 0, 0, 0, 0
	return dst
}

// Resample converts a whole buffer from rate in to rate out. The output
// has len(x)·out/in samples, rounded; equal rates return a copy.
func Resample(x []float32, in, out int) ([]float32, error) {
	if in <= 0 || out <= 0 {
		return nil, fmt.Errorf("%w: %d Hz to %d Hz", ErrRate, in, out)
	}
	if in == out || len(x) == 0 {
		return append([]float32(nil), x...), nil
	}
	r, err := NewResampler(in, out)
	if err != nil {
		return nil, err
	}
	n := (int64(len(x))*int64(out) + int64(in)/2) / int64(in)
	if n == 0 {
		return []float32{}, nil
	}
	y := make([]float32, 0, n+r.l/r.m+1)
	y = r.emit(y, x, 0)
	// The last outputs read past the end: give them x's tail and as much
	// silence as the last one needs, rather than a copy of all of x.
	last := (n - 1) * r.m / r.l // input position of the last output
	lo := max(0, int64(len(x)-r.taps))
	tail := make([]float32, max(int64(len(x)), last+int64(r.taps/2)+1)-lo)
	copy(tail, x[lo:])
	y = r.emit(y, tail, lo)
	return y[:n], nil
}

// emit appends every output whose kernel lies within x, which holds input
// samples base to base+len(x)-1; samples before 0 are silence.
func (r *Resampler) emit(dst, x []float32, base int64) []float32 {
	half := int64(r.taps / 2)
	end := base + int64(len(x))
	for r.n+half < end {
		lo := r.n - half + 1 - base
		var win []float32
		if lo >= 0 {
			win = x[lo : lo+int64(r.taps)]
		} else { // the first outputs
			clear(r.scratch)
			copy(r.scratch[-lo:], x)
			win = r.scratch
		}
		dst = append(dst, r.filter(win))
		r.emitted++
		r.rem += r.m
		if r.rem >= r.l {
			r.n += r.rem / r.l
			r.rem %= r.l
		}
	}
	return dst
}

// filter is the output at the current phase from its window of input.
func (r *Resampler) filter(x []float32) float32 {
	if r.exact {
		return dot(r.bank[r.rem], x)
	}
	pos := float64(r.rem) * float64(len(r.bank)-1) / float64(r.l)
	q := int(pos)
	a := dot(r.bank[q], x)
	return a + float32(pos-float64(q))*(dot(r.bank[q+1], x)-a)
}

// dot is the inner product of c and x[:len(c)]; len(c) is a multiple of 4.
// Four sums let the CPU overlap the additions.
func dot(c, x []float32) float32 {
	x = x[:len(c)]
	var s0, s1, s2, s3 float32
	for i := 0; i+3 < len(c); i += 4 {
		s0 += c[i] * x[i]
		s1 += c[i+1] * x[i+1]
		s2 += c[i+2] * x[i+2]
		s3 += c[i+3] * x[i+3]
	}
	return (s0 + s1) + (s2 + s3)
}
