package testutil

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/roomctl/roomctl/internal/event"
)

// helperEnv makes the test binary a helper process instead of running the
// tests: "bind ADDR" holds a UDP socket on ADDR, "child ADDR" starts a
// "bind ADDR" child, "events" behaves like a small roomctl. Each says
// "ready" on stderr when set up and ends when its stdin closes.
const helperEnv = "TESTUTIL_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := helper(mode, os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helper(mode, arg string) error {
	in := bufio.NewScanner(os.Stdin)
	switch mode {
	case "bind":
		c, err := net.ListenPacket(udpNetwork(arg), arg)
		if err != nil {
			return err
		}
		defer c.Close()
	case "child":
		cmd := exec.Command(os.Args[0], "bind", arg)
		cmd.Env = append(os.Environ(), helperEnv+"=bind")
		cmd.Stderr = os.Stderr // its "ready" is ours
		cmd.Stdin = os.Stdin
		if err := cmd.Start(); err != nil {
			return err
		}
		return cmd.Wait()
	case "events":
		// A room command in miniature: events on stdout, commands on stdin,
		// exit 3 on "leave".
		s := event.NewSink(os.Stdout, event.SinkConfig{})
		s.Emit(event.Connected, event.UIDRoom{UID: arg, RoomID: "r1"})
		fmt.Fprintln(os.Stderr, "ready")
		for in.Scan() {
			if in.Text() == "leave" {
				s.Emit(event.Reconnect, event.UIDRoom{UID: arg, RoomID: "r1"})
				os.Exit(3)
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown helper mode %q", mode)
	}
	fmt.Fprintln(os.Stderr, "ready")
	for in.Scan() {
	}
	return nil
}

// startHelper starts the test binary as a helper (inside ns if set) and
// waits for its "ready"; closing stdin (done by t.Cleanup) ends it.
func startHelper(t *testing.T, ns *NetNS, mode, arg string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], mode, arg)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if ns != nil {
		err = ns.Do(cmd.Start)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("helper %s %s: %q %v", mode, arg, sc.Text(), sc.Err())
	}
	go func() { // drain, so that it never blocks on stderr
		for sc.Scan() {
		}
	}()
	return cmd
}
