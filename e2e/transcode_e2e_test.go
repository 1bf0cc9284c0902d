package e2e

// End-to-end tests of transcoded pushes: VP8 publishers (roomctl's test
// source, Chromium) restreamed as H.264 to a real nginx-rtmp, and a
// transcoding task composing several users, checked by pulling the stream
// with ffprobe and ffmpeg: codecs and sizes, pixels at cell centres, tones
// in the audio.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/dsp/dsptest"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
)

// probeHas fails the test unless ffprobe finds every want in the stream.
func probeHas(t *testing.T, rtmpURL string, want ...string) {
	t.Helper()
	probe := testutil.RunTool(t, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels,width,height,has_b_frames",
		"-of", "compact", rtmpURL)
	for _, w := range want {
		if !strings.Contains(probe, w) {
			t.Errorf("ffprobe: no %s in\n%s", w, probe)
		}
	}
}

// A VP8 test publisher (green, a 1 kHz tone) is pushed as H.264 at its own
// size with AAC: ffmpeg decodes the pull without a complaint, its picture
// is green and its audio has the 1 kHz tone (not the test source's usual
// 480 Hz).
func TestPushRTMPTranscodesVP8(t *testing.T) {
	testutil.Need(t, "ffprobe", "ffmpeg")
	ngx := testutil.StartNginxRTMP(t)
	url := serve(t)
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--video-codec", "vp8",
		"--test-colour", "green", "--tone-hz", "1000")...)
	alice.Wait(event.SDKAuthResult, field("result", 0))
	live := ngx.URL("live", "vp8")
	started := time.Now()
	push := start(t, "push", pushArgs(url, "r1", "pusher", "alice", "--url", live)...)
	push.Wait(event.PushStreamStatus, status(live, "PUSH_STREAM_ONGOING", ""))
	probeHas(t, live, "codec_name=h264", "width=640", "height=480", "has_b_frames=0", "codec_name=aac", "sample_rate=44100", "channels=2")
	decodesSilently(t, live)
	g := grabFrames(t, live, 64, 48)
	g.waitFor(t, "green", time.Time{}, func(px func(x, y int) [3]byte) bool { return colourIs(px(32, 24), green) })
	pcm := testutil.DecodePCM(t, live, "-t", "3", "-vn", "-ac", "1", "-ar", "44100")
	pcm = pcm[len(pcm)/3:]
	p1k, p480 := dsptest.Goertzel(pcm, 1000, 44100), dsptest.Goertzel(pcm, 480, 44100)
	t.Logf("audio power: 1 kHz %.2e, 480 Hz %.2e", p1k, p480)
	if p1k < 1e-3 || p480 > p1k/100 {
		t.Errorf("the pushed audio is not the 1 kHz tone: 1 kHz %.2e, 480 Hz %.2e", p1k, p480)
	}
	pid := push.PID()
	hwm, cpu, wall := testutil.ProcStatus(pid, "VmHWM"), testutil.ProcCPU(pid), time.Since(started)
	alice.Signal(syscall.SIGINT)
	push.Wait(event.PushStreamStatus, status(live, "PUSH_STREAM_FINISHED", "STREAM_IS_UNPUBLISHED"))
	if code := push.ExitCode(); code != 0 {
		t.Fatalf("push-rtmp exit %d, want 0", code)
	}
	if !strings.Contains(push.Stderr(), "transcoding to H.264") {
		t.Errorf("stderr does not say the video is transcoded:\n%s", testutil.Tail(push.Stderr(), 2000))
	}
	t.Logf("push-rtmp VP8→H.264 (race=%v): VmHWM %s, CPU %.2f s over %.1f s (%.0f%%, incl. WebRTC receive)",
		raceEnabled, hwm, cpu, wall.Seconds(), 100*cpu/wall.Seconds())
	for _, s := range regexp.MustCompile(`msg="(rtmp push stats|transcoding statistics)".*`).FindAllString(push.Stderr(), -1) {
		t.Logf("%s", s)
	}
}

