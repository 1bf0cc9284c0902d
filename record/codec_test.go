package record

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestOpusHead(t *testing.T) {
	h := opusHead(2, 48000)
	want := []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0}
	if !bytes.Equal(h, want) {
		t.Fatalf("OpusHead % x\nwant     % x", h, want)
	}
	if opusCodecDelay != 6_500_000 {
		t.Fatalf("CodecDelay %d ns", opusCodecDelay)
	}
	if h := opusHead(7, 48000); h[9] != 2 {
		t.Fatalf("channels %d for a bad count", h[9])
	}
}

// The SPS and PPS of the H.264 test clip give its size and a well-formed
// avcC record.
func TestAVCC(t *testing.T) {
	var sps, pps []byte
	for _, au := range h264AUs(t) {
		info, ok := inspectH264(annexBToAVCC(au))
		if !ok {
			t.Fatal("access unit does not parse")
		}
		if info.sps != nil {
			sps, pps = info.sps, info.pps
			break
		}
	}
	rec, info, err := avcC(sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	if info.width != 160 || info.height != 120 {
		t.Fatalf("size %dx%d", info.width, info.height)
	}
	if rec[0] != 1 || rec[1] != sps[1] || rec[2] != sps[2] || rec[3] != sps[3] || rec[4] != 0xff || rec[5] != 0xe1 {
		t.Fatalf("avcC header % x", rec[:6])
	}
	n := int(binary.BigEndian.Uint16(rec[6:]))
	if !bytes.Equal(rec[8:8+n], sps) || rec[8+n] != 1 {
		t.Fatal("avcC SPS")
	}
	m := int(binary.BigEndian.Uint16(rec[9+n:]))
	if !bytes.Equal(rec[11+n:11+n+m], pps) || len(rec) != 11+n+m {
		t.Fatal("avcC PPS")
	}
}

func TestParseSPS(t *testing.T) {
	cases := []struct {
		name string
		sps  []byte
		w, h int
		high bool
	}{
		// x264, constrained baseline, 160x120 (the test clip).
		{"baseline 160x120", nil, 160, 120, false},
		// 1920x1080 high profile: 1088 lines cropped by 8.
		{"high 1080p", []byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58}, 1920, 1080, true},
	}
	for _, au := range h264AUs(t) {
		if info, _ := inspectH264(annexBToAVCC(au)); info.sps != nil {
			cases[0].sps = info.sps
			break
		}
	}
	for _, c := range cases {
		info, err := parseSPS(c.sps)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if info.width != c.w || info.height != c.h || info.highProfile != c.high {
			t.Errorf("%s: %+v", c.name, info)
		}
	}
	for _, bad := range [][]byte{nil, {0x67}, {0x68, 1, 2, 3, 4}, {0x67, 0x42, 0, 0x1e, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := parseSPS(bad); err == nil {
			t.Errorf("accepted % x", bad)
		}
	}
}

func TestVPxKeyframes(t *testing.T) {
	frames := vp8Frames(t)
	if key, w, h := vp8Keyframe(frames[0]); !key || w != 160 || h != 120 {
		t.Fatalf("VP8 first frame: key %v %dx%d", key, w, h)
	}
	if key, _, _ := vp8Keyframe(frames[1]); key {
		t.Fatal("VP8 second frame is a keyframe")
	}
	// VP9 profile 0 key frame header: frame marker 2, profile 0, show
	// frame, sync code, BT.601 colour, 640x360.
	var b bitWriter
	b.put(2, 2)
	b.put(0, 2) // profile
	b.put(0, 1) // show_existing_frame
	b.put(0, 1) // frame_type KEY_FRAME
	b.put(1, 1) // show_frame
	b.put(0, 1) // error_resilient_mode
	b.put(0x498342, 24)
	b.put(1, 3) // color_space BT_601
	b.put(0, 1) // color_range
	b.put(639, 16)
	b.put(359, 16)
	if key, w, h := vp9Keyframe(b.bytes()); !key || w != 640 || h != 360 {
		t.Fatalf("VP9: key %v %dx%d", key, w, h)
	}
	var inter bitWriter
	inter.put(2, 2)
	inter.put(0, 2)
	inter.put(0, 1)
	inter.put(1, 1) // NON_KEY_FRAME
	if key, _, _ := vp9Keyframe(inter.bytes()); key {
		t.Fatal("VP9 inter frame taken for a keyframe")
	}
}

type bitWriter struct {
	b []byte
	n int
}

func (w *bitWriter) put(v uint64, bits int) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>i&1 == 1 {
			w.b[len(w.b)-1] |= 1 << (7 - w.n%8)
		}
		w.n++
	}
}

func (w *bitWriter) bytes() []byte { return append(w.b, 0, 0, 0, 0) }

// Parsers of what arrives from the network never panic and keep their
// results in bounds.
func FuzzParseSPS(f *testing.F) {
	for _, au := range h264AUs(f) {
		if info, _ := inspectH264(annexBToAVCC(au)); info.sps != nil {
			f.Add(info.sps)
			break
		}
	}
	f.Add([]byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := parseSPS(b)
		if err == nil && (info.width <= 0 || info.height <= 0 || info.width > maxPictureSide || info.height > maxPictureSide) {
			t.Fatalf("size %dx%d", info.width, info.height)
		}
	})
}

func FuzzVideoFrame(f *testing.F) {
	f.Add([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0xa0, 0x00, 0x78, 0x00}, uint8(0))
	f.Add([]byte{0x82, 0x49, 0x83, 0x42, 0x00, 0x27, 0xf0, 0x16, 0x70}, uint8(1))
	f.Add([]byte{0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1}, uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		switch which % 3 {
		case 0:
			if _, w, h := vp8Keyframe(b); w < 0 || h < 0 || w > 0x3fff || h > 0x3fff {
				t.Fatal(w, h)
			}
		case 1:
			if _, w, h := vp9Keyframe(b); w < 0 || h < 0 || w > 1<<16 || h > 1<<16 {
				t.Fatal(w, h)
			}
		default:
			info, ok := inspectH264(b)
			if ok && info.sps != nil && info.pps != nil {
				_, _, _ = avcC(info.sps, info.pps)
			}
		}
	})
}
