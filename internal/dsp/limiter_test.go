package dsp

import (
	"math"
	"testing"
)

func TestLimit(t *testing.T) {
	for _, c := range []struct {
		x, want float32
	}{
		{0, 0},
		{0.5, 0.5}, // under the knee: untouched
		{-0.7, -0.7},
		{limitThreshold, limitThreshold},
		{8, 1}, // far over: just under full scale
		{-8, -1},
	} {
		if got := Limit(c.x); math.Abs(float64(got-c.want)) > 1e-4 {
			t.Errorf("Limit(%g) = %g, want %g", c.x, got, c.want)
		}
	}
}

// The curve stays within full scale, rises monotonically and has no kink
// at the knee.
func TestLimitCurve(t *testing.T) {
	prev := float32(-2)
	for x := float32(-8); x <= 8; x += 0.001 {
		y := Limit(x)
		if y > 1 || y < -1 {
			t.Fatalf("Limit(%g) = %g", x, y)
		}
		if y < prev {
			t.Fatalf("not monotonic at %g", x)
		}
		prev = y
	}
	const d = 1e-3
	if slope := (Limit(limitThreshold+d) - Limit(limitThreshold)) / d; math.Abs(float64(slope)-1) > 0.01 {
		t.Errorf("slope %g just over the knee", slope)
	}
}
