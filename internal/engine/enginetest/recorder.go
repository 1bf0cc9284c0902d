package enginetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
)

// Line is one emitted event.
type Line struct {
	Name string
	Data any
	At   time.Time // when it was emitted
}

func (l Line) String() string { return fmt.Sprintf("%s %+v", l.Name, l.Data) }

// Recorder is an in-memory event.Emitter that tests wait on.
type Recorder struct {
	mu    sync.Mutex
	cond  *sync.Cond
	lines []Line
}

var _ event.Emitter = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	r := &Recorder{}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// Emit implements event.Emitter.
func (r *Recorder) Emit(name string, data any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, Line{Name: name, Data: data, At: time.Now()})
	r.cond.Broadcast()
}

// Lines returns every event so far.
func (r *Recorder) Lines() []Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Line(nil), r.lines...)
}

// Names returns the names of the events from index from on, skipping the
// periodic telemetry (network_score, active_speaker, audio_level_report,
// exception), whose timing a test does not control.
func (r *Recorder) Names(from int) []string {
	var out []string
	for _, l := range r.Lines()[from:] {
		switch l.Name {
		case event.NetworkScore, event.ActiveSpeaker, event.AudioLevelReport, event.Exception:
			continue
		}
		out = append(out, l.Name)
	}
	return out
}

// WaitFor waits for the first event at index from or later named name
// whose data matches (nil matches any) and returns its index and data.
func (r *Recorder) WaitFor(tb testing.TB, from int, name string, match func(data any) bool) (int, any) {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	found := -1
	ok := waitCond(r.cond, func() bool {
		for i := from; i < len(r.lines); i++ {
			if l := r.lines[i]; l.Name == name && (match == nil || match(l.Data)) {
				found = i
				return true
			}
		}
		return false
	})
	if !ok {
		var b strings.Builder
		for _, l := range r.lines {
			fmt.Fprintln(&b, l)
		}
		tb.Fatalf("enginetest: no %s within %s; events:\n%s", name, Wait, b.String())
	}
	return found, r.lines[found].Data
}

// Count returns how many events named name were emitted from index from on.
func (r *Recorder) Count(from int, name string) int {
	n := 0
	for _, l := range r.Lines()[from:] {
		if l.Name == name {
			n++
		}
	}
	return n
}

// Between returns the events named name from index from on.
func (r *Recorder) Between(from int, name string) []Line {
	var out []Line
	for _, l := range r.Lines()[from:] {
		if l.Name == name {
			out = append(out, l)
		}
	}
	return out
}
