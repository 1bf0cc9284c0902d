package media

import (
	"encoding/hex"
	"testing"

	"github.com/pion/webrtc/v4"
)

// A file's profile is registered under the payload type pion's default
// table gives it.
func TestH264Codec(t *testing.T) {
	for _, tc := range []struct {
		plid string
		pt   webrtc.PayloadType
	}{
		{"42e01f", 106},
		{"42001e", 102},
		{"4d001f", 127},
		{"640028", 112},
		{"640c1f", 102},
	} {
		c := h264Codec(tc.plid)
		if c.PayloadType != tc.pt || c.SDPFmtpLine != "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id="+tc.plid {
			t.Errorf("%s: payload type %d, fmtp %q; want %d", tc.plid, c.PayloadType, c.SDPFmtpLine, tc.pt)
		}
	}
}

// The file source's limits: what real encoders write passes; anything
// accepted is 4:2:0 to 4:4:4 and at most 1024 macroblocks a side.
func TestFileSourceSPS(t *testing.T) {
	for _, sps := range fileSPSSeeds {
		b, _ := hex.DecodeString(sps)
		if _, err := fileSourceSPS(b); err != nil {
			t.Errorf("%s: %v", sps, err)
		}
	}
}

// fileSPSSeeds are SPSs of x264 (testdata/h264.h264) and a 1080p High
// profile encoder.
var fileSPSSeeds = []string{
	"6742c00cd902847e5c0440000003004000000f03c50a92",
	"67640028acd940780227e5c044000003000400000300f03c60c658",
}

func FuzzFileSourceSPS(f *testing.F) {
	for _, sps := range fileSPSSeeds {
		b, _ := hex.DecodeString(sps)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, nal []byte) {
		if s, err := fileSourceSPS(nal); err == nil && (s.ChromaFormatIDC > 3 || s.PicWidthInMbs > 1024 || s.PicHeightInMapUnits > 1024) {
			t.Fatalf("accepted %+v", s)
		}
	})
}
