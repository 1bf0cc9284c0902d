package record

import (
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func TestTrackClock(t *testing.T) {
	type step struct {
		ext, arrival int64 // ext in 90 kHz ticks, arrival in ms
		restart      bool
		wantWall     int64 // ms
		reanchored   bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"follows the RTP clock, not arrival jitter", []step{
			{0, 1000, false, 1000, false},
			{3000, 1050, false, 1033, false}, // arrived 17 ms late
			{6000, 1060, false, 1066, false},
		}},
		{"RTP stood still for 2 s (mute): re-anchor on arrival", []step{
			{0, 1000, false, 1000, false},
			{3000, 1033, false, 1033, false},
			{6000, 3100, false, 3100, true},
			{9000, 3133, false, 3133, false},
		}},
		{"RTP jumped ahead (new encoder): re-anchor", []step{
			{0, 1000, false, 1000, false},
			{90000 * 100, 1033, false, 1033, true},
		}},
		{"RTP went back: re-anchor, never backwards", []step{
			{90000, 1000, false, 1000, false},
			{0, 1001, false, 1001, true},
		}},
		{"a restart at the same arrival still moves forward", []step{
			{0, 1000, false, 1000, false},
			{500, 1000, true, 1001, true},
		}},
		{"a frame whose first packet came before the previous frame's starts after it ends", []step{
			{0, 1000, false, 1000, false}, // a keyframe read late, behind a stalled reader
			{3000, 200, false, 1033, true},
			{6000, 1000, false, 1066, true},
		}},
		{"a re-anchored frame starts after the previous one ends", []step{
			{0, 1000, false, 1000, false},
			{3000, 1033, false, 1033, false}, // 33 ms frames
			{90000 * 100, 1040, false, 1066, true},
			{90000*100 + 3000, 1075, false, 1099, false},
		}},
	}
	for _, c := range cases {
		clk := newTrackClock(90000)
		for i, s := range c.steps {
			w, re, _ := clk.wall(s.ext, s.arrival*ms, s.restart)
			if got := w / ms; got != s.wantWall || re != s.reanchored {
				t.Errorf("%s, step %d: wall %d ms (re-anchored %v), want %d (%v)", c.name, i, got, re, s.wantWall, s.reanchored)
			}
		}
	}
}

// Sender reports shift video by the difference of the two tracks'
// offsets, within bounds.
func TestClockSync(t *testing.T) {
	sender := time.Unix(1_800_000_000, 0)
	cases := []struct {
		name      string
		videoLate time.Duration // arrival delay of video beyond audio's
		want      time.Duration
	}{
		{"video 200 ms late", 200 * time.Millisecond, -200 * time.Millisecond},
		{"video 100 ms early", -100 * time.Millisecond, 100 * time.Millisecond},
		{"10 ms: jitter, left alone", 10 * time.Millisecond, 0},
		{"5 s: a stale report, left alone", 5 * time.Second, 0},
	}
	for _, c := range cases {
		a, v := newTrackClock(48000), newTrackClock(90000)
		local := sender.Add(50 * time.Millisecond) // network delay
		a.wall(480000, local.UnixNano(), false)
		v.wall(900000, local.Add(c.videoLate).UnixNano(), false)
		// Both first frames were captured at `sender`.
		a.senderReport(sender.Add(time.Second), 480000+48000)
		v.senderReport(sender.Add(time.Second), 900000+90000)
		if got := v.syncTo(&a); got != c.want {
			t.Errorf("%s: shift %s, want %s", c.name, got, c.want)
		}
	}
	// Without a report on both sides nothing moves.
	a, v := newTrackClock(48000), newTrackClock(90000)
	a.wall(0, 0, false)
	v.wall(0, 300*ms, false)
	v.senderReport(sender, 0)
	if d := v.syncTo(&a); d != 0 {
		t.Errorf("shift %s without audio reports", d)
	}
}

// A sync that moves a track earlier leaves a floor at the end of the last
// frame: frames before it are early (not placed, not the latest), the first
// one past it continues the new timeline; a re-anchor starts after it.
func TestClockSyncEarlierFloor(t *testing.T) {
	sender := time.Unix(1_800_000_000, 0)
	a, v := newTrackClock(48000), newTrackClock(90000)
	a.wall(0, sender.UnixNano(), false)
	for i := range int64(10) { // video 200 ms late: frames at 200..500 ms
		v.wall(i*3000, sender.Add(200*time.Millisecond).UnixNano()+i*33*ms, false)
	}
	a.senderReport(sender, 0)
	v.senderReport(sender, 0)
	if d := v.syncTo(&a); d != -200*time.Millisecond {
		t.Fatalf("shift %s", d)
	}
	last := sender.UnixNano() + 200*ms + 300*ms // frame 9
	floor := last + 33*ms
	var got []int64
	for i := int64(10); i < 20; i++ {
		w, _, early := v.wall(i*3000, sender.UnixNano()+200*ms+i*33*ms, false)
		if want := w < floor; early != want {
			t.Fatalf("frame %d at %d ms: early %v", i, (w-last)/ms, early)
		}
		if !early {
			got = append(got, (w-last)/ms)
		}
	}
	// Frames 10..15 fall in 100..300 ms after the shift: before the floor.
	if len(got) != 4 || got[0] < 33 {
		t.Fatalf("frames placed after the last at %v ms", got)
	}
	// A restart re-anchors after the floor, and clears it.
	v2, a2 := newTrackClock(90000), newTrackClock(48000)
	a2.wall(0, 0, false)
	v2.wall(0, 200*ms, false)
	v2.wall(3000, 233*ms, false)
	a2.senderReport(sender, 0)
	v2.senderReport(sender, 0)
	v2.syncTo(&a2)
	w, re, early := v2.wall(999999, 240*ms, true)
	if !re || early || w < 233*ms+33*ms {
		t.Fatalf("restart: wall %d ms, re-anchored %v, early %v", w/ms, re, early)
	}
}

