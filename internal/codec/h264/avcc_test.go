package h264

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestAVCCUnits(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		want []string
		err  bool
	}{
		{"two units", "00000002" + "6742" + "00000003" + "65aabb", []string{"6742", "65aabb"}, false},
		{"empty", "", nil, false},
		{"short length", "000000", nil, true},
		{"zero length", "00000000" + "65", nil, true},
		{"length past the end", "00000002" + "6742" + "00000009" + "65", []string{"6742"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			var err error
			for nal, e := range AVCCUnits(unhex(t, c.in)) {
				if e != nil {
					err = e
					break
				}
				got = append(got, hex.EncodeToString(nal))
			}
			if (err != nil) != c.err || (err != nil && !errors.Is(err, ErrBadAVCC)) {
				t.Errorf("err %v, want error %v", err, c.err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("NAL %d: %s, want %s", i, got[i], c.want[i])
				}
			}
		})
	}
}

// What arrives from the network: AVCCUnits never reads out of bounds, and
// the units of a well-formed access unit write it back as it was.
func FuzzAVCCUnits(f *testing.F) {
	f.Add(unhex(f, "00000002"+"6742"+"00000003"+"65aabb"))
	f.Add(unhex(f, "00000002"+"6588"+"00000001"))
	f.Fuzz(func(t *testing.T, au []byte) {
		var nalus [][]byte
		for nal, err := range AVCCUnits(au) {
			if err != nil {
				return
			}
			nalus = append(nalus, nal)
		}
		if back := AppendAVCC(nil, nalus); !bytes.Equal(back, au) {
			t.Fatalf("% x written back as % x", au, back)
		}
	})
}
