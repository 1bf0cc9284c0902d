package e2e

// Resilience end to end: a server killed and restarted, media cut and
// restored, a token command that stops working.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/server"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/internal/token"
	"github.com/roomctl/roomctl/record"
)

// kill -9 the server and start it again on the same port: clients print
// reconnect, then connected and a fresh sdk_auth_result 0; they publish and
// subscribe again by themselves and video decodes again. Throughout,
// network_score keeps its 2-s beat (also while the server is down), and
// every stream_reconnect_start is ended by its stream_reconnect_end or by
// the stream going away.
func TestServerRestart(t *testing.T) {
	addr := testutil.FreeTCPAddr(t)
	srv := serveAt(t, "serve-1", addr)
	url := "ws://" + addr
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test")...)
	bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
	_, bi := bob.WaitFrom(0, event.FirstVideoFrameDecode, field("uid", "alice"))
	_, ai := alice.WaitFrom(0, event.SDKAuthResult, field("result", 0))

	srv.Kill()
	srv.ExitCode()
	_, bi = bob.WaitFrom(bi+1, event.Reconnect, field("uid", "bob"))
	_, ai = alice.WaitFrom(ai+1, event.Reconnect, field("uid", "alice"))
	// Down for two beats of network_score (the reconnect retries meanwhile).
	for range 2 {
		_, bi = bob.WaitFrom(bi+1, event.NetworkScore, nil)
		_, ai = alice.WaitFrom(ai+1, event.NetworkScore, nil)
	}

	srv = serveAt(t, "serve-2", addr)
	_, ai = alice.WaitFrom(ai+1, event.Connected, field("uid", "alice"))
	_, ai = alice.WaitFrom(ai+1, event.SDKAuthResult, field("result", 0))
	_, bi = bob.WaitFrom(bi+1, event.Connected, field("uid", "bob"))
	_, bi = bob.WaitFrom(bi+1, event.SDKAuthResult, field("result", 0))
	// The old session's stream is gone; the republished one comes back.
	bob.WaitFrom(bi, event.RemoteStreamRemove, field("uid", "alice"))
	_, bi = bob.WaitFrom(bi, event.RemoteStreamAdd, field("uid", "alice"))
	bob.WaitFrom(bi, event.FirstAudioFrameDecode, field("uid", "alice"))
	_, bi = bob.WaitFrom(bi, event.FirstVideoFrameDecode, field("uid", "alice"))

	// A graceful stop (SIGTERM: bye "server closing") is a restart too, not
	// the end of the clients.
	srv.Signal(syscall.SIGTERM)
	if code := srv.ExitCode(); code != 0 {
		t.Fatalf("serve exit %d after SIGTERM", code)
	}
	_, bi = bob.WaitFrom(bi+1, event.Reconnect, field("uid", "bob"))
	alice.WaitFrom(ai+1, event.Reconnect, field("uid", "alice"))
	serveAt(t, "serve-3", addr)
	_, bi = bob.WaitFrom(bi+1, event.RemoteStreamAdd, field("uid", "alice"))
	_, bi = bob.WaitFrom(bi, event.FirstVideoFrameDecode, field("uid", "alice"))
	// Two more beats: a stray stream_reconnect_start would have come by now.
	for range 2 {
		_, bi = bob.WaitFrom(bi+1, event.NetworkScore, nil)
	}
	for _, p := range []*proc{alice, bob} {
		checkScoreBeat(t, p)
		checkReconnectsEnd(t, p)
	}
}

// checkScoreBeat fails when two consecutive network_score lines of p are
// more than 3 s apart (they are due every 2 s).
func checkScoreBeat(t *testing.T, p *proc) {
	t.Helper()
	var last time.Time
	var longest time.Duration
	for _, l := range p.Lines() {
		if l.Event != event.NetworkScore {
			continue
		}
		at := testutil.LineTime(t, l)
		if gap := at.Sub(last); !last.IsZero() {
			longest = max(longest, gap)
			if gap > 3*time.Second {
				t.Errorf("%s: network_score (line %d) came %v after the one before", p.Name(), l.Seq, gap)
			}
		}
		last = at
	}
	t.Logf("%s: longest gap between network_score lines %v", p.Name(), longest)
}

// checkReconnectsEnd fails for a stream_reconnect_start of p that no
// stream_reconnect_end of the same uid follows, nor a remote_stream_remove
// of it (the stream went away).
func checkReconnectsEnd(t *testing.T, p *proc) {
	t.Helper()
	lines := p.Lines()
	uidOf := func(l event.Line) string {
		return testutil.DecodeAs[event.UIDRoom](t, l).UID
	}
	for i, l := range lines {
		if l.Event != event.StreamReconnectStart {
			continue
		}
		uid := uidOf(l)
		ended := false
		for _, m := range lines[i+1:] {
			if (m.Event == event.StreamReconnectEnd || m.Event == event.RemoteStreamRemove) && uidOf(m) == uid {
				ended = true
				break
			}
		}
		if !ended {
			t.Errorf("%s: stream_reconnect_start #%d of %s (at %s) never ended", p.Name(), l.Seq, uid, l.TS)
		}
	}
}

