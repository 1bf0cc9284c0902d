package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RTMPModule is nginx's RTMP module as Debian's libnginx-mod-rtmp installs it.
const RTMPModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// NginxRTMP is nginx with the RTMP module on a loopback port of its own:
// application "live" accepts publishers, "deny" refuses them. It can be
// killed and started again on the same port; t.Cleanup kills it.
type NginxRTMP struct {
	t    testing.TB
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	logs *Buffer
}

// StartNginxRTMP starts nginx (skipping the test, or failing it in CI,
// when nginx or the module is missing) and waits until it accepts.
func StartNginxRTMP(t testing.TB) *NginxRTMP {
	t.Helper()
	Need(t, "nginx", RTMPModule)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close() // nginx binds it next; it sets SO_REUSEADDR
	n := &NginxRTMP{t: t, dir: t.TempDir(), port: port, logs: &Buffer{}}
	conf := fmt.Sprintf(`load_module %s;
daemon off;
master_process off;
error_log stderr info;
pid %s/nginx.pid;
events { worker_connections 128; }
rtmp {
    server {
        listen 127.0.0.1:%d;
        application live { live on; }
        application deny { live on; deny publish all; }
    }
}
`, RTMPModule, n.dir, port)
	if err := os.WriteFile(filepath.Join(n.dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	n.Start()
	t.Cleanup(func() {
		n.Kill()
		if t.Failed() {
			t.Logf("---- nginx:\n%s", Tail(n.logs.String(), 4000))
		}
	})
	return n
}

// URL is the RTMP URL of a stream key in an application.
func (n *NginxRTMP) URL(app, key string) string {
	return fmt.Sprintf("rtmp://127.0.0.1:%d/%s/%s", n.port, app, key)
}

// Start runs nginx and waits until it accepts connections.
func (n *NginxRTMP) Start() {
	n.t.Helper()
	n.cmd = exec.Command("nginx", "-e", "stderr", "-p", n.dir, "-c", filepath.Join(n.dir, "nginx.conf"))
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(n.cmd, n.done)
	deadline := time.Now().Add(Deadline)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-n.done:
			n.t.Fatalf("nginx exited: %s", n.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nginx does not accept on port %d: %v", n.port, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the port until nginx listens: it tells nobody
	}
}

// Kill kills nginx and waits until it is gone; it does nothing when
// nginx is not running.
func (n *NginxRTMP) Kill() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.done
	n.cmd = nil
}
