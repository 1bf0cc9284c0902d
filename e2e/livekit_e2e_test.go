package e2e

// End-to-end tests of --backend livekit: real livekit-server nodes
// (v1.13.5) started by each test on loopback — one node, or two sharing a
// Redis — the roomctl binary as every participant, and LiveKit's own Go
// SDK as a client nobody here wrote. Every roomctl line is validated
// against the event schema, every process's UDP sockets (livekit-server's
// too) are watched for anything off loopback.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livekit/protocol/auth"
	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/roomctl/roomctl/internal/backend/livekit"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/internal/token"
	"github.com/roomctl/roomctl/record"
)

// lkArgs is a room command against a LiveKit server, minting with the
// test key: what a script written for serve changes to run on LiveKit.
func lkArgs(command, url, room, uid string, extra ...string) []string {
	return append([]string{command, "--backend", "livekit", "--server", url,
		"--app-id", testutil.LiveKitKey, "--app-secret", testutil.LiveKitSecret, "--room", room, "--uid", uid}, extra...)
}

// lkToken is a LiveKit token of the test key for uid in room.
func lkToken(t *testing.T, room, uid string, ttl time.Duration) string {
	t.Helper()
	tok, err := livekit.MintToken(testutil.LiveKitKey, testutil.LiveKitSecret, room, uid, ttl, true, true)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// lkRawToken signs any claims with the test secret: tokens MintToken
// refuses to make (expired). LiveKit allows 60 s of clock leeway.
func lkRawToken(t *testing.T, room, uid string, nbf, exp time.Time) string {
	t.Helper()
	c := struct {
		jwt.RegisteredClaims
		auth.ClaimGrants
	}{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: testutil.LiveKitKey, Subject: uid,
			NotBefore: jwt.NewNumericDate(nbf), ExpiresAt: jwt.NewNumericDate(exp)},
		ClaimGrants: auth.ClaimGrants{Identity: uid, Video: &auth.VideoGrant{RoomJoin: true, Room: room}},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(testutil.LiveKitSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hasVideoCodec matches a remote stream whose video is codec.
func hasVideoCodec(codec string) testutil.Pred {
	return func(d json.RawMessage) bool {
		var rs event.RemoteStream
		return json.Unmarshal(d, &rs) == nil && rs.Video != nil && rs.Video.Codec == codec
	}
}

// exitZero waits for p to exit 0.
func exitZero(t *testing.T, p *proc) {
	t.Helper()
	if code := p.ExitCode(); code != 0 {
		t.Fatalf("%s exit %d, want 0", p.Name(), code)
	}
}

// A publisher (VP8, H.264) reaches a subscriber through LiveKit: a CI
// smoke test's --until exits 0; mute and unmute on the publisher's
// --control reach the subscriber as remote_stream_update, mute_play and
// mute_play_resume; the publisher leaving removes the stream and ends its
// player.
func TestLiveKitPublishSubscribe(t *testing.T) {
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			lk := testutil.StartLiveKit(t, testutil.LiveKitConfig{})
			alice := start(t, "alice", lkArgs("join", lk.URL, "r1", "alice", "--publish", "test", "--video-codec", codec, "--control")...)
			alice.Wait(event.SDKAuthResult, field("result", 0))
			started := time.Now()
			smoke := start(t, "smoke", lkArgs("join", lk.URL, "r1", "smoke", "--until", event.FirstVideoFrameDecode, "--timeout", "25s")...)
			exitZero(t, smoke)
			t.Logf("join --until first_video_frame_decode: exit 0 after %.1f s", time.Since(started).Seconds())

			bob := start(t, "bob", lkArgs("join", lk.URL, "r1", "bob")...)
			bob.Wait(event.Connected, both(field("uid", "bob"), field("roomId", "r1")))
			bob.Wait(event.SDKAuthResult, field("result", 0))
			bob.Wait(event.RemoteStreamAdd, field("uid", "alice"))
			bob.Wait(event.FirstAudioFrameDecode, field("uid", "alice"))
			bob.Wait(event.FirstVideoFrameDecode, field("uid", "alice"))
			bob.WaitFrom(0, event.PlayerStateChange, both(field("uid", "alice"), field("state", "play")))
			// LiveKit lists a track once its media reached the SFU: the
			// video may come in the add or in an update just after.
			want := strings.ToUpper(codec)
			if bob.Find(0, event.RemoteStreamAdd, hasVideoCodec(want)) < 0 && bob.Find(0, event.RemoteStreamUpdate, hasVideoCodec(want)) < 0 {
				t.Fatalf("no remote stream with %s video:\n%s", want, strings.Join(bob.Raw(), "\n"))
			}

			i := bob.Mark()
			alice.Send("mute audio")
			_, j := bob.WaitFrom(i, event.RemoteStreamUpdate, field("uid", "alice"))
			bob.WaitFrom(i, event.MutePlay, field("uid", "alice"))
			i = max(j+1, bob.Mark())
			alice.Send("mute video")
			_, j = bob.WaitFrom(i, event.RemoteStreamUpdate, field("uid", "alice"))
			i = max(j+1, bob.Mark())
			alice.Send("unmute audio")
			_, j = bob.WaitFrom(i, event.RemoteStreamUpdate, field("uid", "alice"))
			bob.WaitFrom(i, event.MutePlayResume, field("uid", "alice"))
			i = max(j+1, bob.Mark())
			alice.Send("unmute video")
			bob.WaitFrom(i, event.RemoteStreamUpdate, field("uid", "alice"))

			i = bob.Mark()
			alice.Send("leave")
			exitZero(t, alice)
			bob.WaitFrom(i, event.RemoteStreamRemove, field("uid", "alice"))
			bob.WaitFrom(i, event.PlayerStateChange, both(field("uid", "alice"), field("state", "end")))
			bob.Signal(syscall.SIGTERM)
			exitZero(t, bob)
		})
	}
}

