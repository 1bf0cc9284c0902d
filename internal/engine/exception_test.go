package engine

import (
	"strings"
	"testing"
)

// The exception rule on synthetic counters: judged every 4th sample
// against the value 4 samples before; too little raises, recovery resumes
// once, a later drop raises again; mutes and streams that never moved
// raise nothing.
func TestWatch(t *testing.T) {
	type sample struct {
		v     uint64
		muted bool
	}
	// A byte counter sampled once a second: ↑ moving, = standing still.
	run := func(w *watch, src any, start int, samples []sample) []string {
		var out []string
		for i, s := range samples {
			n := start + i + 1
			if e := w.step(src, s.v, s.muted, n%exceptionEvery == 0); e != "" {
				out = append(out, e)
			}
		}
		return out
	}
	flow := func(from, step uint64, n int) []sample {
		out := make([]sample, n)
		for i := range out {
			out[i] = sample{v: from + uint64(i+1)*step}
		}
		return out
	}
	cat := func(parts ...[]sample) []sample {
		var out []sample
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	const code = excVideoSendBitrate
	cases := []struct {
		name    string
		samples []sample
		want    []string
	}{
		{"steady flow", flow(0, 1000, 16), nil},
		{"never moved", flow(0, 0, 16), nil},
		{"moves 4 bytes per window: too low", cat(flow(0, 1000, 8), flow(8000, 1, 8)), []string{code}},
		{"stall, stay, resume once, re-raise, resume",
			cat(flow(0, 1000, 8), flow(8000, 0, 12), flow(8000, 1000, 8), flow(16000, 0, 8), flow(16000, 500, 8)),
			[]string{code, code + resumeSuffix, code, code + resumeSuffix}},
		{"muted: nothing", cat(flow(0, 1000, 8), []sample{{8000, true}, {8000, true}, {8000, true}, {8000, true}, {8000, true}, {8000, true}, {8000, true}, {8000, true}}, flow(8000, 1000, 8)), nil},
		{"unmuted during a window: that window is not judged",
			cat(flow(0, 1000, 8), []sample{{8000, true}, {8000, true}, {8000, true}, {8000, false}}, flow(8000, 1000, 8)), nil},
		{"raised, then muted: held, resumed when flowing again",
			cat(flow(0, 1000, 8), flow(8000, 0, 4), []sample{{8000, true}, {8000, true}, {8000, true}, {8000, true}}, flow(8000, 1000, 8)),
			[]string{code, code + resumeSuffix}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &watch{code: code, min: minBytes}
			got := run(w, "track", 0, c.samples)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}

	// A new track (another counter) restarts the baseline but keeps a
	// raised code, which resumes once the new track flows.
	w := &watch{code: code, min: minBytes}
	got := run(w, "old", 0, cat(flow(0, 1000, 8), flow(8000, 0, 4)))
	got = append(got, run(w, "new", 12, flow(0, 1000, 12))...)
	if strings.Join(got, ",") != code+","+code+resumeSuffix {
		t.Fatalf("new track: got %v", got)
	}

	// Frames: fewer than 2 frames per window is too low.
	w = &watch{code: excVideoSendFramerate, min: minFrames}
	got = run(w, "t", 0, cat(flow(0, 30, 8), flow(240, 0, 3), []sample{{241, false}}, flow(241, 30, 8)))
	if strings.Join(got, ",") != excVideoSendFramerate+","+excVideoSendFramerate+resumeSuffix {
		t.Fatalf("frames: got %v", got)
	}
}
