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

// clipParameterSets are the SPS and PPS of the H.264 test clip.
func clipParameterSets(t testing.TB) (sps, pps []byte) {
	t.Helper()
	for _, au := range h264AUs(t) {
		info, ok := inspectH264(annexBToAVCC(au))
		if !ok {
			t.Fatal("access unit does not parse")
		}
		if info.SPS != nil {
			return info.SPS, info.PPS
		}
	}
	t.Fatal("no SPS in the test clip")
	return nil, nil
}

// The avcC record of a track: the test clip's gives its size and no High
// profile extension; a High profile SPS gets the extension; what a track
// header cannot describe is refused.
func TestAVCC(t *testing.T) {
	sps, pps := clipParameterSets(t)
	high := []byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58}
	for _, c := range []struct {
		name string
		sps  []byte
		w, h int
		ext  []byte
	}{
		{"baseline 160x120 (the test clip)", sps, 160, 120, nil},
		{"high 1080p", high, 1920, 1080, []byte{0xfd, 0xf8, 0xf8, 0}},
	} {
		rec, info, err := avcC(c.sps, pps)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if info.Width != c.w || info.Height != c.h {
			t.Errorf("%s: size %dx%d", c.name, info.Width, info.Height)
		}
		if rec[0] != 1 || rec[1] != c.sps[1] || rec[2] != c.sps[2] || rec[3] != c.sps[3] || rec[4] != 0xff || rec[5] != 0xe1 {
			t.Errorf("%s: avcC header % x", c.name, rec[:6])
		}
		n := int(binary.BigEndian.Uint16(rec[6:]))
		if !bytes.Equal(rec[8:8+n], c.sps) || rec[8+n] != 1 {
			t.Errorf("%s: avcC SPS", c.name)
		}
		m := int(binary.BigEndian.Uint16(rec[9+n:]))
		if !bytes.Equal(rec[11+n:11+n+m], pps) || !bytes.Equal(rec[11+n+m:], c.ext) {
			t.Errorf("%s: avcC PPS and extension % x", c.name, rec[11+n:])
		}
	}
	for _, bad := range [][2][]byte{
		{nil, pps},
		{{0x67}, pps},
		{{0x68, 1, 2, 3, 4}, pps},
		{{0x67, 0x42, 0, 0x1e, 0, 0, 0, 0, 0, 0, 0}, pps},
		{sps, nil},
	} {
		if _, _, err := avcC(bad[0], bad[1]); err == nil {
			t.Errorf("accepted SPS % x, PPS % x", bad[0], bad[1])
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
func FuzzAVCC(f *testing.F) {
	sps, _ := clipParameterSets(f)
	f.Add(sps)
	f.Add([]byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, info, err := avcC(b, []byte{0x68, 0xce, 0x3c, 0x80})
		if err == nil && (info.Width <= 0 || info.Height <= 0 || info.Width > maxPictureSide || info.Height > maxPictureSide) {
			t.Fatalf("size %dx%d", info.Width, info.Height)
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
			if ok && info.SPS != nil && info.PPS != nil {
				_, _, _ = avcC(info.SPS, info.PPS)
			}
		}
	})
}