// recorded waits for rec's file of uid to be opened and closed and
// returns the closed file's event.
func recorded(t *testing.T, rec *proc, uid string) record.FileClosed {
	t.Helper()
	_, i := rec.WaitFrom(0, record.EventFileOpened, field("uid", uid))
	closed, _ := rec.WaitFrom(i+1, record.EventFileClosed, field("uid", uid))
	return testutil.DecodeAs[record.FileClosed](t, closed)
}

// A test publisher recorded from LiveKit for a few seconds: one WebM with
// VP8 and Opus that ffmpeg decodes without a complaint.
func TestLiveKitRecord(t *testing.T) {
	testutil.Need(t, "ffprobe", "ffmpeg")
	lk := testutil.StartLiveKit(t, testutil.LiveKitConfig{})
	out := t.TempDir()
	alice := start(t, "alice", lkArgs("join", lk.URL, "r1", "alice", "--publish", "test")...)
	alice.Wait(event.SDKAuthResult, field("result", 0))
	rec := start(t, "rec", lkArgs("record", lk.URL, "r1", "rec", "--out", out, "--duration", "6s")...)
	cl := recorded(t, rec, "alice")
	exitZero(t, rec)
	p := testutil.FFprobe(t, cl.Path)
	if codecs := strings.Join(p.Codecs(), ","); codecs != "vp8,opus" {
		t.Fatalf("ffprobe streams %s, want vp8,opus", codecs)
	}
	testutil.DecodeClean(t, cl.Path)
	t.Logf("%s: %d bytes, %s", filepath.Base(cl.Path), cl.Bytes, p.Duration(t))
}

