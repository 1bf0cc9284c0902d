package e2e

// End-to-end tests: the real roomctl binary, as separate processes, over
// WebSocket and WebRTC on loopback. Every stdout line any process prints is
// validated against the event schema.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/internal/token"
)

func TestPublishSubscribe(t *testing.T) {
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			url := serve(t)
			alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--video-codec", codec)...)
			alice.Wait(event.SDKAuthResult, field("result", 0))
			bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
			bob.Wait(event.Connected, both(field("uid", "bob"), field("roomId", "r1")))
			bob.Wait(event.SDKAuthResult, field("result", 0))
			add := bob.Wait(event.RemoteStreamAdd, field("uid", "alice"))
			var rs event.RemoteStream
			if err := json.Unmarshal(add.Data.(json.RawMessage), &rs); err != nil {
				t.Fatal(err)
			}
			if rs.Video == nil || rs.Video.Codec != strings.ToUpper(codec) || rs.Audio == nil || rs.Audio.SampleRate != 48000 {
				t.Fatalf("remote_stream_add: %+v", add.Data)
			}
			bob.Wait(event.FirstAudioFrameDecode, field("uid", "alice"))
			bob.Wait(event.FirstVideoFrameDecode, field("uid", "alice"))
			bob.Wait(event.PlayerStateChange, both(field("uid", "alice"), field("state", "play")))

			alice.Signal(syscall.SIGINT)
			if code := alice.ExitCode(); code != 0 {
				t.Fatalf("alice exit %d", code)
			}
			bob.Wait(event.RemoteStreamRemove, field("uid", "alice"))
			bob.Wait(event.PlayerStateChange, both(field("uid", "alice"), field("state", "end")))
			bob.Signal(syscall.SIGTERM)
			if code := bob.ExitCode(); code != 0 {
				t.Fatalf("bob exit %d", code)
			}
		})
	}
}

// Every verdict the server can give at join is reachable, printed as
// sdk_auth_result, and a refused join exits 3.
func TestJoinVerdicts(t *testing.T) {
	url := serve(t, "--ban", "mallory")
	otherSecret := "another-secret-another-secret-another"
	base := func(uid string) []string {
		return []string{"join", "--server", url, "--room", "r1", "--uid", uid}
	}
	cases := []struct {
		name    string
		args    []string
		result  int
		request bool // token_request expected
	}{
		{"no token", append(base("a1"), "--app-id", testApp), token.NoToken, false},
		{"wrong secret", append(base("a2"), "--app-id", testApp, "--app-secret", otherSecret), token.BadSignature, false},
		{"other app id", append(base("a3"), "--app-id", testApp, "--token",
			mint(t, testSecret, token.Options{AppID: "1002", RoomID: "r1", UID: "a3", TTL: time.Hour})), token.AppMismatch, false},
		{"uid mismatch", append(base("a4"), "--app-id", testApp, "--token",
			mint(t, testSecret, token.Options{AppID: testApp, RoomID: "r1", UID: "someone", TTL: time.Hour})), token.UIDMismatch, false},
		{"expired", append(base("a5"), "--app-id", testApp, "--token",
			mint(t, testSecret, token.Options{AppID: testApp, RoomID: "r1", UID: "a5", TTL: time.Minute, Now: time.Now().Add(-time.Hour)})), token.Expired, true},
		{"unknown app", append(base("a6"), "--app-id", "9999", "--app-secret", testSecret), token.UnknownApp, false},
		{"banned", append(base("mallory"), "--app-id", testApp, "--app-secret", testSecret), token.Banned, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, c.name, c.args...)
			p.Wait(event.Connected, nil)
			p.Wait(event.SDKAuthResult, field("result", c.result))
			if c.request {
				p.Wait(event.TokenRequest, nil)
			}
			if code := p.ExitCode(); code != 3 {
				t.Fatalf("exit %d, want 3", code)
			}
			if !strings.Contains(p.Stderr(), fmt.Sprint(c.result)) {
				t.Fatalf("stderr does not name the verdict %d: %s", c.result, p.Stderr())
			}
		})
	}
}

