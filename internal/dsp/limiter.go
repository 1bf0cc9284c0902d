package dsp

import "math"

// limitThreshold is where the soft limiter's knee starts: -3 dBFS.
var limitThreshold = float32(math.Pow(10, -3.0/20))

// Limit applies the soft limiter to one sample: linear up to -3 dBFS,
// then a tanh curve that meets the line with the same slope and
// approaches full scale without reaching it. Sums of a loud file and the
// microphone bend instead of clipping; anything under -3 dBFS is untouched.
func Limit(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	if a <= limitThreshold {
		return x
	}
	room := 1 - limitThreshold
	y := limitThreshold + room*float32(math.Tanh(float64((a-limitThreshold)/room)))
	if x < 0 {
		return -y
	}
	return y
}
