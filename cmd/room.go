package cmd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

// DefaultServer is where `roomctl serve` listens by default.
const DefaultServer = "ws://127.0.0.1:8890"

// roomFlags are the connection and output flags every room command shares
// (join, record, push-rtmp, mix-audio).
type roomFlags struct {
	server    string
	appID     string
	room      string
	uid       string
	token     string
	tokenCmd  string
	appSecret string
	ttl       time.Duration
	until     string
	timeout   time.Duration
	duration  time.Duration
	events    []string
	subscribe []string
	// audioLevelReport turns on audio_level_report (the SDK's
	// enableAudioLevelReport()); goes to engine.Config.AudioLevelReport.
	audioLevelReport bool
	logFlags
}

func (f *roomFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.server, "server", DefaultServer, "room server URL")
	fs.StringVar(&f.appID, "app-id", "", "application id")
	fs.StringVar(&f.room, "room", "", "room id (A-Z a-z 0-9 _ -, at most 64)")
	fs.StringVar(&f.uid, "uid", "", "user id (A-Z a-z 0-9 _ -, at most 64; default: random)")
	fs.StringVar(&f.token, "token", "", "room token")
	fs.StringVar(&f.tokenCmd, "token-cmd", "", "command whose stdout is a fresh token; run at join and again on token_will_expire/token_request")
	fs.StringVar(&f.appSecret, "app-secret", "", "mint tokens locally with this app secret (development, CI)")
	fs.DurationVar(&f.ttl, "ttl", time.Hour, "lifetime of tokens minted with --app-secret")
	fs.StringVar(&f.until, "until", "", "exit 0 as soon as an event of this name is printed")
	fs.DurationVar(&f.timeout, "timeout", 0, "with --until: exit 4 if it was not reached in this time")
	fs.DurationVar(&f.duration, "duration", 0, "leave cleanly after this long")
	fs.StringSliceVar(&f.events, "events", nil, "print only these events (comma-separated names)")
	fs.StringSliceVar(&f.subscribe, "subscribe", nil, "subscribe only to these uids (default: everyone)")
	fs.BoolVar(&f.audioLevelReport, "audio-level-report", false, "print audio_level_report every 2 s (each user's audio level, 0-100)")
	f.logFlags.register(fs)
}

// validate checks what can be checked before anything is sent, as the SDK
// refuses a bad uid or room id before joining.
func (f *roomFlags) validate() error {
	if f.uid == "" {
		f.uid = randomUID()
	}
	if f.appID == "" {
		return usagef("--app-id is required")
	}
	if !signal.IDPattern.MatchString(f.room) {
		if f.room == "" {
			return usagef("--room is required")
		}
		return usagef("invalid room %q: want 1-64 characters of A-Z a-z 0-9 _ -", f.room)
	}
	if !signal.IDPattern.MatchString(f.uid) {
		return usagef("invalid uid %q: want 1-64 characters of A-Z a-z 0-9 _ -", f.uid)
	}
	for _, u := range f.subscribe {
		if !signal.IDPattern.MatchString(u) {
			return usagef("invalid uid %q in --subscribe", u)
		}
	}
	if !strings.HasPrefix(f.server, "ws://") && !strings.HasPrefix(f.server, "wss://") {
		return usagef("--server %q: want a ws:// or wss:// URL", f.server)
	}
	n := 0
	for _, s := range []string{f.token, f.tokenCmd, f.appSecret} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return usagef("give only one of --token, --token-cmd, --app-secret")
	}
	if f.appSecret != "" && len(f.appSecret) < token.MinSecretLen {
		return usagef("--app-secret is shorter than %d bytes", token.MinSecretLen)
	}
	if f.until != "" && !event.Known(f.until) {
		return usagef("--until %q is not an event name (see 'roomctl schema')", f.until)
	}
	if f.timeout > 0 && f.until == "" {
		return usagef("--timeout goes with --until")
	}
	for _, e := range f.events {
		if !event.Known(e) {
			return usagef("--events: %q is not an event name", e)
		}
	}
	if f.duration < 0 || f.timeout < 0 || f.ttl <= 0 {
		return usagef("--duration and --timeout must not be negative, --ttl must be positive")
	}
	return nil
}

