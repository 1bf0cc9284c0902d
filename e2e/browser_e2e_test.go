package e2e

// End-to-end tests with a real browser in the room: headless Chromium opens
// the page `roomctl serve` serves at /, publishes its fake camera and
// microphone and subscribes, and reports every callback it logs to an HTTP
// endpoint of the test (?report=URL). The page reports to its own origin
// only, so the tests open it through a proxy (sameOrigin) that serves both
// the room server and the endpoint.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/internal/token"
	"github.com/roomctl/roomctl/record"
)

// browse opens the page of the room server at serverURL (ws://HOST,
// running inside ns) in headless Chromium inside ns, as uid of room, with
// extra URL parameters; it returns what the page reports.
func browse(t *testing.T, ns *testutil.NetNS, serverURL, room, uid string, extra url.Values) *testutil.PageReport {
	t.Helper()
	rep := testutil.NewPageReport(t, ns)
	q := url.Values{
		"app":      {testApp},
		"room":     {room},
		"uid":      {uid},
		"token":    {mint(t, testSecret, token.Options{AppID: testApp, RoomID: room, UID: uid, TTL: time.Hour})},
		"report":   {"/report"},
		"autojoin": {"1"},
	}
	for k, v := range extra {
		q[k] = v
	}
	testutil.StartChromium(t, ns, sameOrigin(t, ns, serverURL, rep)+"/?"+q.Encode())
	return rep
}

// sameOrigin serves, inside ns, the room server at serverURL (its page and
// signaling WebSocket) and rep's endpoint at /report under one origin, which
// it returns (http://HOST:PORT). A report of a Content-Security-Policy
// violation or of a refused ?report= fails the test: the page must work
// under its own policy.
func sameOrigin(t *testing.T, ns *testutil.NetNS, serverURL string, rep *testutil.PageReport) string {
	t.Helper()
	room, err := url.Parse("http" + strings.TrimPrefix(serverURL, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	report, err := url.Parse(rep.URL())
	if err != nil {
		t.Fatal(err)
	}
	room.Path, report.Path = "", ""
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			if r.In.URL.Path == "/report" {
				r.SetURL(report)
			} else {
				r.SetURL(room)
			}
			r.Out.Host = r.In.Host // the page's origin, as the browser sent it
		},
		// The servers listen inside ns: dial from inside.
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := ns.Do(func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}},
	}
	l, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/report" && r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			var l struct{ Event string }
			if json.Unmarshal(b, &l) == nil && (l.Event == "page_csp_violation" || l.Event == "page_report_refused") {
				t.Errorf("page reported %s", b)
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		proxy.ServeHTTP(w, r)
	}))
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// The browser publishes; roomctl decodes its video and records it to a file
// that ffmpeg decodes without an error.
func TestBrowserPublishes(t *testing.T) {
	testutil.NeedChromium(t)
	testutil.Need(t, "ffprobe", "ffmpeg")
	for _, c := range []struct{ codec, probe string }{{"vp8", "vp8"}, {"h264", "h264"}} {
		t.Run(c.codec, func(t *testing.T) {
			ns := testutil.NewNetNS(t)
			srv := serveIn(t, ns)
			page := browse(t, ns, srv, "r1", "web", url.Values{"codec": {c.codec}})
			page.Wait("sdk_auth_result", field("result", 0))
			page.Wait("page_pc_state", both(field("pc", "publish"), field("state", "connected")))

			out := t.TempDir()
			rec := startIn(t, ns, "rec", recordArgs(srv, "r1", "rec", "--out", out, "--duration", "8s")...)
			bob := startIn(t, ns, "bob", joinArgs(srv, "r1", "bob", "--until", "first_video_frame_decode", "--timeout", "30s")...)
			add := bob.Wait("remote_stream_add", field("uid", "web"))
			if v := testutil.DecodeAs[struct {
				Video struct{ Codec string }
			}](t, add); v.Video.Codec != strings.ToUpper(c.codec) {
				t.Errorf("remote_stream_add %s", add.Data)
			}
			if code := bob.ExitCode(); code != 0 {
				t.Fatalf("join --until first_video_frame_decode: exit %d", code)
			}

			_, i := rec.WaitFrom(0, record.EventFileOpened, field("uid", "web"))
			closed, _ := rec.WaitFrom(i+1, record.EventFileClosed, field("uid", "web"))
			if code := rec.ExitCode(); code != 0 {
				t.Fatalf("record exit %d", code)
			}
			cl := testutil.DecodeAs[record.FileClosed](t, closed)
			p := testutil.FFprobe(t, cl.Path)
			d := p.Duration(t)
			if codecs := p.Codecs(); strings.Join(codecs, ",") != c.probe+",opus" {
				t.Fatalf("ffprobe %s: streams %v", cl.Path, codecs)
			}
			if d < 4*time.Second {
				t.Errorf("ffprobe duration %s", d)
			}
			testutil.DecodeClean(t, cl.Path)
			t.Logf("%s: %d bytes, %s", filepath.Base(cl.Path), cl.Bytes, d)
		})
	}
}

