package dsp

import "math"

// The low-pass filter of every conversion is a sinc windowed by a Kaiser
// window (Oppenheim & Schafer 7.5.3): the window's beta trades stop-band
// attenuation against transition width, and the number of zero crossings
// of the sinc that the window spans sets the transition width.

// sinc is the normalised sinc, sin(πx)/(πx).
func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// kaiser is the Kaiser window of shape beta at x in [-1, 1]; 0 outside.
func kaiser(x, beta float64) float64 {
	if x < -1 || x > 1 {
		return 0
	}
	return besselI0(beta*math.Sqrt(1-x*x)) / besselI0(beta)
}

// besselI0 is the modified Bessel function of the first kind, order 0, by
// its power series; it converges fast for the betas of audio filters.
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

// windowedSinc fills c with the taps of a low-pass filter of cutoff fc (a
// fraction of the input's Nyquist frequency) whose output lies frac (in
// [0, 1]) input samples after the input sample at tap len(c)/2-1. The
// window spans halfWidth input samples on each side. The taps are scaled
// to sum to 1: unity gain at DC whatever the phase.
func windowedSinc(c []float32, fc, halfWidth, beta, frac float64) {
	half := float64(len(c) / 2)
	vals := make([]float64, len(c))
	var sum float64
	for k := range vals {
		t := float64(k) - half + 1 - frac // input distance from the output position
		vals[k] = sinc(fc*t) * kaiser(t/halfWidth, beta)
		sum += vals[k]
	}
	for k, v := range vals {
		c[k] = float32(v / sum)
	}
}
