package h264

import (
	"encoding/hex"
	"testing"
)

// spsCases are SPS NAL units from real encoders and what they declare.
// TestParseSPS and FuzzParseSPS share them.
var spsCases = []struct {
	name          string
	sps           string
	width, height int
	fps           float64
	chromaPresent bool
	plid          string
}{
	// x264 (internal/media/testdata/h264.h264, push/testdata/gop10.h264):
	// constrained baseline, level 1.2, 160x120 (10x8 macroblocks, 8 px
	// cropped), 30 fps in the VUI.
	{"x264 baseline cropped", "6742c00cd902847e5c0440000003004000000f03c50a92", 160, 120, 30, false, "42e00c"},
	// openh264 via mediadevices, 640x480 constrained baseline, no VUI timing.
	{"openh264", "6742c01e0b8c8d40501e900f08846a", 640, 480, 0, false, "42e01e"},
	// 1920x1080 high profile: 1088 lines cropped by 8.
	{"high 1080p", "67640028acd940780227e5c044000003000400000300f03c60c658", 1920, 1080, 30, true, "640028"},
	// 1280x720 high profile, 30 fps.
	{"high 720p", "6764001facd9405005bb0110000003001000000303c0f1831960", 1280, 720, 30, true, "64001f"},
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSPS(t *testing.T) {
	for _, c := range spsCases {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseSPS(unhex(t, c.sps))
			if err != nil {
				t.Fatal(err)
			}
			if s.Width != c.width || s.Height != c.height || s.FrameRate != c.fps || s.ChromaFormatPresent != c.chromaPresent {
				t.Errorf("got %dx%d@%v chroma present %v, want %dx%d@%v %v",
					s.Width, s.Height, s.FrameRate, s.ChromaFormatPresent, c.width, c.height, c.fps, c.chromaPresent)
			}
			if s.ChromaFormatIDC != 1 || s.BitDepthLuma != 8 || s.BitDepthChroma != 8 {
				t.Errorf("chroma format %d, bit depths %d/%d, want 4:2:0 8 bits", s.ChromaFormatIDC, s.BitDepthLuma, s.BitDepthChroma)
			}
			if got := s.ProfileLevelID(); got != c.plid {
				t.Errorf("profile-level-id %s, want %s", got, c.plid)
			}
		})
	}
}

func TestParseSPSRejects(t *testing.T) {
	x264 := unhex(t, spsCases[0].sps)
	for _, c := range []struct {
		name string
		nal  []byte
	}{
		{"empty", nil},
		{"header only", []byte{0x67}},
		{"a PPS", []byte{0x68, 1, 2, 3, 4}},
		{"truncated header", []byte{0x67, 0x42, 0xc0}},
		{"truncated", x264[:6]},
		{"exp-Golomb code too long", []byte{0x67, 0x42, 0, 0x1e, 0, 0, 0, 0, 0, 0, 0}},
	} {
		if _, err := ParseSPS(c.nal); err == nil {
			t.Errorf("%s: accepted % x", c.name, c.nal)
		}
	}
}

func TestProfileLevelID(t *testing.T) {
	for _, tc := range []struct {
		s    SPS
		want string
	}{
		{SPS{ProfileIDC: 66, Constraints: 0xc0, LevelIDC: 31}, "42e01f"}, // x264's constrained baseline
		{SPS{ProfileIDC: 66, Constraints: 0xe3, LevelIDC: 31}, "42e01f"}, // reserved bits dropped
		{SPS{ProfileIDC: 66, Constraints: 0x80, LevelIDC: 30}, "42001e"}, // baseline
		{SPS{ProfileIDC: 77, Constraints: 0x00, LevelIDC: 31}, "4d001f"},
		{SPS{ProfileIDC: 100, Constraints: 0x00, LevelIDC: 40}, "640028"},
		{SPS{ProfileIDC: 100, Constraints: 0x0c, LevelIDC: 31}, "640c1f"},
	} {
		if got := tc.s.ProfileLevelID(); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.s, got, tc.want)
		}
	}
}

// The SPS comes from files and from the network: whatever it says, the
// parser ends, and what it accepts is a picture.
func FuzzParseSPS(f *testing.F) {
	for _, c := range spsCases {
		f.Add(unhex(f, c.sps))
	}
	f.Fuzz(func(t *testing.T, nal []byte) {
		s, err := ParseSPS(nal)
		if err != nil {
			return
		}
		codedW := s.PicWidthInMbs * 16
		codedH := s.PicHeightInMapUnits * 16
		if !s.FrameMbsOnly {
			codedH *= 2
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width > codedW || s.Height > codedH || s.PicWidthInMbs > MaxMbs || s.PicHeightInMapUnits > MaxMbs {
			t.Fatalf("parsed %dx%d of %dx%d", s.Width, s.Height, codedW, codedH)
		}
		if s.FrameRate != 0 && (s.FrameRate < 1 || s.FrameRate > 240) {
			t.Fatalf("frame rate %v", s.FrameRate)
		}
	})
}
