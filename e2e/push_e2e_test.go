package e2e

// End-to-end tests of push-rtmp: a real nginx with the RTMP module started
// by the test, a publisher and the pusher as roomctl processes, ffprobe and
// ffmpeg as the players.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
)

const rtmpModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so" // Debian libnginx-mod-rtmp

// needTool skips when a tool is missing, except in CI, where it fails.
func needTool(t *testing.T, path string) {
	t.Helper()
	_, err := exec.LookPath(path)
	if strings.HasPrefix(path, "/") {
		_, err = os.Stat(path)
	}
	if err == nil {
		return
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("%s is not installed (scripts/setup.sh installs it): %v", path, err)
	}
	t.Skipf("%s is not installed: %v", path, err)
}

// nginxRTMP is nginx with the rtmp module on a loopback port: application
// "live" accepts publishers, "deny" refuses them.
type nginxRTMP struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	logs *syncBuffer
}

func startNginx(t *testing.T) *nginxRTMP {
	t.Helper()
	needTool(t, "nginx")
	needTool(t, rtmpModule)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close() // nginx binds it next; it sets SO_REUSEADDR
	n := &nginxRTMP{t: t, dir: t.TempDir(), port: port, logs: &syncBuffer{}}
	conf := fmt.Sprintf(`load_module %s;
daemon off;
master_process off;
error_log stderr info;
pid %s/nginx.pid;
events { worker_connections 128; }
rtmp {
    server {
        listen 127.0.0.1:%d;
        application live { live on; }
        application deny { live on; deny publish all; }
    }
}
`, rtmpModule, n.dir, port)
	if err := os.WriteFile(filepath.Join(n.dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("---- nginx:\n%s", tail(n.logs.String(), 4000))
		}
	})
	return n
}

func (n *nginxRTMP) url(app, key string) string {
	return fmt.Sprintf("rtmp://127.0.0.1:%d/%s/%s", n.port, app, key)
}

// start runs nginx and waits until it accepts connections.
func (n *nginxRTMP) start() {
	n.t.Helper()
	n.cmd = exec.Command("nginx", "-e", "stderr", "-p", n.dir, "-c", filepath.Join(n.dir, "nginx.conf"))
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(n.cmd, n.done)
	deadline := time.Now().Add(eventWait)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-n.done:
			n.t.Fatalf("nginx exited: %s", n.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nginx does not accept on port %d: %v", n.port, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the port until nginx listens
	}
}

func (n *nginxRTMP) kill() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.done
	n.cmd = nil
}

func pushArgs(url, room, uid, source string, extra ...string) []string {
	return append([]string{"push-rtmp", "--server", url, "--app-id", testApp, "--app-secret", testSecret,
		"--room", room, "--uid", uid, "--source-uid", source}, extra...)
}

func status(url, st, reason string) func(json.RawMessage) bool {
	return both(field("url", url), both(field("status", st), field("reason", reason)))
}

