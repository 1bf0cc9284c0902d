package h264

import "github.com/roomctl/roomctl/internal/codec/bitstream"

// NALType is a nal_unit_type (ITU-T H.264 table 7-1).
type NALType uint8

// The NAL unit types roomctl looks at.
const (
	NALSlice  NALType = 1 // coded slice of a non-IDR picture
	NALIDR    NALType = 5 // coded slice of an IDR picture: a keyframe
	NALSEI    NALType = 6
	NALSPS    NALType = 7
	NALPPS    NALType = 8
	NALAUD    NALType = 9 // access unit delimiter
	NALFiller NALType = 12
)

// TypeOf is the type of a NAL unit (its header byte included); 0, which no
// NAL unit has, for an empty one.
func TypeOf(nal []byte) NALType {
	if len(nal) == 0 {
		return 0
	}
	return NALType(nal[0] & 0x1f)
}

// IsVCL reports whether the type carries picture data (a slice or a slice
// data partition).
func (t NALType) IsVCL() bool { return t >= NALSlice && t <= NALIDR }

// StartsAccessUnit reports whether nal, met after a NAL unit of picture
// data, begins the next access unit (H.264 7.4.1.2.3): a delimiter, SPS,
// PPS, SEI or type 14 to 18, or a slice whose first_mb_in_slice is 0. This
// is exact for streams without slice groups or redundant pictures, which
// covers what encoders write for WebRTC.
func StartsAccessUnit(nal []byte) bool {
	switch t := TypeOf(nal); {
	case t.IsVCL():
		// ue(v) 0 is the single bit 1, and no emulation prevention can
		// occur this early.
		return len(nal) > 1 && nal[1]&0x80 != 0
	case t == NALAUD, t == NALSPS, t == NALPPS, t == NALSEI:
		return true
	default:
		return t >= 14 && t <= 18
	}
}

// IsBSlice reports whether a slice NAL unit is a B slice (slice_type 1 or
// 6), reading the start of its header.
func IsBSlice(nal []byte) bool {
	if len(nal) < 2 {
		return false
	}
	r := bitstream.NewReader(unescapeRBSP(nal[1:min(len(nal), 16)]))
	r.UE() // first_mb_in_slice
	t := r.UE()
	return r.Err() == nil && t%5 == 1
}

// unescapeRBSP removes emulation prevention bytes (00 00 03 → 00 00).
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
