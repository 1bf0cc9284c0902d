package h264

import (
	"bytes"
	"iter"
	"slices"
)

// startCode is what AppendAnnexB puts before each NAL unit: the 4-byte
// form, which every reader accepts.
var startCode = []byte{0, 0, 0, 1}

// NALUnits yields the NAL units of an Annex-B byte stream without their
// start codes (3 or 4 bytes) and trailing zero bytes. Bytes before the
// first start code are skipped, and so are empty NAL units. The NAL units
// share b's memory; nothing is allocated.
func NALUnits(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		start := -1
		for i := 0; i+2 < len(b); {
			if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
				if start >= 0 && !yieldNALU(yield, b[start:i]) {
					return
				}
				i += 3
				start = i
				continue
			}
			i++
		}
		if start >= 0 {
			yieldNALU(yield, b[start:])
		}
	}
}

// yieldNALU yields n unless it is empty once the first zero of a 4-byte
// start code, or trailing_zero_8bits, are trimmed. It returns false when
// the consumer stopped.
func yieldNALU(yield func([]byte) bool, n []byte) bool {
	n = bytes.TrimRight(n, "\x00")
	return len(n) == 0 || yield(n)
}

// SplitAnnexB returns the NAL units of an Annex-B byte stream as NALUnits
// yields them; nil if there are none.
func SplitAnnexB(b []byte) [][]byte { return slices.Collect(NALUnits(b)) }

// AppendAnnexB appends the NAL units to dst, each behind a 4-byte start
// code. pion's H.264 payloader splits a sample on start codes.
func AppendAnnexB(dst []byte, nalus [][]byte) []byte {
	n := 0
	for _, nal := range nalus {
		n += len(startCode) + len(nal)
	}
	dst = slices.Grow(dst, n)
	for _, nal := range nalus {
		dst = append(dst, startCode...)
		dst = append(dst, nal...)
	}
	return dst
}

// HasIDR reports whether an Annex-B access unit holds a slice of an IDR
// picture: whether a receiver can start decoding at it.
func HasIDR(annexB []byte) bool {
	for nal := range NALUnits(annexB) {
		if TypeOf(nal) == NALIDR {
			return true
		}
	}
	return false
}
