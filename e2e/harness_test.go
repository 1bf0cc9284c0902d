package e2e

// The e2e glue: the roomctl binary these tests drive (built once by
// TestMain), the command lines of its commands, and the room servers. The
// harness itself (processes, events, media checks, external programs, the
// loopback assertion) is internal/testutil.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/server"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/internal/token"
)

const (
	testApp    = "1001"
	testSecret = "0123456789abcdef0123456789abcdef-e2e"
	// eventWait bounds the tests' own waits, as testutil.Deadline does the
	// harness's.
	eventWait = testutil.Deadline
)

var (
	// repoRoot is the repository (testutil.RepoRoot): the tests reach its
	// files through it, whatever the working directory.
	repoRoot string
	// binPath is the roomctl binary TestMain built.
	binPath string
)

// field and both are testutil's predicates, short for the many waits.
var (
	field = testutil.Field
	both  = testutil.Both
)

// proc is a running roomctl process (testutil.Proc).
type proc = testutil.Proc

func TestMain(m *testing.M) {
	if os.Getenv(sdkPeerEnv) != "" {
		// The test binary run again as TestLiveKitSDKPeer's SDK client:
		// it runs no roomctl, so builds none.
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

// run builds roomctl (with -race when the tests have it, so that a data
// race in a real process fails its test) and runs the tests.
func run(m *testing.M) int {
	var err error
	if repoRoot, err = testutil.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "roomctl-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "roomctl")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build roomctl:", err)
		return 1
	}
	return m.Run()
}

// repoPath is a file of the repository.
func repoPath(elem ...string) string {
	return filepath.Join(append([]string{repoRoot}, elem...)...)
}

// start starts roomctl with args; testutil.Start gives it loopback-only
// ICE and watches its UDP sockets.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return testutil.Start(t, testutil.Cmd{Path: binPath, Name: name, Args: args})
}

// startEnv is start with env added to the process's environment.
func startEnv(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	return testutil.Start(t, testutil.Cmd{Path: binPath, Name: name, Args: args, Env: env})
}

// startIn is start inside the network namespace ns.
func startIn(t *testing.T, ns *testutil.NetNS, name string, args ...string) *proc {
	t.Helper()
	return testutil.Start(t, testutil.Cmd{Path: binPath, Name: name, Args: args, NetNS: ns})
}

func serveArgs(listen string, extra ...string) []string {
	return append([]string{"serve", "--listen", listen, "--app-id", testApp, "--app-secret", testSecret}, extra...)
}

// serve starts `roomctl serve` on a free loopback port and returns its URL.
func serve(t *testing.T, extra ...string) string {
	t.Helper()
	return listening(t, start(t, "serve", serveArgs("127.0.0.1:0", extra...)...))
}

// serveIn is serve inside ns.
func serveIn(t *testing.T, ns *testutil.NetNS, extra ...string) string {
	t.Helper()
	return listening(t, startIn(t, ns, "serve", serveArgs("127.0.0.1:0", extra...)...))
}

// serveAt starts `roomctl serve` on addr, for a server that comes back on
// the same port after a restart.
func serveAt(t *testing.T, name, addr string) *proc {
	t.Helper()
	p := start(t, name, serveArgs(addr)...)
	p.Wait(event.ServerListening, nil)
	return p
}

// listening waits for server_listening and returns the server's URL.
func listening(t *testing.T, p *proc) string {
	t.Helper()
	return testutil.DecodeAs[event.Listening](t, p.Wait(event.ServerListening, nil)).URL
}

func joinArgs(url, room, uid string, extra ...string) []string {
	return append([]string{"join", "--server", url, "--app-id", testApp, "--app-secret", testSecret, "--room", room, "--uid", uid}, extra...)
}

func recordArgs(url, room, uid string, extra ...string) []string {
	args := joinArgs(url, room, uid, extra...)
	args[0] = "record"
	return args
}

func mixArgs(url, room, uid string, extra ...string) []string {
	args := joinArgs(url, room, uid, extra...)
	args[0] = "mix-audio"
	return args
}

func pushArgs(url, room, uid, source string, extra ...string) []string {
	return append([]string{"push-rtmp", "--server", url, "--app-id", testApp, "--app-secret", testSecret,
		"--room", room, "--uid", uid, "--source-uid", source}, extra...)
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

// wantUsageError checks a usage error: exit 2, stderr naming the problem
// (want), nothing on stdout, and no join attempted.
func wantUsageError(t *testing.T, p *proc, want string) {
	t.Helper()
	if code := p.ExitCode(); code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, p.Stderr())
	}
	if !strings.Contains(p.Stderr(), want) {
		t.Fatalf("stderr %q does not say %q", p.Stderr(), want)
	}
	if strings.Contains(p.Stderr(), "joining") || len(p.Raw()) != 0 {
		t.Fatalf("joined or printed events on a usage error: %v", p.Raw())
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
// the test app's, and ICE gathers on loopback only. The test process's own
// UDP sockets are watched while the server runs.
func inProcessServerWith(t *testing.T, cfg server.Config) (*server.Server, string) {
	t.Helper()
	reg, err := token.NewRegistry(token.App{ID: testApp, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Registry = reg
	cfg.ICE = iceopt.Loopback
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
	// After the server's cleanup in the list, so it runs first: a last look
	// while the server still holds its sockets.
	testutil.WatchUDP(t, "test process (in-process server)", os.Getpid(), testutil.WatchOptions{})
	return srv, "ws://" + ln.Addr().String()
}

// mediaFlows waits until the server has sent uid 50 kB more than it had
// when called (a second of the test video), i.e. media is flowing to uid now.
func mediaFlows(t *testing.T, srv *server.Server, room, uid string) {
	t.Helper()
	before, _ := srv.BytesSent(testApp, room, uid)
	deadline := time.Now().Add(eventWait)
	for time.Now().Before(deadline) {
		if n, ok := srv.BytesSent(testApp, room, uid); ok && n > before+50_000 {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling a counter, not synchronizing on an event
	}
	t.Fatalf("no media flowing to %s", uid)
}

// levelsOf reads an audio_level_report payload as uid → level.
func levelsOf(d json.RawMessage) map[string]int {
	var ls []event.AudioLevel
	if json.Unmarshal(d, &ls) != nil {
		return nil
	}
	m := make(map[string]int, len(ls))
	for _, l := range ls {
		m[l.UID] = l.AudioLevel
	}
	return m
}

// levelsWhere matches a report that lists every uid of want and whose
// levels satisfy ok.
func levelsWhere(ok func(map[string]int) bool, want ...string) func(json.RawMessage) bool {
	return func(d json.RawMessage) bool {
		m := levelsOf(d)
		for _, uid := range want {
			if _, in := m[uid]; !in {
				return false
			}
		}
		return ok(m)
	}
}

// levelOf matches an audio_level_report in which uid's level is in [lo, hi].
func levelOf(uid string, lo, hi int) func(json.RawMessage) bool {
	return levelsWhere(func(m map[string]int) bool { return m[uid] >= lo && m[uid] <= hi }, uid)
}
