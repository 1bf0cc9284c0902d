package e2e

// End-to-end tests of push-rtmp: a real nginx with the RTMP module started
// by the test, a publisher and the pusher as roomctl processes, ffprobe and
// ffmpeg as the players.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
)

func status(url, st, reason string) func(json.RawMessage) bool {
	return both(field("url", url), both(field("status", st), field("reason", reason)))
}

// A test publisher (H.264 + Opus) is pushed to nginx: players see H.264
// and AAC 44.1 kHz stereo and decode it without a complaint; a refused
// application fails without holding anything up; killing nginx fails the
// push and restarting it brings it back; the publisher leaving finishes it.
func TestPushRTMP(t *testing.T) {
	testutil.Need(t, "ffprobe")
	ngx := testutil.StartNginxRTMP(t)
	url := serve(t)
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--video-codec", "h264")...)
	alice.Wait(event.SDKAuthResult, field("result", 0))
	live, deny := ngx.URL("live", "k1"), ngx.URL("deny", "k2")
	started := time.Now()
	push := start(t, "push", pushArgs(url, "r1", "pusher", "alice", "--url", live, "--url", deny)...)
	_, i := push.WaitFrom(0, event.PushStreamStatus, status(live, "PUSH_STREAM_ONGOING", ""))
	t.Logf("ONGOING %.1f s after start", time.Since(started).Seconds())
	push.Wait(event.PushStreamStatus, status(deny, "PUSH_STREAM_FAILED", ""))

	probe := testutil.RunTool(t, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels,width,height",
		"-of", "compact", live)
	for _, want := range []string{"codec_name=h264", "width=640", "height=480", "codec_name=aac", "sample_rate=44100", "channels=2"} {
		if !strings.Contains(probe, want) {
			t.Errorf("ffprobe: no %s in\n%s", want, probe)
		}
	}
	decodesSilently(t, live)

	// The server goes away and comes back on the same port.
	ngx.Kill()
	_, i = push.WaitFrom(i+1, event.PushStreamStatus, status(live, "PUSH_STREAM_FAILED", ""))
	ngx.Start()
	_, i = push.WaitFrom(i+1, event.PushStreamStatus, status(live, "PUSH_STREAM_ONGOING", ""))
	if !strings.Contains(push.Stderr(), "retrying") {
		t.Error("retries are not visible on stderr")
	}
	pid := push.PID()
	rss, hwm := testutil.ProcStatus(pid, "VmRSS"), testutil.ProcStatus(pid, "VmHWM")
	cpu := testutil.ProcCPU(pid)
	wall := time.Since(started)

	alice.Signal(syscall.SIGINT)
	push.WaitFrom(i+1, event.PushStreamStatus, status(live, "PUSH_STREAM_FINISHED", "STREAM_IS_UNPUBLISHED"))
	push.Wait(event.PushStreamStatus, status(deny, "PUSH_STREAM_FINISHED", "STREAM_IS_UNPUBLISHED"))
	if code := push.ExitCode(); code != 0 {
		t.Fatalf("push-rtmp exit %d, want 0", code)
	}
	// Printed only on change: the refused URL failed once, however often it was retried.
	var denied []string
	for _, l := range push.Raw() {
		if strings.Contains(l, deny) {
			denied = append(denied, l)
		}
	}
	if len(denied) != 2 {
		t.Errorf("refused URL: %d statuses, want FAILED and FINISHED:\n%s", len(denied), strings.Join(denied, "\n"))
	}
	// Numbers for the record (not assertions).
	stats := regexp.MustCompile(`msg="rtmp push stats" .*url=rtmp://127.0.0.1:\d+/live/\S+ .*`).FindAllString(push.Stderr(), -1)
	t.Logf("push-rtmp (race=%v): VmRSS %s, VmHWM %s, CPU %.2f s over %.1f s wall (%.0f%%, incl. WebRTC receive)",
		raceEnabled, rss, hwm, cpu, wall.Seconds(), 100*cpu/wall.Seconds())
	for _, s := range stats {
		t.Logf("%s", s)
	}
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
		{"six URLs", base(six...), "want at most 5 RTMP URLs"},
		{"no URL", base("--source-uid", "alice"), "--url is required (or --control"},
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

// A source that never publishes is INTERNEL_ERROR after --timeout, exit 1.
func TestPushRTMPSourceUnavailable(t *testing.T) {
	url := serve(t)
	target := "rtmp://127.0.0.1:1/live/never"
	t.Run("absent", func(t *testing.T) {
		p := start(t, "push", pushArgs(url, "r1", "pusher", "nobody", "--url", target, "--timeout", "2s")...)
		p.Wait(event.Connected, nil)
		p.Wait(event.PushStreamStatus, status(target, "INTERNEL_ERROR", ""))
		if code := p.ExitCode(); code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		if !strings.Contains(p.Stderr(), "nobody did not publish") {
			t.Errorf("stderr does not explain: %s", testutil.Tail(p.Stderr(), 2000))
		}
	})
}

// SIGINT ends the push cleanly: FINISHED/TASK_IS_STOPPED for every URL
// (one that never connected too), exit 0.
func TestPushRTMPStopped(t *testing.T) {
	url := serve(t)
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--video-codec", "h264")...)
	alice.Wait(event.SDKAuthResult, field("result", 0))
	target := "rtmp://" + testutil.FreeTCPAddr(t) + "/live/k" // nothing listens: connecting fails
	p := start(t, "push", pushArgs(url, "r1", "pusher", "alice", "--url", target)...)
	_, i := p.WaitFrom(0, event.PushStreamStatus, status(target, "PUSH_STREAM_FAILED", ""))
	p.Signal(syscall.SIGINT)
	p.WaitFrom(i+1, event.PushStreamStatus, status(target, "PUSH_STREAM_FINISHED", "TASK_IS_STOPPED"))
	if code := p.ExitCode(); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	alice.Signal(syscall.SIGINT)
	_ = alice.ExitCode()
}

// The room server crashes and comes back: the push rides through. The
// engine rejoins, the source's stream comes back in the new session, and
// the push goes on to the same RTMP URL without a FINISHED in between.
func TestPushRTMPThroughServerRestart(t *testing.T) {
	testutil.Need(t, "ffprobe")
	ngx := testutil.StartNginxRTMP(t)
	addr := testutil.FreeTCPAddr(t)
	srv := serveAt(t, "serve-1", addr)
	url := "ws://" + addr
	start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--video-codec", "h264")...)
	live := ngx.URL("live", "k1")
	push := start(t, "push", pushArgs(url, "r1", "pusher", "alice", "--url", live)...)
	_, i := push.WaitFrom(0, event.PushStreamStatus, status(live, "PUSH_STREAM_ONGOING", ""))

	srv.Kill()
	srv.ExitCode()
	_, i = push.WaitFrom(i+1, event.Reconnect, nil)
	serveAt(t, "serve-2", addr)
	_, i = push.WaitFrom(i+1, event.RemoteStreamAdd, field("uid", "alice"))
	push.WaitFrom(i+1, event.FirstVideoFrameDecode, field("uid", "alice"))
	// Media from the new session reaches nginx: a player decodes it.
	probe := testutil.RunTool(t, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "compact", live)
	if !strings.Contains(probe, "codec_name=h264") || !strings.Contains(probe, "codec_name=aac") {
		t.Fatalf("after the restart ffprobe sees\n%s", probe)
	}
	if out := testutil.RunTool(t, "ffmpeg", "-v", "error", "-i", live, "-t", "2", "-f", "null", "-"); out != "" {
		t.Errorf("ffmpeg decoding the push after the restart complained:\n%s", out)
	}
	for _, l := range push.Raw() {
		if strings.Contains(l, "PUSH_STREAM_FINISHED") || strings.Contains(l, "INTERNEL_ERROR") {
			t.Fatalf("the push ended on a server restart: %s", l)
		}
	}
	push.Signal(syscall.SIGINT)
	push.Wait(event.PushStreamStatus, status(live, "PUSH_STREAM_FINISHED", "TASK_IS_STOPPED"))
	if code := push.ExitCode(); code != 0 {
		t.Fatalf("push-rtmp exit %d", code)
	}
}
