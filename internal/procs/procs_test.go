package procs

import (
	"runtime"
	"testing"
)

// fakeRuntime records what a Scaler sets; it starts at cpus like the runtime.
type fakeRuntime struct {
	cur  int
	sets []int
}

func (f *fakeRuntime) set(n int) int {
	prev := f.cur
	if n > 0 {
		f.cur = n
		f.sets = append(f.sets, n)
	}
	return prev
}

func TestScalerFollowsUnits(t *testing.T) {
	rt := &fakeRuntime{cur: 4}
	s := newScaler(10, 0, nil, false, rt.set)
	if rt.cur != 1 || s.Procs() != 1 {
		t.Fatalf("no work: GOMAXPROCS %d (Procs %d), want 1", rt.cur, s.Procs())
	}
	steps := []struct{ delta, want int }{
		{10, 1},  // 10 units: one P carries them
		{1, 2},   // 11: two
		{9, 2},   // 20: still two
		{25, 4},  // 45: five wanted, capped at the 4 CPUs
		{100, 4}, // never above the CPUs
		{-130, 2},
		{-15, 1},
		{-50, 1}, // below zero counts as none
		{10, 1},  // and the count restarts from zero
	}
	for i, st := range steps {
		s.Add(st.delta)
		if rt.cur != st.want || s.Procs() != st.want {
			t.Fatalf("step %d (%+d): GOMAXPROCS %d (Procs %d), want %d", i, st.delta, rt.cur, s.Procs(), st.want)
		}
	}
	// Only changes reach the runtime: 1, 2, 4, 2, 1.
	if got := len(rt.sets); got != 5 {
		t.Errorf("runtime set %d times (%v), want 5", got, rt.sets)
	}
}

func TestScalerStartsWithKnownWork(t *testing.T) {
	rt := &fakeRuntime{cur: 8}
	s := newScaler(100, 250, nil, false, rt.set)
	if s.Procs() != 3 || rt.cur != 3 {
		t.Fatalf("250 units at 100 per P: %d (runtime %d), want 3", s.Procs(), rt.cur)
	}
}

func TestScalerFixedLeavesRuntimeAlone(t *testing.T) {
	rt := &fakeRuntime{cur: 2}
	s := newScaler(10, 0, nil, true, rt.set)
	s.Add(100)
	s.Add(-100)
	if len(rt.sets) != 0 || rt.cur != 2 || s.Procs() != 2 {
		t.Fatalf("fixed scaler changed GOMAXPROCS: sets %v, now %d, Procs %d", rt.sets, rt.cur, s.Procs())
	}
}

func TestNewHonoursEnvironment(t *testing.T) {
	t.Setenv("GOMAXPROCS", "2")
	before := runtime.GOMAXPROCS(0)
	s := New(1000, 0, nil)
	if got := runtime.GOMAXPROCS(0); got != before || s.Procs() != before {
		t.Fatalf("GOMAXPROCS set in the environment: runtime %d → %d, Procs %d", before, got, s.Procs())
	}
}