// An H.264 publisher on LiveKit restreamed to nginx-rtmp: ONGOING, players
// see H.264 and AAC, and the publisher leaving finishes the push.
func TestLiveKitPushRTMP(t *testing.T) {
	testutil.Need(t, "ffprobe")
	ngx := testutil.StartNginxRTMP(t)
	lk := testutil.StartLiveKit(t, testutil.LiveKitConfig{})
	alice := start(t, "alice", lkArgs("join", lk.URL, "r1", "alice", "--publish", "test", "--video-codec", "h264")...)
	alice.Wait(event.SDKAuthResult, field("result", 0))
	live := ngx.URL("live", "k1")
	push := start(t, "push", lkArgs("push-rtmp", lk.URL, "r1", "pusher", "--source-uid", "alice", "--url", live)...)
	_, i := push.WaitFrom(0, event.PushStreamStatus, status(live, "PUSH_STREAM_ONGOING", ""))
	probe := testutil.RunTool(t, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "compact", live)
	for _, want := range []string{"codec_name=h264", "codec_name=aac"} {
		if !strings.Contains(probe, want) {
			t.Errorf("ffprobe: no %s in\n%s", want, probe)
		}
	}
	alice.Signal(syscall.SIGINT)
	exitZero(t, alice)
	push.WaitFrom(i+1, event.PushStreamStatus, status(live, "PUSH_STREAM_FINISHED", "STREAM_IS_UNPUBLISHED"))
	exitZero(t, push)
}

// mix-audio on LiveKit: a 1 kHz file over a silent microphone is played
// and finished, and a subscriber hears it (its audio_level_report gives
// the mixer a level above 0, which silence alone never does).
func TestLiveKitMixAudio(t *testing.T) {
	testutil.Need(t, "ffmpeg")
	lk := testutil.StartLiveKit(t, testutil.LiveKitConfig{})
	tone := filepath.Join(t.TempDir(), "tone1k.wav")
	testutil.Tone(t, tone, 1000, "1")
	bob := start(t, "bob", lkArgs("join", lk.URL, "r1", "bob", "--audio-level-report")...)
	bob.Wait(event.SDKAuthResult, field("result", 0))
	// --start-after leaves bob time to subscribe before the file starts.
	mix := start(t, "mix", lkArgs("mix-audio", lk.URL, "r1", "dj", "--file", tone, "--cycle", "4", "--mic", "silence",
		"--start-after", "3s")...)
	played := mix.Wait(event.AudioMixingPlayed, both(field("id", 0), field("fileName", "tone1k.wav")))
	bob.Wait(event.FirstAudioFrameDecode, field("uid", "dj"))
	heard := bob.Wait(event.AudioLevelReport, levelOf("dj", 1, 100))
	finished := mix.Wait(event.AudioMixingFinished, field("id", 0))
	exitZero(t, mix) // without --duration it leaves once the file is done
	t.Logf("played %s, bob heard dj at %s (%s), finished %s", played.TS, heard.TS, heard.Data, finished.TS)
	if d := testutil.LineTime(t, finished).Sub(testutil.LineTime(t, played)); d < 3900*time.Millisecond || d > 4100*time.Millisecond {
		t.Errorf("played → finished %s, want 4 s", d)
	}
	bob.Signal(syscall.SIGINT)
	exitZero(t, bob)
}

