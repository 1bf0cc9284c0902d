package media

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// vp8Codec is pion's default VP8 registration.
var vp8Codec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoRTCPFeedback,
	},
	PayloadType: 96,
}

// ivfReader yields VP8 frames with the duration up to the next frame, so it
// reads one frame ahead.
//
// pion's ivfreader parses and checks the file header; the 12-byte frame
// headers we read ourselves, because its ParseNextFrame
//   - allocates the frame size the header claims (up to 4 GiB) before
//     reading a byte of it, so one corrupt header costs gigabytes;
//   - reports IVFFrameHeader.Timestamp as pts*den/num, not a time: the
//     header fields it calls timebase denominator and numerator (bytes
//     16-19 and 20-23; ffmpeg writes 30 and 1 for 30 fps) make one pts tick
//     num/den seconds.
type ivfReader struct {
	r        io.Reader
	num, den uint64
	hdr      [12]byte
	pending  []byte
	pendPTS  uint64
	havePend bool
	lastDur  time.Duration
	err      error
}

// maxIVFFrame bounds a frame: a VP8 keyframe of a 4K picture at very high
// quality stays well below it.
const maxIVFFrame = 16 << 20

func newIVFReader(r io.Reader) (*ivfReader, *ivfreader.IVFFileHeader, error) {
	_, h, err := ivfreader.NewWith(r)
	if err != nil {
		return nil, nil, fmt.Errorf("ivf: %w", err)
	}
	rd := &ivfReader{r: r, num: uint64(h.TimebaseNumerator), den: uint64(h.TimebaseDenominator)}
	rd.lastDur = rd.ticks(1)
	if rd.lastDur <= 0 || rd.lastDur > time.Second {
		rd.lastDur = time.Second / 30
	}
	return rd, h, nil
}

// ticks converts a pts difference to a duration.
func (r *ivfReader) ticks(n uint64) time.Duration {
	return time.Duration(float64(n) * float64(r.num) / float64(r.den) * float64(time.Second))
}

func (r *ivfReader) readFrame() ([]byte, uint64, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return nil, 0, err
	}
	size := binary.LittleEndian.Uint32(r.hdr[0:4])
	pts := binary.LittleEndian.Uint64(r.hdr[4:12])
	if size > maxIVFFrame {
		return nil, 0, fmt.Errorf("ivf: frame of %d bytes", size)
	}
	frame := make([]byte, size)
	if _, err := io.ReadFull(r.r, frame); err != nil {
		return nil, 0, fmt.Errorf("ivf: truncated frame: %w", err)
	}
	return frame, pts, nil
}

func (r *ivfReader) next() (sample, error) {
	if !r.havePend {
		if r.err != nil {
			return sample{}, r.err
		}
		f, pts, err := r.readFrame()
		if err != nil {
			return sample{}, err
		}
		r.pending, r.pendPTS, r.havePend = f, pts, true
	}
	out := sample{data: r.pending, dur: r.lastDur}
	f, pts, err := r.readFrame()
	if err == nil {
		// A pts that goes backwards or jumps more than a second is damage,
		// not timing: keep the previous frame duration rather than stall or
		// burst.
		if pts > r.pendPTS {
			if d := r.ticks(pts - r.pendPTS); d <= time.Second {
				out.dur, r.lastDur = d, d
			}
		}
		r.pending, r.pendPTS = f, pts
	} else {
		// The last frame lasts as long as the one before it; the error ends
		// the next call.
		r.havePend, r.err = false, err
	}
	return out, nil
}

func probeIVF(rd io.Reader) (*fileTrack, error) {
	r, h, err := newIVFReader(rd)
	if err != nil {
		return nil, err
	}
	switch h.FourCC {
	case "VP80":
	case "VP90":
		return nil, fmt.Errorf("%w: VP9 in IVF (only VP8 is supported)", ErrUnsupportedCodec)
	default:
		return nil, fmt.Errorf("%w: IVF fourcc %q (only VP80 is supported)", ErrUnsupportedCodec, h.FourCC)
	}
	// The frame rate is measured between the first two frames: the header's
	// rate/scale is the timebase, which is the frame rate only by habit.
	fps := 0
	first, err := r.next()
	if err != nil {
		return nil, fmt.Errorf("ivf: no frame: %w", err)
	}
	if _, err := r.next(); err == nil && first.dur > 0 {
		fps = int(math.Round(float64(time.Second) / float64(first.dur)))
	} else if h.TimebaseNumerator > 0 && h.TimebaseDenominator/h.TimebaseNumerator <= 240 {
		fps = int(h.TimebaseDenominator / h.TimebaseNumerator)
	}
	return &fileTrack{
		info: TrackInfo{
			Kind: KindVideo, Codec: CodecVP8,
			Width: int(h.Width), Height: int(h.Height), FrameRate: fps,
		},
		typ:   webrtc.RTPCodecTypeVideo,
		codec: vp8Codec,
		newReader: func(rd io.Reader) (sampleReader, error) {
			r, _, err := newIVFReader(rd)
			if err != nil {
				return nil, err
			}
			return r, nil
		},
	}, nil
}
