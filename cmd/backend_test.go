package cmd

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livekit/protocol/auth"
	"github.com/spf13/pflag"

	"github.com/roomctl/roomctl/internal/backend/embedded"
	"github.com/roomctl/roomctl/internal/backend/livekit"
	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/internal/token"
)

// --backend picks the engine's backend, its default server and how
// --app-secret mints; ROOMCTL_BACKEND stands for it, the command line wins.
func TestBackendFlag(t *testing.T) {
	secret := strings.Repeat("k", 32)
	cases := []struct {
		name       string
		env        string // ROOMCTL_BACKEND; "" unset
		args       []string
		want       backendKind
		wantServer string
	}{
		{"default", "", nil, backendEmbedded, DefaultServer},
		{"flag", "", []string{"--backend", "livekit"}, backendLiveKit, DefaultLiveKitServer},
		{"flag embedded", "", []string{"--backend", "embedded"}, backendEmbedded, DefaultServer},
		{"env", "livekit", nil, backendLiveKit, DefaultLiveKitServer},
		{"flag over env", "livekit", []string{"--backend", "embedded"}, backendEmbedded, DefaultServer},
		{"server given", "", []string{"--backend", "livekit", "--server", "wss://lk.example:443"}, backendLiveKit, "wss://lk.example:443"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("ROOMCTL_BACKEND", c.env)
			}
			f := &roomFlags{}
			fs := pflag.NewFlagSet("join", pflag.ContinueOnError)
			f.register(fs)
			args := append([]string{"--app-id", "APIkey", "--app-secret", secret, "--room", "r1", "--uid", "alice"}, c.args...)
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			if err := applyEnv(fs); err != nil {
				t.Fatal(err)
			}
			if err := f.validate(); err != nil {
				t.Fatal(err)
			}
			if f.backend != c.want || f.server != c.wantServer {
				t.Fatalf("backend %q server %q, want %q %q", f.backend, f.server, c.want, c.wantServer)
			}
			cfg := f.engineConfig(&session{log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			tok, err := cfg.Tokens.Token(t.Context(), false)
			if err != nil {
				t.Fatal(err)
			}
			switch c.want {
			case backendLiveKit:
				if _, ok := cfg.Backend.(*livekit.Backend); !ok {
					t.Fatalf("engine backend %T, want *livekit.Backend", cfg.Backend)
				}
				// --app-secret mints LiveKit's tokens: LiveKit's own auth verifies it.
				g, err := verifyLiveKit(tok, secret)
				if err != nil || g.Identity != "alice" || g.Video == nil || g.Video.Room != "r1" || !g.Video.RoomJoin {
					t.Fatalf("minted token: %v, %+v", err, g)
				}
			default:
				if _, ok := cfg.Backend.(*embedded.Backend); !ok {
					t.Fatalf("engine backend %T, want *embedded.Backend", cfg.Backend)
				}
				if c, err := token.Parse(tok); err != nil || c.AppID != "APIkey" || c.RoomID != "r1" || c.UID != "alice" {
					t.Fatalf("minted token: %v, %+v", err, c)
				}
			}
		})
	}
}

// A --backend that is neither name is a usage error on every command that
// has it, from the command line or from ROOMCTL_BACKEND, before joining.
func TestBackendFlagBadValue(t *testing.T) {
	secret := strings.Repeat("k", 32)
	for _, command := range []string{"join", "record", "push-rtmp", "mix-audio", "token"} {
		t.Run(command, func(t *testing.T) {
			args := []string{command, "--app-id", "k", "--app-secret", secret, "--room", "r1", "--uid", "u"}
			code, out, errOut := run(t, append(args, "--backend", "lvekit")...)
			if code != ExitUsage || !strings.Contains(errOut, `want embedded or livekit, not "lvekit"`) || out != "" {
				t.Fatalf("flag: exit %d, stderr %q, stdout %q", code, errOut, out)
			}
			t.Setenv("ROOMCTL_BACKEND", "LiveKit")
			code, out, errOut = run(t, args...)
			if code != ExitUsage || !strings.Contains(errOut, "ROOMCTL_BACKEND") || out != "" {
				t.Fatalf("env: exit %d, stderr %q, stdout %q", code, errOut, out)
			}
		})
	}
}

// Every room command's --help names the flag and its two values.
func TestBackendHelp(t *testing.T) {
	for _, command := range []string{"join", "record", "push-rtmp", "mix-audio", "token"} {
		code, _, errOut := run(t, command, "--help")
		if code != 0 || !strings.Contains(errOut, "--backend embedded|livekit") {
			t.Errorf("%s --help: exit %d, no --backend in\n%s", command, code, errOut)
		}
	}
}

// With --backend livekit the room commands go through the LiveKit backend:
// nothing listening is exit 5, as on roomctl serve.
func TestBackendLiveKitUnreachable(t *testing.T) {
	addr := testutil.FreeTCPAddr(t)
	code, out, errOut := run(t, "join", "--backend", "livekit", "--server", "ws://"+addr, "--app-id", "k",
		"--app-secret", strings.Repeat("k", 32), "--room", "r1", "--uid", "u", "--ice-ip", "127.0.0.1/32")
	if code != ExitUnreachable || strings.Contains(out, `"event":"connected"`) {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errOut)
	}
}