// runTool runs ffprobe/ffmpeg with a deadline and returns its combined output.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// A test publisher (H.264 + Opus) is pushed to nginx: players see H.264
// and AAC 44.1 kHz stereo and decode it without a complaint; a refused
// application fails without holding anything up; killing nginx fails the
// push and restarting it brings it back; the publisher leaving finishes it.
func TestPushRTMP(t *testing.T) {
	needTool(t, "ffprobe")
	ngx := startNginx(t)
	url := serve(t)
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--video-codec", "h264")...)
	alice.wait(event.SDKAuthResult, field("result", 0))
	live, deny := ngx.url("live", "k1"), ngx.url("deny", "k2")
	started := time.Now()
	push := start(t, "push", pushArgs(url, "r1", "pusher", "alice", "--url", live, "--url", deny)...)
	_, i := push.waitFrom(0, event.PushStreamStatus, status(live, "PUSH_STREAM_ONGOING", ""))
	t.Logf("ONGOING %.1f s after start", time.Since(started).Seconds())
	push.wait(event.PushStreamStatus, status(deny, "PUSH_STREAM_FAILED", ""))

	probe := runTool(t, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels,width,height",
		"-of", "compact", live)
	for _, want := range []string{"codec_name=h264", "width=640", "height=480", "codec_name=aac", "sample_rate=44100", "channels=2"} {
		if !strings.Contains(probe, want) {
			t.Errorf("ffprobe: no %s in\n%s", want, probe)
		}
	}
	if out := runTool(t, "ffmpeg", "-v", "error", "-i", live, "-t", "3", "-f", "null", "-"); out != "" {
		t.Errorf("ffmpeg decoding the push complained:\n%s", out)
	}

	// The server goes away and comes back on the same port.
	ngx.kill()
	_, i = push.waitFrom(i+1, event.PushStreamStatus, status(live, "PUSH_STREAM_FAILED", ""))
	ngx.start()
	_, i = push.waitFrom(i+1, event.PushStreamStatus, status(live, "PUSH_STREAM_ONGOING", ""))
	if !strings.Contains(push.stderr.String(), "retrying") {
		t.Error("retries are not visible on stderr")
	}
	pid := push.cmd.Process.Pid
	rss, hwm := procStatus(pid, "VmRSS"), procStatus(pid, "VmHWM")
	cpu := procCPU(pid)
	wall := time.Since(started)

	alice.signal(syscall.SIGINT)
	push.waitFrom(i+1, event.PushStreamStatus, status(live, "PUSH_STREAM_FINISHED", "STREAM_IS_UNPUBLISHED"))
	push.wait(event.PushStreamStatus, status(deny, "PUSH_STREAM_FINISHED", "STREAM_IS_UNPUBLISHED"))
	if code := push.exitCode(); code != 0 {
		t.Fatalf("push-rtmp exit %d, want 0", code)
	}
	// Printed only on change: the refused URL failed once, however often it was retried.
	var denied []string
	for _, l := range push.snapshotRaw() {
		if strings.Contains(l, deny) {
			denied = append(denied, l)
		}
	}
	if len(denied) != 2 {
		t.Errorf("refused URL: %d statuses, want FAILED and FINISHED:\n%s", len(denied), strings.Join(denied, "\n"))
	}
	// Numbers for the record (not assertions).
	stats := regexp.MustCompile(`msg="rtmp push stats" .*url=rtmp://127.0.0.1:\d+/live/\S+ .*`).FindAllString(push.stderr.String(), -1)
	t.Logf("push-rtmp (race=%v): VmRSS %s, VmHWM %s, CPU %.2f s over %.1f s wall (%.0f%%, incl. WebRTC receive)",
		raceEnabled, rss, hwm, cpu, wall.Seconds(), 100*cpu/wall.Seconds())
	for _, s := range stats {
		t.Logf("%s", s)
	}
}

// procStatus reads a field of /proc/PID/status ("" when unavailable).
func procStatus(pid int, key string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// procCPU is the user+system CPU time of a process, in seconds.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// Bad input is refused before joining: exit 2, nothing printed.
func TestPushRTMPUsage(t *testing.T) {
	base := func(extra ...string) []string {
		return append([]string{"push-rtmp", "--server", "ws://127.0.0.1:1", "--app-id", testApp, "--app-secret", testSecret,
			"--room", "r1", "--uid", "pusher"}, extra...)
	}
	six := []string{"--source-uid", "alice"}
	for i := range 6 {
		six = append(six, "--url", fmt.Sprintf("rtmp://h/live/k%d", i))
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"malformed URL", base("--source-uid", "alice", "--url", "rtmp://h/%zz/k"), "invalid RTMP URL"},
		{"no stream key", base("--source-uid", "alice", "--url", "rtmp://h/live"), "rtmp://host/app/stream-key"},
		{"rtmps", base("--source-uid", "alice", "--url", "rtmps://h/live/k"), `scheme "rtmps"`},
		{"http", base("--source-uid", "alice", "--url", "http://h/live/k"), `scheme "http"`},
		{"six URLs", base(six...), "want 1 to 5 RTMP URLs"},
		{"no URL", base("--source-uid", "alice"), "want 1 to 5 RTMP URLs"},
		{"URL too long", base("--source-uid", "alice", "--url", "rtmp://h/live/"+strings.Repeat("k", 499)), "length 513"},
		{"duplicate URL", base("--source-uid", "alice", "--url", "rtmp://h/live/k", "--url", "rtmp://h/live/k"), "given twice"},
		{"no source", base("--url", "rtmp://h/live/k"), "--source-uid is required"},
		{"bad source", base("--source-uid", "a b", "--url", "rtmp://h/live/k"), "invalid --source-uid"},
		{"source is self", base("--source-uid", "pusher", "--url", "rtmp://h/live/k"), "own --uid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantUsageError(t, start(t, c.name, c.args...), c.want)
		})
	}
}

