package testutil

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// LiveKit servers for the tests of --backend livekit: livekit-server
// (v1.13.5, `go install github.com/livekit/livekit-server/cmd/server@v1.13.5`)
// one node or several sharing a Redis, every socket on loopback.

const (
	// LiveKitKey and LiveKitSecret are the API key and secret of every
	// LiveKit server StartLiveKit starts (livekit-server wants 32+ bytes).
	LiveKitKey    = "roomctl-e2e-key"
	LiveKitSecret = "roomctl-e2e-secret-0123456789abcdef-0123"
)

// LiveKitBinary finds livekit-server: $ROOMCTL_LIVEKIT_SERVER, else on
// PATH, else where `go install` puts it ($GOPATH/bin, ~/go/bin). Without
// it the test is skipped, or fails in CI.
func LiveKitBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ROOMCTL_LIVEKIT_SERVER"); p != "" {
		return p
	}
	if p, err := exec.LookPath("livekit-server"); err == nil {
		return p
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "livekit-server")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	SkipOrFail(t, "livekit-server is not installed (go install github.com/livekit/livekit-server/cmd/server@v1.13.5, as livekit-server)")
	return ""
}

// LiveKitConfig configures a LiveKit node.
type LiveKitConfig struct {
	// Name names the node in failures; default "livekit-server".
	Name string
	// Redis is the address (host:port) of the Redis the nodes of a
	// cluster share; "" is a single node.
	Redis string
	// NetNS runs the node inside that namespace, where it also offers
	// candidates on the namespace's address.
	NetNS *NetNS
}

// LiveKit is a livekit-server node the test started. Its UDP sockets are
// watched (loopback, or the namespace's addresses) once it is ready;
// t.Cleanup kills it and logs its output when the test failed.
type LiveKit struct {
	t    testing.TB
	name string
	// URL is the node's signalling URL, ws://127.0.0.1:port: --server.
	URL    string
	http   string
	ns     *NetNS
	cmd    *exec.Cmd
	out    *Buffer
	done   chan struct{}
	udp    *UDPWatch
	nodeID string
}

// liveKitConfig keeps every socket of livekit-server on loopback (or the
// namespace): no ICE-TCP listener (tcp_port 0: any other value listens on
// every interface, whatever bind_addresses says), candidates only on the
// allowed addresses, its own STUN and the STUN servers it advertises on
// loopback (without stun_servers it advertises Google's and Twilio's).
const liveKitConfig = `port: %d
bind_addresses: [127.0.0.1]
rtc:
  tcp_port: 0
  udp_port: %d
  node_ip: 127.0.0.1
  use_external_ip: false
  enable_loopback_candidate: true
  interfaces:
    includes: [%s]
  ips:
    includes: [%s]
  stun_servers: ["127.0.0.1:3478"]
keys:
  %s: %s
logging:
  level: debug
  pion_level: warn
%s`

// StartLiveKit starts a livekit-server node on free loopback ports and
// waits until its HTTP port answers.
func StartLiveKit(t testing.TB, cfg LiveKitConfig) *LiveKit {
	t.Helper()
	bin := LiveKitBinary(t)
	if cfg.Name == "" {
		cfg.Name = "livekit-server"
	}
	port, udp := freeTCPPort(t), FreeUDPPort(t)
	ifaces, ips := "lo", "127.0.0.1/32"
	if cfg.NetNS != nil {
		ifaces += ", " + netNSLink
		ips += ", " + cfg.NetNS.Addr().String() + "/32"
	}
	redis := ""
	if cfg.Redis != "" {
		redis = "redis:\n  address: " + cfg.Redis + "\n"
	}
	conf := filepath.Join(t.TempDir(), "livekit.yaml")
	body := fmt.Sprintf(liveKitConfig, port, udp, ifaces, ips, LiveKitKey, LiveKitSecret, redis)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	lk := &LiveKit{
		t: t, name: cfg.Name, ns: cfg.NetNS,
		URL:  fmt.Sprintf("ws://127.0.0.1:%d", port),
		http: fmt.Sprintf("http://127.0.0.1:%d", port),
		out:  &Buffer{}, done: make(chan struct{}),
	}
	lk.cmd = exec.Command(bin, "--config", conf)
	lk.cmd.Stdout, lk.cmd.Stderr = lk.out, lk.out
	var err error
	if cfg.NetNS != nil {
		err = cfg.NetNS.Do(lk.cmd.Start)
	} else {
		err = lk.cmd.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = lk.cmd.Wait()
		close(lk.done)
	}()
	t.Cleanup(func() {
		lk.Kill()
		if logOutput(t) {
			t.Logf("---- %s (%s):\n%s", lk.name, lk.URL, Tail(lk.out.String(), 8000))
		}
	})
	lk.waitReady()
	// Watched from here on: before it answers, livekit-server briefly
	// binds udp4 :0 to read the socket buffer sizes (checkUDPReadBuffer)
	// and sends nothing on it.
	allowed := Loopback()
	if cfg.NetNS != nil {
		allowed = cfg.NetNS.Allowed()
	}
	lk.udp = WatchUDP(t, cfg.Name, lk.cmd.Process.Pid, WatchOptions{Allowed: allowed})
	return lk
}

