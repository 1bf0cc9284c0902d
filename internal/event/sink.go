package event

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Line is one printed event.
type Line struct {
	Seq   int64     `json:"seq"`
	TS    string    `json:"ts"`
	Event string    `json:"event"`
	Data  any       `json:"data"`
	time  time.Time // when it was emitted, for Observer
}

// Time is when the line was emitted.
func (l Line) Time() time.Time { return l.time }

// SinkConfig configures a Sink.
type SinkConfig struct {
	// Only, when not empty, is the set of event names printed (--events);
	// reply is printed whatever it says.
	Only []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, when set, sees every printed line after it was written
	// (--until, tests, timing). It runs under the sink's lock: keep it short
	// and never call Emit from it.
	Observe func(Line)
}

// Sink prints events as NDJSON. Each event is one json.Marshal plus "\n" in
// a single Write, so one Sink is safe to share between goroutines and a
// reader never sees half a line. seq counts printed lines without gaps.
type Sink struct {
	mu      sync.Mutex
	w       io.Writer
	seq     int64
	only    map[string]bool
	now     func() time.Time
	observe func(Line)
	err     error
}

// NewSink returns a sink writing to w.
func NewSink(w io.Writer, cfg SinkConfig) *Sink {
	s := &Sink{w: w, now: cfg.Now, observe: cfg.Observe}
	if s.now == nil {
		s.now = time.Now
	}
	if len(cfg.Only) > 0 {
		s.only = make(map[string]bool, len(cfg.Only)+1)
		for _, n := range cfg.Only {
			s.only[n] = true
		}
		// A controller waits for the reply to each request: filtering
		// replies out would leave it waiting forever.
		s.only[Reply] = true
	}
	return s
}

// Emit prints one event unless filtered out. A write error is remembered
// (Err) and later events are dropped: once stdout is gone (a closed pipe),
// nobody reads them.
func (s *Sink) Emit(name string, data any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || (s.only != nil && !s.only[name]) {
		return
	}
	now := s.now().UTC()
	l := Line{Seq: s.seq + 1, TS: now.Format("2006-01-02T15:04:05.000Z"), Event: name, Data: data, time: now}
	b, err := json.Marshal(l)
	if err != nil {
		s.err = fmt.Errorf("marshal %s: %w", name, err)
		return
	}
	b = append(b, '\n')
	if _, err := s.w.Write(b); err != nil {
		s.err = fmt.Errorf("write event: %w", err)
		return
	}
	s.seq++
	if s.observe != nil {
		s.observe(l)
	}
}

// Err returns the first error that stopped printing, if any.
func (s *Sink) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Emitter is what producers of events need: the engine, recorders, pushers.
type Emitter interface {
	Emit(name string, data any)
}
