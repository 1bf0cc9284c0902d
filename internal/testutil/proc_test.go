package testutil

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/roomctl/roomctl/internal/event"
)

// startEvents starts the "events" helper, a room command in miniature.
func startEvents(t testing.TB, uid string, env ...string) *Proc {
	return Start(t, Cmd{Path: os.Args[0], Name: uid, Args: []string{"events", uid},
		Env: append(env, helperEnv+"=events")})
}

// A process's events are collected, checked and waited on; stdin reaches
// it; its exit code is read; the harness gives it loopback ICE.
func TestProc(t *testing.T) {
	p := startEvents(t, "alice")
	l := p.Wait(event.Connected, Both(Field("uid", "alice"), Field("roomId", "r1")))
	if l.Seq != 1 || p.Mark() != 1 || !p.Has(event.Connected) || p.Count(event.Connected) != 1 {
		t.Fatalf("line %+v, mark %d", l, p.Mark())
	}
	if d := DecodeAs[event.UIDRoom](t, l); d.UID != "alice" {
		t.Errorf("DecodeAs: %+v", d)
	}
	LineTime(t, l)
	p.WaitStderr("ready")
	if p.Find(0, event.Connected, Field("uid", "bob")) != -1 {
		t.Error("Find matched another uid")
	}
	p.Send("leave")
	p.WaitFrom(1, event.Reconnect, nil)
	if code := p.ExitCode(); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
	if got := p.Raw(); len(got) != 2 || !strings.Contains(got[1], `"event":"reconnect"`) {
		t.Errorf("raw %q", got)
	}
}

// Every process the harness starts gets ROOMCTL_ICE_IP=127.0.0.1/32, even
// when the environment it is given says otherwise.
func TestProcICEEnv(t *testing.T) {
	p := startEvents(t, "env", "ROOMCTL_ICE_IP=0.0.0.0/0")
	p.WaitStderr("ready")
	env, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	var ice []string
	for _, kv := range strings.Split(string(env), "\x00") {
		if strings.HasPrefix(kv, "ROOMCTL_ICE_IP=") {
			ice = append(ice, kv)
		}
	}
	if len(ice) != 1 || ice[0] != "ROOMCTL_ICE_IP="+LoopbackICE {
		t.Errorf("the process's environment has %q, want ROOMCTL_ICE_IP=%s", ice, LoopbackICE)
	}
}

// A wait for a line that never comes fails once the process exits.
func TestProcWaitFailsOnExit(t *testing.T) {
	r := &fatalRecorder{recorder: newRecorder(t)}
	p := startEvents(r, "carol")
	p.Send("leave")
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Wait(event.MutePlay, nil)
	}()
	<-done
	if errs := r.errors(); len(errs) != 1 || !strings.Contains(errs[0], "exited") {
		t.Fatalf("errors %q", errs)
	}
}

// fatalRecorder records Fatalf too, and ends the goroutine as t.Fatalf
// would.
type fatalRecorder struct{ *recorder }

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}
