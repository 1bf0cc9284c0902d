package token

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStatic(t *testing.T) {
	s := Static("abc")
	for _, renew := range []bool{false, true} {
		if tok, err := s.Token(context.Background(), renew); tok != "abc" || err != nil {
			t.Errorf("Token(renew=%v) = %q, %v", renew, tok, err)
		}
	}
	if s.Renewable() {
		t.Error("a static token is renewable")
	}
	if tok, err := Static("").Token(context.Background(), false); tok != "" || err != nil {
		t.Errorf("empty static token = %q, %v; want it sent as is", tok, err)
	}
}

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       string
		errHas     []string
		errIs      error
	}{
		{name: "prints a token", line: "echo '  tok-123  '", want: "tok-123"},
		{name: "several lines trimmed", line: "printf 'tok-456\\n\\n'", want: "tok-456"},
		{name: "fails", line: "echo 'no such app' >&2; exit 3", errHas: []string{"exit status 3", "no such app", `"echo 'no such app' >&2; exit 3"`}},
		{name: "fails silently", line: "exit 1", errHas: []string{"exit status 1"}},
		{name: "not found", line: "/nonexistent/get-token", errHas: []string{"exit status 127"}},
		{name: "empty output", line: "true", errIs: ErrNoToken},
		{name: "blank output", line: "echo '   '", errIs: ErrNoToken},
	} {
		c := &Command{Line: tc.line}
		if !c.Renewable() {
			t.Fatal("a command source is not renewable")
		}
		tok, err := c.Token(context.Background(), false)
		switch {
		case tc.errHas == nil && tc.errIs == nil:
			if err != nil || tok != tc.want {
				t.Errorf("%s: Token = %q, %v; want %q", tc.name, tok, err, tc.want)
			}
		case err == nil:
			t.Errorf("%s: Token = %q, want an error", tc.name, tok)
		default:
			if tc.errIs != nil && !errors.Is(err, tc.errIs) {
				t.Errorf("%s: error %v, want %v", tc.name, err, tc.errIs)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%s: error %q does not say %q", tc.name, err, s)
				}
			}
		}
	}
}

func TestCommandTimeout(t *testing.T) {
	// The sleep is a child of sh holding stdout open: it must be killed
	// with sh, or Token would wait for it.
	for _, line := range []string{"sleep 30", "sleep 30; echo late"} {
		c := &Command{Line: line, Timeout: 200 * time.Millisecond}
		start := time.Now()
		tok, err := c.Token(context.Background(), true)
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%q: Token = %q, %v; want a deadline error", line, tok, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%q: Token returned after %v", line, d)
		}
	}
}

// Every process the command started goes with it.
func TestCommandTimeoutKillsChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := &Command{Line: "sleep 30 & echo $! >" + pidFile + "; wait", Timeout: 300 * time.Millisecond}
	if _, err := c.Token(context.Background(), false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Token = %v, want a deadline error", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") { // gone, or a zombie nobody reaped
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command's child %s still runs: %s", pid, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCommandCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := (&Command{Line: "sleep 30; echo late"}).Token(ctx, false); !errors.Is(err, context.Canceled) {
		t.Errorf("Token = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Token returned after %v", d)
	}
}

func TestMinted(t *testing.T) {
	m := &Minted{Secret: strings.Repeat("s", MinSecretLen), Options: Options{AppID: "1001", RoomID: "r1", UID: "alice", TTL: time.Minute, NoPublish: true}}
	if !m.Renewable() {
		t.Error("a minted source is not renewable")
	}
	tok, err := m.Token(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.AppID != "1001" || c.RoomID != "r1" || c.UID != "alice" || c.Rights.Publish || !c.Rights.Subscribe {
		t.Errorf("claims %+v", c)
	}
	if d := c.ExpiresAt.Sub(c.IssuedAt.Time); d != time.Minute {
		t.Errorf("lifetime %v, want 1m", d)
	}
	short := &Minted{Secret: "short", Options: m.Options}
	if _, err := short.Token(context.Background(), false); !errors.Is(err, ErrShortSecret) {
		t.Errorf("short secret: %v", err)
	}
}
