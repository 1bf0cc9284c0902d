// Package procs sizes the Go scheduler (GOMAXPROCS) to a command's media
// work.
//
// Every received RTP packet passes through four goroutines in pion (the ICE
// read loop, the DTLS/SRTP demultiplexer, the SRTP session, the track's
// reader), and every hand-off to a goroutine on another P that is idle wakes
// an OS thread (futex, epoll): on a 2-core VM a record of 10 users spent a
// third of its CPU in the scheduler that way, more than on the media. With
// one P the hand-offs stay on one thread. So record and load run with as
// many Ps as their work needs — one per perP units of it — instead of one
// per CPU: a record of 10 users ~18 → ~15 ms CPU per user-second, a load of
// 50 counting subscribers ~6.0 → ~4.6 ms per subscriber-second
// (BENCHMARKS.md, "Process start, scheduler sizing").
//
// The environment variable GOMAXPROCS, when set, wins: a Scaler then leaves
// the runtime alone. So does a race-enabled build (the tests' binaries),
// where the race detector makes the same work several times heavier.
package procs

import (
	"log/slog"
	"os"
	"runtime"
	"sync"
)

// Scaler sets GOMAXPROCS to ceil(units/PerP), at least 1 and at most what
// the runtime chose at start (the CPUs the process may use), as units of
// work come and go. Its methods may be called from any goroutine.
type Scaler struct {
	perP  int
	max   int
	fixed bool
	log   *slog.Logger

	mu    sync.Mutex
	units int
	cur   int
	set   func(int) int // runtime.GOMAXPROCS; tests replace it
}

// New returns a Scaler for work of which one P carries perP units, and sets
// GOMAXPROCS for units (the work known at start; more comes with Add).
// log (nil: none) gets a debug line whenever the count changes.
func New(perP, units int, log *slog.Logger) *Scaler {
	return newScaler(perP, units, log, os.Getenv("GOMAXPROCS") != "" || raceEnabled, runtime.GOMAXPROCS)
}

func newScaler(perP, units int, log *slog.Logger, fixed bool, set func(int) int) *Scaler {
	if perP < 1 {
		perP = 1
	}
	s := &Scaler{perP: perP, max: set(0), fixed: fixed, log: log, set: set}
	s.cur = s.max
	s.Add(units)
	return s
}

// Add changes the units of work by delta (negative when work ends).
func (s *Scaler) Add(delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.units = max(s.units+delta, 0)
	if s.fixed {
		return
	}
	want := min(max((s.units+s.perP-1)/s.perP, 1), s.max)
	if want == s.cur {
		return
	}
	s.set(want)
	if s.log != nil {
		s.log.Debug("scheduler resized", "gomaxprocs", want, "was", s.cur, "units", s.units, "units_per_proc", s.perP, "cpus", s.max)
	}
	s.cur = want
}

// Procs is the GOMAXPROCS the Scaler last set (or found, when fixed).
func (s *Scaler) Procs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}
