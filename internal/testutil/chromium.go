package testutil

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// NeedChromium skips the test (fails it in CI) without Chromium.
func NeedChromium(t testing.TB) {
	t.Helper()
	Need(t, ChromiumPath)
}

// StartChromium opens url in headless Chromium inside ns, with a fake
// camera and microphone that the page may use without asking. Its UDP
// sockets, and those of every helper process it starts, are watched
// (UDPWatch) and must be on ns's addresses. t.Cleanup kills its whole
// process group and logs its stderr when the test failed.
func StartChromium(t testing.TB, ns *NetNS, url string) {
	t.Helper()
	NeedChromium(t)
	cmd := exec.Command(ChromiumPath, "--headless=new", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(),
		"--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
		// Without this a page that has not used getUserMedia hides its host
		// candidates behind mDNS names, which the server does not resolve.
		"--disable-features=WebRtcHideLocalIpsWithMdns",
		"--autoplay-policy=no-user-gesture-required",
		url)
	// Its own process group, so that the cleanup ends Chromium's helpers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr := &Buffer{}
	cmd.Stderr = stderr
	if err := ns.Do(cmd.Start); err != nil {
		t.Fatal(err)
	}
	udp := WatchUDP(t, "chromium", cmd.Process.Pid, WatchOptions{Allowed: ns.Allowed(), Tree: true})
	t.Cleanup(func() {
		udp.Check()
		udp.Stop()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if logOutput(t) {
			t.Logf("---- chromium stderr:\n%s", Tail(stderr.String(), 4000))
		}
	})
}

// PageReport collects what roomctl's web page POSTs to its ?report=URL:
// one roomctl-style line ({"event":…,"data":…}) a request.
type PageReport struct {
	t     testing.TB
	url   string
	mu    sync.Mutex
	lines []pageLine
	cond  chan struct{} // closed and replaced on every line
}

type pageLine struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// NewPageReport starts the endpoint on loopback inside ns, where the
// browser is; t.Cleanup stops it and logs the lines when the test failed.
func NewPageReport(t testing.TB, ns *NetNS) *PageReport {
	t.Helper()
	r := &PageReport{t: t, cond: make(chan struct{})}
	l, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		if logOutput(t) {
			r.mu.Lock()
			defer r.mu.Unlock()
			var b strings.Builder
			for _, l := range r.lines {
				b.WriteString(l.Event + " " + string(l.Data) + "\n")
			}
			t.Logf("---- page:\n%s", Tail(b.String(), 6000))
		}
	})
	r.url = srv.URL + "/report"
	return r
}

func (r *PageReport) serve(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if req.Method != http.MethodPost {
		return
	}
	b, err := io.ReadAll(req.Body)
	var l pageLine
	if err != nil || json.Unmarshal(b, &l) != nil {
		r.t.Errorf("page reported %q", b)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, l)
	close(r.cond)
	r.cond = make(chan struct{})
}

// URL is where the page reports (its report parameter).
func (r *PageReport) URL() string { return r.url }

// Wait returns the data of the first reported line named event that pred
// accepts (nil: any); it fails the test after Deadline.
func (r *PageReport) Wait(event string, pred Pred) json.RawMessage {
	r.t.Helper()
	deadline := time.After(Deadline)
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
			r.t.Fatalf("page: no %s within %s", event, Deadline)
		}
	}
}
