package media

import (
	"errors"
	"fmt"
)

var errShortRBSP = errors.New("h264: truncated parameter set")

// unescapeRBSP removes emulation prevention bytes (00 00 03 -> 00 00).
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// bitReader reads an RBSP MSB first. Reads past the end set err and return
// zeros, so parsers check err once at the end instead of at every field.
type bitReader struct {
	b   []byte
	pos int // in bits
	err error
}

func (r *bitReader) u(n int) uint64 {
	var v uint64
	for range n {
		if r.pos >= len(r.b)*8 {
			r.err = errShortRBSP
			return 0
		}
		bit := (r.b[r.pos/8] >> (7 - r.pos%8)) & 1
		v = v<<1 | uint64(bit)
		r.pos++
	}
	return v
}

func (r *bitReader) flag() bool { return r.u(1) == 1 }

// ue reads an Exp-Golomb code; more than 31 leading zeros is not H.264.
func (r *bitReader) ue() uint64 {
	zeros := 0
	for !r.flag() {
		if r.err != nil {
			return 0
		}
		zeros++
		if zeros > 31 {
			r.err = errors.New("h264: exp-golomb code too long")
			return 0
		}
	}
	return (1<<zeros - 1) + r.u(zeros)
}

func (r *bitReader) se() int64 {
	v := r.ue()
	if v&1 == 1 {
		return int64(v+1) / 2
	}
	return -int64(v / 2)
}

func skipScalingList(r *bitReader, size int) {
	last, next := int64(8), int64(8)
	for range size {
		if next != 0 {
			next = (last + r.se() + 256) % 256
		}
		if next != 0 {
			last = next
		}
		if r.err != nil {
			return
		}
	}
}

// SPS is what roomctl reads from an H.264 sequence parameter set (ITU-T
// H.264 7.3.2.1.1).
type SPS struct {
	ProfileIDC  uint8
	Constraints uint8 // constraint_set0..5 flags and the two reserved bits
	LevelIDC    uint8

	// ChromaFormatPresent is set for the profiles (High and its kin) whose
	// SPS codes chroma_format_idc and bit depths; the others leave 4:2:0 and
	// 8 bits.
	ChromaFormatPresent bool
	ChromaFormatIDC     int // as read: values above 3 are not rejected
	SeparateColourPlane bool
	BitDepthLuma        int
	BitDepthChroma      int

	// The coded size; a map unit is two macroblock rows unless FrameMbsOnly.
	PicWidthInMbs       int
	PicHeightInMapUnits int
	FrameMbsOnly        bool

	// Width and Height are the picture size after frame cropping.
	Width, Height int

	FrameRate float64 // from the VUI's timing info; 0 when absent
}

// maxSPSMbs bounds the coded size in macroblocks (262144 pixels a side),
// more than any caller accepts, so that sizes fit an int everywhere.
const maxSPSMbs = 16384