func randomUID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "u" + hex.EncodeToString(b)
}

func (f *roomFlags) tokenSource() engine.TokenSource {
	switch {
	case f.tokenCmd != "":
		return &commandTokens{cmd: f.tokenCmd}
	case f.appSecret != "":
		return &mintTokens{secret: f.appSecret, opts: token.Options{AppID: f.appID, RoomID: f.room, UID: f.uid, TTL: f.ttl}}
	default:
		return staticToken(f.token)
	}
}

// staticToken is a --token: it cannot be renewed. An empty one is sent as
// is, and the server answers 10001.
type staticToken string

func (t staticToken) Token(context.Context, bool) (string, error) { return string(t), nil }
func (t staticToken) Renewable() bool                             { return false }

// commandTokens runs --token-cmd through sh for every token.
type commandTokens struct{ cmd string }

func (c *commandTokens) Renewable() bool { return true }

func (c *commandTokens) Token(ctx context.Context, _ bool) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, "sh", "-c", c.cmd)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("--token-cmd %q: %w: %s", c.cmd, err, strings.TrimSpace(errOut.String()))
	}
	tok := strings.TrimSpace(out.String())
	if tok == "" {
		return "", fmt.Errorf("--token-cmd %q printed no token", c.cmd)
	}
	return tok, nil
}

// mintTokens mints with --app-secret, a fresh token on every call.
type mintTokens struct {
	secret string
	opts   token.Options
}

func (m *mintTokens) Renewable() bool { return true }

func (m *mintTokens) Token(context.Context, bool) (string, error) {
	return token.Mint(m.secret, m.opts)
}

// engineConfig is the engine configuration the shared flags give; each
// command adds what is its own (a source, a track handler).
func (f *roomFlags) engineConfig(se *session) engine.Config {
	return engine.Config{
		Server: f.server, AppID: f.appID, RoomID: f.room, UID: f.uid,
		Tokens: f.tokenSource(), Subscribe: f.subscribe,
		AudioLevelReport: f.audioLevelReport,
		Events:           se.sink, Logger: se.log,
	}
}

// session is what a room command runs: the sink with --until/--events, the
// logger, and the context that --duration, --until and --timeout end.
type session struct {
	sink   *event.Sink
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu           sync.Mutex
	untilReached bool
	timedOut     bool
}

func (f *roomFlags) newSession(ctx context.Context, s Streams) (*session, error) {
	log, err := f.logger(s.ErrOut)
	if err != nil {
		return nil, err
	}
	se := &session{log: log}
	se.ctx, se.cancel = context.WithCancel(ctx)
	only := f.events
	if len(only) > 0 && f.until != "" {
		only = append(only, f.until) // --until watches what is printed
	}
	se.sink = event.NewSink(s.Out, event.SinkConfig{Only: only, Observe: func(l event.Line) {
		if f.until != "" && l.Event == f.until {
			se.mu.Lock()
			se.untilReached = true
			se.mu.Unlock()
			se.cancel()
		}
	}})
	if f.duration > 0 {
		t := time.AfterFunc(f.duration, se.cancel)
		context.AfterFunc(se.ctx, func() { t.Stop() })
	}
	if f.timeout > 0 {
		t := time.AfterFunc(f.timeout, func() {
			se.mu.Lock()
			se.timedOut = !se.untilReached
			se.mu.Unlock()
			se.cancel()
		})
		context.AfterFunc(se.ctx, func() { t.Stop() })
	}
	return se, nil
}

// finish turns the engine's result and the way the session ended into the
// command's error.
func (se *session) finish(err error) error {
	se.cancel()
	se.mu.Lock()
	reached, timedOut := se.untilReached, se.timedOut
	se.mu.Unlock()
	if reached {
		return nil
	}
	if err != nil {
		return err
	}
	if timedOut {
		return errUntilTimeout
	}
	if werr := se.sink.Err(); werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		return werr
	}
	return nil
}
