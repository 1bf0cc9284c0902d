package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomctl/roomctl/internal/signal"
)

// rawDial opens a WebSocket to url from local address from ("" for the
// default) and sends nothing. It returns the HTTP status and body of a
// refused upgrade instead of failing.
func rawDial(t *testing.T, url, from string) (ws *websocket.Conn, status int, body string) {
	t.Helper()
	d := &net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial from %q: %v", from, err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return nil, resp.StatusCode, string(b)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws, http.StatusSwitchingProtocols, ""
}

// closeStatus reads from ws until the server closes it and returns the close
// error (code -1 if the socket ended without a close frame).
func closeStatus(t *testing.T, ws *websocket.Conn) websocket.CloseError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			t.Fatalf("socket still open after %v", wait)
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		return websocket.CloseError{Code: -1, Reason: err.Error()}
	}
}

// A WebSocket that does not join within JoinTimeout is closed with 1008
// "join timeout", whether it is silent or chatty; one that joined stays.
func TestJoinTimeout(t *testing.T) {
	_, url := startServer(t, Config{JoinTimeout: 500 * time.Millisecond})
	member := dial(t, url, "alice")
	member.join("r1", mint(t, "r1", "alice", time.Hour))
	silent, _, _ := rawDial(t, url, "")
	chatty := dial(t, url, "chatty")
	chatty.send(&signal.Message{Type: signal.TypePing, TS: 1})
	if m := chatty.expect(signal.TypeError); m.Code != signal.ErrNotJoined {
		t.Fatalf("chatty: error %+v", m)
	}
	start := time.Now()
	if ce := closeStatus(t, silent); ce.Code != websocket.StatusPolicyViolation || ce.Reason != "join timeout" {
		t.Fatalf("silent socket closed with %v %q, want 1008 \"join timeout\"", ce.Code, ce.Reason)
	}
	t.Logf("silent socket closed %v after the others were set up", time.Since(start))
	chatty.expectClosed()
	member.ping(signal.TypeBye)
}

// One IP address may hold MaxUnjoinedPerIP sockets without a join: the next
// upgrade is refused with 429 and a one-line body naming the limit; other
// addresses are not affected, and a join frees the slot at once.
func TestUnjoinedPerIPCap(t *testing.T) {
	_, url := startServer(t, Config{MaxUnjoinedPerIP: 3, JoinTimeout: time.Minute})
	var first *client
	for i := range 3 {
		if i == 0 {
			first = dial(t, url, "alice")
			continue
		}
		if _, st, body := rawDial(t, url, "127.0.0.1"); st != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade %d refused: %d %q", i+1, st, body)
		}
	}
	_, st, body := rawDial(t, url, "127.0.0.1")
	if st != http.StatusTooManyRequests || !strings.Contains(body, "limit 3") || strings.Count(strings.TrimSpace(body), "\n") != 0 {
		t.Fatalf("4th unjoined socket: %d %q, want 429 naming the limit on one line", st, body)
	}
	if _, st, body := rawDial(t, url, "127.0.0.2"); st != http.StatusSwitchingProtocols {
		t.Fatalf("another address refused: %d %q", st, body)
	}
	first.join("r1", mint(t, "r1", "alice", time.Hour))
	if _, st, body := rawDial(t, url, "127.0.0.1"); st != http.StatusSwitchingProtocols {
		t.Fatalf("after a join freed a slot: %d %q", st, body)
	}
}

// MaxConns bounds all signaling sockets, joined ones included: beyond it an
// upgrade gets 503 "server full: N connections", until one goes away.
func TestMaxConns(t *testing.T) {
	_, url := startServer(t, Config{MaxConns: 2, MaxUnjoinedPerIP: 10, JoinTimeout: time.Minute})
	alice := dial(t, url, "alice")
	alice.join("r1", mint(t, "r1", "alice", time.Hour))
	idle, _, _ := rawDial(t, url, "127.0.0.3")
	_, st, body := rawDial(t, url, "127.0.0.4")
	if st != http.StatusServiceUnavailable || strings.TrimSpace(body) != "server full: 2 connections" {
		t.Fatalf("3rd socket: %d %q, want 503 server full: 2 connections", st, body)
	}
	_ = idle.CloseNow()
	waitUntil(t, "a free connection slot", func() bool {
		_, st, _ := rawDial(t, url, "127.0.0.4")
		return st == http.StatusSwitchingProtocols
	})
	alice.ping()
}

// An idle HTTP keep-alive connection is closed after IdleTimeout.
func TestIdleTimeout(t *testing.T) {
	_, url := startServer(t, Config{IdleTimeout: 300 * time.Millisecond})
	addr := strings.TrimPrefix(strings.TrimSuffix(url, signal.Path), "ws://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.Close {
		t.Fatal("the server does not keep the connection alive at all")
	}
	start := time.Now()
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle keep-alive connection: read %v after %v, want EOF (closed by the server)", err, time.Since(start))
	}
	t.Logf("idle keep-alive connection closed after %v", time.Since(start))
}

func TestDefaultMaxConns(t *testing.T) {
	for _, c := range []struct {
		nofile uint64
		want   int
	}{{256, 48}, {1024, 240}, {1 << 20, MaxConnsCap}, {64, 1}, {0, 1}, {64 + 4*MaxConnsCap, MaxConnsCap}} {
		if got := maxConnsFor(c.nofile); got != c.want {
			t.Errorf("maxConnsFor(%d) = %d, want %d", c.nofile, got, c.want)
		}
	}
	if n := DefaultMaxConns(); n < 1 || n > MaxConnsCap {
		t.Errorf("DefaultMaxConns() = %d", n)
	}
}