// roomctl publishes its test pattern; the page receives and decodes it.
func TestBrowserSubscribes(t *testing.T) {
	testutil.NeedChromium(t)
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			ns := testutil.NewNetNS(t)
			srv := serveIn(t, ns)
			alice := startIn(t, ns, "alice", joinArgs(srv, "r1", "alice", "--publish", "test", "--video-codec", codec)...)
			alice.Wait("sdk_auth_result", field("result", 0))
			page := browse(t, ns, srv, "r1", "web", url.Values{"publish": {"0"}})
			add := page.Wait("remote_stream_add", field("uid", "alice"))
			var rs event.RemoteStream
			if err := json.Unmarshal(add, &rs); err != nil || rs.Video == nil || rs.Video.Codec != strings.ToUpper(codec) ||
				rs.Audio == nil || rs.Audio.SampleRate != 48000 {
				t.Errorf("page: remote_stream_add %s", add)
			}
			page.Wait("first_video_frame_decode", field("uid", "alice"))
			page.Wait("page_stats", func(d json.RawMessage) bool {
				var st struct {
					UID           string
					Codec         string
					FramesDecoded int
				}
				return json.Unmarshal(d, &st) == nil && st.UID == "alice" &&
					strings.EqualFold(st.Codec, codec) && st.FramesDecoded > 10
			})
			alice.Signal(syscall.SIGINT)
			page.Wait("remote_stream_remove", field("uid", "alice"))
		})
	}
}

// The page reports to its own origin only: opened straight from the room
// server with ?report= naming another origin (where the token in
// token_will_expire would go), it joins and publishes, and that origin gets
// nothing.
func TestBrowserReportSameOrigin(t *testing.T) {
	testutil.NeedChromium(t)
	ns := testutil.NewNetNS(t)
	srv := serveIn(t, ns)
	var posts atomic.Int64
	l, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		posts.Add(1)
	}))
	_ = other.Listener.Close()
	other.Listener = l
	other.Start()
	t.Cleanup(other.Close)

	q := url.Values{
		"app": {testApp}, "room": {"r1"}, "uid": {"web"}, "autojoin": {"1"}, "codec": {"vp8"},
		"token":  {mint(t, testSecret, token.Options{AppID: testApp, RoomID: "r1", UID: "web", TTL: time.Hour})},
		"report": {other.URL + "/report"},
	}
	testutil.StartChromium(t, ns, "http"+strings.TrimPrefix(srv, "ws")+"/?"+q.Encode())
	// The page logged (and, without the rule, reported) connected,
	// sdk_auth_result and more before a subscriber decodes its video. The
	// browser may take long to start on a loaded machine: bob's own
	// timeout bounds the wait.
	bob := startIn(t, ns, "bob", joinArgs(srv, "r1", "bob", "--until", "first_video_frame_decode", "--timeout", "90s")...)
	if code := bob.ExitCode(); code != 0 {
		t.Fatalf("join --until first_video_frame_decode: exit %d", code)
	}
	if n := posts.Load(); n != 0 {
		t.Fatalf("the page sent %d requests to another origin (%s)", n, other.URL)
	}
}
