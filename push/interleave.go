package push

import "time"

// tag is one FLV tag on its way to the RTMP outputs. It is immutable once
// built: every output reads the same one.
type tag struct {
	typ  byte   // tagAudio, tagVideo, tagScript
	ts   uint32 // ms on the push's timeline
	body []byte // FLV tag body
	key  bool   // a video keyframe
	// cfg is the video configuration a video tag needs (its avcC): an
	// output sends the sequence header again when it changes.
	cfg *videoConfig
	// arrival is when the RTP packet that completed the tag arrived, for
	// the latency statistics.
	arrival time.Time
}

func (t *tag) media() bool { return t.typ == tagAudio || t.typ == tagVideo }

// videoConfig is one H.264 parameter set pair as FLV needs it.
type videoConfig struct {
	avcC          []byte
	width, height int
}

// interleaver merges the audio and video tags into one sequence whose
// timestamps never go back. Audio comes out of the AAC encoder a few
// frames late, video comes out at once; the interleaver holds the early
// kind until the other catches up, at most hold, and then lets it go (a
// late tag is then clamped to the last timestamp sent).
type interleaver struct {
	hold   time.Duration
	q      [2][]heldTag // 0 audio, 1 video
	active [2]bool      // whether to wait for that kind at all
	last   uint32
}

type heldTag struct {
	t  *tag
	at time.Time
}

func kindIndex(typ byte) int {
	if typ == tagVideo {
		return 1
	}
	return 0
}

func (il *interleaver) push(t *tag, now time.Time) {
	i := kindIndex(t.typ)
	il.q[i] = append(il.q[i], heldTag{t, now})
}

// pop returns the next tag that may go, or nil.
func (il *interleaver) pop(now time.Time) *tag {
	a, v := il.q[0], il.q[1]
	var i int
	switch {
	case len(a) > 0 && len(v) > 0:
		i = 1
		if a[0].t.ts < v[0].t.ts {
			i = 0
		}
	case len(a) > 0:
		if il.active[1] && now.Sub(a[0].at) < il.hold {
			return nil
		}
		i = 0
	case len(v) > 0:
		if il.active[0] && now.Sub(v[0].at) < il.hold {
			return nil
		}
		i = 1
	default:
		return nil
	}
	t := il.q[i][0].t
	il.q[i][0] = heldTag{}
	il.q[i] = il.q[i][1:]
	if t.ts < il.last {
		c := *t
		c.ts = il.last
		t = &c
	}
	il.last = t.ts
	return t
}

// drain returns every held tag in order.
func (il *interleaver) drain() []*tag {
	il.active = [2]bool{}
	var out []*tag
	for t := il.pop(time.Time{}); t != nil; t = il.pop(time.Time{}) {
		out = append(out, t)
	}
	return out
}
