package dsptest

import (
	"math"
	"testing"
)

func TestGoertzel(t *testing.T) {
	tone := Tone{Freq: 1000, Amp: 0.5, Rate: 48000}.Samples(0, 4800) // 100 periods
	for _, c := range []struct {
		name string
		x    []float32
		freq float64
		want float64
	}{
		{"the tone's frequency", tone, 1000, 0.0625},
		{"another bin", tone, 2000, 0},
		{"silence", make([]float32, 480), 1000, 0},
		{"nothing", nil, 1000, 0},
	} {
		if got := Goertzel(c.x, c.freq, 48000); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%s: %g, want %g", c.name, got, c.want)
		}
	}
}

// A tone cut into frames is the tone.
func TestToneFrames(t *testing.T) {
	tone := Tone{Freq: 440, Amp: 1, Rate: 44100}
	whole := tone.Samples(0, 1000)
	for first := 0; first < 1000; first += 300 {
		part := tone.Samples(first, min(300, 1000-first))
		for i, v := range part {
			if v != whole[first+i] {
				t.Fatalf("sample %d: %g, want %g", first+i, v, whole[first+i])
			}
		}
	}
}