// LiveKit's verdicts on tokens become sdk_auth_result codes and exit 3:
// a wrong API secret is 10002, an unknown key 10006, an expired token
// 10005, a token for another room 10004 (refused by roomctl before
// joining: LiveKit would join the token's room).
func TestLiveKitAuth(t *testing.T) {
	lk := testutil.StartLiveKit(t, testutil.LiveKitConfig{})
	other := "another-secret-another-secret-another-0"
	base := func(uid string, extra ...string) []string {
		return append([]string{"join", "--backend", "livekit", "--server", lk.URL, "--room", "r1", "--uid", uid}, extra...)
	}
	cases := []struct {
		name   string
		args   []string
		result int
	}{
		{"wrong secret", base("a1", "--app-id", testutil.LiveKitKey, "--app-secret", other), token.BadSignature},
		{"unknown key", base("a2", "--app-id", "APInobody", "--app-secret", testutil.LiveKitSecret), token.UnknownApp},
		// Expired beyond LiveKit's 60 s of leeway.
		{"expired", base("a3", "--app-id", testutil.LiveKitKey, "--token",
			lkRawToken(t, "r1", "a3", time.Now().Add(-time.Hour), time.Now().Add(-5*time.Minute))), token.Expired},
		{"other room", base("a4", "--app-id", testutil.LiveKitKey, "--token", lkToken(t, "elsewhere", "a4", time.Hour)), token.UIDMismatch},
		{"other identity", base("a5", "--app-id", testutil.LiveKitKey, "--token", lkToken(t, "r1", "someone", time.Hour)), token.UIDMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, c.name, c.args...)
			p.Wait(event.Connected, nil)
			p.Wait(event.SDKAuthResult, field("result", c.result))
			if code := p.ExitCode(); code != 3 {
				t.Fatalf("exit %d, want 3", code)
			}
			if !strings.Contains(p.Stderr(), fmt.Sprint(c.result)) {
				t.Fatalf("stderr does not name the verdict %d: %s", c.result, p.Stderr())
			}
			if strings.Contains(p.Stderr(), testutil.LiveKitSecret) {
				t.Fatal("stderr shows the API secret")
			}
		})
	}
}

// nodeRE finds the node a roomctl process joined, in the LiveKit
// backend's debug log ("joined livekit room … node=ND_…").
var nodeRE = regexp.MustCompile(`joined livekit room" .*node=(ND_[A-Za-z0-9]+)`)

// joinedNode waits until p logged the node it joined and returns it.
func joinedNode(t *testing.T, p *proc) string {
	t.Helper()
	p.WaitStderr("joined livekit room")
	m := nodeRE.FindStringSubmatch(p.Stderr())
	if m == nil {
		t.Fatalf("%s: no node in its log", p.Name())
	}
	return m[1]
}

// Two LiveKit nodes sharing a Redis. The room is created while only node
// A runs, so it lives on A; a publisher joins through A, a recorder
// through B (its signalling relayed to A, its media from A): the file
// decodes. Then A is killed (SIGKILL, a crash): the recorder on B reports
// it, its file is closed and decodes, and it exits 0 at --duration
// instead of hanging.
func TestLiveKitTwoNodes(t *testing.T) {
	testutil.Need(t, "ffprobe", "ffmpeg")
	redis := testutil.StartRedis(t)
	a := testutil.StartLiveKit(t, testutil.LiveKitConfig{Name: "node-a", Redis: redis})
	alice := start(t, "alice", lkArgs("join", a.URL, "r1", "alice", "--publish", "test")...)
	alice.Wait(event.SDKAuthResult, field("result", 0))
	if n := joinedNode(t, alice); a.NodeID() == "" || n != a.NodeID() {
		t.Fatalf("alice joined node %s, node A is %q", n, a.NodeID())
	}
	b := testutil.StartLiveKit(t, testutil.LiveKitConfig{Name: "node-b", Redis: redis})
	if b.NodeID() == a.NodeID() {
		t.Fatalf("both nodes are %s", a.NodeID())
	}

	out := t.TempDir()
	rec := start(t, "rec-b", lkArgs("record", b.URL, "r1", "rec", "--out", out, "--duration", "6s")...)
	if n := joinedNode(t, rec); n != a.NodeID() {
		t.Fatalf("the recorder dialled node B and joined %s, want the room's node A %s", n, a.NodeID())
	}
	cl := recorded(t, rec, "alice")
	exitZero(t, rec)
	if codecs := strings.Join(testutil.FFprobe(t, cl.Path).Codecs(), ","); codecs != "vp8,opus" {
		t.Fatalf("ffprobe streams %s, want vp8,opus", codecs)
	}
	testutil.DecodeClean(t, cl.Path)

	// A recorder through B while the room's node dies. Its --duration
	// leaves well inside the harness's wait for its exit.
	out2 := t.TempDir()
	rec2 := start(t, "rec2-b", lkArgs("record", b.URL, "r1", "rec2", "--out", out2, "--duration", "25s")...)
	_, i := rec2.WaitFrom(0, event.FirstVideoFrameDecode, field("uid", "alice"))
	// A few seconds of media first: network_score comes every 2 s.
	_, i = rec2.WaitFrom(i+1, event.NetworkScore, nil)
	_, i = rec2.WaitFrom(i+1, event.NetworkScore, nil)
	killed := time.Now()
	a.Kill()
	closed, j := rec2.WaitFrom(i+1, record.EventFileClosed, field("uid", "alice"))
	t.Logf("node A killed: rec2 closed alice's file %.1f s later", time.Since(killed).Seconds())
	// What told it, before the file closed: media stopped
	// (stream_reconnect_start), the session was lost (reconnect, or the
	// stream removed).
	var told []string
	for _, name := range []string{event.StreamReconnectStart, event.Reconnect, event.RemoteStreamRemove} {
		if k := rec2.Find(i+1, name, nil); k >= 0 && k < j {
			told = append(told, name)
		}
	}
	if len(told) == 0 {
		t.Fatalf("rec2 closed the file without telling why:\n%s", strings.Join(rec2.Raw(), "\n"))
	}
	// The stream is removed and its player ended, before or after the
	// file closed (the recorder and the engine report independently).
	rec2.WaitFrom(i+1, event.RemoteStreamRemove, field("uid", "alice"))
	rec2.WaitFrom(i+1, event.PlayerStateChange, both(field("uid", "alice"), field("state", "end")))
	t.Logf("rec2 reported %v", told)
	exitZero(t, rec2) // at --duration, not after ReconnectFor
	t.Logf("rec2 exited 0 %.1f s after the kill", time.Since(killed).Seconds())
	testutil.DecodeClean(t, testutil.DecodeAs[record.FileClosed](t, closed).Path)
	alice.Kill() // its node is gone; it would try to reconnect for ReconnectFor
}

