package push

import (
	"testing"
	"time"
)

func TestInterleaver(t *testing.T) {
	t0 := time.Unix(0, 0)
	il := interleaver{hold: 100 * time.Millisecond, active: [2]bool{true, true}}
	v := func(ts uint32) *tag { return &tag{typ: tagVideo, ts: ts} }
	a := func(ts uint32) *tag { return &tag{typ: tagAudio, ts: ts} }
	il.push(v(0), t0)
	il.push(v(33), t0)
	if got := il.pop(t0.Add(50 * time.Millisecond)); got != nil {
		t.Fatalf("video released while audio may still come: %+v", got)
	}
	il.push(a(10), t0.Add(60*time.Millisecond))
	il.push(a(30), t0.Add(60*time.Millisecond))
	var order []uint32
	for x := il.pop(t0.Add(60 * time.Millisecond)); x != nil; x = il.pop(t0.Add(60 * time.Millisecond)) {
		order = append(order, x.ts)
	}
	// 33 waits: audio after 30 may still come.
	if want := []uint32{0, 10, 30}; len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Fatalf("order %v, want %v", order, want)
	}
	// After the hold, video goes alone; a late audio tag is clamped.
	if x := il.pop(t0.Add(200 * time.Millisecond)); x == nil || x.ts != 33 {
		t.Fatalf("held video not released: %+v", x)
	}
	late := a(20)
	il.push(late, t0.Add(200*time.Millisecond))
	if x := il.pop(t0.Add(400 * time.Millisecond)); x == nil || x.ts != 33 || late.ts != 20 {
		t.Fatalf("late audio: %+v (the original must stay unchanged: %d)", x, late.ts)
	}
	// Without the other kind, nothing waits.
	il.active[1] = false
	il.push(a(50), t0.Add(400*time.Millisecond))
	if x := il.pop(t0.Add(400 * time.Millisecond)); x == nil || x.ts != 50 {
		t.Fatalf("audio alone held: %+v", x)
	}
	il.push(v(60), t0)
	il.push(a(55), t0)
	if got := il.drain(); len(got) != 2 || got[0].ts != 55 || got[1].ts != 60 {
		t.Fatalf("drain %v", got)
	}
}
