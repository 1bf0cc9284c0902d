package e2e

// End-to-end tests: the real roomctl binary, as separate processes, over
// WebSocket and WebRTC on loopback. Every stdout line any process prints is
// validated against the event schema.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/server"
	"github.com/roomctl/roomctl/internal/token"
)

const (
	testApp    = "1001"
	testSecret = "0123456789abcdef0123456789abcdef-e2e"
	// eventWait is generous: a -race build on two busy cores is slow, and a
	// test waits on the event, never on the clock.
	eventWait = 30 * time.Second
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "roomctl-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "roomctl")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "..")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build roomctl:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one running roomctl process whose stdout events are collected.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *syncBuffer

	mu     sync.Mutex
	lines  []event.Line
	raw    []string
	cond   chan struct{} // closed and replaced on every new line
	exited chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var validator = func() *event.Validator {
	v, err := event.NewValidator()
	if err != nil {
		panic(err)
	}
	return v
}()

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startEnv(t, name, nil, args...)
}

// startEnv is start with env added to the process's environment.
func startEnv(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, stderr: &syncBuffer{}, cond: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command(binPath, args...)
	// A race report in a child makes it exit 66 and fails the test that
	// waits on it; halt_on_error makes that prompt.
	p.cmd.Env = append(append(os.Environ(), env...), "ROOMCTL_LOG_LEVEL=debug", "GORACE=halt_on_error=1")
	p.cmd.Stderr = p.stderr
	var err error
	p.stdin, err = p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			b := append([]byte(nil), sc.Bytes()...)
			if err := validator.Validate(b); err != nil {
				t.Errorf("%s printed a line outside the schema: %v", name, err)
			}
			l, err := event.Decode(b)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			p.mu.Lock()
			if want := int64(len(p.lines) + 1); l.Seq != want {
				t.Errorf("%s: seq %d, want %d", name, l.Seq, want)
			}
			p.lines = append(p.lines, l)
			p.raw = append(p.raw, string(b))
			close(p.cond)
			p.cond = make(chan struct{})
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("%s: data race", name)
		}
		if t.Failed() || os.Getenv("E2E_LOG") != "" {
			t.Logf("---- %s stdout:\n%s\n---- %s stderr:\n%s", name, strings.Join(p.snapshotRaw(), "\n"), name, tail(p.stderr.String(), 6000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (p *proc) snapshotRaw() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.raw...)
}

// wait blocks until a line after index from matches name and pred; it
// returns the line and its index.
func (p *proc) waitFrom(from int, name string, pred func(json.RawMessage) bool) (event.Line, int) {
	p.t.Helper()
	deadline := time.After(eventWait)
	for i := from; ; {
		p.mu.Lock()
		for ; i < len(p.lines); i++ {
			l := p.lines[i]
			if l.Event == name && (pred == nil || pred(l.Data.(json.RawMessage))) {
				p.mu.Unlock()
				return l, i
			}
		}
		ch := p.cond
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.exited:
			// Drain what came before the exit.
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if i >= n {
				p.t.Fatalf("%s exited (%v) before printing %s", p.name, p.err, name)
			}
		case <-deadline:
			p.t.Fatalf("%s: no %s within %s", p.name, name, eventWait)
		}
	}
}

func (p *proc) wait(name string, pred func(json.RawMessage) bool) event.Line {
	p.t.Helper()
	l, _ := p.waitFrom(0, name, pred)
	return l
}

// exitCode waits for the process to end and returns its exit code.
func (p *proc) exitCode() int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(eventWait):
		p.t.Fatalf("%s did not exit", p.name)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("%s: %v", p.name, p.err)
	}
	return 0
}

func (p *proc) signal(s os.Signal) {
	_ = p.cmd.Process.Signal(s)
}

func (p *proc) has(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if l.Event == name {
			return true
		}
	}
	return false
}

func field(key string, want any) func(json.RawMessage) bool {
	return func(d json.RawMessage) bool {
		var m map[string]any
		if json.Unmarshal(d, &m) != nil {
			return false
		}
		return fmt.Sprint(m[key]) == fmt.Sprint(want)
	}
}

