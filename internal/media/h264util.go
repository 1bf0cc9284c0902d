package media

import "bytes"

// H.264 NAL unit types (ITU-T H.264 table 7-1).
const (
	NALSlice = 1
	NALIDR   = 5
	NALSEI   = 6
	NALSPS   = 7
	NALPPS   = 8
	NALAUD   = 9
)

// SplitAnnexB returns the NAL units of an Annex-B byte stream, without
// their start codes (3 or 4 bytes) and without trailing zero bytes. Bytes
// before the first start code are dropped, and so are empty NAL units.
// The NAL units share b's memory.
func SplitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nalus = appendNALU(nalus, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		nalus = appendNALU(nalus, b[start:])
	}
	return nalus
}

func appendNALU(nalus [][]byte, n []byte) [][]byte {
	n = bytes.TrimRight(n, "\x00") // the first zero of a 4-byte start code, or trailing_zero_8bits
	if len(n) == 0 {
		return nalus
	}
	return append(nalus, n)
}
