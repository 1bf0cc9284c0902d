package h264

import (
	"fmt"

	"github.com/roomctl/roomctl/internal/codec/bitstream"
)

// SPS is what roomctl reads from a sequence parameter set (ITU-T H.264
// 7.3.2.1.1): the file source's size, frame rate and SDP profile, the
// recorder's and the RTMP muxer's picture size and avcC fields.
type SPS struct {
	ProfileIDC  uint8
	Constraints uint8 // constraint_set0..5 flags and the two reserved bits
	LevelIDC    uint8

	// ChromaFormatPresent is set for the profiles (High and its kin) whose
	// SPS codes chroma_format_idc and bit depths; the others leave 4:2:0 and
	// 8 bits. The avcC record of such a profile has an extension for them.
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

// MaxMbs bounds the coded size in macroblocks (262144 pixels a side) that
// ParseSPS accepts: more than any caller accepts, so that sizes fit an int
// everywhere.
const MaxMbs = 16384

// ParseSPS parses an SPS NAL unit, header byte included and emulation
// prevention still in place. It checks the syntax, not value ranges:
// callers bound the picture size, chroma format and bit depths to what
// they handle. The cropping must leave a picture, though.
func ParseSPS(nal []byte) (SPS, error) {
	if len(nal) < 4 || TypeOf(nal) != NALSPS {
		return SPS{}, ErrNotSPS
	}
	r := bitstream.NewReader(unescapeRBSP(nal[1:]))
	s := SPS{ChromaFormatIDC: 1, BitDepthLuma: 8, BitDepthChroma: 8}
	s.ProfileIDC = uint8(r.U(8))
	s.Constraints = uint8(r.U(8))
	s.LevelIDC = uint8(r.U(8))
	r.UE() // seq_parameter_set_id
	switch s.ProfileIDC {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		s.ChromaFormatPresent = true
		s.ChromaFormatIDC = int(r.UE())
		if s.ChromaFormatIDC == 3 {
			s.SeparateColourPlane = r.Flag()
		}
		s.BitDepthLuma = int(r.UE()) + 8
		s.BitDepthChroma = int(r.UE()) + 8
		r.Flag()      // qpprime_y_zero_transform_bypass_flag
		if r.Flag() { // seq_scaling_matrix_present_flag
			n := 8
			if s.ChromaFormatIDC == 3 {
				n = 12
			}
			for i := range n {
				if r.Flag() {
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(r, size)
				}
			}
		}
	}
	r.UE() // log2_max_frame_num_minus4
	switch pocType := r.UE(); pocType {
	case 0:
		r.UE() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.Flag() // delta_pic_order_always_zero_flag
		r.SE()   // offset_for_non_ref_pic
		r.SE()   // offset_for_top_to_bottom_field
		n := r.UE()
		if n > 255 {
			return s, fmt.Errorf("%w: %d ref frames in poc cycle", ErrBadSPS, n)
		}
		for range n {
			r.SE()
		}
	}
	r.UE()   // max_num_ref_frames
	r.Flag() // gaps_in_frame_num_value_allowed_flag
	widthMbs := r.UE() + 1
	heightMapUnits := r.UE() + 1
	s.FrameMbsOnly = r.Flag()
	if !s.FrameMbsOnly {
		r.Flag() // mb_adaptive_frame_field_flag
	}
	r.Flag() // direct_8x8_inference_flag
	var cropL, cropR, cropT, cropB uint64
	if r.Flag() {
		cropL, cropR, cropT, cropB = r.UE(), r.UE(), r.UE(), r.UE()
	}
	if err := r.Err(); err != nil {
		return s, fmt.Errorf("%w: %w", ErrBadSPS, err)
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
	if widthMbs > MaxMbs || heightMapUnits > MaxMbs || cropX*(cropL+cropR) >= codedW || cropY*(cropT+cropB) >= codedH {
		return s, fmt.Errorf("%w: implausible picture size", ErrBadSPS)
	}
	s.PicWidthInMbs, s.PicHeightInMapUnits = int(widthMbs), int(heightMapUnits)
	s.Width = int(codedW - cropX*(cropL+cropR))
	s.Height = int(codedH - cropY*(cropT+cropB))

	if r.Flag() { // vui_parameters_present_flag
		s.FrameRate = parseVUIFrameRate(r)
	}
	return s, nil
}

func skipScalingList(r *bitstream.Reader, size int) {
	last, next := int64(8), int64(8)
	for range size {
		if next != 0 {
			next = (last + r.SE() + 256) % 256
		}
		if next != 0 {
			last = next
		}
		if r.Err() != nil {
			return
		}
	}
}

// parseVUIFrameRate reads the VUI up to timing_info and returns the frame
// rate, 0 if absent or unreadable.
func parseVUIFrameRate(r *bitstream.Reader) float64 {
	if r.Flag() { // aspect_ratio_info_present_flag
		if r.U(8) == 255 { // Extended_SAR
			r.U(16)
			r.U(16)
		}
	}
	if r.Flag() { // overscan_info_present_flag
		r.Flag()
	}
	if r.Flag() { // video_signal_type_present_flag
		r.U(3)
		r.Flag()
		if r.Flag() { // colour_description_present_flag
			r.U(24)
		}
	}
	if r.Flag() { // chroma_loc_info_present_flag
		r.UE()
		r.UE()
	}
	if !r.Flag() { // timing_info_present_flag
		return 0
	}
	units := r.U(32)
	scale := r.U(32)
	if r.Err() != nil || units == 0 || scale == 0 {
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
