package media

import (
	"errors"
	"fmt"
)

// spsInfo is what we need from an H.264 sequence parameter set.
type spsInfo struct {
	profileIDC  uint8
	constraints uint8
	levelIDC    uint8
	width       int
	height      int
	fps         float64 // 0 when the SPS carries no timing info
}

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

// parseSPS reads profile, level, picture size and frame rate from an SPS
// NAL unit (header byte included, emulation prevention still in place).
func parseSPS(nal []byte) (spsInfo, error) {
	if len(nal) < 4 || nal[0]&0x1f != 7 {
		return spsInfo{}, errors.New("h264: not an SPS")
	}
	r := &bitReader{b: unescapeRBSP(nal[1:])}
	var s spsInfo
	s.profileIDC = uint8(r.u(8))
	s.constraints = uint8(r.u(8))
	s.levelIDC = uint8(r.u(8))
	r.ue() // seq_parameter_set_id
	chroma := uint64(1)
	separatePlanes := false
	switch s.profileIDC {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma = r.ue()
		if chroma > 3 {
			return s, fmt.Errorf("h264: chroma_format_idc %d", chroma)
		}
		if chroma == 3 {
			separatePlanes = r.flag()
		}
		r.ue()   // bit_depth_luma_minus8
		r.ue()   // bit_depth_chroma_minus8
		r.flag() // qpprime_y_zero_transform_bypass_flag
		if r.flag() {
			n := 8
			if chroma == 3 {
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
	frameMbsOnly := r.flag()
	if !frameMbsOnly {
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
	if frameMbsOnly {
		fieldFactor = 1
	}
	cropX, cropY := uint64(1), fieldFactor
	if chroma != 0 && !separatePlanes {
		subW, subH := uint64(2), uint64(2) // 4:2:0
		switch chroma {
		case 2:
			subH = 1
		case 3:
			subW, subH = 1, 1
		}
		cropX, cropY = subW, subH*fieldFactor
	}
	w := widthMbs*16 - cropX*(cropL+cropR)
	h := heightMapUnits*16*fieldFactor - cropY*(cropT+cropB)
	if widthMbs > 1024 || heightMapUnits > 1024 || w == 0 || h == 0 || w > widthMbs*16 || h > heightMapUnits*16*fieldFactor {
		return s, errors.New("h264: implausible picture size")
	}
	s.width, s.height = int(w), int(h)

	if r.flag() { // vui_parameters_present_flag
		s.fps = parseVUIFrameRate(r)
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

// profileLevelID is the SDP profile-level-id for this SPS. Constrained
// Baseline is written in its canonical form 42e0xx: encoders set other
// constraint bits (x264 writes 42c0xx) and pion matches the first two bytes
// exactly, so 42c0 would match nobody's 42e01f.
func (s spsInfo) profileLevelID() string {
	c := s.constraints & 0xfc // the two low bits are reserved
	if s.profileIDC == 66 {
		if c&0x40 != 0 { // constraint_set1: Constrained Baseline
			c = 0xe0
		} else {
			c = 0
		}
	}
	return fmt.Sprintf("%02x%02x%02x", s.profileIDC, c, s.levelIDC)
}
