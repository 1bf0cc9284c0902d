package devices

import (
	"context"
	"testing"
)

// BenchmarkSystemEnumerate is the cost of one poll of the device watcher
// that join and mix-audio run every --device-interval: a fresh miniaudio
// context (PulseAudio when PULSE_SERVER or the default socket answers,
// else ALSA), its capture and playback lists, and the camera glob.
func BenchmarkSystemEnumerate(b *testing.B) {
	s := &System{}
	ctx := context.Background()
	n := 0
	for b.Loop() {
		ds, err := s.Enumerate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n = len(ds)
	}
	b.ReportMetric(float64(n), "devices")
}