// sdkPeerEnv makes the test binary a LiveKit Go SDK client
// (TestLiveKitSDKPeer): "publish" or "subscribe".
const sdkPeerEnv = "ROOMCTL_E2E_LIVEKIT_SDK_PEER"

// Interop with LiveKit's own Go SDK (server-sdk-go v2): it publishes VP8
// from an IVF file and `roomctl record` writes a file ffmpeg decodes; then
// roomctl publishes and the SDK counts the frames it receives. The SDK
// gathers ICE candidates on every interface and has no option to filter
// them (its SettingEngine is its own), so everything of this test runs in
// a network namespace of its own with only loopback and a veth pair that
// leads nowhere: the SDK, as this test binary run again, livekit-server
// and the roomctl processes.
func TestLiveKitGoSDK(t *testing.T) {
	testutil.Need(t, "ffprobe", "ffmpeg")
	ns := testutil.NewNetNS(t)
	lk := testutil.StartLiveKit(t, testutil.LiveKitConfig{NetNS: ns})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	peer := func(name, mode, room, uid string) *sdkPeer {
		return startSDKPeer(t, ns, self, name, sdkPeerEnv+"="+mode, "LK_URL="+lk.URL, "LK_TOKEN="+lkToken(t, room, uid, time.Hour),
			"LK_IVF="+repoPath("internal", "media", "testdata", "vp8.ivf"))
	}

	t.Run("sdk publishes, roomctl records", func(t *testing.T) {
		pub := peer("sdk-pub", "publish", "r1", "sdkpub")
		pub.wait(t, "sdk_published", nil)
		out := t.TempDir()
		rec := startIn(t, ns, "rec", lkArgs("record", lk.URL, "r1", "rec", "--out", out, "--duration", "6s")...)
		rec.Wait(event.FirstVideoFrameDecode, field("uid", "sdkpub"))
		cl := recorded(t, rec, "sdkpub")
		exitZero(t, rec)
		if codecs := strings.Join(testutil.FFprobe(t, cl.Path).Codecs(), ","); codecs != "vp8" {
			t.Fatalf("ffprobe streams %s, want vp8", codecs)
		}
		testutil.DecodeClean(t, cl.Path)
		pub.leave(t)
	})

	t.Run("roomctl publishes, sdk subscribes", func(t *testing.T) {
		alice := startIn(t, ns, "alice", lkArgs("join", lk.URL, "r2", "alice", "--publish", "test")...)
		alice.Wait(event.SDKAuthResult, field("result", 0))
		sub := peer("sdk-sub", "subscribe", "r2", "sdksub")
		d := sub.wait(t, "sdk_video_frames", func(d json.RawMessage) bool {
			var v struct{ Frames int }
			return json.Unmarshal(d, &v) == nil && v.Frames >= 30
		})
		t.Logf("the SDK received %s", d)
		sub.leave(t)
		alice.Signal(syscall.SIGINT)
		exitZero(t, alice)
	})
}