// cutUDP drops every loopback UDP packet to or from port with nftables
// until the returned restore is called (or the test ends).
func cutUDP(t *testing.T, port int) (restore func()) {
	t.Helper()
	p := fmt.Sprint(port)
	return testutil.NftInput(t, fmt.Sprintf("roomctl_cut_%d", os.Getpid()),
		[]string{"iifname", "lo", "udp", "dport", p, "drop"},
		[]string{"iifname", "lo", "udp", "sport", p, "drop"})
}

// Cut all media for 5 s (signaling stays up): both sides print
// stream_reconnect_start, restart ICE, and print stream_reconnect_end once
// media flows again; the server is sending media to the subscriber again.
func TestMediaCut(t *testing.T) {
	port := testutil.FreeUDPPort(t)
	srv, url := inProcessServerWith(t, server.Config{UDPPort: port})
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test")...)
	bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
	_, bi := bob.WaitFrom(0, event.FirstVideoFrameDecode, field("uid", "alice"))
	mediaFlows(t, srv, "r1", "bob")

	restore := cutUDP(t, port)
	_, bi = bob.WaitFrom(bi+1, event.StreamReconnectStart, both(field("uid", "alice"), field("roomId", "r1")))
	_, ai := alice.WaitFrom(0, event.StreamReconnectStart, field("uid", "alice"))
	time.Sleep(5 * time.Second) // the cut itself: this is the scenario, not a wait for an event
	restore()
	bob.WaitFrom(bi+1, event.StreamReconnectEnd, both(field("uid", "alice"), field("roomId", "r1")))
	alice.WaitFrom(ai+1, event.StreamReconnectEnd, field("uid", "alice"))
	mediaFlows(t, srv, "r1", "bob")
	if bob.Has(event.Reconnect) || alice.Has(event.Reconnect) {
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
	_, i := p.WaitFrom(0, event.TokenWillExpire, nil)
	_, i = p.WaitFrom(i+1, event.SDKAuthResult, field("result", token.Expired))
	p.WaitFrom(i+1, event.TokenRequest, nil)
	if code := p.ExitCode(); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
	stderr := p.Stderr()
	if !strings.Contains(stderr, "token renewal failed") || !strings.Contains(stderr, "vault unreachable") {
		t.Fatalf("stderr does not explain the failed renewal:\n%s", stderr)
	}
}

// A recording runs through a server crash: the file of the first session is
// finalized when the new session replaces its tracks, a new one opens when
// the publisher is back, and both decode cleanly — the recording covers
// both sides of the gap.
func TestRecordThroughServerRestart(t *testing.T) {
	testutil.Need(t, "ffmpeg", "ffprobe")
	addr := testutil.FreeTCPAddr(t)
	srv := serveAt(t, "serve-1", addr)
	url := "ws://" + addr
	dir := t.TempDir()
	start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test")...)
	rec := start(t, "rec", recordArgs(url, "r1", "rec", "--out", dir)...)
	_, ri := rec.WaitFrom(0, record.EventFileOpened, field("uid", "alice"))
	// Two network_score lines after the file opened: at least 2 s recorded.
	_, ri = rec.WaitFrom(ri+1, event.NetworkScore, nil)
	_, ri = rec.WaitFrom(ri+1, event.NetworkScore, nil)

	srv.Kill()
	srv.ExitCode()
	_, ri = rec.WaitFrom(ri+1, event.Reconnect, nil)
	serveAt(t, "serve-2", addr)
	_, ri = rec.WaitFrom(ri+1, event.Connected, nil)
	_, ri = rec.WaitFrom(ri+1, record.EventFileOpened, field("uid", "alice"))
	_, ri = rec.WaitFrom(ri+1, event.NetworkScore, nil)
	rec.WaitFrom(ri+1, event.NetworkScore, nil)
	rec.Signal(syscall.SIGINT)
	if code := rec.ExitCode(); code != 0 {
		t.Fatalf("record exit %d", code)
	}
	var paths []string
	for _, l := range rec.Lines() {
		if l.Event == record.EventFileClosed {
			paths = append(paths, testutil.DecodeAs[record.FileClosed](t, l).Path)
		}
	}
	if len(paths) != 2 {
		t.Fatalf("%d files closed, want 2 (before and after the restart): %v", len(paths), paths)
	}
	for _, p := range paths {
		testutil.DecodeClean(t, p)
		if d := testutil.FFprobe(t, p).Duration(t); d < time.Second {
			t.Fatalf("%s holds %v, want at least 1 s", p, d)
		}
	}
}