func both(a, b func(json.RawMessage) bool) func(json.RawMessage) bool {
	return func(d json.RawMessage) bool { return a(d) && b(d) }
}

// serve starts `roomctl serve` on a free loopback port and returns its URL.
func serve(t *testing.T, extra ...string) string {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--app-id", testApp, "--app-secret", testSecret}, extra...)
	p := start(t, "serve", args...)
	l := p.wait(event.ServerListening, nil)
	var d event.Listening
	if err := json.Unmarshal(l.Data.(json.RawMessage), &d); err != nil {
		t.Fatal(err)
	}
	return d.URL
}

func joinArgs(url, room, uid string, extra ...string) []string {
	return append([]string{"join", "--server", url, "--app-id", testApp, "--app-secret", testSecret, "--room", room, "--uid", uid}, extra...)
}

func TestPublishSubscribe(t *testing.T) {
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			url := serve(t)
			alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--video-codec", codec)...)
			alice.wait(event.SDKAuthResult, field("result", 0))
			bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
			bob.wait(event.Connected, both(field("uid", "bob"), field("roomId", "r1")))
			bob.wait(event.SDKAuthResult, field("result", 0))
			add := bob.wait(event.RemoteStreamAdd, field("uid", "alice"))
			var rs event.RemoteStream
			if err := json.Unmarshal(add.Data.(json.RawMessage), &rs); err != nil {
				t.Fatal(err)
			}
			if rs.Video == nil || rs.Video.Codec != strings.ToUpper(codec) || rs.Audio == nil || rs.Audio.SampleRate != 48000 {
				t.Fatalf("remote_stream_add: %+v", add.Data)
			}
			bob.wait(event.FirstAudioFrameDecode, field("uid", "alice"))
			bob.wait(event.FirstVideoFrameDecode, field("uid", "alice"))
			bob.wait(event.PlayerStateChange, both(field("uid", "alice"), field("state", "play")))

			alice.signal(syscall.SIGINT)
			if code := alice.exitCode(); code != 0 {
				t.Fatalf("alice exit %d", code)
			}
			bob.wait(event.RemoteStreamRemove, field("uid", "alice"))
			bob.wait(event.PlayerStateChange, both(field("uid", "alice"), field("state", "end")))
			bob.signal(syscall.SIGTERM)
			if code := bob.exitCode(); code != 0 {
				t.Fatalf("bob exit %d", code)
			}
		})
	}
}

