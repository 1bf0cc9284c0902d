package engine

import (
	"math"
	"testing"

	"github.com/roomctl/roomctl/internal/event"
)

func sine(amplitude float64, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amplitude * 32767 * math.Sin(2*math.Pi*480*float64(i)/48000)))
	}
	return out
}

func TestLevelMeter(t *testing.T) {
	for _, c := range []struct {
		name string
		pcm  []int16
		want int
	}{
		{"full scale", sine(1, 960), 100},
		{"half scale", sine(0.5, 960), 50},
		{"a tenth", sine(0.1, 960), 10},
		{"silence", make([]int16, 960), 0},
		{"most negative sample", []int16{-32768}, 100},
	} {
		var m levelMeter
		m.addPCM(c.pcm)
		if got := m.take(); got != c.want {
			t.Errorf("%s: level %d, want %d", c.name, got, c.want)
		}
		if got := m.take(); got != 0 {
			t.Errorf("%s: level %d after take, want a new window (0)", c.name, got)
		}
	}
	// The window keeps its peak over several chunks.
	var m levelMeter
	m.addPCM(sine(0.5, 960))
	m.addPCM(sine(0.2, 960))
	if got := m.take(); got != 50 {
		t.Errorf("peak over chunks: %d, want 50", got)
	}
}

// Garbage is not audio: the meter stays silent and says so.
func TestOpusMeterRejectsGarbage(t *testing.T) {
	var m levelMeter
	o := newOpusMeter(&m)
	if o.feed(nil) {
		t.Fatal("an empty packet decoded")
	}
	if got := m.take(); got != 0 {
		t.Fatalf("level %d after nothing decoded", got)
	}
}

func TestSpeakerPicker(t *testing.T) {
	lv := func(pairs ...any) []event.AudioLevel {
		var out []event.AudioLevel
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, event.AudioLevel{UID: pairs[i].(string), AudioLevel: pairs[i+1].(int)})
		}
		return out
	}
	var p speakerPicker
	steps := []struct {
		levels []event.AudioLevel
		want   string // "" for nothing printed
	}{
		{nil, ""},
		{lv("me", 0, "alice", 5, "bob", 3), ""},        // 5 is not above the threshold
		{lv("me", 0, "alice", 6, "bob", 3), "alice"},   // above it
		{lv("me", 0, "alice", 80, "bob", 3), ""},       // same speaker: not again
		{lv("me", 2, "alice", 40, "bob", 90), "bob"},   // a change
		{lv("me", 2, "alice", 4, "bob", 4), ""},        // all quiet: nothing, bob stays the last printed
		{lv("me", 2, "alice", 3, "bob", 70), ""},       // bob again: not a change
		{lv("me", 50, "alice", 50, "bob", 10), "me"},   // a tie goes to the first (local first)
		{lv("me", 0, "alice", 90, "bob", 90), "alice"}, // uids are in order after local
	}
	for i, s := range steps {
		got, ok := p.pick(s.levels)
		if ok != (s.want != "") || got != s.want {
			t.Errorf("step %d: got %q %v, want %q", i, got, ok, s.want)
		}
	}
}
