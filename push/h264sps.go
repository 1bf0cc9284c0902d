package push

import "errors"

var errShortSPS = errors.New("sps: truncated")

// bitReader reads an RBSP bit by bit; reading past the end sets err.
type bitReader struct {
	b   []byte
	pos int
	err error
}

func (r *bitReader) u(n int) uint64 {
	var v uint64
	for range n {
		if r.pos >= len(r.b)*8 {
			r.err = errShortSPS
			return 0
		}
		v = v<<1 | uint64(r.b[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v
}

func (r *bitReader) ue() uint64 {
	zeros := 0
	for r.u(1) == 0 && r.err == nil {
		zeros++
		if zeros > 31 {
			r.err = errors.New("sps: bad exp-Golomb code")
			return 0
		}
	}
	return 1<<zeros - 1 + r.u(zeros)
}

func (r *bitReader) se() int64 {
	v := r.ue()
	if v&1 == 1 {
		return int64(v+1) / 2
	}
	return -int64(v / 2)
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

// spsSize returns the picture size that an SPS NAL unit (header byte
// included) declares, after frame cropping (ITU-T H.264 7.3.2.1.1).
// onMetaData carries it; decoders read the SPS itself.
func spsSize(sps []byte) (width, height int, err error) {
	if len(sps) < 4 || sps[0]&0x1f != nalSPS {
		return 0, 0, errors.New("sps: not an SPS")
	}
	r := &bitReader{b: unescapeRBSP(sps[1:])}
	profile := r.u(8)
	r.u(16) // constraint flags, level
	r.ue()  // seq_parameter_set_id
	chroma := uint64(1)
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma = r.ue()
		if chroma == 3 {
			r.u(1) // separate_colour_plane_flag
		}
		r.ue()           // bit_depth_luma_minus8
		r.ue()           // bit_depth_chroma_minus8
		r.u(1)           // qpprime_y_zero_transform_bypass_flag
		if r.u(1) == 1 { // seq_scaling_matrix_present_flag
			n := 8
			if chroma == 3 {
				n = 12
			}
			for i := range n {
				if r.u(1) == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					last, next := int64(8), int64(8)
					for range size {
						if next != 0 {
							next = (last + r.se() + 256) % 256
						}
						if next != 0 {
							last = next
						}
					}
				}
			}
		}
	}
	r.ue()          // log2_max_frame_num_minus4
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.u(1) // delta_pic_order_always_zero_flag
		r.se() // offset_for_non_ref_pic
		r.se() // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 {
			return 0, 0, errors.New("sps: bad num_ref_frames_in_pic_order_cnt_cycle")
		}
		for range n {
			r.se()
		}
	}
	r.ue() // max_num_ref_frames
	r.u(1) // gaps_in_frame_num_value_allowed_flag
	wMbs := r.ue() + 1
	hMap := r.ue() + 1
	frameMbsOnly := r.u(1)
	if frameMbsOnly == 0 {
		r.u(1) // mb_adaptive_frame_field_flag
	}
	r.u(1) // direct_8x8_inference_flag
	var cl, cr, ct, cb uint64
	if r.u(1) == 1 {
		cl, cr, ct, cb = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.err != nil {
		return 0, 0, r.err
	}
	cropX, cropY := uint64(1), 2-frameMbsOnly
	switch chroma {
	case 1:
		cropX, cropY = 2, 2*(2-frameMbsOnly)
	case 2:
		cropX = 2
	}
	w := wMbs*16 - cropX*(cl+cr)
	h := (2-frameMbsOnly)*hMap*16 - cropY*(ct+cb)
	if wMbs > 1024 || hMap > 1024 || w == 0 || h == 0 || w > 16384 || h > 16384 {
		return 0, 0, errors.New("sps: implausible size")
	}
	return int(w), int(h), nil
}
