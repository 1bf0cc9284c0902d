package push

import (
	"testing"
	"time"
)

func TestRTPClockUnwrap(t *testing.T) {
	c := newRTPClock(90000)
	t0 := time.Unix(1000, 0)
	seq := []uint32{0xffff_f000, 0xffff_fff0, 0x0000_0100, 0xffff_ff00, 0x0000_2000}
	want := []int64{0xffff_f000, 0xffff_fff0, 0x1_0000_0100, 0xffff_ff00, 0x1_0000_2000}
	for i, ts := range seq {
		if got := c.packet(ts, t0); got != want[i] {
			t.Errorf("packet %d: %#x, want %#x", i, got, want[i])
		}
	}
}

func TestRTPClockAnchors(t *testing.T) {
	c := newRTPClock(90000)
	arrival := time.Unix(1000, 0)
	c.packet(9000, arrival)
	if _, ok := c.wall(9000, true); ok {
		t.Error("sender-report time without a sender report")
	}
	if w, _ := c.wall(9000+90000, false); !w.Equal(arrival.Add(time.Second)) {
		t.Errorf("arrival mapping %v", w)
	}
	sr := time.Unix(500, 0)
	c.senderReport(sr, 18000)
	c.senderReport(sr.Add(time.Hour), 18000) // only the first anchors
	if w, _ := c.wall(9000, true); !w.Equal(sr.Add(-100 * time.Millisecond)) {
		t.Errorf("sender report mapping %v, want %v", w, sr.Add(-100*time.Millisecond))
	}
}
