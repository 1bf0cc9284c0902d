package testutil

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Pulse is a PulseAudio daemon of the test's own: its runtime dir, socket
// and cookie live in a temp dir, so it touches nothing of the machine's.
// Processes given Env talk to it; t.Cleanup stops it.
type Pulse struct {
	t   testing.TB
	Env []string // os.Environ() pointing at this daemon
}

// StartPulse starts the daemon (skipping the test, or failing it in CI,
// when PulseAudio is missing) and waits until it answers.
func StartPulse(t testing.TB) *Pulse {
	t.Helper()
	Need(t, "pulseaudio", "pactl")
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
	out := &Buffer{}
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
			t.Logf("---- pulseaudio:\n%s", Tail(out.String(), 4000))
		}
	})
	p := &Pulse{t: t, Env: env}
	deadline := time.Now().Add(Deadline)
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
		time.Sleep(50 * time.Millisecond) // polling until the daemon answers: it tells nobody
	}
}

// Pactl runs pactl against the daemon and returns its output (a module
// index for load-module).
func (p *Pulse) Pactl(args ...string) string {
	p.t.Helper()
	c := exec.Command("pactl", args...)
	c.Env = p.Env
	out, err := c.CombinedOutput()
	if err != nil {
		p.t.Fatalf("pactl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// PlayTone plays a sine of hz at 1/8 of full scale into sink for a minute
// (ffmpeg makes it, pacat plays it), so that the sink's monitor carries
// it; t.Cleanup stops it.
func (p *Pulse) PlayTone(sink string, hz int) {
	t := p.t
	t.Helper()
	Need(t, "ffmpeg", "pacat")
	raw := filepath.Join(t.TempDir(), "tone.f32")
	src := "sine=frequency=" + strconv.Itoa(hz) + ":sample_rate=48000:duration=60"
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", src,
		"-f", "f32le", "-ac", "1", raw).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	cmd := exec.Command("pacat", "--device="+sink, "--format=float32le", "--rate=48000", "--channels=1", "--raw", raw)
	cmd.Env = p.Env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
	})
}

// HexID is how malgo (and so mediadevices and roomctl) names a PulseAudio
// device: the hex of its name.
func HexID(name string) string { return hex.EncodeToString([]byte(name)) }