// A token close to expiry gets 10007 + token_will_expire, is renewed with
// --app-secret, and the session outlives the first token (a second warning
// can only come from the renewed token).
func TestTokenRenewal(t *testing.T) {
	url := serve(t, "--token-warning", "2s", "--token-grace", "2s")
	p := start(t, "renewer", joinArgs(url, "r1", "carol", "--ttl", "4s")...)
	_, i := p.WaitFrom(0, event.SDKAuthResult, field("result", 0))
	_, i = p.WaitFrom(i+1, event.SDKAuthResult, field("result", token.WillExpire))
	_, i = p.WaitFrom(i+1, event.TokenWillExpire, field("uid", "carol"))
	_, i = p.WaitFrom(i+1, event.SDKAuthResult, field("result", 0))
	_, _ = p.WaitFrom(i+1, event.TokenWillExpire, field("uid", "carol"))
	if p.Has(event.TokenRequest) {
		t.Fatal("token_request although the token was renewed")
	}
	p.Signal(syscall.SIGINT)
	if code := p.ExitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// --token-cmd is run again for the renewal.
func TestTokenCmdRenewal(t *testing.T) {
	url := serve(t, "--token-warning", "2s")
	dir := t.TempDir()
	script := filepath.Join(dir, "get-token")
	body := fmt.Sprintf("#!/bin/sh\necho run >> %s/runs\nexec %s token --app-id %s --app-secret %s --room r1 --uid dan --ttl 4s\n",
		dir, binPath, testApp, testSecret)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	p := start(t, "dan", "join", "--server", url, "--app-id", testApp, "--room", "r1", "--uid", "dan", "--token-cmd", script)
	_, i := p.WaitFrom(0, event.TokenWillExpire, nil)
	_, i = p.WaitFrom(i+1, event.SDKAuthResult, field("result", 0))
	// A second warning comes from the renewed token: the session outlived the first.
	p.WaitFrom(i+1, event.TokenWillExpire, nil)
	if p.Has(event.TokenRequest) {
		t.Fatal("token_request although --token-cmd renewed the token")
	}
	p.Signal(syscall.SIGINT)
	p.ExitCode()
	runs, _ := os.ReadFile(filepath.Join(dir, "runs"))
	if n := strings.Count(string(runs), "run"); n < 2 {
		t.Fatalf("--token-cmd ran %d times, want at least 2", n)
	}
}

// A static token that runs out: warning, then token_request, then the
// server ends the session and join exits 3.
func TestTokenExpiresWithoutRenewal(t *testing.T) {
	url := serve(t, "--token-warning", "1s", "--token-grace", "1s")
	tok := mint(t, testSecret, token.Options{AppID: testApp, RoomID: "r1", UID: "erin", TTL: 3 * time.Second})
	p := start(t, "erin", "join", "--server", url, "--app-id", testApp, "--room", "r1", "--uid", "erin", "--token", tok)
	_, i := p.WaitFrom(0, event.TokenWillExpire, nil)
	_, i = p.WaitFrom(i+1, event.SDKAuthResult, field("result", token.Expired))
	p.WaitFrom(i+1, event.TokenRequest, nil)
	if code := p.ExitCode(); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
}

func TestNoPublishRight(t *testing.T) {
	url := serve(t)
	tok := mint(t, testSecret, token.Options{AppID: testApp, RoomID: "r1", UID: "viewer", TTL: time.Hour, NoPublish: true})
	p := start(t, "viewer", "join", "--server", url, "--app-id", testApp, "--room", "r1", "--uid", "viewer",
		"--token", tok, "--publish", "test", "--until", event.PublishAuthFail, "--timeout", "20s")
	l := p.Wait(event.PublishAuthFail, field("result", token.NoPublishRight))
	_ = l
	if code := p.ExitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// Muting on the publisher (stdin control) reaches the subscriber as
// remote_stream_update, mute_play / mute_play_resume and player pause/play.
func TestMute(t *testing.T) {
	url := serve(t)
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--control")...)
	bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
	_, i := bob.WaitFrom(0, event.PlayerStateChange, field("state", "play"))
	alice.Send("mute audio")
	_, i = bob.WaitFrom(i+1, event.RemoteStreamUpdate, field("uid", "alice"))
	_, i = bob.WaitFrom(i, event.MutePlay, field("uid", "alice"))
	alice.Send("mute video")
	_, i = bob.WaitFrom(i+1, event.PlayerStateChange, both(field("state", "pause"), field("reason", "muted")))
	alice.Send("unmute audio")
	_, i = bob.WaitFrom(i+1, event.MutePlayResume, field("uid", "alice"))
	bob.WaitFrom(i, event.PlayerStateChange, both(field("state", "play"), field("reason", "unmuted")))
	alice.Send("leave")
	if code := alice.ExitCode(); code != 0 {
		t.Fatalf("alice exit %d", code)
	}
	bob.Wait(event.RemoteStreamRemove, field("uid", "alice"))
}

// Files are published in real time; when they end (no --loop) the
// publisher prints audio_track_end and video_track_end, and the subscriber
// decoded both.
func TestPublishFiles(t *testing.T) {
	url := serve(t)
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", repoPath("internal", "media", "testdata", "vp8.ivf"),
		"--publish", repoPath("internal", "media", "testdata", "opus.ogg"))...)
	bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
	add := bob.Wait(event.RemoteStreamAdd, field("uid", "alice"))
	if !strings.Contains(string(add.Data.(json.RawMessage)), `"codec":"VP8"`) {
		t.Fatalf("remote_stream_add: %s", add.Data)
	}
	bob.Wait(event.FirstVideoFrameDecode, field("uid", "alice"))
	bob.Wait(event.FirstAudioFrameDecode, field("uid", "alice"))
	alice.Wait(event.VideoTrackEnd, field("uid", "alice"))
	alice.Wait(event.AudioTrackEnd, field("uid", "alice"))
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad uid", []string{"join", "--app-id", "1", "--room", "r1", "--uid", "bad uid!"}, `invalid uid "bad uid!"`},
		{"long room", []string{"join", "--app-id", "1", "--room", strings.Repeat("r", 65), "--uid", "a"}, "invalid room"},
		{"no room", []string{"join", "--app-id", "1", "--uid", "a"}, "--room is required"},
		{"unknown flag", []string{"join", "--bogus"}, "unknown flag"},
		{"bad until", []string{"join", "--app-id", "1", "--room", "r", "--until", "nothing"}, `--until "nothing"`},
		{"short secret", []string{"serve", "--app-id", "1", "--app-secret", "short"}, "32"},
		{"missing file", []string{"join", "--app-id", "1", "--room", "r", "--publish", "/nonexistent.ivf"}, "/nonexistent.ivf"},
		{"bad codec", []string{"join", "--app-id", "1", "--room", "r", "--publish", "test", "--video-codec", "av1"}, "--video-codec"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantUsageError(t, start(t, c.name, c.args...), c.want)
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	addr := testutil.FreeTCPAddr(t) // nothing listens there
	p := start(t, "lonely", joinArgs("ws://"+addr, "r1", "lonely")...)
	if code := p.ExitCode(); code != 5 {
		t.Fatalf("exit %d, want 5", code)
	}
}

func TestUntilTimeout(t *testing.T) {
	url := serve(t)
	p := start(t, "waiter", joinArgs(url, "r1", "waiter", "--until", event.FirstVideoFrameDecode, "--timeout", "1s")...)
	p.Wait(event.Connected, nil)
	if code := p.ExitCode(); code != 4 {
		t.Fatalf("exit %d, want 4", code)
	}
}

// Signaling cut under a joined client: reconnect, then connected, the
// session resumes, remote streams keep flowing and signaling works again.
func TestSignalingCut(t *testing.T) {
	srv, url := inProcessServer(t)
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--control")...)
	bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
	_, i := bob.WaitFrom(0, event.FirstVideoFrameDecode, field("uid", "alice"))
	mediaFlows(t, srv, "r1", "bob")

	if !srv.DropSignaling(testApp, "r1", "bob") {
		t.Fatal("bob not found on the server")
	}
	_, i = bob.WaitFrom(i+1, event.Reconnect, both(field("uid", "bob"), field("roomId", "r1")))
	_, i = bob.WaitFrom(i+1, event.Connected, field("uid", "bob"))
	_, i = bob.WaitFrom(i+1, event.SDKAuthResult, field("result", 0))
	mediaFlows(t, srv, "r1", "bob")
	alice.Send("mute audio")
	bob.WaitFrom(i+1, event.MutePlay, field("uid", "alice"))
	if bob.Has(event.RemoteStreamRemove) {
		t.Fatal("the resumed session lost alice's stream")
	}
	// The publisher's cut works the same way.
	if !srv.DropSignaling(testApp, "r1", "alice") {
		t.Fatal("alice not found on the server")
	}
	alice.Wait(event.Reconnect, nil)
	_, j := alice.WaitFrom(0, event.Connected, nil)
	alice.WaitFrom(j+1, event.Connected, nil)
	mediaFlows(t, srv, "r1", "bob")
}

// scripts/smoke-test.sh, the CI example users copy, passes against a
// working deployment. The roomctl processes it starts gather on loopback
// only too, and their sockets are watched through the script's.
func TestSmokeScript(t *testing.T) {
	url := serve(t)
	dir := t.TempDir()
	cmd := exec.Command(repoPath("scripts", "smoke-test.sh"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ROOMCTL_BIN="+binPath, "ROOMCTL_SERVER="+url, "ROOMCTL_APP_ID="+testApp,
		"ROOMCTL_APP_SECRET="+testSecret, "SMOKE_TIMEOUT=25s", "ROOMCTL_LOG_LEVEL=warn",
		"ROOMCTL_ICE_IP="+testutil.LoopbackICE)
	var out testutil.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	udp := testutil.WatchUDP(t, "smoke-test.sh", cmd.Process.Pid, testutil.WatchOptions{Tree: true})
	err := cmd.Wait()
	udp.Stop()
	if err != nil {
		t.Fatalf("smoke-test.sh: %v\n%s", err, out.String())
	}
	events, err := os.ReadFile(filepath.Join(dir, "smoke-events.ndjson"))
	if err != nil || !strings.Contains(string(events), `"event":"first_video_frame_decode"`) {
		t.Fatalf("smoke-events.ndjson: %v\n%s", err, events)
	}
}
