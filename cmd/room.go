package cmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/ids"
	"github.com/roomctl/roomctl/internal/token"
)

// DefaultServer is where `roomctl serve` listens by default.
const DefaultServer = "ws://127.0.0.1:8890"

// roomFlags are the connection and output flags every room command shares
// (join, record, push-rtmp, mix-audio).
type roomFlags struct {
	backend   backendKind
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
	ice              iceFlags
	iceConfig        iceopt.Config // parsed by validate
	controlFlags
	logFlags
}

func (f *roomFlags) register(fs *pflag.FlagSet) {
	registerBackend(fs, &f.backend)
	fs.StringVar(&f.server, "server", "", "room server URL (default "+DefaultServer+", roomctl serve's; with --backend livekit "+
		DefaultLiveKitServer+", livekit-server's)")
	fs.StringVar(&f.appID, "app-id", "", "application id (--backend livekit: the API key)")
	fs.StringVar(&f.room, "room", "", "room id ("+ids.Rule+")")
	fs.StringVar(&f.uid, "uid", "", "user id ("+ids.Rule+"; default: random)")
	fs.StringVar(&f.token, "token", "", "room token (--backend livekit: a LiveKit access token)")
	fs.StringVar(&f.tokenCmd, "token-cmd", "", "command whose stdout is a fresh token; run at join and again on token_will_expire/token_request")
	fs.StringVar(&f.appSecret, "app-secret", "", "mint tokens locally with this app secret (--backend livekit: the API secret; development, CI)")
	fs.DurationVar(&f.ttl, "ttl", time.Hour, "lifetime of tokens minted with --app-secret")
	fs.StringVar(&f.until, "until", "", "exit 0 as soon as an event of this name is printed")
	fs.DurationVar(&f.timeout, "timeout", 0, "with --until: exit 4 if it was not reached in this time")
	fs.DurationVar(&f.duration, "duration", 0, "leave cleanly after this long")
	fs.StringSliceVar(&f.events, "events", nil, "print only these events (comma-separated names)")
	fs.StringSliceVar(&f.subscribe, "subscribe", nil, "subscribe only to these uids (default: everyone)")
	fs.BoolVar(&f.audioLevelReport, "audio-level-report", false, "print audio_level_report every 2 s (each user's audio level, 0-100)")
	f.ice.register(fs, false)
	f.controlFlags.register(fs)
	f.logFlags.register(fs)
}

// validate checks what can be checked before anything is sent, as the SDK
// refuses a bad uid or room id before joining.
func (f *roomFlags) validate() error {
	if f.uid == "" {
		f.uid = randomUID()
	}
	if f.server == "" {
		f.server = f.backend.defaultServer()
	}
	if f.appID == "" {
		return usagef("--app-id is required")
	}
	if f.room == "" {
		return usagef("--room is required")
	}
	if err := ids.Check("room", f.room); err != nil {
		return usagef("--room: %w", err)
	}
	if err := ids.Check("uid", f.uid); err != nil {
		return usagef("--uid: %w", err)
	}
	for _, u := range f.subscribe {
		if err := ids.Check("uid", u); err != nil {
			return usagef("--subscribe: %w", err)
		}
	}
	if err := ids.CheckServerURL(f.server); err != nil {
		return usagef("--server: %w", err)
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
	if err := f.controlFlags.validate(); err != nil {
		return err
	}
	ice, err := f.ice.config()
	if err != nil {
		return err
	}
	f.iceConfig = ice
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
		return &token.Command{Line: f.tokenCmd}
	case f.appSecret != "" && f.backend == backendLiveKit:
		return &livekitMinted{apiKey: f.appID, apiSecret: f.appSecret, room: f.room, identity: f.uid, ttl: f.ttl}
	case f.appSecret != "":
		return &token.Minted{Secret: f.appSecret, Options: token.Options{AppID: f.appID, RoomID: f.room, UID: f.uid, TTL: f.ttl}}
	default:
		return token.Static(f.token)
	}
}

// engineConfig is the engine configuration the shared flags give; each
// command adds what is its own (a source, a track handler).
func (f *roomFlags) engineConfig(se *session) engine.Config {
	logICE(se.log, f.iceConfig)
	return engine.Config{
		Backend: f.backend.engineBackend(se.log),
		Server:  f.server, AppID: f.appID, RoomID: f.room, UID: f.uid,
		Tokens: f.tokenSource(), Subscribe: f.subscribe,
		AudioLevelReport: f.audioLevelReport,
		Events:           se.sink, Logger: se.log,
		ICE: f.iceConfig,
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
