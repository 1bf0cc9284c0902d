package e2e

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
)

// pulse is a PulseAudio daemon of the test's own: its runtime dir, socket
// and cookie live in a temp dir, so it touches nothing of the machine's.
type pulse struct {
	t   *testing.T
	env []string
}

func startPulse(t *testing.T) *pulse {
	t.Helper()
	if _, err := exec.LookPath("pulseaudio"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pulseaudio is not installed (scripts/setup.sh installs it)")
		}
		t.Skip("pulseaudio is not installed")
	}
	// Not t.TempDir: its long name could overflow the 108-byte unix socket path.
	dir, err := os.MkdirTemp("", "rtpa")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+dir, "HOME="+dir,
		"PULSE_SERVER=unix:"+filepath.Join(dir, "pulse", "native"))
	cmd := exec.Command("pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
		"-n", "--load=module-native-protocol-unix")
	cmd.Env = env
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("---- pulseaudio:\n%s", tail(out.String(), 4000))
		}
	})
	p := &pulse{t: t, env: env}
	deadline := time.Now().Add(eventWait)
	for {
		c := exec.Command("pactl", "info")
		c.Env = env
		if c.Run() == nil {
			return p
		}
		select {
		case <-exited:
			t.Fatalf("pulseaudio exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pulseaudio did not answer: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *pulse) pactl(args ...string) string {
	p.t.Helper()
	c := exec.Command("pactl", args...)
	c.Env = p.env
	out, err := c.CombinedOutput()
	if err != nil {
		p.t.Fatalf("pactl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// rawProc is a roomctl whose stdout lines are decoded but not validated
// against the schema: `device` is not in it yet.
type rawProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *syncBuffer
	mu     sync.Mutex
	lines  []event.Line
	exited chan struct{}
}

func startRaw(t *testing.T, env []string, args ...string) *rawProc {
	t.Helper()
	p := &rawProc{t: t, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Env = append(env, "ROOMCTL_LOG_LEVEL=debug", "GORACE=halt_on_error=1")
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l, err := event.Decode(sc.Bytes())
			if err != nil {
				t.Errorf("%v: %q", err, sc.Text())
				continue
			}
			p.mu.Lock()
			if want := int64(len(p.lines) + 1); l.Seq != want {
				t.Errorf("seq %d, want %d", l.Seq, want)
			}
			p.lines = append(p.lines, l)
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
			t.Error("data race")
		}
		if t.Failed() {
			t.Logf("---- roomctl %s stdout:\n%s\n---- stderr:\n%s", strings.Join(args, " "), p.dump(), tail(p.stderr.String(), 4000))
		}
	})
	return p
}

func (p *rawProc) dump() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines {
		b.WriteString(l.Event + " " + string(l.Data.(json.RawMessage)) + "\n")
	}
	return b.String()
}

type change struct{ Event, State, DeviceID string }

func (p *rawProc) changes() []change {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []change
	for _, l := range p.lines {
		var dc event.DeviceChange
		if l.Event == "device" || json.Unmarshal(l.Data.(json.RawMessage), &dc) != nil {
			continue
		}
		out = append(out, change{l.Event, dc.State, dc.DeviceID})
	}
	return out
}

// waitFor waits until cond holds, the process exits, or eventWait passes.
func (p *rawProc) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(eventWait)
	for !cond() {
		select {
		case <-p.exited:
			p.t.Fatalf("roomctl exited while waiting for %s", what)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *rawProc) waitChange(ev, state, id string) {
	p.t.Helper()
	want := change{ev, state, id}
	p.waitFor(ev+" "+state+" "+id, func() bool {
		for _, c := range p.changes() {
			if c == want {
				return true
			}
		}
		return false
	})
}

// hexID is how malgo (and so mediadevices) names a PulseAudio device.
func hexID(name string) string { return hex.EncodeToString([]byte(name)) }

func TestDevicesWatchPulseAudio(t *testing.T) {
	pa := startPulse(t)
	w := startRaw(t, pa.env, "devices", "--watch", "--interval", "200ms", "--no-video")
	w.waitFor("the baseline", func() bool { return strings.Contains(w.stderr.String(), "watching devices") })

	sink := pa.pactl("load-module", "module-null-sink", "sink_name=rt_sink")
	w.waitChange(event.AudioOutputChanged, "added", hexID("rt_sink"))
	w.waitChange(event.AudioInputChanged, "added", hexID("rt_sink.monitor"))
	src := pa.pactl("load-module", "module-null-source", "source_name=rt_src")
	w.waitChange(event.AudioInputChanged, "added", hexID("rt_src"))

	// The one-shot listing sees the same devices.
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	list := exec.CommandContext(ctx, binPath, "devices", "--no-video")
	list.Env = pa.env
	out, err := list.Output()
	if err != nil {
		t.Fatalf("roomctl devices: %v", err)
	}
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		l, err := event.Decode([]byte(line))
		if err != nil || l.Event != "device" || l.Seq != int64(i+1) {
			t.Fatalf("line %d: %q (%v)", i, line, err)
		}
		var d struct{ Kind, DeviceID, Label string }
		if err := json.Unmarshal(l.Data.(json.RawMessage), &d); err != nil {
			t.Fatal(err)
		}
		if d.Label == "" {
			t.Errorf("no label: %s", line)
		}
		seen[d.Kind+" "+d.DeviceID] = true
	}
	for _, want := range []string{"audiooutput " + hexID("rt_sink"), "audioinput " + hexID("rt_sink.monitor"), "audioinput " + hexID("rt_src")} {
		if !seen[want] {
			t.Errorf("roomctl devices did not list %s:\n%s", want, out)
		}
	}

	pa.pactl("unload-module", sink)
	w.waitChange(event.AudioOutputChanged, "removed", hexID("rt_sink"))
	w.waitChange(event.AudioInputChanged, "removed", hexID("rt_sink.monitor"))
	pa.pactl("unload-module", src)
	w.waitChange(event.AudioInputChanged, "removed", hexID("rt_src"))

	// Let a few more polls pass: nothing may be reported twice.
	time.Sleep(time.Second)
	count := map[change]int{}
	for _, c := range w.changes() {
		count[c]++
		if count[c] > 1 {
			t.Errorf("reported twice: %+v", c)
		}
	}
	if n := len(w.changes()); n != 6 {
		t.Errorf("%d changes, want 6:\n%s", n, w.dump())
	}

	_ = w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.exited:
	case <-time.After(eventWait):
		t.Fatal("roomctl devices --watch did not stop on SIGINT")
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
}
