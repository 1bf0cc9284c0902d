package e2e

// Resilience end to end: a server killed and restarted, media cut and
// restored, a token command that stops working.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/server"
	"github.com/roomctl/roomctl/internal/token"
	"github.com/roomctl/roomctl/record"
)

// freeAddr returns a loopback TCP address nothing listens on right now, for
// a server that must come back on the same port after a restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func serveAt(t *testing.T, name, addr string) *proc {
	t.Helper()
	p := start(t, name, "serve", "--listen", addr, "--app-id", testApp, "--app-secret", testSecret)
	p.wait(event.ServerListening, nil)
	return p
}

// kill -9 the server and start it again on the same port: clients print
// reconnect, then connected and a fresh sdk_auth_result 0; they publish and
// subscribe again by themselves and video decodes again.
func TestServerRestart(t *testing.T) {
	addr := freeAddr(t)
	srv := serveAt(t, "serve-1", addr)
	url := "ws://" + addr
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test")...)
	bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
	_, bi := bob.waitFrom(0, event.FirstVideoFrameDecode, field("uid", "alice"))
	_, ai := alice.waitFrom(0, event.SDKAuthResult, field("result", 0))

	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	srv.exitCode()
	_, bi = bob.waitFrom(bi+1, event.Reconnect, field("uid", "bob"))
	_, ai = alice.waitFrom(ai+1, event.Reconnect, field("uid", "alice"))

	srv = serveAt(t, "serve-2", addr)
	_, ai = alice.waitFrom(ai+1, event.Connected, field("uid", "alice"))
	_, ai = alice.waitFrom(ai+1, event.SDKAuthResult, field("result", 0))
	_, bi = bob.waitFrom(bi+1, event.Connected, field("uid", "bob"))
	_, bi = bob.waitFrom(bi+1, event.SDKAuthResult, field("result", 0))
	// The old session's stream is gone; the republished one comes back.
	bob.waitFrom(bi, event.RemoteStreamRemove, field("uid", "alice"))
	_, bi = bob.waitFrom(bi, event.RemoteStreamAdd, field("uid", "alice"))
	bob.waitFrom(bi, event.FirstAudioFrameDecode, field("uid", "alice"))
	_, bi = bob.waitFrom(bi, event.FirstVideoFrameDecode, field("uid", "alice"))

	// A graceful stop (SIGTERM: bye "server closing") is a restart too, not
	// the end of the clients.
	srv.signal(syscall.SIGTERM)
	if code := srv.exitCode(); code != 0 {
		t.Fatalf("serve exit %d after SIGTERM", code)
	}
	_, bi = bob.waitFrom(bi+1, event.Reconnect, field("uid", "bob"))
	alice.waitFrom(ai+1, event.Reconnect, field("uid", "alice"))
	serveAt(t, "serve-3", addr)
	_, bi = bob.waitFrom(bi+1, event.RemoteStreamAdd, field("uid", "alice"))
	bob.waitFrom(bi, event.FirstVideoFrameDecode, field("uid", "alice"))
}

// cutUDP drops every loopback UDP packet to or from port with nftables
// until the returned restore is called (or the test ends).
func cutUDP(t *testing.T, port int) (restore func()) {
	t.Helper()
	p := fmt.Sprint(port)
	return nftRules(t, fmt.Sprintf("roomctl_cut_%d", os.Getpid()),
		[]string{"iifname", "lo", "udp", "dport", p, "drop"},
		[]string{"iifname", "lo", "udp", "sport", p, "drop"})
}