// netNSLink is the NetNS interface that holds its address.
const netNSLink = "veth0"

func freeTCPPort(t testing.TB) int {
	t.Helper()
	_, p, err := net.SplitHostPort(FreeTCPAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	_, _ = fmt.Sscan(p, &n)
	return n
}

// dialer dials from where the node is: inside its namespace if it has one.
func (lk *LiveKit) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if lk.ns == nil {
		return d.DialContext(ctx, network, addr)
	}
	var c net.Conn
	err := lk.ns.Do(func() error {
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// waitReady polls the node's HTTP root until it answers 200 (the process
// gives no other sign of being ready); it fails the test when the node
// exits first or after Deadline.
func (lk *LiveKit) waitReady() {
	lk.t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: lk.dial}}
	deadline := time.Now().Add(Deadline)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, lk.http+"/", nil)
		resp, err := client.Do(req)
		cancel()
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-lk.done:
			lk.t.Fatalf("%s exited: %s", lk.name, Tail(lk.out.String(), 4000))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			lk.t.Fatalf("%s did not answer within %s: %s", lk.name, Deadline, Tail(lk.out.String(), 4000))
		}
	}
}

var nodeIDRE = regexp.MustCompile(`"nodeID": "(ND_[A-Za-z0-9]+)"`)

// NodeID is the node's id (ND_…), as its log tells it; "" if it did not.
func (lk *LiveKit) NodeID() string {
	if lk.nodeID == "" {
		if m := nodeIDRE.FindStringSubmatch(lk.out.String()); m != nil {
			lk.nodeID = m[1]
		}
	}
	return lk.nodeID
}

// Output is what the node logged so far.
func (lk *LiveKit) Output() string { return lk.out.String() }

// PID is the node's process id.
func (lk *LiveKit) PID() int { return lk.cmd.Process.Pid }

// Kill kills the node (SIGKILL: a crash; SIGTERM would keep its rooms
// until they empty) and waits until it is gone. Safe to call twice.
func (lk *LiveKit) Kill() {
	select {
	case <-lk.done:
		return
	default:
	}
	if lk.udp != nil {
		lk.udp.Check() // a last look, before it ends
		lk.udp.Stop()
	}
	_ = lk.cmd.Process.Kill()
	<-lk.done
}

// StartRedis starts a redis-server of the test's own on a free loopback
// port (no persistence) and returns its address once it answers PING;
// t.Cleanup kills it.
func StartRedis(t testing.TB) string {
	t.Helper()
	Need(t, "redis-server")
	addr := FreeTCPAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	out := &Buffer{}
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir())
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if logOutput(t) {
			t.Logf("---- redis-server %s:\n%s", addr, Tail(out.String(), 4000))
		}
	})
	deadline := time.Now().Add(Deadline)
	for {
		if redisPing(addr) == nil {
			return addr
		}
		select {
		case <-done:
			t.Fatalf("redis-server exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server does not answer on %s: %s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the port until redis listens: it tells nobody
	}
}

// redisPing sends PING inline and wants +PONG.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redis answered %q", line)
	}
	return nil
}
