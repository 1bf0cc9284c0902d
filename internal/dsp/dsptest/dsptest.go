// Package dsptest measures and makes test tones for audio tests. It is
// imported only from _test.go files.
package dsptest

import "math"

// Tone is a sine wave.
type Tone struct {
	Freq float64 // Hz
	Amp  float64 // peak, 1 is full scale
	Rate int     // samples per second
}

// Samples returns samples first to first+n-1 of the tone, which starts at
// phase 0 at sample 0: a tone can be cut into frames.
func (t Tone) Samples(first, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(t.Amp * math.Sin(2*math.Pi*t.Freq*float64(first+i)/float64(t.Rate)))
	}
	return out
}

// Goertzel is the power of frequency freq in x, sampled at rate, normalised
// by len(x)²: a sine of peak A at freq gives about A²/4 when x holds whole
// periods, and 0 for silence.
func Goertzel(x []float32, freq float64, rate int) float64 {
	if len(x) == 0 {
		return 0
	}
	c := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+c*s1-s2, s1
	}
	n := float64(len(x))
	return (s1*s1 + s2*s2 - c*s1*s2) / (n * n)
}