// decodesSilently has ffmpeg decode 3 s of the stream and fails the test
// if it says anything. The null muxer gets a 1-ms video time base, as
// testutil.DecodeClean explains: at its default of 1/frame-rate, two
// pictures of a source with jittery timestamps (30 fps in whole ms, 33 or
// 34 ms apart, bunched by the source's encoder) can round onto one tick,
// and ffmpeg's muxer complains about its own rounding.
func decodesSilently(t *testing.T, rtmpURL string) {
	t.Helper()
	if out := testutil.RunTool(t, "ffmpeg", "-v", "error", "-i", rtmpURL, "-t", "3", "-enc_time_base:v", "1:1000", "-f", "null", "-"); out != "" {
		t.Errorf("ffmpeg decoding the push complained:\n%s", out)
	}
}

// frameGrabber pulls a stream with ffmpeg and keeps its newest picture,
// scaled to w x h RGB, with when it came.
type frameGrabber struct {
	w, h int
	mu   sync.Mutex
	pic  []byte
	at   time.Time
	n    int
	cond chan struct{} // closed and replaced at every picture
}

func grabFrames(t *testing.T, rtmpURL string, w, h int) *frameGrabber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-fflags", "nobuffer", "-i", rtmpURL,
		"-vf", fmt.Sprintf("scale=%d:%d", w, h), "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &frameGrabber{w: w, h: h, cond: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReaderSize(out, 1<<16)
		for {
			pic := make([]byte, w*h*3)
			if _, err := io.ReadFull(r, pic); err != nil {
				return
			}
			g.mu.Lock()
			g.pic, g.at, g.n = pic, time.Now(), g.n+1
			close(g.cond)
			g.cond = make(chan struct{})
			g.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		<-done
	})
	return g
}

// waitFor waits (up to testutil.Deadline) for a picture that ok accepts,
// received after since; it returns when that picture came.
func (g *frameGrabber) waitFor(t *testing.T, what string, since time.Time, ok func(px func(x, y int) [3]byte) bool) time.Time {
	t.Helper()
	deadline := time.After(testutil.Deadline)
	var last []byte
	for {
		g.mu.Lock()
		pic, at, ch := g.pic, g.at, g.cond
		g.mu.Unlock()
		if pic != nil && at.After(since) {
			last = pic
			px := func(x, y int) [3]byte {
				i := (y*g.w + x) * 3
				return [3]byte{pic[i], pic[i+1], pic[i+2]}
			}
			if ok(px) {
				return at
			}
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no picture with %s within %s (%d pictures pulled); the last one's centres: %s",
				what, testutil.Deadline, g.n, describe(last, g.w, g.h))
			return time.Time{}
		}
	}
}

// describe prints the colours at the centres of a 2x2 grid.
func describe(pic []byte, w, h int) string {
	if pic == nil {
		return "none"
	}
	var b strings.Builder
	for _, c := range gridCentres(w, h) {
		i := (c[1]*w + c[0]) * 3
		fmt.Fprintf(&b, "(%d,%d)=%v ", c[0], c[1], pic[i:i+3])
	}
	return b.String()
}

// gridCentres are the centres of the cells of a 2x2 grid.
func gridCentres(w, h int) [4][2]int {
	return [4][2]int{{w / 4, h / 4}, {3 * w / 4, h / 4}, {w / 4, 3 * h / 4}, {3 * w / 4, 3 * h / 4}}
}

// colourIs reports whether px is near want (each channel within 60: the
// picture went through VP8, scaling, H.264 and back to RGB).
func colourIs(px, want [3]byte) bool {
	for i := range px {
		if math.Abs(float64(px[i])-float64(want[i])) > 60 {
			return false
		}
	}
	return true
}

var (
	red     = [3]byte{255, 0, 0}
	green   = [3]byte{0, 255, 0}
	blue    = [3]byte{0, 0, 255}
	yellow  = [3]byte{255, 255, 0}
	black   = [3]byte{0, 0, 0}
	magenta = [3]byte{255, 0, 255}
)

