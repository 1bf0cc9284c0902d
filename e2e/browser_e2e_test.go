package e2e

// End-to-end tests with a real browser in the room: headless Chromium opens
// the page `roomctl serve` serves at /, publishes its fake camera and
// microphone and subscribes, and reports every callback it logs to an HTTP
// endpoint of the test (?report=URL).

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/token"
	"github.com/roomctl/roomctl/record"
)

const chromiumPath = "/usr/bin/chromium"

// pageReport collects what the page POSTs: one roomctl-style line each.
type pageReport struct {
	t     *testing.T
	url   string
	mu    sync.Mutex
	lines []pageLine
	cond  chan struct{}
}

type pageLine struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

func newPageReport(t *testing.T) *pageReport {
	r := &pageReport{t: t, cond: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if req.Method != http.MethodPost {
			return
		}
		b, err := io.ReadAll(req.Body)
		var l pageLine
		if err != nil || json.Unmarshal(b, &l) != nil {
			t.Errorf("page reported %q", b)
			return
		}
		r.mu.Lock()
		r.lines = append(r.lines, l)
		close(r.cond)
		r.cond = make(chan struct{})
		r.mu.Unlock()
	}))
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() || os.Getenv("E2E_LOG") != "" {
			r.mu.Lock()
			defer r.mu.Unlock()
			var b strings.Builder
			for _, l := range r.lines {
				b.WriteString(l.Event + " " + string(l.Data) + "\n")
			}
			t.Logf("---- page:\n%s", tail(b.String(), 6000))
		}
	})
	r.url = srv.URL + "/report"
	return r
}

// wait returns the data of the first reported line named event that pred
// accepts.
func (r *pageReport) wait(event string, pred func(json.RawMessage) bool) json.RawMessage {
	r.t.Helper()
	deadline := time.After(eventWait)
	for i := 0; ; {
		r.mu.Lock()
		for ; i < len(r.lines); i++ {
			if l := r.lines[i]; l.Event == event && (pred == nil || pred(l.Data)) {
				r.mu.Unlock()
				return l.Data
			}
		}
		ch := r.cond
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			r.t.Fatalf("page: no %s within %s", event, eventWait)
		}
	}
}

func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI: %v", chromiumPath, err)
		}
		t.Skipf("%s is not installed (scripts/setup.sh installs it)", chromiumPath)
	}
}

// browse opens the page of the room server at serverURL (ws://HOST) in
// headless Chromium as uid of room, with extra URL parameters.
func browse(t *testing.T, serverURL, room, uid string, extra url.Values) *pageReport {
	t.Helper()
	rep := newPageReport(t)
	q := url.Values{
		"app":      {testApp},
		"room":     {room},
		"uid":      {uid},
		"token":    {mint(t, testSecret, token.Options{AppID: testApp, RoomID: room, UID: uid, TTL: time.Hour})},
		"report":   {rep.url},
		"autojoin": {"1"},
	}
	for k, v := range extra {
		q[k] = v
	}
	page := "http" + strings.TrimPrefix(serverURL, "ws") + "/?" + q.Encode()
	cmd := exec.Command(chromiumPath, "--headless=new", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(),
		"--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
		// Without this a page that has not used getUserMedia hides its host
		// candidates behind mDNS names, which the server does not resolve.
		"--disable-features=WebRtcHideLocalIpsWithMdns",
		"--autoplay-policy=no-user-gesture-required",
		page)
	// Its own process group, so that the cleanup ends Chromium's helpers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() || os.Getenv("E2E_LOG") != "" {
			t.Logf("---- chromium stderr:\n%s", tail(stderr.String(), 4000))
		}
	})
	return rep
}