// sdkPeer is the LiveKit SDK client process (this test binary again,
// TestLiveKitSDKPeer) inside the test's namespace.
//
// It is not a testutil.Proc: the SDK cannot be kept off wildcard
// sockets — pion's mDNS (0.0.0.0:5353, [::]:5353) and its srflx
// gathering bind 0.0.0.0 and ::, and the SDK builds its SettingEngine
// itself — which the loopback assertion rightly refuses. What keeps its
// packets in is the namespace: the process is checked to be in it (not
// in the test's), and its sockets are watched to be in it only in the
// sense that every address is allowed there (lo and a veth pair whose
// both ends are inside).
type sdkPeer struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan event.Line
	done  chan struct{}
	err   error
}

func startSDKPeer(t *testing.T, ns *testutil.NetNS, self, name string, env ...string) *sdkPeer {
	t.Helper()
	p := &sdkPeer{name: name, lines: make(chan event.Line, 256), done: make(chan struct{})}
	p.cmd = exec.Command(self, "-test.run=^TestLiveKitSDKPeer$", "-test.count=1")
	p.cmd.Env = append(os.Environ(), env...)
	stderr := &testutil.Buffer{}
	p.cmd.Stderr = stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(p.cmd.Start); err != nil {
		t.Fatal(err)
	}
	mine, _ := os.Readlink("/proc/self/ns/net")
	if theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p.cmd.Process.Pid)); err != nil || theirs == mine {
		t.Fatalf("%s is not in the test's network namespace (%s, ours %s): %v", name, theirs, mine, err)
	}
	udp := testutil.WatchUDP(t, name+" (in its namespace)", p.cmd.Process.Pid, testutil.WatchOptions{
		Allowed: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}})
	go func() {
		defer close(p.done)
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l, err := event.Decode(sc.Bytes())
			if err != nil {
				t.Errorf("%s: %v: %q", name, err, sc.Text())
				continue
			}
			p.lines <- l
		}
		udp.Stop()
		p.err = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() || os.Getenv("E2E_LOG") != "" {
			t.Logf("---- %s stderr:\n%s", name, testutil.Tail(stderr.String(), 6000))
		}
	})
	return p
}

// wait returns the data of the next line named name that pred accepts
// (nil: any), failing the test after eventWait or at the process's end.
func (p *sdkPeer) wait(t *testing.T, name string, pred testutil.Pred) json.RawMessage {
	t.Helper()
	deadline := time.After(eventWait)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s exited (%v) before %s", p.name, p.err, name)
			}
			if d := l.Data.(json.RawMessage); l.Event == name && (pred == nil || pred(d)) {
				return d
			}
		case <-deadline:
			t.Fatalf("%s: no %s within %s", p.name, name, eventWait)
		}
	}
}

// leave asks the peer to leave and wants sdk_left and exit 0.
func (p *sdkPeer) leave(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, "leave\n"); err != nil {
		t.Fatal(err)
	}
	p.wait(t, "sdk_left", nil)
	select {
	case <-p.done:
	case <-time.After(eventWait):
		t.Fatalf("%s did not exit within %s", p.name, eventWait)
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.name, p.err)
	}
}

