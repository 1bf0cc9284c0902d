package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/token"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Execute(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func TestExitCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{usagef("bad"), ExitUsage},
		{fmt.Errorf("wrapped: %w", &engine.AuthError{Code: token.Expired}), ExitAuthRefused},
		{errUntilTimeout, ExitUntilTimeout},
		{fmt.Errorf("x: %w", engine.ErrUnreachable), ExitUnreachable},
		{errors.New("disk on fire"), ExitFailure},
	}
	for _, c := range cases {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("ExitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// A usage error keeps its cause's chain: errors.Is and errors.As see
// through it, and it is still exit 2 whatever it wraps.
func TestUsageErrorWraps(t *testing.T) {
	auth := &engine.AuthError{Code: token.Banned}
	for _, err := range []error{
		usagef("--flag %q: %w", "v", fmt.Errorf("inner: %w", engine.ErrUnreachable)),
		usage(fmt.Errorf("x: %w", engine.ErrUnreachable)),
		fmt.Errorf("run: %w", usagef("%w", engine.ErrUnreachable)),
	} {
		if !errors.Is(err, engine.ErrUnreachable) {
			t.Errorf("%v: errors.Is lost the cause", err)
		}
		if got := ExitCode(err); got != ExitUsage {
			t.Errorf("%v: exit %d, want %d", err, got, ExitUsage)
		}
	}
	var ae *engine.AuthError
	if err := usagef("token: %w", auth); !errors.As(err, &ae) || ae != auth {
		t.Errorf("errors.As lost the cause of %v", err)
	}
	if usage(nil) != nil {
		t.Error("usage(nil) is not nil")
	}
}

// roomctl token prints the token alone on stdout, and it verifies.
func TestTokenCommand(t *testing.T) {
	secret := strings.Repeat("s", 32)
	code, out, errOut := run(t, "token", "--app-id", "1001", "--app-secret", secret, "--room", "r1", "--uid", "alice", "--ttl", "1m", "--no-publish")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	tok := strings.TrimSpace(out)
	if strings.Count(out, "\n") != 1 || strings.Count(tok, ".") != 2 {
		t.Fatalf("stdout %q is not one JWT line", out)
	}
	reg, err := token.NewRegistry(token.App{ID: "1001", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	claims, verdict := reg.Verify(tok, "1001", "r1", "alice", time.Now())
	if verdict != token.OK || claims.Rights.Publish || !claims.Rights.Subscribe {
		t.Fatalf("verdict %d, rights %+v", verdict, claims.Rights)
	}
	if code, _, errOut := run(t, "token", "--app-id", "1", "--app-secret", "short", "--room", "r", "--uid", "u"); code != ExitUsage || !strings.Contains(errOut, "32") {
		t.Fatalf("short secret: exit %d, %s", code, errOut)
	}
}

// Every flag reads ROOMCTL_<FLAG> when not given; the command line wins.
func TestEnvironment(t *testing.T) {
	secret := strings.Repeat("e", 32)
	t.Setenv("ROOMCTL_APP_ID", "1001")
	t.Setenv("ROOMCTL_APP_SECRET", secret)
	t.Setenv("ROOMCTL_ROOM", "envroom")
	t.Setenv("ROOMCTL_UID", "envuid")
	t.Setenv("ROOMCTL_TTL", "2m")
	code, out, errOut := run(t, "token", "--uid", "flaguid")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	c, err := token.Parse(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	if c.AppID != "1001" || c.RoomID != "envroom" || c.UID != "flaguid" {
		t.Fatalf("claims %+v", c)
	}
	if ttl := c.ExpiresAt.Sub(c.IssuedAt.Time); ttl != 2*time.Minute {
		t.Fatalf("ttl %v, want 2m from ROOMCTL_TTL", ttl)
	}
	t.Setenv("ROOMCTL_TTL", "soon")
	if code, _, errOut := run(t, "token"); code != ExitUsage || !strings.Contains(errOut, "ROOMCTL_TTL") {
		t.Fatalf("bad env value: exit %d, %s", code, errOut)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("token-cmd"); got != "ROOMCTL_TOKEN_CMD" {
		t.Fatal(got)
	}
}

// Usage errors come before anything is sent: exit 2, a message naming the
// problem, nothing on stdout.
func TestJoinValidation(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"join", "--room", "r"}, "--app-id is required"},
		{[]string{"join", "--app-id", "1", "--room", "r", "--uid", "ü"}, `invalid uid "ü"`},
		{[]string{"join", "--app-id", "1", "--room", "r", "--server", "http://x"}, `--server: server url "http://x": want a ws:// or wss:// URL`},
		{[]string{"join", "--app-id", "1", "--room", "a/b"}, `--room: invalid room "a/b": want 1-64 characters`},
		{[]string{"join", "--app-id", "1"}, "--room is required"},
		{[]string{"record", "--app-id", "1", "--room", "r", "--out", os.TempDir(), "--segment", "500ms"}, "--segment: record: segment must be 0 (off) or at least 1s, not 500ms"},
		{[]string{"record", "--app-id", "1", "--room", "r", "--out", "/nonexistent-dir"}, "--out: "},
		{[]string{"record", "--app-id", "1", "--room", "r", "--out", os.TempDir(), "--read-pacing", "1s"}, "--read-pacing 1s: want 0 to 200ms"},
		{[]string{"record", "--app-id", "1", "--room", "r", "--out", os.TempDir(), "--read-pacing", "-1ms"}, "--read-pacing -1ms: want 0 to 200ms"},
		{[]string{"load", "--app-id", "1", "--app-secret", strings.Repeat("s", 32), "--publishers", "0", "--read-pacing", "300ms"}, "--read-pacing 300ms: want 0 to 200ms"},
		{[]string{"token", "--app-id", "1", "--app-secret", strings.Repeat("s", 32), "--room", "r", "--uid", "x y"}, `--uid: invalid uid "x y"`},
		{[]string{"join", "--app-id", "1", "--room", "r", "--token", "t", "--app-secret", strings.Repeat("x", 32)}, "only one of"},
		{[]string{"join", "--app-id", "1", "--room", "r", "--timeout", "1s"}, "--timeout goes with --until"},
		{[]string{"join", "--app-id", "1", "--room", "r", "--events", "connected,bogus"}, `"bogus"`},
		{[]string{"join", "--app-id", "1", "--room", "r", "--subscribe", "ok,not ok"}, `"not ok"`},
		{[]string{"join", "--app-id", "1", "--room", "r", "--publish", "camera:nonesuch"}, `no camera "nonesuch"`},
		{[]string{"serve", "--apps", "/nonexistent.json"}, "/nonexistent.json"},
		{[]string{"serve"}, "--app-id and --app-secret"},
		{[]string{"join", "extra-arg"}, "unknown command"},
	}
	for _, c := range cases {
		code, out, errOut := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want 2 and %q", c.args, code, errOut, out, c.want)
		}
	}
}

func TestSchemaCommand(t *testing.T) {
	code, out, _ := run(t, "schema")
	if code != 0 || !strings.Contains(out, `"$schema"`) {
		t.Fatalf("exit %d, %.80s", code, out)
	}
}