// A source that never publishes is INTERNEL_ERROR after --timeout, exit 1;
// so is a VP8 source, which RTMP cannot carry without transcoding.
func TestPushRTMPSourceUnavailable(t *testing.T) {
	url := serve(t)
	target := "rtmp://127.0.0.1:1/live/never"
	t.Run("absent", func(t *testing.T) {
		p := start(t, "push", pushArgs(url, "r1", "pusher", "nobody", "--url", target, "--timeout", "2s")...)
		p.wait(event.Connected, nil)
		p.wait(event.PushStreamStatus, status(target, "INTERNEL_ERROR", ""))
		if code := p.exitCode(); code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		if !strings.Contains(p.stderr.String(), "nobody did not publish") {
			t.Errorf("stderr does not explain: %s", tail(p.stderr.String(), 2000))
		}
	})
	t.Run("vp8", func(t *testing.T) {
		alice := start(t, "alice", joinArgs(url, "r2", "alice", "--publish", "test", "--video-codec", "vp8")...)
		alice.wait(event.SDKAuthResult, field("result", 0))
		p := start(t, "push", pushArgs(url, "r2", "pusher", "alice", "--url", target)...)
		p.wait(event.PushStreamStatus, status(target, "INTERNEL_ERROR", ""))
		if code := p.exitCode(); code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		if !strings.Contains(p.stderr.String(), "VP8") {
			t.Errorf("stderr does not name VP8: %s", tail(p.stderr.String(), 2000))
		}
		alice.signal(syscall.SIGINT)
		_ = alice.exitCode()
	})
}

// SIGINT ends the push cleanly: FINISHED/TASK_IS_STOPPED for every URL
// (one that never connected too), exit 0.
func TestPushRTMPStopped(t *testing.T) {
	url := serve(t)
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--video-codec", "h264")...)
	alice.wait(event.SDKAuthResult, field("result", 0))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := "rtmp://" + ln.Addr().String() + "/live/k"
	ln.Close() // nothing listens: connecting fails
	p := start(t, "push", pushArgs(url, "r1", "pusher", "alice", "--url", target)...)
	_, i := p.waitFrom(0, event.PushStreamStatus, status(target, "PUSH_STREAM_FAILED", ""))
	p.signal(syscall.SIGINT)
	p.waitFrom(i+1, event.PushStreamStatus, status(target, "PUSH_STREAM_FINISHED", "TASK_IS_STOPPED"))
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	alice.signal(syscall.SIGINT)
	_ = alice.exitCode()
}

// The room server crashes and comes back: the push rides through. The
// engine rejoins, the source's stream comes back in the new session, and
// the push goes on to the same RTMP URL without a FINISHED in between.
func TestPushRTMPThroughServerRestart(t *testing.T) {
	needTool(t, "ffprobe")
	ngx := startNginx(t)
	addr := freeAddr(t)
	srv := serveAt(t, "serve-1", addr)
	url := "ws://" + addr
	start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--video-codec", "h264")...)
	live := ngx.url("live", "k1")
	push := start(t, "push", pushArgs(url, "r1", "pusher", "alice", "--url", live)...)
	_, i := push.waitFrom(0, event.PushStreamStatus, status(live, "PUSH_STREAM_ONGOING", ""))

	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	srv.exitCode()
	_, i = push.waitFrom(i+1, event.Reconnect, nil)
	serveAt(t, "serve-2", addr)
	_, i = push.waitFrom(i+1, event.RemoteStreamAdd, field("uid", "alice"))
	push.waitFrom(i+1, event.FirstVideoFrameDecode, field("uid", "alice"))
	// Media from the new session reaches nginx: a player decodes it.
	probe := runTool(t, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "compact", live)
	if !strings.Contains(probe, "codec_name=h264") || !strings.Contains(probe, "codec_name=aac") {
		t.Fatalf("after the restart ffprobe sees\n%s", probe)
	}
	if out := runTool(t, "ffmpeg", "-v", "error", "-i", live, "-t", "2", "-f", "null", "-"); out != "" {
		t.Errorf("ffmpeg decoding the push after the restart complained:\n%s", out)
	}
	for _, l := range push.snapshotRaw() {
		if strings.Contains(l, "PUSH_STREAM_FINISHED") || strings.Contains(l, "INTERNEL_ERROR") {
			t.Fatalf("the push ended on a server restart: %s", l)
		}
	}
	push.signal(syscall.SIGINT)
	push.wait(event.PushStreamStatus, status(live, "PUSH_STREAM_FINISHED", "TASK_IS_STOPPED"))
	if code := push.exitCode(); code != 0 {
		t.Fatalf("push-rtmp exit %d", code)
	}
}
