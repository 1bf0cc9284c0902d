package push

import (
	"time"

	"github.com/roomctl/roomctl/internal/dsp"
	"github.com/roomctl/roomctl/push/aac"
)

// aacPipe turns 48 kHz stereo PCM into AAC frames at 44.1 kHz and knows
// the wall-clock time of every frame.
//
// The PCM comes in segments: a segment is continuous audio (holes shorter
// than maxAudioGap are filled with silence by the caller) that starts at a
// known wall-clock time. Frame timestamps are sample counts, so within a
// segment audio time is exact; a new segment (a long hole, a new track)
// starts on a frame boundary with the time of its first sample.
type aacPipe struct {
	enc   *aac.Encoder
	rs    [aacChannels]*dsp.Resampler // 48 → 44.1 kHz
	in    [aacChannels][]float32      // de-interleaved input
	out   [aacChannels][]float32      // resampled
	frame []float32                   // planar, FrameSize per channel
	fs    int
	fill  int
	pos   int64 // sample number (44.1 kHz) of the frame being filled
	segs  []aacSeg
	zeros []float32
	err   error
	// fed records when the input that filled the frames up to a sample
	// number arrived: a frame's latency counts from its last sample.
	fed []fedMark
}

type fedMark struct {
	end     int64 // samples (44.1 kHz) fed so far
	arrival time.Time
}

type aacSeg struct {
	start int64 // first sample number
	wall  time.Time
}

func newAACPipe(enc *aac.Encoder) *aacPipe {
	fs := enc.FrameSize()
	a := &aacPipe{enc: enc, fs: fs, frame: make([]float32, fs*aacChannels), zeros: make([]float32, 960*aacChannels)}
	for c := range a.rs {
		// Two valid constant rates: NewResampler cannot fail.
		a.rs[c], _ = dsp.NewResampler(opusRate, aacRate)
	}
	return a
}

// begin starts a segment whose next input sample is at wall: what is
// buffered is flushed and padded to a whole frame first.
func (a *aacPipe) begin(pkts []aac.Packet, wall time.Time) []aac.Packet {
	if len(a.segs) > 0 {
		for c := range a.rs {
			a.out[c] = a.rs[c].Flush(a.out[c][:0])
		}
		pkts = a.feed(pkts)
		if a.fill > 0 {
			clear(a.frame[a.fill:a.fs])
			clear(a.frame[a.fs+a.fill:])
			a.fill = a.fs
			pkts = a.encode(pkts)
		}
	}
	a.segs = append(a.segs, aacSeg{start: a.pos, wall: wall})
	return pkts
}

// silence feeds n samples (48 kHz) of silence.
func (a *aacPipe) silence(pkts []aac.Packet, n int) []aac.Packet {
	for n > 0 {
		k := min(n, len(a.zeros)/aacChannels)
		pkts = a.write(pkts, a.zeros[:k*aacChannels])
		n -= k
	}
	return pkts
}

// arrived notes that what was written so far arrived at t.
func (a *aacPipe) arrived(t time.Time) {
	a.fed = append(a.fed, fedMark{end: a.pos + int64(a.fill), arrival: t})
}

// arrivalOf is when the last sample of the frame at pts arrived.
func (a *aacPipe) arrivalOf(pts int64) time.Time {
	end := pts + int64(a.fs)
	for len(a.fed) > 1 && a.fed[0].end < end {
		a.fed = a.fed[1:]
	}
	if len(a.fed) == 0 {
		return time.Time{}
	}
	return a.fed[0].arrival
}

// write feeds interleaved stereo samples at 48 kHz.
func (a *aacPipe) write(pkts []aac.Packet, pcm []float32) []aac.Packet {
	n := len(pcm) / aacChannels
	for c := range a.in {
		a.in[c] = a.in[c][:0]
		for i := range n {
			a.in[c] = append(a.in[c], pcm[i*aacChannels+c])
		}
		a.out[c] = a.rs[c].Process(a.out[c][:0], a.in[c])
	}
	return a.feed(pkts)
}

// feed moves the resampled samples into frames and encodes full ones.
func (a *aacPipe) feed(pkts []aac.Packet) []aac.Packet {
	l, r := a.out[0], a.out[1]
	for i := 0; i < len(l); {
		k := min(a.fs-a.fill, len(l)-i)
		copy(a.frame[a.fill:], l[i:i+k])
		copy(a.frame[a.fs+a.fill:], r[i:i+k])
		a.fill += k
		i += k
		if a.fill == a.fs {
			pkts = a.encode(pkts)
		}
	}
	return pkts
}

func (a *aacPipe) encode(pkts []aac.Packet) []aac.Packet {
	var err error
	pkts, err = a.enc.Encode(pkts, a.frame, a.pos)
	if err != nil && a.err == nil {
		a.err = err // the muxer logs it; the frame is lost
	}
	a.pos += int64(a.fs)
	a.fill = 0
	return pkts
}

// flush ends the audio: buffered samples and the encoder's delay.
func (a *aacPipe) flush(pkts []aac.Packet) []aac.Packet {
	if len(a.segs) == 0 {
		return pkts
	}
	pkts = a.begin(pkts, time.Time{})
	a.segs = a.segs[:len(a.segs)-1]
	out, err := a.enc.Flush(pkts)
	if err != nil && a.err == nil {
		a.err = err
	}
	return out
}

// wallOf is the wall-clock time of sample number pts (a packet's PTS).
// Packets come out in order, so segments before it are forgotten.
func (a *aacPipe) wallOf(pts int64) time.Time {
	for len(a.segs) > 1 && a.segs[1].start <= pts {
		a.segs = a.segs[1:]
	}
	if len(a.segs) == 0 {
		return time.Time{}
	}
	s := a.segs[0]
	return s.wall.Add(time.Duration((pts - s.start) * int64(time.Second) / aacRate))
}

func (a *aacPipe) close() { a.enc.Close() }