// The browser publishes; roomctl decodes its video and records it to a file
// that ffmpeg decodes without an error.
func TestBrowserPublishes(t *testing.T) {
	needChromium(t)
	needTools(t, "ffprobe", "ffmpeg")
	for _, c := range []struct{ codec, probe string }{{"vp8", "vp8"}, {"h264", "h264"}} {
		t.Run(c.codec, func(t *testing.T) {
			srv := serve(t)
			page := browse(t, srv, "r1", "web", url.Values{"codec": {c.codec}})
			page.wait("sdk_auth_result", field("result", 0))
			page.wait("page_pc_state", both(field("pc", "publish"), field("state", "connected")))

			out := t.TempDir()
			rec := start(t, "rec", recordArgs(srv, "r1", "rec", "--out", out, "--duration", "8s")...)
			bob := start(t, "bob", joinArgs(srv, "r1", "bob", "--until", "first_video_frame_decode", "--timeout", "30s")...)
			add := bob.wait("remote_stream_add", field("uid", "web"))
			if v := decodeAs[struct {
				Video struct{ Codec string }
			}](t, add); v.Video.Codec != strings.ToUpper(c.codec) {
				t.Errorf("remote_stream_add %s", add.Data)
			}
			if code := bob.exitCode(); code != 0 {
				t.Fatalf("join --until first_video_frame_decode: exit %d", code)
			}

			_, i := rec.waitFrom(0, record.EventFileOpened, field("uid", "web"))
			closed, _ := rec.waitFrom(i+1, record.EventFileClosed, field("uid", "web"))
			if code := rec.exitCode(); code != 0 {
				t.Fatalf("record exit %d", code)
			}
			cl := decodeAs[record.FileClosed](t, closed)
			p, d := probeFile(t, cl.Path)
			var codecs []string
			for _, s := range p.Streams {
				codecs = append(codecs, s.CodecName)
			}
			if strings.Join(codecs, ",") != c.probe+",opus" {
				t.Fatalf("ffprobe %s: streams %v", cl.Path, codecs)
			}
			if d < 4*time.Second {
				t.Errorf("ffprobe duration %s", d)
			}
			browserFileDecodes(t, cl.Path)
			t.Logf("%s: %d bytes, %s", filepath.Base(cl.Path), cl.Bytes, d)
		})
	}
}

// browserFileDecodes is ffmpegDecodes for a browser's recording. Chrome's
// frame timing is variable: a starved fake camera sends frames a few ms
// apart (0.792 s, 0.800 s). The file is right, but ffmpeg's null output
// takes the time base 1/r_frame_rate (1/20 s), where two such frames share a
// timestamp, and complains "non monotonically increasing dts". An output
// time base of 1 ms keeps the check strict without that false alarm.
func browserFileDecodes(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path,
		"-enc_time_base:v", "1:1000", "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg decode of %s: %v\n%s", path, err, out)
	}
}

// roomctl publishes its test pattern; the page receives and decodes it.
func TestBrowserSubscribes(t *testing.T) {
	needChromium(t)
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			srv := serve(t)
			alice := start(t, "alice", joinArgs(srv, "r1", "alice", "--publish", "test", "--video-codec", codec)...)
			alice.wait("sdk_auth_result", field("result", 0))
			page := browse(t, srv, "r1", "web", url.Values{"publish": {"0"}})
			add := page.wait("remote_stream_add", field("uid", "alice"))
			var rs event.RemoteStream
			if err := json.Unmarshal(add, &rs); err != nil || rs.Video == nil || rs.Video.Codec != strings.ToUpper(codec) ||
				rs.Audio == nil || rs.Audio.SampleRate != 48000 {
				t.Errorf("page: remote_stream_add %s", add)
			}
			page.wait("first_video_frame_decode", field("uid", "alice"))
			page.wait("page_stats", func(d json.RawMessage) bool {
				var st struct {
					UID           string
					Codec         string
					FramesDecoded int
				}
				return json.Unmarshal(d, &st) == nil && st.UID == "alice" &&
					strings.EqualFold(st.Codec, codec) && st.FramesDecoded > 10
			})
			alice.signal(syscall.SIGINT)
			page.wait("remote_stream_remove", field("uid", "alice"))
		})
	}
}