// ParseSPS parses an SPS NAL unit, header byte included and emulation
// prevention still in place. It checks the syntax, not value ranges:
// callers bound the picture size, chroma format and bit depths to what
// they handle. The cropping must leave a picture, though.
func ParseSPS(nal []byte) (SPS, error) {
	if len(nal) < 4 || nal[0]&0x1f != NALSPS {
		return SPS{}, errors.New("h264: not an SPS")
	}
	r := &bitReader{b: unescapeRBSP(nal[1:])}
	s := SPS{ChromaFormatIDC: 1, BitDepthLuma: 8, BitDepthChroma: 8}
	s.ProfileIDC = uint8(r.u(8))
	s.Constraints = uint8(r.u(8))
	s.LevelIDC = uint8(r.u(8))
	r.ue() // seq_parameter_set_id
	switch s.ProfileIDC {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		s.ChromaFormatPresent = true
		s.ChromaFormatIDC = int(r.ue())
		if s.ChromaFormatIDC == 3 {
			s.SeparateColourPlane = r.flag()
		}
		s.BitDepthLuma = int(r.ue()) + 8
		s.BitDepthChroma = int(r.ue()) + 8
		r.flag()      // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			n := 8
			if s.ChromaFormatIDC == 3 {
				n = 12
			}
			for i := range n {
				if r.flag() {
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(r, size)
				}
			}
		}
	}
	r.ue() // log2_max_frame_num_minus4
	switch pocType := r.ue(); pocType {
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.flag() // delta_pic_order_always_zero_flag
		r.se()   // offset_for_non_ref_pic
		r.se()   // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 {
			return s, fmt.Errorf("h264: %d ref frames in poc cycle", n)
		}
		for range n {
			r.se()
		}
	}
	r.ue()   // max_num_ref_frames
	r.flag() // gaps_in_frame_num_value_allowed_flag
	widthMbs := r.ue() + 1
	heightMapUnits := r.ue() + 1
	s.FrameMbsOnly = r.flag()
	if !s.FrameMbsOnly {
		r.flag() // mb_adaptive_frame_field_flag
	}
	r.flag() // direct_8x8_inference_flag
	var cropL, cropR, cropT, cropB uint64
	if r.flag() {
		cropL, cropR, cropT, cropB = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.err != nil {
		return s, r.err
	}
	fieldFactor := uint64(2)
	if s.FrameMbsOnly {
		fieldFactor = 1
	}
	// Crop units (table 6-1): ChromaArrayType is 0 with separate planes.
	cropX, cropY := uint64(1), fieldFactor
	if !s.SeparateColourPlane {
		switch s.ChromaFormatIDC {
		case 1:
			cropX, cropY = 2, 2*fieldFactor
		case 2:
			cropX = 2
		}
	}
	codedW, codedH := widthMbs*16, heightMapUnits*16*fieldFactor
	if widthMbs > maxSPSMbs || heightMapUnits > maxSPSMbs || cropX*(cropL+cropR) >= codedW || cropY*(cropT+cropB) >= codedH {
		return s, errors.New("h264: implausible picture size")
	}
	s.PicWidthInMbs, s.PicHeightInMapUnits = int(widthMbs), int(heightMapUnits)
	s.Width = int(codedW - cropX*(cropL+cropR))
	s.Height = int(codedH - cropY*(cropT+cropB))

	if r.flag() { // vui_parameters_present_flag
		s.FrameRate = parseVUIFrameRate(r)
	}
	return s, nil
}

// parseSPS is ParseSPS with the limits of a file source.
func parseSPS(nal []byte) (SPS, error) {
	s, err := ParseSPS(nal)
	if err != nil {
		return s, err
	}
	if s.ChromaFormatIDC > 3 {
		return s, fmt.Errorf("h264: chroma_format_idc %d", s.ChromaFormatIDC)
	}
	if s.PicWidthInMbs > 1024 || s.PicHeightInMapUnits > 1024 {
		return s, errors.New("h264: implausible picture size")
	}
	return s, nil
}

// parseVUIFrameRate reads the VUI up to timing_info and returns the frame
// rate, 0 if absent or unreadable.
func parseVUIFrameRate(r *bitReader) float64 {
	if r.flag() { // aspect_ratio_info_present_flag
		if r.u(8) == 255 { // Extended_SAR
			r.u(16)
			r.u(16)
		}
	}
	if r.flag() { // overscan_info_present_flag
		r.flag()
	}
	if r.flag() { // video_signal_type_present_flag
		r.u(3)
		r.flag()
		if r.flag() { // colour_description_present_flag
			r.u(24)
		}
	}
	if r.flag() { // chroma_loc_info_present_flag
		r.ue()
		r.ue()
	}
	if !r.flag() { // timing_info_present_flag
		return 0
	}
	units := r.u(32)
	scale := r.u(32)
	if r.err != nil || units == 0 || scale == 0 {
		return 0
	}
	// Two ticks per frame: time_scale counts fields.
	fps := float64(scale) / float64(2*units)
	if fps < 1 || fps > 240 {
		return 0
	}
	return fps
}

// ProfileLevelID is the SDP profile-level-id for this SPS. Constrained
// Baseline is written in its canonical form 42e0xx: encoders set other
// constraint bits (x264 writes 42c0xx) and pion matches the first two bytes
// exactly, so 42c0 would match nobody's 42e01f.
func (s SPS) ProfileLevelID() string {
	c := s.Constraints & 0xfc // the two low bits are reserved
	if s.ProfileIDC == 66 {
		if c&0x40 != 0 { // constraint_set1: Constrained Baseline
			c = 0xe0
		} else {
			c = 0
		}
	}
	return fmt.Sprintf("%02x%02x%02x", s.ProfileIDC, c, s.LevelIDC)
}