// nftRules installs an nftables table whose input chain holds rules (the
// words after "add rule inet TABLE in"), until restore is called or the
// test ends. It needs root and nft: without them the test is skipped,
// except in CI, where setup installs nftables and a skip would hide the
// feature (needNft).
func nftRules(t *testing.T, table string, rules ...[]string) (restore func()) {
	t.Helper()
	needNft(t)
	nft := func(args ...string) error {
		out, err := exec.Command("nft", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	restored := false
	restore = func() {
		if !restored {
			restored = true
			_ = nft("delete", "table", "inet", table)
		}
	}
	t.Cleanup(restore)
	cmds := [][]string{
		{"add", "table", "inet", table},
		{"add", "chain", "inet", table, "in", "{ type filter hook input priority 0 ; }"},
	}
	for _, r := range rules {
		cmds = append(cmds, append([]string{"add", "rule", "inet", table, "in"}, r...))
	}
	for _, args := range cmds {
		if err := nft(args...); err != nil {
			t.Fatal(err)
		}
	}
	return restore
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	return port
}

// Cut all media for 5 s (signaling stays up): both sides print
// stream_reconnect_start, restart ICE, and print stream_reconnect_end once
// media flows again; the server is sending media to the subscriber again.
func TestMediaCut(t *testing.T) {
	port := freeUDPPort(t)
	srv, url := inProcessServerWith(t, server.Config{UDPPort: port})
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test")...)
	bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
	_, bi := bob.waitFrom(0, event.FirstVideoFrameDecode, field("uid", "alice"))
	mediaFlows(t, srv, "r1", "bob")

	restore := cutUDP(t, port)
	_, bi = bob.waitFrom(bi+1, event.StreamReconnectStart, both(field("uid", "alice"), field("roomId", "r1")))
	_, ai := alice.waitFrom(0, event.StreamReconnectStart, field("uid", "alice"))
	time.Sleep(5 * time.Second) // the cut itself: this is the scenario, not a wait for an event
	restore()
	bob.waitFrom(bi+1, event.StreamReconnectEnd, both(field("uid", "alice"), field("roomId", "r1")))
	alice.waitFrom(ai+1, event.StreamReconnectEnd, field("uid", "alice"))
	mediaFlows(t, srv, "r1", "bob")
	if bob.has(event.Reconnect) || alice.has(event.Reconnect) {
		t.Fatal("a media cut must not look like a signaling reconnect")
	}
}

// A --token-cmd that stops working: a clear message on stderr, the verdict
// stays non-zero, and join exits 3 when the server ends the session.
func TestTokenCmdFails(t *testing.T) {
	url := serve(t, "--token-warning", "2s", "--token-grace", "1s")
	dir := t.TempDir()
	script := filepath.Join(dir, "get-token")
	body := fmt.Sprintf(`#!/bin/sh
if [ -e %[1]s/used ]; then echo "vault unreachable" >&2; exit 7; fi
touch %[1]s/used
exec %[2]s token --app-id %[3]s --app-secret %[4]s --room r1 --uid frank --ttl 3s
`, dir, binPath, testApp, testSecret)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	p := start(t, "frank", "join", "--server", url, "--app-id", testApp, "--room", "r1", "--uid", "frank", "--token-cmd", script)
	_, i := p.waitFrom(0, event.TokenWillExpire, nil)
	_, i = p.waitFrom(i+1, event.SDKAuthResult, field("result", token.Expired))
	p.waitFrom(i+1, event.TokenRequest, nil)
	if code := p.exitCode(); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
	stderr := p.stderr.String()
	if !strings.Contains(stderr, "token renewal failed") || !strings.Contains(stderr, "vault unreachable") {
		t.Fatalf("stderr does not explain the failed renewal:\n%s", stderr)
	}
}

// A recording runs through a server crash: the file of the first session is
// finalized when the new session replaces its tracks, a new one opens when
// the publisher is back, and both decode cleanly — the recording covers
// both sides of the gap.
func TestRecordThroughServerRestart(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	addr := freeAddr(t)
	srv := serveAt(t, "serve-1", addr)
	url := "ws://" + addr
	dir := t.TempDir()
	start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test")...)
	rec := start(t, "rec", recordArgs(url, "r1", "rec", "--out", dir)...)
	_, ri := rec.waitFrom(0, record.EventFileOpened, field("uid", "alice"))
	// Two network_score lines after the file opened: at least 2 s recorded.
	_, ri = rec.waitFrom(ri+1, event.NetworkScore, nil)
	_, ri = rec.waitFrom(ri+1, event.NetworkScore, nil)

	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	srv.exitCode()
	_, ri = rec.waitFrom(ri+1, event.Reconnect, nil)
	serveAt(t, "serve-2", addr)
	_, ri = rec.waitFrom(ri+1, event.Connected, nil)
	_, ri = rec.waitFrom(ri+1, record.EventFileOpened, field("uid", "alice"))
	_, ri = rec.waitFrom(ri+1, event.NetworkScore, nil)
	rec.waitFrom(ri+1, event.NetworkScore, nil)
	rec.signal(syscall.SIGINT)
	if code := rec.exitCode(); code != 0 {
		t.Fatalf("record exit %d", code)
	}
	var paths []string
	for _, raw := range rec.snapshotRaw() {
		l, err := event.Decode([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if l.Event == record.EventFileClosed {
			paths = append(paths, decodeAs[record.FileClosed](t, l).Path)
		}
	}
	if len(paths) != 2 {
		t.Fatalf("%d files closed, want 2 (before and after the restart): %v", len(paths), paths)
	}
	for _, p := range paths {
		ffmpegDecodes(t, p)
		if _, d := probeFile(t, p); d < time.Second {
			t.Fatalf("%s holds %v, want at least 1 s", p, d)
		}
	}
}
