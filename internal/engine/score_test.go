package engine

import (
	"math"
	"testing"
	"time"
)

func TestRTTScore(t *testing.T) {
	for _, c := range []struct {
		ms   int
		want int
	}{
		{0, 1}, {1, 1}, {50, 1}, {51, 2}, {100, 2}, {101, 3}, {200, 3}, {201, 4}, {300, 4}, {301, 5}, {5000, 5},
	} {
		if got := rttScore(time.Duration(c.ms) * time.Millisecond); got != c.want {
			t.Errorf("rttScore(%d ms) = %d, want %d", c.ms, got, c.want)
		}
	}
}

func TestLossScore(t *testing.T) {
	for _, c := range []struct {
		name          string
		loss          float64
		video, uplink bool
		want          int
	}{
		// Video, both directions: 0% → 1, ≤10 → 2, ≤20 → 3, ≤30 → 4, more → 5.
		{"video 0", 0, true, false, 1},
		{"video 0.4% is 0%", 0.004, true, false, 1},
		{"video 1%", 0.01, true, false, 2},
		{"video 10%", 0.10, true, true, 2},
		{"video 11%", 0.11, true, false, 3},
		{"video 15%", 0.15, true, true, 3},
		{"video 20%", 0.20, true, false, 3},
		{"video 21%", 0.21, true, false, 4},
		{"video 30%", 0.30, true, true, 4},
		{"video 31%", 0.31, true, false, 5},
		{"video 40%", 0.40, true, true, 5},
		{"video 100%", 1, true, false, 5},
		// Audio publisher: at most 2 up to 10%, then as video.
		{"audio up 0", 0, false, true, 1},
		{"audio up 5%", 0.05, false, true, 2},
		{"audio up 10%", 0.10, false, true, 2},
		{"audio up 15%", 0.15, false, true, 3},
		{"audio up 25%", 0.25, false, true, 4},
		{"audio up 40%", 0.40, false, true, 5},
		// Audio subscriber: 3 from 3%, 4 at 5%, 5 above.
		{"audio down 0", 0, false, false, 1},
		{"audio down 2%", 0.02, false, false, 2},
		{"audio down 3%", 0.03, false, false, 3},
		{"audio down 4%", 0.04, false, false, 3},
		{"audio down 5%", 0.05, false, false, 4},
		{"audio down 6%", 0.06, false, false, 5},
		{"audio down 15%", 0.15, false, false, 5},
	} {
		if got := lossScore(c.loss, c.video, c.uplink); got != c.want {
			t.Errorf("%s: lossScore(%v, video=%v, uplink=%v) = %d, want %d", c.name, c.loss, c.video, c.uplink, got, c.want)
		}
	}
}

func TestSampleScore(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, c := range []struct {
		name   string
		s      linkState
		uplink bool
		want   int
	}{
		{"down", linkState{media: true, down: true, lossKnown: true}, true, 6},
		{"signaling down", linkState{down: true}, false, 6},
		{"loss unknown", linkState{media: true, rtt: ms(10), rttKnown: true}, true, 0},
		{"no media, no rtt yet", linkState{}, false, 0},
		{"no media: signaling rtt", linkState{rtt: ms(120), rttKnown: true}, false, 3},
		{"clean", linkState{media: true, lossKnown: true, video: true, rtt: ms(2), rttKnown: true}, true, 1},
		{"rtt worse than loss", linkState{media: true, lossKnown: true, loss: 0.05, video: true, rtt: ms(250), rttKnown: true}, true, 4},
		{"loss worse than rtt", linkState{media: true, lossKnown: true, loss: 0.15, video: true, rtt: ms(2), rttKnown: true}, false, 3},
		{"audio-only subscriber, 4%", linkState{media: true, lossKnown: true, loss: 0.04, rtt: ms(2), rttKnown: true}, false, 3},
		{"audio-only publisher, 4%", linkState{media: true, lossKnown: true, loss: 0.04, rtt: ms(2), rttKnown: true}, true, 2},
		{"loss known, rtt not", linkState{media: true, lossKnown: true, loss: 0.25, video: true}, true, 4},
	} {
		if got := sampleScore(c.s, c.uplink); got != c.want {
			t.Errorf("%s: sampleScore = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestCombineScores(t *testing.T) {
	for _, c := range []struct{ a, b, want int }{
		{1, 1, 1}, {1, 3, 3}, {4, 2, 4}, {6, 1, 6}, {5, 6, 6},
		{0, 3, 0}, {3, 0, 0}, {0, 6, 0}, {0, 0, 0},
	} {
		if got := combineScores(c.a, c.b); got != c.want {
			t.Errorf("combineScores(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// The loss of a direction is taken from its unmuted streams that NACK
// does not repair, over what was expected since the last sample; only
// without such a stream from the repaired ones.
func TestLossMeter(t *testing.T) {
	var m lossMeter
	type s = streamCount
	audio := func(lost int64, received uint64, muted bool) streamCount {
		return s{ssrc: 1, lost: lost, received: received, muted: muted}
	}
	video := func(lost int64, received uint64) streamCount {
		return s{ssrc: 2, lost: lost, received: received, repaired: true}
	}
	steps := []struct {
		name    string
		streams []streamCount
		loss    float64
		known   bool
	}{
		{"first sight: a baseline", []s{audio(0, 10, false), video(0, 100)}, 0, false},
		{"audio lost 15 of 100, video 1 of 200: audio counts", []s{audio(15, 95, false), video(1, 299)}, 0.15, true},
		{"no new report for audio: the last value stays, video does not stand in", []s{audio(15, 95, false), video(3, 397)}, 0.15, true},
		{"audio muted: video's residual loss", []s{audio(15, 95, true), video(5, 495)}, 0.02, true},
		{"unmuted, a sequence jump: skipped, not loss", []s{audio(5015, 145, false), video(5, 495)}, 0.02, true},
		{"flowing again", []s{audio(5016, 244, false), video(5, 495)}, 0.01, true},
		{"a stream that went away is forgotten", []s{video(5, 495)}, 0.01, true},
	}
	for _, st := range steps {
		loss, known := m.update(st.streams)
		if known != st.known || (known && math.Abs(loss-st.loss) > 1e-9) {
			t.Fatalf("%s: loss %v known %v, want %v %v", st.name, loss, known, st.loss, st.known)
		}
	}
}
