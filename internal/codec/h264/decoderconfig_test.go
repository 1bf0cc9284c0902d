package h264

import (
	"encoding/hex"
	"errors"
	"testing"
)

func TestDecoderConfig(t *testing.T) {
	openh264 := "6742c01e0b8c8d40501e900f08846a" // 15 bytes
	high := spsCases[2].sps                      // 1080p high profile, 27 bytes
	pps := "680b85ce3c80"
	highSPS, err := ParseSPS(unhex(t, high))
	if err != nil {
		t.Fatal(err)
	}
	baseSPS, err := ParseSPS(unhex(t, openh264))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		sps, pps string
		ext      *SPS
		want     string
	}{
		{"baseline", openh264, pps, nil, "01" + "42c01e" + "ff" + "e1" + "000f" + openh264 + "01" + "0006" + pps},
		{"baseline, no extension to add", openh264, pps, &baseSPS, "01" + "42c01e" + "ff" + "e1" + "000f" + openh264 + "01" + "0006" + pps},
		{"high, extension left out", high, pps, nil, "01" + "640028" + "ff" + "e1" + "001b" + high + "01" + "0006" + pps},
		// 4:2:0 (fd), 8-bit luma and chroma (f8 f8), no SPS extensions.
		{"high with extension", high, pps, &highSPS, "01" + "640028" + "ff" + "e1" + "001b" + high + "01" + "0006" + pps + "fdf8f800"},
	} {
		got, err := DecoderConfig(unhex(t, c.sps), unhex(t, c.pps), c.ext)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if hex.EncodeToString(got) != c.want {
			t.Errorf("%s: avcC %x\nwant %s", c.name, got, c.want)
		}
	}
	tooLong := append([]byte{0x67, 0x42, 0xc0, 0x1e}, make([]byte, 0x10000)...)
	for _, c := range []struct {
		name     string
		sps, pps []byte
		ext      *SPS
		err      error
	}{
		{"PPS for SPS", unhex(t, "68ce"), unhex(t, "68ce"), nil, ErrNotSPS},
		{"short SPS", unhex(t, "6742"), unhex(t, "68ce"), nil, ErrNotSPS},
		{"IDR for PPS", unhex(t, "6742c01e"), unhex(t, "65"), nil, ErrNotPPS},
		{"no PPS", unhex(t, "6742c01e"), nil, nil, ErrNotPPS},
		{"SPS too long", tooLong, unhex(t, "68ce"), nil, ErrTooLong},
		{"chroma format out of range", unhex(t, high), unhex(t, pps), &SPS{ChromaFormatPresent: true, ChromaFormatIDC: 4, BitDepthLuma: 8, BitDepthChroma: 8}, ErrBadSPS},
	} {
		if _, err := DecoderConfig(c.sps, c.pps, c.ext); !errors.Is(err, c.err) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
		}
	}
}
