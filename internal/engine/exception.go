package engine

// The SDK's exception codes; recovery is the same code + resumeSuffix.
const (
	excAudioReceiveBitrate  = "AUDIO_RECEIVE_BITRATE_TOO_LOW"
	excAudioSendBitrate     = "AUDIO_SEND_BITRATE_TOO_LOW"
	excVideoDecodeFramerate = "VIDEO_DECODE_FRAMERATE_TOO_LOW"
	excVideoReceiveBitrate  = "VIDEO_RECEIVE_BITRATE_TOO_LOW"
	excVideoReceiveFrames   = "VIDEO_RECEIVE_FRAMERATE_TOO_LOW"
	excVideoEncodeFramerate = "VIDEO_ENCODE_FRAMERATE_TOO_LOW"
	excVideoSendBitrate     = "VIDEO_SEND_BITRATE_TOO_LOW"
	excVideoSendFramerate   = "VIDEO_SEND_FRAMERATE_TOO_LOW"

	resumeSuffix = "_RESUME"
)

// The SDK's rule: every exceptionEvery-th stats sample (one a second)
// compares each counter with its value exceptionEvery samples before;
// fewer than minBytes bytes or minFrames frames moved is "too low".
const (
	exceptionEvery = 4
	minBytes       = 5
	minFrames      = 2
)

// watch is the state of one exception code of one stream. The run loop
// steps it once a second with the counter's cumulative value.
//
// Two refinements of the SDK rule, both so that a stream that is quiet by
// design raises nothing:
//   - a counter is watched only once media has moved on it (its value at
//     the previous comparison was not 0): a subscription still waiting for
//     its first packet, or a codec whose frames are not counted, is not
//     "too low";
//   - a window in which the stream was muted at any sample is not judged
//     (a raised code then stays raised until a judged window recovers).
type watch struct {
	code string // the *_TOO_LOW code
	min  uint64 // minBytes or minFrames

	src      any // the counter's owner; a new one (a new track) restarts the baseline
	base     uint64
	haveBase bool
	muted    bool // muted at some sample of the current window
	raised   bool
}

// step feeds one sample. judge is true on every exceptionEvery-th sample.
// It returns the error to print ("" for none).
func (w *watch) step(src any, v uint64, muted, judge bool) string {
	if src != w.src || (w.haveBase && v < w.base) {
		w.src, w.haveBase = src, false
	}
	w.muted = w.muted || muted
	if !judge {
		return ""
	}
	base, haveBase, wasMuted := w.base, w.haveBase, w.muted
	w.base, w.haveBase, w.muted = v, true, false
	if !haveBase || base == 0 || wasMuted {
		return ""
	}
	low := v-base < w.min
	switch {
	case low && !w.raised:
		w.raised = true
		return w.code
	case !low && w.raised:
		w.raised = false
		return w.code + resumeSuffix
	}
	return ""
}
