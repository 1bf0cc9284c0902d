package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/roomctl/roomctl/internal/testutil"
)

// The README's two --control examples, the bash coprocess and the Python
// driver, run as written against a real serve: each joins, reads the
// session stats, mutes and leaves, and exits 0.
func TestControlExamples(t *testing.T) {
	for _, c := range []struct{ name, prog string }{
		{"bash", "control-coproc.sh"},
		{"python", "control-driver.py"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := serve(t)
			ctx, cancel := context.WithTimeout(context.Background(), eventWait)
			defer cancel()
			cmd := exec.CommandContext(ctx, repoPath("scripts", "examples", c.prog))
			if c.name == "python" {
				cmd.Args = append(cmd.Args, testApp, testSecret, url)
			}
			cmd.Env = append(os.Environ(), "ROOMCTL="+binPath, "SERVER="+url, "APP="+testApp, "SECRET="+testSecret,
				"ROOMCTL_LOG_LEVEL=warn", "ROOMCTL_ICE_IP="+testutil.LoopbackICE)
			var out, errOut testutil.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			udp := testutil.WatchUDP(t, c.prog, cmd.Process.Pid, testutil.WatchOptions{Tree: true})
			err := cmd.Wait()
			udp.Stop()
			if err != nil {
				t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", c.prog, err, out.String(), errOut.String())
			}
			// The stats printed are the session's: it was joined, and
			// its publication sent something.
			if !strings.Contains(out.String(), "sendBytes") {
				t.Fatalf("%s printed no session stats:\n%s", c.prog, out.String())
			}
		})
	}
}
