package h264

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// splitAnnexBCases feed TestSplitAnnexB and FuzzSplitAnnexB.
var splitAnnexBCases = []struct {
	name string
	in   string
	want []string
}{
	{"3-byte start codes", "000001674201" + "00000168ce", []string{"674201", "68ce"}},
	{"4-byte start codes", "00000001674201" + "0000000168ce3c80", []string{"674201", "68ce3c80"}},
	{"mixed, trailing zeros", "0000000165aa00" + "000001" + "41bb0000", []string{"65aa", "41bb"}},
	{"leading garbage", "ff00000109f0", []string{"09f0"}},
	{"no start code", "6742", nil},
	{"empty NAL", "000001000001" + "65", []string{"65"}},
	{"start code at the end", "0000016742" + "000001", []string{"6742"}},
	{"empty", "", nil},
}

func TestSplitAnnexB(t *testing.T) {
	for _, c := range splitAnnexBCases {
		t.Run(c.name, func(t *testing.T) {
			got := SplitAnnexB(unhex(t, c.in))
			if len(got) != len(c.want) {
				t.Fatalf("got %x, want %v", got, c.want)
			}
			for i := range got {
				if hex.EncodeToString(got[i]) != c.want[i] {
					t.Errorf("NAL %d: %x, want %s", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestNALUnitsStops(t *testing.T) {
	n := 0
	for range NALUnits(unhex(t, "00000167"+"00000168"+"00000165")) {
		n++
		break
	}
	if n != 1 {
		t.Fatalf("%d NAL units after break", n)
	}
}

func TestHasIDR(t *testing.T) {
	for _, c := range []struct {
		name string
		au   string
		want bool
	}{
		{"SPS, PPS, IDR", "00000001670102" + "0000000168" + "01000001" + "6588", true},
		{"P slice", "00000001419a", false},
		{"IDR behind 3-byte start code", "0000016588", true},
		{"IDR type with other header bits", "0000012588", true}, // nal_ref_idc 1
		{"start code only", "000001", false},
		{"no start code", "6588", false},
		{"empty", "", false},
	} {
		if got := HasIDR(unhex(t, c.au)); got != c.want {
			t.Errorf("%s: HasIDR(%s) = %v", c.name, c.au, got)
		}
	}
}

// Splitting what AppendAnnexB wrote gives the NAL units back.
func TestAnnexBRoundTrip(t *testing.T) {
	nalus := [][]byte{{0x67, 0x42, 0xc0}, {0x68, 0xce}, {0x65, 0x88, 0x80}}
	b := AppendAnnexB([]byte{0xff}, nalus)
	if !bytes.HasPrefix(b, []byte{0xff, 0, 0, 0, 1, 0x67}) || len(b) != 1+3*4+8 {
		t.Fatalf("wrote % x", b)
	}
	got := SplitAnnexB(b[1:])
	if len(got) != len(nalus) {
		t.Fatalf("%d NAL units back", len(got))
	}
	for i := range got {
		if !bytes.Equal(got[i], nalus[i]) {
			t.Errorf("NAL %d: % x, want % x", i, got[i], nalus[i])
		}
	}
}

func FuzzSplitAnnexB(f *testing.F) {
	for _, c := range splitAnnexBCases {
		f.Add(unhex(f, c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		idr := false
		for _, nal := range SplitAnnexB(b) {
			if len(nal) == 0 || nal[len(nal)-1] == 0 || bytes.Contains(nal, []byte{0, 0, 1}) {
				t.Fatalf("NAL unit %x", nal)
			}
			n += len(nal) + 3
			idr = idr || TypeOf(nal) == NALIDR
		}
		if n > len(b) {
			t.Fatalf("%d bytes of NAL units and start codes from %d", n, len(b))
		}
		if HasIDR(b) != idr {
			t.Fatalf("HasIDR %v, split finds IDR %v", !idr, idr)
		}
	})
}
