package engine

import (
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Network scores, as the SDK computes network_score (SDK-NOTES.md,
// "Quality"): 0 unknown, 1 excellent … 5 very bad, 6 down. One sample per
// second and direction; every 2 s the worse of the last two is printed.
const (
	scoreUnknown = 0
	scoreDown    = 6
)

// rttScore: ≤50 ms → 1, ≤100 → 2, ≤200 → 3, ≤300 → 4, more → 5.
func rttScore(rtt time.Duration) int {
	ms := rtt.Milliseconds()
	switch {
	case ms <= 50:
		return 1
	case ms <= 100:
		return 2
	case ms <= 200:
		return 3
	case ms <= 300:
		return 4
	}
	return 5
}

// lossScore scores a fraction lost (0-1) of a transport carrying video
// (video true) or only audio, sending (uplink true) or receiving. Loss is
// taken in whole percent, as the SDK's tables are written.
//
//	video, either way:  0% → 1, ≤10% → 2, ≤20% → 3, ≤30% → 4, more → 5
//	audio, uplink:      at most 2 up to 10%, then as video
//	audio, downlink:    0% → 1, <3% → 2, 3-4% → 3, 5% → 4, more → 5
//
// The notes give the audio rules only as "publisher capped at 2 up to 10%;
// subscriber 3/4/5 at 3/5/>5%": the publisher rule is what the video table
// already gives, and the subscriber thresholds are read as the lower bounds
// of whole percents.
func lossScore(loss float64, video, uplink bool) int {
	pct := int(math.Round(loss * 100))
	if !video && !uplink {
		switch {
		case pct <= 0:
			return 1
		case pct < 3:
			return 2
		case pct < 5:
			return 3
		case pct == 5:
			return 4
		}
		return 5
	}
	switch {
	case pct <= 0:
		return 1
	case pct <= 10:
		return 2
	case pct <= 20:
		return 3
	case pct <= 30:
		return 4
	}
	return 5
}

// linkState is what one direction's per-second sample is computed from.
type linkState struct {
	// media is true when a media transport carries this direction; without
	// one the score is the signaling ping's RTT score.
	media bool
	down  bool // the transport is closed, failed or disconnected (or restarting)
	// loss is the fraction lost over the last second, known once the
	// transport has reported any.
	loss      float64
	lossKnown bool
	video     bool // the transport carries video (else audio only)
	rtt       time.Duration
	rttKnown  bool
	// jitter (downlink: the worst inbound stream's) is logged; the SDK's
	// tables score loss and RTT only.
	jitter time.Duration
}

// LogValue shows a sample in debug logs.
func (s linkState) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("media", s.media), slog.Bool("down", s.down),
		slog.String("loss", fmt.Sprintf("%.3f", s.loss)), slog.Bool("lossKnown", s.lossKnown),
		slog.Bool("video", s.video), slog.Duration("rtt", s.rtt), slog.Bool("rttKnown", s.rttKnown),
		slog.Duration("jitter", s.jitter))
}

// sampleScore is one direction's score for one second.
func sampleScore(s linkState, uplink bool) int {
	if s.down {
		return scoreDown
	}
	if !s.media {
		if !s.rttKnown {
			return scoreUnknown
		}
		return rttScore(s.rtt)
	}
	if !s.lossKnown {
		return scoreUnknown
	}
	r := 1
	if s.rttKnown {
		r = rttScore(s.rtt)
	}
	return max(r, lossScore(s.loss, s.video, uplink))
}

// combineScores is the 2-s value of two 1-s samples: the worse one, but
// unknown if either is.
func combineScores(a, b int) int {
	if a == scoreUnknown || b == scoreUnknown {
		return scoreUnknown
	}
	return max(a, b)
}
