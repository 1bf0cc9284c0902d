package media

import (
	"encoding/hex"
	"testing"

	"github.com/pion/webrtc/v4"
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
	// x264 (testdata/h264.h264, push/testdata/gop10.h264): constrained
	// baseline, level 1.2, 160x120 (10x8 macroblocks, 8 px cropped), 30 fps
	// in the VUI.
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
		s, err := ParseSPS(unhex(t, c.sps))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if s.Width != c.width || s.Height != c.height || s.FrameRate != c.fps || s.ChromaFormatPresent != c.chromaPresent {
			t.Errorf("%s: got %dx%d@%v chroma present %v, want %dx%d@%v %v",
				c.name, s.Width, s.Height, s.FrameRate, s.ChromaFormatPresent, c.width, c.height, c.fps, c.chromaPresent)
		}
		if got := s.ProfileLevelID(); got != c.plid {
			t.Errorf("%s: profile-level-id %s, want %s", c.name, got, c.plid)
		}
		if _, err := parseSPS(unhex(t, c.sps)); err != nil {
			t.Errorf("%s: file source limits: %v", c.name, err)
		}
	}
	x264 := unhex(t, spsCases[0].sps)
	for _, bad := range [][]byte{
		nil, {0x67}, {0x68, 1, 2, 3, 4}, // no SPS
		{0x67, 0x42, 0xc0}, // truncated header
		x264[:6],           // truncated
		{0x67, 0x42, 0, 0x1e, 0, 0, 0, 0, 0, 0, 0}, // exp-Golomb code too long
	} {
		if _, err := ParseSPS(bad); err == nil {
			t.Errorf("accepted % x", bad)
		}
	}
}

func TestProfileLevelID(t *testing.T) {
	for _, tc := range []struct {
		s    SPS
		want string
		pt   webrtc.PayloadType
	}{
		{SPS{ProfileIDC: 66, Constraints: 0xc0, LevelIDC: 31}, "42e01f", 106},
		{SPS{ProfileIDC: 66, Constraints: 0x80, LevelIDC: 30}, "42001e", 102},
		{SPS{ProfileIDC: 77, Constraints: 0x00, LevelIDC: 31}, "4d001f", 127},
		{SPS{ProfileIDC: 100, Constraints: 0x00, LevelIDC: 40}, "640028", 112},
		{SPS{ProfileIDC: 100, Constraints: 0x0c, LevelIDC: 31}, "640c1f", 102},
	} {
		got := tc.s.ProfileLevelID()
		if got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.s, got, tc.want)
		}
		if pt := h264Codec(got).PayloadType; pt != tc.pt {
			t.Errorf("%s: payload type %d, want %d", got, pt, tc.pt)
		}
	}
}

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
		if s.Width <= 0 || s.Height <= 0 || s.Width > codedW || s.Height > codedH || s.PicWidthInMbs > maxSPSMbs || s.PicHeightInMapUnits > maxSPSMbs {
			t.Fatalf("parsed %dx%d of %dx%d", s.Width, s.Height, codedW, codedH)
		}
		if s.FrameRate != 0 && (s.FrameRate < 1 || s.FrameRate > 240) {
			t.Fatalf("frame rate %v", s.FrameRate)
		}
		if _, err := parseSPS(nal); err == nil && (s.ChromaFormatIDC > 3 || s.PicWidthInMbs > 1024 || s.PicHeightInMapUnits > 1024) {
			t.Fatalf("file source accepted %+v", s)
		}
	})
}
