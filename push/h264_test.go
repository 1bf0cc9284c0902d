package push

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"

	"github.com/roomctl/roomctl/internal/codec/h264"
)

func videoPackets(t *testing.T) ([][]byte, [][]*rtp.Packet) {
	aus := accessUnits(t, "testdata/gop10.h264")
	var frames [][]*rtp.Packet
	for _, ev := range testMedia(t) {
		if !ev.video {
			continue
		}
		if len(frames) == 0 || frames[len(frames)-1][0].Timestamp != ev.pkt.Timestamp {
			frames = append(frames, nil)
		}
		frames[len(frames)-1] = append(frames[len(frames)-1], ev.pkt)
	}
	if len(frames) != len(aus) {
		t.Fatalf("%d frames for %d access units", len(frames), len(aus))
	}
	return aus, frames
}

// nalsEqual compares two Annex-B access units NAL by NAL.
func nalsEqual(a, b []byte) bool {
	x, y := h264.SplitAnnexB(a), h264.SplitAnnexB(b)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !bytes.Equal(x[i], y[i]) {
			return false
		}
	}
	return true
}

func TestAssemblerRoundTrip(t *testing.T) {
	aus, frames := videoPackets(t)
	var a h264Assembler
	var got []accessUnit
	multi := 0
	for _, f := range frames {
		if len(f) > 1 {
			multi++
		}
		for _, p := range f {
			out, lost := a.push(p)
			if lost {
				t.Fatalf("loss reported without loss at seq %d", p.SequenceNumber)
			}
			got = append(got, out...)
		}
	}
	if multi == 0 {
		t.Fatal("no frame spans several packets: FU-A untested")
	}
	if len(got) != len(aus) {
		t.Fatalf("%d access units, want %d", len(got), len(aus))
	}
	for i := range aus {
		if !nalsEqual(got[i].annexB, aus[i]) || got[i].rtpTime != uint32(i*3000) {
			t.Fatalf("access unit %d differs", i)
		}
	}
}

func TestAssemblerLoss(t *testing.T) {
	aus, frames := videoPackets(t)
	// Find a frame of several packets and lose its second packet.
	lossAt := -1
	for i, f := range frames {
		if len(f) >= 2 && i > 0 {
			lossAt = i
			break
		}
	}
	if lossAt < 0 {
		t.Fatal("no multi-packet inter frame")
	}
	var a h264Assembler
	var got []accessUnit
	losses := 0
	for i, f := range frames {
		for j, p := range f {
			if i == lossAt && j == 1 {
				continue
			}
			out, lost := a.push(p)
			if lost {
				losses++
			}
			got = append(got, out...)
			// Duplicates are dropped silently.
			if dup, lost := a.push(p); len(dup) != 0 || lost {
				t.Fatalf("duplicate of seq %d gave %d units, loss %v", p.SequenceNumber, len(dup), lost)
			}
		}
	}
	if losses != 1 {
		t.Errorf("%d losses reported, want 1", losses)
	}
	if len(got) != len(aus)-1 {
		t.Fatalf("%d access units, want %d (one dropped)", len(got), len(aus)-1)
	}
	for _, u := range got {
		if u.rtpTime == uint32(lossAt*3000) {
			t.Fatal("the damaged picture was emitted")
		}
	}
}

func TestAssemblerReorderIsLoss(t *testing.T) {
	_, frames := videoPackets(t)
	var f []*rtp.Packet
	for _, fr := range frames {
		if len(fr) >= 3 {
			f = fr
			break
		}
	}
	var a h264Assembler
	_, _ = a.push(f[0])
	if _, lost := a.push(f[2]); !lost {
		t.Error("a gap is not reported as loss")
	}
	if out, lost := a.push(f[1]); len(out) != 0 || lost {
		t.Error("a late packet is not ignored")
	}
}

func TestAssemblerMissingMarker(t *testing.T) {
	_, frames := videoPackets(t)
	var a h264Assembler
	var got []accessUnit
	for i, f := range frames[:3] {
		for j, p := range f {
			c := *p
			if i == 0 && j == len(f)-1 {
				c.Marker = false // the next timestamp closes the picture
			}
			out, _ := a.push(&c)
			got = append(got, out...)
		}
	}
	if len(got) != 3 || got[0].rtpTime != 0 {
		t.Fatalf("%d units", len(got))
	}
}
