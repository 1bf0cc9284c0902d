package bitstream

import (
	"errors"
	"testing"
)

func TestReader(t *testing.T) {
	type read struct {
		kind string // "u3", "ue", "se", "flag"
		want int64
	}
	cases := []struct {
		name  string
		in    []byte
		reads []read
		err   error
	}{
		{"fixed fields", []byte{0b1010_0110, 0xff}, []read{{"u3", 0b101}, {"u5", 0b00110}, {"flag", 1}, {"u7", 0x7f}}, nil},
		// ue(v): 1 → 0, 010 → 1, 011 → 2, 00100 → 3.
		{"ue", []byte{0b1_010_011_0, 0b0100_0000}, []read{{"ue", 0}, {"ue", 1}, {"ue", 2}, {"ue", 3}}, nil},
		// se(v): 1 → 0, 010 → 1, 011 → -1, 00100 → 2, 00101 → -2.
		{"se", []byte{0b1_010_011_0, 0b0100_0010, 0b1000_0000}, []read{{"se", 0}, {"se", 1}, {"se", -1}, {"se", 2}, {"se", -2}}, nil},
		{"past the end", []byte{0xff}, []read{{"u5", 31}, {"u5", 0}, {"u1", 0}}, ErrShort},
		{"ue past the end", []byte{0x00}, []read{{"ue", 0}}, ErrShort},
		{"ue too long", []byte{0, 0, 0, 0, 0x80}, []read{{"ue", 0}}, ErrExpGolomb},
		{"empty", nil, []read{{"flag", 0}}, ErrShort},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReader(c.in)
			for i, rd := range c.reads {
				var got int64
				switch rd.kind {
				case "ue":
					got = int64(r.UE())
				case "se":
					got = r.SE()
				case "flag":
					if r.Flag() {
						got = 1
					}
				default:
					n := int(rd.kind[1] - '0')
					got = int64(r.U(n))
				}
				if got != rd.want {
					t.Errorf("read %d (%s): %d, want %d", i, rd.kind, got, rd.want)
				}
			}
			if !errors.Is(r.Err(), c.err) {
				t.Errorf("err %v, want %v", r.Err(), c.err)
			}
		})
	}
}
