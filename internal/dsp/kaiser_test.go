package dsp

import (
	"math"
	"testing"
)

func TestKaiser(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want float64
		tol       float64
	}{
		{"I0(0)", besselI0(0), 1, 0},
		{"I0(1)", besselI0(1), 1.2660658777520082, 1e-12},
		{"I0(8.6)", besselI0(8.6), 750.4611595631663, 1e-9},
		{"window centre", kaiser(0, 8.6), 1, 0},
		{"window edge", kaiser(1, 8.6), 1 / besselI0(8.6), 1e-15},
		{"outside the window", kaiser(1.01, 8.6), 0, 0},
		{"sinc(0)", sinc(0), 1, 0},
		{"sinc at a zero crossing", sinc(3), 0, 1e-15},
		{"sinc(0.5)", sinc(0.5), 2 / math.Pi, 1e-15},
	} {
		if math.Abs(c.got-c.want) > c.tol {
			t.Errorf("%s: %.10g, want %.10g", c.name, c.got, c.want)
		}
	}
}

// Every phase of the kernel has unity gain at DC and peaks at the tap
// nearest the output position.
func TestWindowedSinc(t *testing.T) {
	c := make([]float32, 64)
	for _, frac := range []float64{0, 0.25, 0.6, 0.99} {
		windowedSinc(c, 0.826875, 31.4, 8.6, frac)
		var sum float64
		peak := 0
		for k, v := range c {
			sum += float64(v)
			if v > c[peak] {
				peak = k
			}
		}
		if math.Abs(sum-1) > 1e-6 {
			t.Errorf("frac %g: DC gain %g", frac, sum)
		}
		if want := 31 + int(math.Round(frac)); peak != want {
			t.Errorf("frac %g: peak at tap %d, want %d", frac, peak, want)
		}
	}
}
