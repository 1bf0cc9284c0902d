package h264

import (
	"encoding/binary"
	"iter"
)

// AVCC is the form of H.264 in MP4, Matroska and FLV: each NAL unit behind
// its length, here always in 4 bytes big endian (lengthSizeMinusOne 3 in
// the avcC record DecoderConfig builds).

// AVCCUnits yields the NAL units of an AVCC access unit, sharing its
// memory. A length that is zero or runs past the end stops the sequence
// with ErrBadAVCC (and a nil NAL unit) as its last element.
func AVCCUnits(au []byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for len(au) > 0 {
			if len(au) < 4 {
				yield(nil, ErrBadAVCC)
				return
			}
			n := binary.BigEndian.Uint32(au)
			if n == 0 || uint64(n) > uint64(len(au)-4) {
				yield(nil, ErrBadAVCC)
				return
			}
			if !yield(au[4:4+n], nil) {
				return
			}
			au = au[4+n:]
		}
	}
}

// AppendAVCC appends the NAL units to dst, each behind its length in 4
// bytes big endian.
func AppendAVCC(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(n)))
		dst = append(dst, n...)
	}
	return dst
}