// TestLiveKitSDKPeer is not a test: it is the LiveKit Go SDK client that
// TestLiveKitGoSDK runs as a process of its own, inside its namespace. It
// prints NDJSON lines as roomctl does (sdk_joined, sdk_published,
// sdk_video_frames, sdk_left) and leaves on "leave" on stdin.
func TestLiveKitSDKPeer(t *testing.T) {
	mode := os.Getenv(sdkPeerEnv)
	if mode == "" {
		t.Skip("the LiveKit SDK client of TestLiveKitGoSDK")
	}
	// stdout is for events: the testing package's own lines go to stderr.
	w := &lineWriter{w: os.Stdout}
	os.Stdout = os.Stderr
	url, tok := os.Getenv("LK_URL"), os.Getenv("LK_TOKEN")
	leave := make(chan struct{})
	go func() {
		defer close(leave)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "leave" {
				return
			}
		}
	}()
	cb := lksdk.NewRoomCallback()
	var wg sync.WaitGroup
	if mode == "subscribe" {
		cb.OnTrackSubscribed = func(track *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
			if track.Kind() != webrtc.RTPCodecTypeVideo {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				countFrames(track, rp.Identity(), w)
			}()
		}
	}
	room, err := lksdk.ConnectToRoomWithToken(url, tok, cb)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	w.emit("sdk_joined", map[string]any{"room": room.Name(), "identity": room.LocalParticipant.Identity()})
	if mode == "publish" {
		track, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := room.LocalParticipant.PublishTrack(track, &lksdk.TrackPublicationOptions{
			Name: "ivf", Source: lkproto.TrackSource_CAMERA, VideoWidth: 160, VideoHeight: 120}); err != nil {
			t.Fatalf("publish: %v", err)
		}
		w.emit("sdk_published", map[string]any{"codec": "VP8"})
		if err := publishIVF(os.Getenv("LK_IVF"), track, leave); err != nil {
			t.Errorf("publish %s: %v", os.Getenv("LK_IVF"), err)
		}
	}
	<-leave
	room.Disconnect()
	wg.Wait()
	w.emit("sdk_left", map[string]any{})
}

// publishIVF writes the IVF file's frames to track in real time, from
// the start again at its end, until leave is closed.
func publishIVF(path string, track *lksdk.LocalTrack, leave <-chan struct{}) error {
	tick := time.NewTicker(time.Second / 30) // the file's 30 fps: pacing, not waiting
	defer tick.Stop()
	for {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		r, _, err := ivfreader.NewWith(f)
		if err != nil {
			_ = f.Close()
			return err
		}
		for {
			frame, _, err := r.ParseNextFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = f.Close()
				return err
			}
			select {
			case <-leave:
				return f.Close()
			case <-tick.C:
			}
			if err := track.WriteSample(media.Sample{Data: frame, Duration: time.Second / 30}, nil); err != nil {
				_ = f.Close()
				return err
			}
		}
		_ = f.Close()
	}
}

// countFrames reads a remote video track and reports the frames received
// (RTP packets with the marker bit, one per frame) at 1, 30, 60, … until
// the track ends.
func countFrames(track *webrtc.TrackRemote, uid string, w *lineWriter) {
	frames := 0
	for {
		p, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		if !p.Marker {
			continue
		}
		frames++
		if frames == 1 || frames%30 == 0 {
			w.emit("sdk_video_frames", map[string]any{"uid": uid, "frames": frames, "codec": track.Codec().MimeType})
		}
	}
}

// lineWriter prints the SDK peer's NDJSON lines, seq counting from 1.
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	seq int64
}

func (l *lineWriter) emit(name string, data any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	b, _ := json.Marshal(map[string]any{"seq": l.seq, "ts": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), "event": name, "data": data})
	_, _ = l.w.Write(append(b, '\n'))
}