// colourClip makes a looping publisher's files: solid colour VP8 at
// 320x240, 15 fps, a keyframe every 10 pictures (a file cannot answer a
// keyframe request), and a tone of hz (0: silence) in Ogg Opus. Files
// rather than --publish test: five libvpx encoders at 640x480 30 fps are
// more than two cores can run next to a race-built push.
func colourClip(t *testing.T, dir, colour string, hz int) string {
	t.Helper()
	v, a := filepath.Join(dir, colour+".ivf"), filepath.Join(dir, colour+".ogg")
	audio := "anullsrc=r=48000:cl=mono"
	if hz > 0 {
		audio = fmt.Sprintf("sine=f=%d:r=48000", hz)
	}
	for _, args := range [][]string{
		{"-f", "lavfi", "-i", "color=c=" + colour + ":size=320x240:rate=15", "-t", "4", "-c:v", "libvpx", "-b:v", "200k", "-g", "10", "-auto-alt-ref", "0", v},
		{"-f", "lavfi", "-i", audio, "-t", "4", "-ac", "1", "-c:a", "libopus", "-b:a", "32k", a},
	} {
		if out, err := exec.Command("ffmpeg", append([]string{"-nostdin", "-v", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
	}
	return v + "," + a
}

// A transcoding task of four listed users, three of them publishing
// distinct colours (red with a 440 Hz tone, green with 1 kHz, blue
// silent), and a fifth user who publishes magenta and 700 Hz but is not
// listed: the pulled picture has each colour in its grid cell and black in
// the fourth, the audio has 440 Hz and 1 kHz and not 700 Hz; the fourth
// user (yellow) joining fills its cell; a user leaving closes the grid up.
func TestPushRTMPTranscodingTask(t *testing.T) {
	testutil.Need(t, "ffprobe", "ffmpeg")
	ngx := testutil.StartNginxRTMP(t)
	url := serve(t)
	dir := t.TempDir()
	// The publishers subscribe to nobody: twenty race-built WebRTC
	// receivers would starve the push on two cores.
	pub := func(uid, colour string, hz int) *proc {
		return start(t, uid, joinArgs(url, "r1", uid, "--publish", colourClip(t, dir, colour, hz), "--loop", "--subscribe", "nobody")...)
	}
	a := pub("a", "red", 440)
	b := pub("b", "lime", 1000) // ffmpeg's "green" is #008000
	c := pub("c", "blue", 0)
	e := pub("e", "magenta", 700)
	for _, p := range []*proc{a, b, c, e} {
		p.Wait(event.SDKAuthResult, field("result", 0))
	}
	live := ngx.URL("live", "task")
	pushStarted := time.Now()
	push := start(t, "push", "push-rtmp", "--server", url, "--app-id", testApp, "--app-secret", testSecret,
		"--room", "r1", "--uid", "pusher", "--transcode", "3",
		"--user", "a", "--user", "b", "--user", "c", "--user", "d", "--url", live)
	push.Wait(event.PushStreamStatus, status(live, "PUSH_STREAM_ONGOING", ""))
	probeHas(t, live, "codec_name=h264", "width=640", "height=360", "has_b_frames=0", "codec_name=aac", "sample_rate=44100", "channels=2")

	const w, h = 160, 90
	g := grabFrames(t, live, w, h)
	cells := gridCentres(w, h)
	g.waitFor(t, "red, green, blue and black in the grid", time.Time{}, func(px func(x, y int) [3]byte) bool {
		for i, want := range [][3]byte{red, green, blue, black} {
			if !colourIs(px(cells[i][0], cells[i][1]), want) {
				return false
			}
		}
		return true
	})

	pcm := testutil.DecodePCM(t, live, "-t", "4", "-vn", "-ac", "1", "-ar", "44100")
	if len(pcm) < 44100*3 {
		t.Fatalf("pulled %d samples of audio, want 4 s", len(pcm))
	}
	pcm = pcm[len(pcm)/4:] // past any fade-in
	p440, p1k, p700 := dsptest.Goertzel(pcm, 440, 44100), dsptest.Goertzel(pcm, 1000, 44100), dsptest.Goertzel(pcm, 700, 44100)
	t.Logf("audio power: 440 Hz %.2e, 1 kHz %.2e, 700 Hz (not listed) %.2e", p440, p1k, p700)
	if p440 < 1e-3 || p1k < 1e-3 {
		t.Errorf("a listed user's tone is missing: 440 Hz %.2e, 1 kHz %.2e (a 0.25 sine is 1.6e-2)", p440, p1k)
	}
	if p700 > p440/100 {
		t.Errorf("700 Hz of the unlisted user is in the mix: %.2e (440 Hz: %.2e)", p700, p440)
	}

	// The fourth user comes: its cell turns yellow.
	// The fourth user comes: its cell turns yellow. The delay counts from
	// its joining (its connected event) to the picture pulled from nginx:
	// publishing, the push's subscription, a keyframe of its file (every
	// 0.67 s), decoding, the next tick, encoding, nginx and ffmpeg.
	started := time.Now()
	d := pub("d", "yellow", 0)
	joined := testutil.LineTime(t, d.Wait(event.Connected, nil))
	at := g.waitFor(t, "the fourth user in its cell", started, func(px func(x, y int) [3]byte) bool {
		return colourIs(px(cells[3][0], cells[3][1]), yellow) && colourIs(px(cells[0][0], cells[0][1]), red)
	})
	delay := at.Sub(joined)
	t.Logf("the fourth user is in the picture %.2f s after it joined, %.2f s after its process started (race=%v)",
		delay.Seconds(), at.Sub(started).Seconds(), raceEnabled)
	// The 2 s; race builds of five processes run several times
	// slower.
	limit := 2 * time.Second
	if raceEnabled {
		limit = 6 * time.Second
	}
	if delay > limit {
		t.Errorf("the grid changed %.2f s after the fourth user joined, want within %s", delay.Seconds(), limit)
	}
	for i := range 4 {
		if px := g.pixel(cells[i]); colourIs(px, magenta) {
			t.Errorf("the unlisted user's magenta is in cell %d", i)
		}
	}

	// A listed user leaving: its cell goes, the grid closes up (three users:
	// a, b, d), and the task goes on.
	c.Signal(syscall.SIGINT)
	g.waitFor(t, "the grid without the blue user", time.Now(), func(px func(x, y int) [3]byte) bool {
		return colourIs(px(cells[2][0], cells[2][1]), yellow) && colourIs(px(cells[3][0], cells[3][1]), black)
	})
	pid := push.PID()
	hwm, cpu, wall := testutil.ProcStatus(pid, "VmHWM"), testutil.ProcCPU(pid), time.Since(pushStarted)
	push.Signal(syscall.SIGINT)
	push.Wait(event.PushStreamStatus, status(live, "PUSH_STREAM_FINISHED", "TASK_IS_STOPPED"))
	if code := push.ExitCode(); code != 0 {
		t.Fatalf("push-rtmp exit %d, want 0", code)
	}
	t.Logf("push-rtmp task, mode 3 (race=%v): VmHWM %s, CPU %.2f s over %.1f s (%.0f%%, incl. WebRTC receive)",
		raceEnabled, hwm, cpu, wall.Seconds(), 100*cpu/wall.Seconds())
	for _, s := range regexp.MustCompile(`msg="(rtmp push stats|transcoding statistics)".*`).FindAllString(push.Stderr(), -1) {
		t.Logf("%s", s)
	}
}

// pixel is the newest picture's colour at c.
func (g *frameGrabber) pixel(c [2]int) [3]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := (c[1]*g.w + c[0]) * 3
	return [3]byte{g.pic[i], g.pic[i+1], g.pic[i+2]}
}

// Bad task options are refused before joining: exit 2.
func TestPushRTMPTranscodeUsage(t *testing.T) {
	base := func(extra ...string) []string {
		return append([]string{"push-rtmp", "--server", "ws://127.0.0.1:1", "--app-id", testApp, "--app-secret", testSecret,
			"--room", "r1", "--uid", "pusher", "--url", "rtmp://h/live/k"}, extra...)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown mode", base("--transcode", "8"), "mode 8 (want 1-7 landscape or 101-107 portrait)"},
		{"user without task", base("--source-uid", "a", "--user", "a"), "--user and --layout need --transcode MODE"},
		{"outside the canvas", base("--transcode", "1", "--user", "a:0,0,640,360"), "not inside the 320x180 canvas"},
		{"placed and not", base("--transcode", "6", "--user", "a:0,0,64,64", "--user", "b"), "give every user a position or none"},
		{"bad position", base("--transcode", "6", "--user", "a:0,0,x,64"), `"x" is not a whole number`},
		{"listed twice", base("--transcode", "6", "--user", "a", "--user", "a"), `user "a" listed twice`},
		{"self", base("--transcode", "6", "--user", "pusher"), "own --uid"},
		{"missing layout", base("--transcode", "6", "--layout", "/nonexistent.json"), "--layout"},
		{"tone of a file", joinArgs("ws://127.0.0.1:1", "r1", "u", "--publish", "x.ogg", "--tone-hz", "440"), "apply to --publish test only"},
		{"bad colour", joinArgs("ws://127.0.0.1:1", "r1", "u", "--publish", "test", "--test-colour", "#12"), "--test-colour"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantUsageError(t, start(t, c.name, c.args...), c.want)
		})
	}
}

// forwardInto listens inside ns and forwards every connection to target
// outside it: a pusher inside the browser's namespace reaches nginx.
func forwardInto(t *testing.T, ns *testutil.NetNS, target string) string {
	t.Helper()
	l, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return l.Addr().String()
}

// Chromium publishes VP8 (the page's default) and push-rtmp restreams it
// in a transcoding task of mode 1: the pull is H.264 at 320x180 with AAC,
// and ffmpeg decodes it without a complaint.
func TestBrowserPushTranscoded(t *testing.T) {
	testutil.NeedChromium(t)
	testutil.Need(t, "ffprobe", "ffmpeg")
	ngx := testutil.StartNginxRTMP(t)
	ns := testutil.NewNetNS(t)
	srv := serveIn(t, ns)
	page := browse(t, ns, srv, "r1", "web", url.Values{"codec": {"vp8"}})
	page.Wait("sdk_auth_result", field("result", 0))
	page.Wait("page_pc_state", both(field("pc", "publish"), field("state", "connected")))

	live := ngx.URL("live", "web")
	inside := "rtmp://" + forwardInto(t, ns, strings.TrimPrefix(strings.Split(live, "/live/")[0], "rtmp://")) + "/live/web"
	push := startIn(t, ns, "push", pushArgs(srv, "r1", "pusher", "web", "--transcode", "1", "--url", inside)...)
	add := push.Wait(event.RemoteStreamAdd, field("uid", "web"))
	if v := testutil.DecodeAs[struct{ Video struct{ Codec string } }](t, add); v.Video.Codec != "VP8" {
		t.Errorf("the browser does not publish VP8: %v", add.Data)
	}
	push.Wait(event.PushStreamStatus, status(inside, "PUSH_STREAM_ONGOING", ""))
	probeHas(t, live, "codec_name=h264", "width=320", "height=180", "has_b_frames=0", "codec_name=aac", "sample_rate=44100", "channels=2")
	decodesSilently(t, live)
	push.Signal(syscall.SIGINT)
	push.Wait(event.PushStreamStatus, status(inside, "PUSH_STREAM_FINISHED", "TASK_IS_STOPPED"))
	if code := push.ExitCode(); code != 0 {
		t.Fatalf("push-rtmp exit %d, want 0", code)
	}
}
