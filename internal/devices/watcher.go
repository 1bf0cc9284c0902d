package devices

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/roomctl/roomctl/internal/event"
)

// DefaultInterval is how often a Watcher polls when Config.Interval is 0.
const DefaultInterval = time.Second

// States of a device change, as in event.DeviceChange.
const (
	StateAdded   = "added"
	StateRemoved = "removed"
)

// Config configures a Watcher.
type Config struct {
	// Enumerator lists the devices; required.
	Enumerator Enumerator
	// Interval between polls; 0 means DefaultInterval.
	Interval time.Duration
	// Events receives audio_input_changed, video_input_changed and
	// audio_output_changed; required.
	Events event.Emitter
	// Logger gets enumeration errors; nil discards.
	Logger *slog.Logger
	// Baseline, when set, is called once with the first snapshot, before
	// any change is reported: the state changes are relative to.
	Baseline func([]Device)
}

// Watcher polls an Enumerator and reports added and removed devices.
type Watcher struct {
	cfg       Config
	done      chan struct{}
	closeOnce sync.Once
}

// New validates cfg and returns a Watcher; Run starts it.
func New(cfg Config) (*Watcher, error) {
	if cfg.Enumerator == nil {
		return nil, errors.New("devices: Config.Enumerator is required")
	}
	if cfg.Events == nil {
		return nil, errors.New("devices: Config.Events is required")
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("devices: negative interval %s", cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Watcher{cfg: cfg, done: make(chan struct{})}, nil
}

// Run polls until ctx ends or Close is called, then returns nil. The first
// snapshot is the baseline and reports nothing. A failed enumeration is
// logged and skipped: the previous snapshot stays, so an error never reads
// as every device being removed.
func (w *Watcher) Run(ctx context.Context) error {
	var prev []Device
	have := false
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		ds, err := w.cfg.Enumerator.Enumerate(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			w.cfg.Logger.Warn("enumerate devices", "err", err)
		case err != nil:
		case !have:
			prev, have = Dedupe(ds), true
			if w.cfg.Baseline != nil {
				w.cfg.Baseline(prev)
			}
		default:
			cur := Dedupe(ds)
			for _, c := range Diff(prev, cur) {
				w.cfg.Events.Emit(c.Event, event.DeviceChange{State: c.State, DeviceID: c.DeviceID})
			}
			prev = cur
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.done:
			return nil
		case <-t.C:
		}
	}
}

// Close stops Run; safe to call more than once.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() { close(w.done) })
	return nil
}

// Change is one difference between two snapshots.
type Change struct {
	Event    string // event.AudioInputChanged, ...
	State    string // StateAdded or StateRemoved
	DeviceID string
}

// EventName is the SDK callback that reports a change of a device of kind k.
func EventName(k Kind) string {
	switch k {
	case AudioInput:
		return event.AudioInputChanged
	case VideoInput:
		return event.VideoInputChanged
	case AudioOutput:
		return event.AudioOutputChanged
	}
	return ""
}

// Diff returns what changed from prev to cur (both as Dedupe returns them):
// removals first, then additions, each in Dedupe's order.
func Diff(prev, cur []Device) []Change {
	type key struct {
		k  Kind
		id string
	}
	in := func(ds []Device) map[key]bool {
		m := make(map[key]bool, len(ds))
		for _, d := range ds {
			m[key{d.Kind, d.DeviceID}] = true
		}
		return m
	}
	p, c := in(prev), in(cur)
	var out []Change
	for _, d := range prev {
		if !c[key{d.Kind, d.DeviceID}] {
			if n := EventName(d.Kind); n != "" {
				out = append(out, Change{Event: n, State: StateRemoved, DeviceID: d.DeviceID})
			}
		}
	}
	for _, d := range cur {
		if !p[key{d.Kind, d.DeviceID}] {
			if n := EventName(d.Kind); n != "" {
				out = append(out, Change{Event: n, State: StateAdded, DeviceID: d.DeviceID})
			}
		}
	}
	return out
}
