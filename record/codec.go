package record

import (
	"encoding/binary"
	"errors"

	"github.com/roomctl/roomctl/internal/media"
)

// Codec names as engine.RemoteTrack carries them.
const (
	CodecVP8  = "VP8"
	CodecVP9  = "VP9"
	CodecH264 = "H264"
	CodecOpus = "opus"
)

// Matroska codec ids.
const (
	codecIDVP8  = "V_VP8"
	codecIDVP9  = "V_VP9"
	codecIDH264 = "V_MPEG4/ISO/AVC"
	codecIDOpus = "A_OPUS"
)

// Opus in Matroska: the decoder discards CodecDelay at the start and needs
// SeekPreRoll of audio before a seek point to converge
// (https://wiki.xiph.org/MatroskaOpus).
const (
	// opusPreSkip is libopus' encoder lookahead at 48 kHz (6.5 ms), what a
	// WebRTC sender's encoder adds; RTP does not carry it.
	opusPreSkip     = 312
	opusCodecDelay  = opusPreSkip * 1_000_000_000 / 48000 // ns
	opusSeekPreRoll = 80_000_000                          // ns
)

// opusHead builds the 19-byte OpusHead (RFC 7845 §5.1, mapping family 0)
// that Matroska wants as an Opus track's CodecPrivate.
func opusHead(channels int, sampleRate int) []byte {
	if channels < 1 || channels > 2 {
		channels = 2
	}
	b := make([]byte, 19)
	copy(b, "OpusHead")
	b[8] = 1 // version
	b[9] = byte(channels)
	binary.LittleEndian.PutUint16(b[10:], opusPreSkip)
	binary.LittleEndian.PutUint32(b[12:], uint32(sampleRate))
	// output gain 0, channel mapping family 0
	return b
}

// videoFormat is what a video track's header needs, learnt from a keyframe.
type videoFormat struct {
	width, height int
	// codecPrivate: the avcC record for H.264, nil otherwise.
	codecPrivate []byte
}

// vp8Keyframe reports whether a VP8 frame is a key frame and its size
// (RFC 6386 §9.1: frame tag bit 0 clear, start code 9d 01 2a, 14-bit sizes).
func vp8Keyframe(frame []byte) (key bool, width, height int) {
	if len(frame) < 3 || frame[0]&0x01 != 0 {
		return false, 0, 0
	}
	if len(frame) < 10 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return true, 0, 0
	}
	width = int(binary.LittleEndian.Uint16(frame[6:]) & 0x3fff)
	height = int(binary.LittleEndian.Uint16(frame[8:]) & 0x3fff)
	return true, width, height
}

// vp9Keyframe parses the start of a VP9 uncompressed frame header
// (VP9 bitstream spec §6.2) for the frame type and, on a key frame, its size.
func vp9Keyframe(frame []byte) (key bool, width, height int) {
	r := bitReader{b: frame}
	if r.u(2) != 2 { // frame_marker
		return false, 0, 0
	}
	profile := r.u(1)
	profile |= r.u(1) << 1
	if profile == 3 {
		r.u(1) // reserved_zero
	}
	if r.u(1) == 1 { // show_existing_frame
		return false, 0, 0
	}
	if r.u(1) != 0 { // frame_type: 0 is KEY_FRAME
		return false, 0, 0
	}
	r.u(1) // show_frame
	r.u(1) // error_resilient_mode
	if r.u(24) != 0x498342 {
		return false, 0, 0
	}
	if profile >= 2 {
		r.u(1) // ten_or_twelve_bit
	}
	if cs := r.u(3); cs != 7 { // color_space != CS_RGB
		r.u(1) // color_range
		if profile == 1 || profile == 3 {
			r.u(3) // subsampling_x, subsampling_y, reserved_zero
		}
	} else if profile == 1 || profile == 3 {
		r.u(1)
	}
	w := int(r.u(16)) + 1
	h := int(r.u(16)) + 1
	if r.err != nil {
		return true, 0, 0
	}
	return true, w, h
}

