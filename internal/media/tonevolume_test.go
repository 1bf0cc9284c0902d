package media

import (
	"errors"
	"math"
	"testing"

	"github.com/pion/mediadevices/pkg/wave"
)

// peakOf reads one chunk of the tone and returns its peak |sample|.
func peakOf(t *testing.T, s *audioDriverSource) float64 {
	t.Helper()
	a, release, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	f, ok := a.(*wave.Float32Interleaved)
	if !ok {
		t.Fatalf("tone chunk is %T", a)
	}
	var p float64
	for _, v := range f.Data {
		p = math.Max(p, math.Abs(float64(v)))
	}
	return p
}

// The tone's peak follows the volume, set at creation or while running;
// the default is audiotest's own tone.
func TestToneVolume(t *testing.T) {
	src, err := NewTestSource(TestConfig{NoVideo: true, ToneVolume: 90})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, src)
	ts := src.(*testSource)
	for _, c := range []struct {
		set  int // -1: as configured
		want float64
	}{
		{-1, 0.90}, {10, 0.10}, {defaultToneVolume, 0.25}, {0, 0}, {100, 1}, {250, 1}, {-3, 0},
	} {
		if c.set >= 0 || c.set < -1 {
			src.(interface{ SetToneVolume(int) }).SetToneVolume(c.set)
		}
		// A chunk is 20 ms of a 480-Hz sine: it holds the crest.
		if got := peakOf(t, ts.audio); math.Abs(got-c.want) > 0.01 {
			t.Errorf("volume %d: peak %.3f, want %.2f", c.set, got, c.want)
		}
	}
}

func TestToneVolumeValidation(t *testing.T) {
	for _, v := range []int{-1, 101} {
		src, err := NewTestSource(TestConfig{NoVideo: true, ToneVolume: v})
		if !errors.Is(err, ErrInvalidConfig) {
			if src != nil {
				_ = src.Close()
			}
			t.Errorf("tone volume %d: err = %v, want ErrInvalidConfig", v, err)
		}
	}
}