func smoothAll(walls []int64) []int64 {
	var s smoother
	var out []int64
	now := time.Unix(0, 0)
	for _, w := range walls {
		if f, ok := s.push(qframe{wall: w * ms}, now); ok {
			out = append(out, f.wall/ms)
		}
	}
	if f, ok := s.flush(); ok {
		out = append(out, f.wall/ms)
	}
	return out
}

// ticks30 reports two frames that fall on one 1/30 s tick, the way
// ffmpeg maps a 30 fps track.
func ticks30(walls []int64) (int, int) {
	for i := 1; i < len(walls); i++ {
		if (walls[i]*30+500)/1000 == (walls[i-1]*30+500)/1000 {
			return i, int(walls[i] - walls[i-1])
		}
	}
	return -1, 0
}

// Frame intervals (ms) of two 8-s recordings of the test publisher's
// H.264: an encoder that skips frames and stamps some late (81 then 6,
// 86 then 7, 57 then 11 ...). Each makes ffmpeg complain as it is.
var publisherIntervals = [][]int64{
	{33, 65, 67, 35, 33, 64, 67, 67, 66, 68, 66, 67, 34, 37, 62, 67, 74, 59, 89, 55, 25, 33, 65, 66, 67, 67, 66, 66,
		37, 66, 66, 66, 101, 34, 64, 67, 67, 99, 36, 65, 66, 67, 100, 36, 64, 66, 67, 101, 35, 65, 66, 67, 67, 102,
		34, 63, 67, 66, 101, 37, 63, 67, 66, 35, 133, 65, 101, 37, 64, 65, 66, 101, 34, 99, 100, 145, 88, 104, 63, 67,
		34, 38, 95, 67, 101, 65, 66, 67, 81, 6, 102, 94, 40, 66, 67, 67, 35, 37, 60, 67, 67, 67, 67, 66, 40, 28, 66,
		8, 66, 67, 67, 66, 85, 49, 66, 101, 34, 65, 68, 66, 100, 34},
	{86, 7, 82, 20, 35, 76, 53, 72, 62, 67, 66, 68, 34, 33, 66, 66, 66, 67, 67, 67, 35, 35, 63, 67, 67, 68, 65, 66,
		35, 65, 67, 67, 66, 67, 100, 66, 40, 60, 68, 99, 35, 66, 67, 66, 100, 35, 65, 66, 67, 109, 26, 66, 67, 65, 101,
		34, 65, 67, 66, 100, 36, 65, 67, 35, 130, 68, 66, 68, 66, 66, 101, 34, 65, 101, 100, 99, 134, 99, 67, 57, 11,
		62, 38, 65, 67, 68, 65, 67, 45, 24, 64, 67, 67, 67, 67, 66, 35, 33, 66, 71, 61, 67, 67, 66, 36, 33, 66, 66,
		66, 101, 66, 67, 36, 64, 100, 34, 66, 66, 87, 81, 34, 66, 66},
}

func TestSmoother(t *testing.T) {
	walls := func(start int64, deltas []int64) []int64 {
		out := []int64{start}
		for _, d := range deltas {
			out = append(out, out[len(out)-1]+d)
		}
		return out
	}
	// Regular streams at common rates are not touched.
	for _, period := range []int64{1000 / 60, 1000 / 30, 1000 / 25, 1000 / 15} {
		var regular []int64
		for i := range 200 {
			regular = append(regular, 5000+int64(i)*period)
		}
		got := smoothAll(regular)
		for i := range regular {
			if got[i] != regular[i] {
				t.Fatalf("%d ms period: frame %d moved from %d to %d", period, i, regular[i], got[i])
			}
		}
	}
	for k, deltas := range publisherIntervals {
		raw := walls(1000, deltas)
		if i, _ := ticks30(raw); i < 0 {
			t.Fatalf("recording %d: no collision to fix", k)
		}
		got := smoothAll(raw)
		if len(got) != len(raw) {
			t.Fatalf("%d frames out of %d", len(got), len(raw))
		}
		if i, d := ticks30(got); i >= 0 {
			t.Fatalf("recording %d: frames %d and %d still %d ms apart", k, i-1, i, d)
		}
		moved := 0
		for i := range got {
			if i > 0 && got[i] <= got[i-1] {
				t.Fatalf("frame %d goes back", i)
			}
			if d := raw[i] - got[i]; d < 0 || d > 34 {
				t.Fatalf("frame %d moved %d ms", i, -d)
			}
			if got[i] != raw[i] {
				moved++
			}
		}
		t.Logf("recording %d: %d of %d frames moved earlier", k, moved, len(raw))
	}
}