// H.264 NAL unit types that matter here.
const (
	nalSlice  = 1
	nalIDR    = 5
	nalSPS    = 7
	nalPPS    = 8
	nalFiller = 12
)

// avccNALUs calls f for each NAL unit of a 4-byte length-prefixed access
// unit; it stops and returns false on a malformed length.
func avccNALUs(au []byte, f func(nal []byte)) bool {
	for len(au) > 0 {
		if len(au) < 4 {
			return false
		}
		n := binary.BigEndian.Uint32(au)
		if n == 0 || uint64(n) > uint64(len(au)-4) {
			return false
		}
		f(au[4 : 4+n])
		au = au[4+n:]
	}
	return true
}

// h264Frame is what one access unit tells about the stream.
type h264Frame struct {
	idr      bool
	sps, pps []byte // the last of each in the access unit, if any
}

func inspectH264(au []byte) (h264Frame, bool) {
	var f h264Frame
	ok := avccNALUs(au, func(nal []byte) {
		switch nal[0] & 0x1f {
		case nalIDR:
			f.idr = true
		case nalSPS:
			f.sps = nal
		case nalPPS:
			f.pps = nal
		}
	})
	return f, ok
}

// avcC builds an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1)
// with 4-byte NAL lengths, one SPS and one PPS.
func avcC(sps, pps []byte) ([]byte, *spsInfo, error) {
	info, err := parseSPS(sps)
	if err != nil {
		return nil, nil, err
	}
	if len(pps) == 0 || len(sps) > 0xffff || len(pps) > 0xffff {
		return nil, nil, errors.New("h264: bad parameter set sizes")
	}
	b := make([]byte, 0, 11+len(sps)+len(pps)+4)
	b = append(b, 1, sps[1], sps[2], sps[3], 0xfc|3, 0xe0|1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	b = append(b, pps...)
	if info.highProfile {
		b = append(b, 0xfc|byte(info.chromaFormat), 0xf8|byte(info.bitDepthLuma-8), 0xf8|byte(info.bitDepthChroma-8), 0)
	}
	return b, info, nil
}

// spsInfo is what the recorder needs from an H.264 sequence parameter set.
type spsInfo struct {
	width, height  int
	highProfile    bool // the avcC record has the chroma/bit-depth extension
	chromaFormat   int
	bitDepthLuma   int
	bitDepthChroma int
}

var errBadSPS = errors.New("h264: malformed sequence parameter set")

// maxPictureSide bounds what a parsed size may be (H.264 level 6.2 allows
// 8192×4320; anything far beyond is a broken or hostile SPS).
const maxPictureSide = 16384

// parseSPS reads an SPS NAL unit (with its one-byte header) and holds it
// to what a Matroska track header can describe.
func parseSPS(nal []byte) (*spsInfo, error) {
	s, err := media.ParseSPS(nal)
	if err != nil || s.ChromaFormatIDC > 3 || s.BitDepthLuma > 14 || s.BitDepthChroma > 14 ||
		s.Width > maxPictureSide || s.Height > maxPictureSide {
		return nil, errBadSPS
	}
	return &spsInfo{
		width: s.Width, height: s.Height,
		highProfile:  s.ChromaFormatPresent,
		chromaFormat: s.ChromaFormatIDC, bitDepthLuma: s.BitDepthLuma, bitDepthChroma: s.BitDepthChroma,
	}, nil
}

var errShortBits = errors.New("truncated bitstream")

// bitReader reads MSB first. Reads past the end set err and return zeros,
// so parsers check err once at the end.
type bitReader struct {
	b   []byte
	pos int // in bits
	err error
}

func (r *bitReader) u(n int) uint64 {
	var v uint64
	for range n {
		if r.pos >= len(r.b)*8 {
			r.err = errShortBits
			return 0
		}
		v = v<<1 | uint64(r.b[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v
}