// lkClaims is a LiveKit token's payload as its JSON reads, independent of
// LiveKit's Go types.
type lkClaims struct {
	Iss      string `json:"iss"`
	Sub      string `json:"sub"`
	Identity string `json:"identity"`
	Exp      int64  `json:"exp"`
	Nbf      int64  `json:"nbf"`
	Video    struct {
		Room         string `json:"room"`
		RoomJoin     bool   `json:"roomJoin"`
		CanPublish   *bool  `json:"canPublish"`
		CanSubscribe *bool  `json:"canSubscribe"`
	} `json:"video"`
}

// verifyLiveKit checks tok as livekit-server does (its auth package) and
// returns the grants.
func verifyLiveKit(tok, secret string) (*auth.ClaimGrants, error) {
	v, err := auth.ParseAPIToken(tok)
	if err != nil {
		return nil, err
	}
	_, g, err := v.Verify(secret)
	return g, err
}

// roomctl token --backend livekit prints a LiveKit access token: issued
// by the API key, for the identity, admitting it to the room with the
// rights asked, expiring after --ttl.
func TestTokenCommandLiveKit(t *testing.T) {
	secret := strings.Repeat("s", 32)
	for _, c := range []struct {
		name          string
		extra         []string
		pub, sub      bool
		ttl           time.Duration
		ttlFlag       string
		backendEnvVar bool
	}{
		{"both rights", nil, true, true, time.Hour, "1h", false},
		{"no publish", []string{"--no-publish"}, false, true, 10 * time.Minute, "10m", false},
		{"no subscribe from env backend", []string{"--no-subscribe"}, true, false, time.Hour, "1h", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"token", "--app-id", "APIroomctl", "--app-secret", secret, "--room", "r1", "--uid", "alice", "--ttl", c.ttlFlag}
			if c.backendEnvVar {
				t.Setenv("ROOMCTL_BACKEND", "livekit")
			} else {
				args = append(args, "--backend", "livekit")
			}
			before := time.Now()
			code, out, errOut := run(t, append(args, c.extra...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			tok := strings.TrimSpace(out)
			if strings.Count(out, "\n") != 1 || strings.Count(tok, ".") != 2 {
				t.Fatalf("stdout %q is not one JWT line", out)
			}
			var cl lkClaims
			if _, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"})).ParseWithClaims(tok, jwt.MapClaims{},
				func(*jwt.Token) (any, error) { return []byte(secret), nil }); err != nil {
				t.Fatalf("HS256 signature: %v", err)
			}
			payload, err := jwt.NewParser().DecodeSegment(strings.Split(tok, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(payload, &cl); err != nil {
				t.Fatal(err)
			}
			if cl.Iss != "APIroomctl" || cl.Sub != "alice" || cl.Video.Room != "r1" || !cl.Video.RoomJoin {
				t.Fatalf("claims %s", payload)
			}
			if cl.Identity != "" && cl.Identity != "alice" {
				t.Fatalf("identity %q", cl.Identity)
			}
			if cl.Video.CanPublish == nil || *cl.Video.CanPublish != c.pub || cl.Video.CanSubscribe == nil || *cl.Video.CanSubscribe != c.sub {
				t.Fatalf("rights in %s, want publish %v subscribe %v", payload, c.pub, c.sub)
			}
			exp := time.Unix(cl.Exp, 0)
			if d := exp.Sub(before.Add(c.ttl)); d < -2*time.Second || d > 2*time.Second {
				t.Fatalf("exp %s, want now+%s", exp, c.ttl)
			}
			g, err := verifyLiveKit(tok, secret)
			if err != nil || g.Identity != "alice" || g.Video.GetCanPublish() != c.pub {
				t.Fatalf("LiveKit's auth: %v, %+v", err, g)
			}
			if _, err := verifyLiveKit(tok, strings.Repeat("x", 32)); err == nil {
				t.Fatal("verifies with another secret")
			}
		})
	}
}

// Bad input to token --backend livekit is a usage error, nothing printed.
func TestTokenCommandLiveKitUsage(t *testing.T) {
	secret := strings.Repeat("s", 32)
	base := []string{"token", "--backend", "livekit", "--room", "r1", "--uid", "alice"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{append(base, "--app-secret", secret), "--app-id"},
		{append(base, "--app-id", "k", "--app-secret", "short"), "32"},
		{append(base, "--app-id", "k", "--app-secret", secret, "--ttl", "0s"), "ttl"},
		{[]string{"token", "--backend", "livekit", "--app-id", "k", "--app-secret", secret, "--room", "r1", "--uid", "a b"}, "--uid"},
	} {
		code, out, errOut := run(t, c.args...)
		if code != ExitUsage || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
}

var _ engine.TokenSource = (*livekitMinted)(nil)