// mint makes a token in the test, for cases the CLI will not mint (expired).
func mint(t *testing.T, secret string, o token.Options) string {
	t.Helper()
	tok, err := token.Mint(secret, o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
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
			p.wait(event.Connected, nil)
			p.wait(event.SDKAuthResult, field("result", c.result))
			if c.request {
				p.wait(event.TokenRequest, nil)
			}
			if code := p.exitCode(); code != 3 {
				t.Fatalf("exit %d, want 3", code)
			}
			if !strings.Contains(p.stderr.String(), fmt.Sprint(c.result)) {
				t.Fatalf("stderr does not name the verdict %d: %s", c.result, p.stderr.String())
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
	_, i := p.waitFrom(0, event.SDKAuthResult, field("result", 0))
	_, i = p.waitFrom(i+1, event.SDKAuthResult, field("result", token.WillExpire))
	_, i = p.waitFrom(i+1, event.TokenWillExpire, field("uid", "carol"))
	_, i = p.waitFrom(i+1, event.SDKAuthResult, field("result", 0))
	_, _ = p.waitFrom(i+1, event.TokenWillExpire, field("uid", "carol"))
	if p.has(event.TokenRequest) {
		t.Fatal("token_request although the token was renewed")
	}
	p.signal(syscall.SIGINT)
	if code := p.exitCode(); code != 0 {
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
	_, i := p.waitFrom(0, event.TokenWillExpire, nil)
	_, i = p.waitFrom(i+1, event.SDKAuthResult, field("result", 0))
	// A second warning comes from the renewed token: the session outlived the first.
	p.waitFrom(i+1, event.TokenWillExpire, nil)
	if p.has(event.TokenRequest) {
		t.Fatal("token_request although --token-cmd renewed the token")
	}
	p.signal(syscall.SIGINT)
	p.exitCode()
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
	_, i := p.waitFrom(0, event.TokenWillExpire, nil)
	_, i = p.waitFrom(i+1, event.SDKAuthResult, field("result", token.Expired))
	p.waitFrom(i+1, event.TokenRequest, nil)
	if code := p.exitCode(); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
}

func TestNoPublishRight(t *testing.T) {
	url := serve(t)
	tok := mint(t, testSecret, token.Options{AppID: testApp, RoomID: "r1", UID: "viewer", TTL: time.Hour, NoPublish: true})
	p := start(t, "viewer", "join", "--server", url, "--app-id", testApp, "--room", "r1", "--uid", "viewer",
		"--token", tok, "--publish", "test", "--until", event.PublishAuthFail, "--timeout", "20s")
	l := p.wait(event.PublishAuthFail, field("result", token.NoPublishRight))
	_ = l
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// Muting on the publisher (stdin control) reaches the subscriber as
// remote_stream_update, mute_play / mute_play_resume and player pause/play.
func TestMute(t *testing.T) {
	url := serve(t)
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--control")...)
	bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
	_, i := bob.waitFrom(0, event.PlayerStateChange, field("state", "play"))
	fmt.Fprintln(alice.stdin, "mute audio")
	_, i = bob.waitFrom(i+1, event.RemoteStreamUpdate, field("uid", "alice"))
	_, i = bob.waitFrom(i, event.MutePlay, field("uid", "alice"))
	fmt.Fprintln(alice.stdin, "mute video")
	_, i = bob.waitFrom(i+1, event.PlayerStateChange, both(field("state", "pause"), field("reason", "muted")))
	fmt.Fprintln(alice.stdin, "unmute audio")
	_, i = bob.waitFrom(i+1, event.MutePlayResume, field("uid", "alice"))
	bob.waitFrom(i, event.PlayerStateChange, both(field("state", "play"), field("reason", "unmuted")))
	fmt.Fprintln(alice.stdin, "leave")
	if code := alice.exitCode(); code != 0 {
		t.Fatalf("alice exit %d", code)
	}
	bob.wait(event.RemoteStreamRemove, field("uid", "alice"))
}

// Files are published in real time; when they end (no --loop) the
// publisher prints audio_track_end and video_track_end, and the subscriber
// decoded both.
func TestPublishFiles(t *testing.T) {
	url := serve(t)
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "../internal/media/testdata/vp8.ivf", "--publish", "../internal/media/testdata/opus.ogg")...)
	bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
	add := bob.wait(event.RemoteStreamAdd, field("uid", "alice"))
	if !strings.Contains(string(add.Data.(json.RawMessage)), `"codec":"VP8"`) {
		t.Fatalf("remote_stream_add: %s", add.Data)
	}
	bob.wait(event.FirstVideoFrameDecode, field("uid", "alice"))
	bob.wait(event.FirstAudioFrameDecode, field("uid", "alice"))
	alice.wait(event.VideoTrackEnd, field("uid", "alice"))
	alice.wait(event.AudioTrackEnd, field("uid", "alice"))
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

// wantUsageError checks a usage error: exit 2, stderr naming the problem
// (want), nothing on stdout, and no join attempted.
func wantUsageError(t *testing.T, p *proc, want string) {
	t.Helper()
	if code := p.exitCode(); code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), want) {
		t.Fatalf("stderr %q does not say %q", p.stderr.String(), want)
	}
	if strings.Contains(p.stderr.String(), "joining") || len(p.snapshotRaw()) != 0 {
		t.Fatalf("joined or printed events on a usage error: %v", p.snapshotRaw())
	}
}

func TestUnreachableServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := start(t, "lonely", joinArgs("ws://"+addr, "r1", "lonely")...)
	if code := p.exitCode(); code != 5 {
		t.Fatalf("exit %d, want 5", code)
	}
}

