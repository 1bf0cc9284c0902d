package engine

import (
	"math"
	"sync/atomic"

	"github.com/pion/opus"
	"github.com/pion/rtp"

	"github.com/roomctl/roomctl/internal/event"
)

// Audio levels, as the SDK's audio_level_report and active_speaker compute
// them: 100 × peak |sample| / full scale over a window. The PCM is what a
// listener would hear: remote streams are decoded from what arrives, the
// local publication from what is sent (see sendTrack), so every source —
// test tone, Ogg Opus file, a future microphone — is measured the same way.

// fullScale is the magnitude of the most negative int16 sample.
const fullScale = 32768

// speakerThreshold: active_speaker names a uid only when its level is above it.
const speakerThreshold = 5

// levelMeter is the peak |sample| of a stream since it was last taken.
// Writers (a track's packet loop) and the reader (the run loop) may run at
// once.
type levelMeter struct {
	peak atomic.Uint32
}

// addPCM takes the peak of interleaved int16 samples into the window.
func (m *levelMeter) addPCM(pcm []int16) {
	var p uint32
	for _, s := range pcm {
		a := int32(s)
		if a < 0 {
			a = -a
		}
		if uint32(a) > p {
			p = uint32(a)
		}
	}
	for {
		old := m.peak.Load()
		if p <= old || m.peak.CompareAndSwap(old, p) {
			return
		}
	}
}

// take returns the level (0-100) of the window and starts a new one.
func (m *levelMeter) take() int {
	return levelOf(m.peak.Swap(0))
}

// levelOf converts a peak |int16| to the SDK's 0-100 level.
func levelOf(peak uint32) int {
	return min(100, int(math.Round(float64(peak)*100/fullScale)))
}

// opusMeter decodes a stream's Opus packets (pion/opus, pure Go) and feeds
// their PCM to a levelMeter. One goroutine feeds it.
type opusMeter struct {
	dec opus.Decoder
	ok  bool
	pcm []int16
	m   *levelMeter
}

func newOpusMeter(m *levelMeter) *opusMeter {
	dec, err := opus.NewDecoderWithOutput(48000, 2)
	// 5760 samples per channel: the longest Opus packet (120 ms at 48 kHz).
	return &opusMeter{dec: dec, ok: err == nil, pcm: make([]int16, 5760*2), m: m}
}

// feed decodes one packet; it reports whether the packet decoded to audio.
func (o *opusMeter) feed(payload []byte) bool {
	if !o.ok || len(payload) == 0 {
		return false
	}
	n, err := o.dec.DecodeToInt16(payload, o.pcm)
	if err != nil || n <= 0 {
		return false
	}
	o.m.addPCM(o.pcm[:n*2])
	return true
}

// speakerPicker implements active_speaker: each second the loudest uid of
// that second, printed when its level is above speakerThreshold and it is
// not the uid printed last.
type speakerPicker struct {
	last string
}

// pick returns the uid to print for one second's levels, if any. Ties go
// to the first of levels (the caller's order is stable: local, then uids
// sorted).
func (p *speakerPicker) pick(levels []event.AudioLevel) (string, bool) {
	best := -1
	for i, l := range levels {
		if best < 0 || l.AudioLevel > levels[best].AudioLevel {
			best = i
		}
	}
	if best < 0 || levels[best].AudioLevel <= speakerThreshold || levels[best].UID == p.last {
		return "", false
	}
	p.last = levels[best].UID
	return p.last, true
}

// feedPacket is feed for an RTP packet.
func (o *opusMeter) feedPacket(p *rtp.Packet) bool { return o.feed(p.Payload) }
