package record

import (
	"encoding/binary"

	"github.com/roomctl/roomctl/internal/codec/bitstream"
	"github.com/roomctl/roomctl/internal/codec/h264"
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
	r := bitstream.NewReader(frame)
	if r.U(2) != 2 { // frame_marker
		return false, 0, 0
	}
	profile := r.U(1)
	profile |= r.U(1) << 1
	if profile == 3 {
		r.U(1) // reserved_zero
	}
	if r.U(1) == 1 { // show_existing_frame
		return false, 0, 0
	}
	if r.U(1) != 0 { // frame_type: 0 is KEY_FRAME
		return false, 0, 0
	}
	r.U(1) // show_frame
	r.U(1) // error_resilient_mode
	if r.U(24) != 0x498342 {
		return false, 0, 0
	}
	if profile >= 2 {
		r.U(1) // ten_or_twelve_bit
	}
	if cs := r.U(3); cs != 7 { // color_space != CS_RGB
		r.U(1) // color_range
		if profile == 1 || profile == 3 {
			r.U(3) // subsampling_x, subsampling_y, reserved_zero
		}
	} else if profile == 1 || profile == 3 {
		r.U(1)
	}
	w := int(r.U(16)) + 1
	h := int(r.U(16)) + 1
	if r.Err() != nil {
		return true, 0, 0
	}
	return true, w, h
}

// inspectH264 reads an AVCC access unit (4-byte lengths, as the sink
// receives H.264); false if a length prefix is malformed.
func inspectH264(au []byte) (h264.AUInfo, bool) {
	var info h264.AUInfo
	for nal, err := range h264.AVCCUnits(au) {
		if err != nil {
			return info, false
		}
		info.Add(nal)
	}
	return info, true
}

// maxPictureSide bounds what a parsed size may be (H.264 level 6.2 allows
// 8192×4320; anything far beyond is a broken or hostile SPS).
const maxPictureSide = 16384

// avcC builds the CodecPrivate of an H.264 track: the avcC record of one
// SPS and one PPS, with the High profile extension. The SPS is held to what
// a Matroska track header can describe; it is returned for the size.
func avcC(sps, pps []byte) ([]byte, h264.SPS, error) {
	s, err := h264.ParseSPS(sps)
	if err != nil || s.ChromaFormatIDC > 3 || s.BitDepthLuma > 14 || s.BitDepthChroma > 14 ||
		s.Width > maxPictureSide || s.Height > maxPictureSide {
		return nil, s, h264.ErrBadSPS
	}
	b, err := h264.DecoderConfig(sps, pps, &s)
	return b, s, err
}