func TestUntilTimeout(t *testing.T) {
	url := serve(t)
	p := start(t, "waiter", joinArgs(url, "r1", "waiter", "--until", event.FirstVideoFrameDecode, "--timeout", "1s")...)
	p.wait(event.Connected, nil)
	if code := p.exitCode(); code != 4 {
		t.Fatalf("exit %d, want 4", code)
	}
}

// inProcessServer runs the room server inside the test, so that the test
// can cut a participant's signaling socket and read forwarding counters;
// the clients are still real roomctl processes.
func inProcessServer(t *testing.T) (*server.Server, string) {
	t.Helper()
	return inProcessServerWith(t, server.Config{})
}

// inProcessServerWith is inProcessServer with settings; the registry is
// the test app's.
func inProcessServerWith(t *testing.T, cfg server.Config) (*server.Server, string) {
	t.Helper()
	reg, err := token.NewRegistry(token.App{ID: testApp, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Registry = reg
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
		<-done
	})
	return srv, "ws://" + ln.Addr().String()
}

// mediaFlows waits until the server has sent uid 50 kB more than it had
// when called (a second of the test video), i.e. media is flowing to uid now.
func mediaFlows(t *testing.T, srv *server.Server, room, uid string) {
	t.Helper()
	before, _ := srv.BytesSent(room, uid)
	deadline := time.Now().Add(eventWait)
	for time.Now().Before(deadline) {
		if n, ok := srv.BytesSent(room, uid); ok && n > before+50_000 {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling a counter, not synchronizing on an event
	}
	t.Fatalf("no media flowing to %s", uid)
}

// Signaling cut under a joined client: reconnect, then connected, the
// session resumes, remote streams keep flowing and signaling works again.
func TestSignalingCut(t *testing.T) {
	srv, url := inProcessServer(t)
	alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--control")...)
	bob := start(t, "bob", joinArgs(url, "r1", "bob")...)
	_, i := bob.waitFrom(0, event.FirstVideoFrameDecode, field("uid", "alice"))
	mediaFlows(t, srv, "r1", "bob")

	if !srv.DropSignaling("r1", "bob") {
		t.Fatal("bob not found on the server")
	}
	_, i = bob.waitFrom(i+1, event.Reconnect, both(field("uid", "bob"), field("roomId", "r1")))
	_, i = bob.waitFrom(i+1, event.Connected, field("uid", "bob"))
	_, i = bob.waitFrom(i+1, event.SDKAuthResult, field("result", 0))
	mediaFlows(t, srv, "r1", "bob")
	fmt.Fprintln(alice.stdin, "mute audio")
	bob.waitFrom(i+1, event.MutePlay, field("uid", "alice"))
	if bob.has(event.RemoteStreamRemove) {
		t.Fatal("the resumed session lost alice's stream")
	}
	// The publisher's cut works the same way.
	if !srv.DropSignaling("r1", "alice") {
		t.Fatal("alice not found on the server")
	}
	alice.wait(event.Reconnect, nil)
	_, j := alice.waitFrom(0, event.Connected, nil)
	alice.waitFrom(j+1, event.Connected, nil)
	mediaFlows(t, srv, "r1", "bob")
}

// scripts/smoke-test.sh, the CI example users copy, passes against a
// working deployment.
func TestSmokeScript(t *testing.T) {
	url := serve(t)
	dir := t.TempDir()
	script, err := filepath.Abs("../scripts/smoke-test.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ROOMCTL_BIN="+binPath, "ROOMCTL_SERVER="+url, "ROOMCTL_APP_ID="+testApp,
		"ROOMCTL_APP_SECRET="+testSecret, "SMOKE_TIMEOUT=25s", "ROOMCTL_LOG_LEVEL=warn")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("smoke-test.sh: %v\n%s", err, out)
	}
	events, err := os.ReadFile(filepath.Join(dir, "smoke-events.ndjson"))
	if err != nil || !strings.Contains(string(events), `"event":"first_video_frame_decode"`) {
		t.Fatalf("smoke-events.ndjson: %v\n%s", err, events)
	}
}
