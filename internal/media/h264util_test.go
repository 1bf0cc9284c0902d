package media

import (
	"bytes"
	"encoding/hex"
	"testing"
)

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

func FuzzSplitAnnexB(f *testing.F) {
	for _, c := range splitAnnexBCases {
		f.Add(unhex(f, c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		for _, nal := range SplitAnnexB(b) {
			if len(nal) == 0 || nal[len(nal)-1] == 0 || bytes.Contains(nal, []byte{0, 0, 1}) {
				t.Fatalf("NAL unit %x", nal)
			}
			n += len(nal) + 3
		}
		if n > len(b) {
			t.Fatalf("%d bytes of NAL units and start codes from %d", n, len(b))
		}
	})
}
