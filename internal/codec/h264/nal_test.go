package h264

import (
	"bytes"
	"testing"
)

func TestTypeOf(t *testing.T) {
	for _, c := range []struct {
		nal  []byte
		want NALType
		vcl  bool
	}{
		{[]byte{0x65, 0x88}, NALIDR, true},
		{[]byte{0x41}, NALSlice, true},
		{[]byte{0x67}, NALSPS, false},
		{[]byte{0x09, 0xf0}, NALAUD, false},
		{nil, 0, false},
	} {
		if got := TypeOf(c.nal); got != c.want || got.IsVCL() != c.vcl {
			t.Errorf("% x: type %d (VCL %v), want %d (%v)", c.nal, got, got.IsVCL(), c.want, c.vcl)
		}
	}
}

func TestStartsAccessUnit(t *testing.T) {
	for _, c := range []struct {
		name string
		nal  []byte
		want bool
	}{
		{"first slice of a picture", []byte{0x41, 0x9a}, true},
		{"first IDR slice", []byte{0x65, 0x88}, true},
		{"second slice (first_mb 1)", []byte{0x41, 0x40}, false},
		{"slice without a header", []byte{0x41}, false},
		{"delimiter", []byte{0x09, 0xf0}, true},
		{"SPS", []byte{0x67, 0x42}, true},
		{"PPS", []byte{0x68, 0xce}, true},
		{"SEI", []byte{0x06, 0x05}, true},
		{"type 14", []byte{0x0e}, true},
		{"filler", []byte{0x0c, 0xff}, false},
		{"end of sequence", []byte{0x0a}, false},
	} {
		if got := StartsAccessUnit(c.nal); got != c.want {
			t.Errorf("%s: %v", c.name, got)
		}
	}
}

func TestIsBSlice(t *testing.T) {
	// first_mb_in_slice 0 ("1"), then slice_type as ue(v).
	for _, tc := range []struct {
		nal  []byte
		want bool
	}{
		{[]byte{0x01, 0b1_010_0000}, true},  // slice_type 1 (B)
		{[]byte{0x01, 0b1_00111_00}, true},  // slice_type 6 (B, all slices)
		{[]byte{0x01, 0b1_1_000000}, false}, // slice_type 0 (P)
		{[]byte{0x05, 0b1_011_0000}, false}, // slice_type 2 (I)
		{[]byte{0x01}, false},
		{nil, false},
	} {
		if got := IsBSlice(tc.nal); got != tc.want {
			t.Errorf("% x: %v", tc.nal, got)
		}
	}
}

func TestUnescapeRBSP(t *testing.T) {
	for _, c := range []struct{ in, want []byte }{
		{[]byte{0, 0, 3, 1}, []byte{0, 0, 1}},
		{[]byte{0, 0, 3, 0, 0, 3}, []byte{0, 0, 0, 0}},
		{[]byte{0, 3, 0}, []byte{0, 3, 0}},
		{[]byte{0, 0, 0, 3}, []byte{0, 0, 0}},
	} {
		if got := unescapeRBSP(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("% x: % x, want % x", c.in, got, c.want)
		}
	}
}

func TestAUInfo(t *testing.T) {
	var a AUInfo
	for _, nal := range [][]byte{{0x09, 0xf0}, {0x67, 1}, {0x67, 2}, {0x68, 3}, {0x65, 0x88}, {}} {
		a.Add(nal)
	}
	if !a.IDR || !bytes.Equal(a.SPS, []byte{0x67, 2}) || !bytes.Equal(a.PPS, []byte{0x68, 3}) {
		t.Errorf("%+v", a)
	}
	var p AUInfo
	p.Add([]byte{0x41, 0x9a})
	if p.IDR || p.SPS != nil || p.PPS != nil {
		t.Errorf("P slice: %+v", p)
	}
}
