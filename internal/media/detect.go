package media

import "bytes"

type format int

const (
	formatUnknown format = iota
	formatIVF
	formatOgg
	formatH264
)

// detect tells a file's container from its first bytes. Extensions lie
// (".ogg" is often Vorbis, ".264" may be MP4-wrapped), so only content
// counts; codec checks (VP8 fourcc, OpusHead) come with the headers.
func detect(head []byte) format {
	switch {
	case bytes.HasPrefix(head, []byte("DKIF")):
		return formatIVF
	case bytes.HasPrefix(head, []byte("OggS")):
		return formatOgg
	case isAnnexB(head):
		return formatH264
	}
	return formatUnknown
}

// isAnnexB reports whether head starts with an Annex-B start code (two or
// more zero bytes, then 1) followed by a plausible NAL header: forbidden
// bit clear and a type H.264 defines.
func isAnnexB(head []byte) bool {
	zeros := 0
	for zeros < len(head) && head[zeros] == 0 {
		zeros++
	}
	if zeros < 2 || zeros+1 >= len(head) || head[zeros] != 1 {
		return false
	}
	nal := head[zeros+1]
	typ := nal & 0x1f
	return nal&0x80 == 0 && typ >= 1 && typ <= 23
}
