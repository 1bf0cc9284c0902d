package cmd

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A --listen value that is not an address is a usage error (exit 2) that
// names the flag, before anything starts; an address that parses but cannot
// be bound is a runtime failure (exit 1).
func TestServeListenUsage(t *testing.T) {
	secret := strings.Repeat("s", 32)
	for _, listen := range []string{"nonsense", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:port"} {
		code, out, errOut := run(t, "serve", "--app-id", "1", "--app-secret", secret, "--listen", listen)
		if code != ExitUsage || !strings.Contains(errOut, "--listen") || out != "" {
			t.Errorf("--listen %q: exit %d, stderr %q, stdout %q; want exit 2 naming --listen", listen, code, errOut, out)
		}
	}
}

// --pprof serves the runtime's profiles on its own loopback listener and
// logs where; a non-loopback --pprof is a usage error.
func TestServePprof(t *testing.T) {
	secret := strings.Repeat("s", 32)
	code, _, errOut := run(t, "serve", "--app-id", "1", "--app-secret", secret, "--listen", "127.0.0.1:0", "--pprof", "0.0.0.0:6060")
	if code != ExitUsage || !strings.Contains(errOut, "--pprof") {
		t.Errorf("--pprof 0.0.0.0:6060: exit %d, stderr %q; want 2 naming --pprof", code, errOut)
	}

	var out, errBuf syncWriter
	o := &serveOptions{
		listen: "127.0.0.1:0", appID: "1", appSecret: secret, pprof: "127.0.0.1:0",
		ice:      iceFlags{ips: []string{"127.0.0.1/32"}},
		logFlags: logFlags{level: "info"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, o, Streams{Out: &out, ErrOut: &errBuf}) }()
	re := regexp.MustCompile(`msg="pprof listening" addr=(127\.0\.0\.1:\d+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); {
		if m := re.FindStringSubmatch(errBuf.String()); m != nil {
			addr = m[1]
		} else {
			time.Sleep(10 * time.Millisecond) // polling a log
		}
	}
	if addr == "" {
		t.Fatalf("no pprof address logged:\n%s", errBuf.String())
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.HasPrefix(string(b), "goroutine profile: total ") {
		t.Errorf("pprof goroutine profile: %q", testTail(string(b)))
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func testTail(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}
