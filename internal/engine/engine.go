// Package engine is one participant of a room: it connects, authenticates,
// joins, publishes a media source, subscribes to the others, renews its
// token and reconnects — and turns every observable change into an SDK
// callback on an event.Emitter. It knows nothing of files, RTMP or flags.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/media"
	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

// Signaler is the engine's view of a signaling connection. The embedded
// protocol (signal.Conn) is the first implementation; another SFU's client
// can stand behind it without touching the commands or the consumers.
type Signaler interface {
	Send(ctx context.Context, m *signal.Message) error
	Recv(ctx context.Context) (*signal.Message, error)
	Close(reason string) error
}

// Dialer opens a Signaler to a server URL.
type Dialer func(ctx context.Context, url string) (Signaler, error)

// DialSignal is the Dialer of the embedded protocol.
func DialSignal(ctx context.Context, url string) (Signaler, error) {
	return signal.Dial(ctx, url)
}

// TokenSource provides the token to join with and fresh ones on renewal.
type TokenSource interface {
	// Token returns a token; renew is true when the server asked for a new one.
	Token(ctx context.Context, renew bool) (string, error)
	// Renewable reports whether asking again can give a different token.
	Renewable() bool
}

// Config configures an Engine.
type Config struct {
	Server string // ws://host:port
	AppID  string
	RoomID string
	UID    string
	Tokens TokenSource

	// Publish is published once joined; nil publishes nothing.
	Publish media.Source
	// Subscribe limits subscriptions to these uids; empty means everyone.
	Subscribe []string
	// Tracks, when set, is given every subscribed track's media (record,
	// push-rtmp). The engine's own first-frame detection runs regardless.
	Tracks TrackHandler

	Events event.Emitter
	Logger *slog.Logger // nil: discard

	Dial Dialer // nil: DialSignal
	// ConnectTimeout bounds the first connection and each join; default 10 s.
	ConnectTimeout time.Duration
	// ReconnectMax caps the reconnect backoff; default 1 s, so a restarted
	// server is found again within about a second. ReconnectFor
	// bounds how long it keeps trying; default 2 min.
	ReconnectMax time.Duration
	ReconnectFor time.Duration
	// PingInterval is how often the signaling connection is probed; default 5 s.
	// Three intervals without any message mean the connection is dead.
	// (The quality telemetry pings once a second besides, to measure RTT.)
	PingInterval time.Duration

	// AudioLevelReport prints audio_level_report every 2 s, as the SDK's
	// enableAudioLevelReport(). active_speaker, network_score and
	// exception are always on.
	AudioLevelReport bool

	// ICE chooses the interfaces and addresses the PeerConnections gather
	// on; the zero value gathers on every interface, loopback included.
	ICE iceopt.Config
}

// AuthError is returned by Run when the server refuses the token.
type AuthError struct {
	Code   int
	Reason string
}

func (e *AuthError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("auth refused: %d %s (%s)", e.Code, token.Describe(e.Code), e.Reason)
	}
	return fmt.Sprintf("auth refused: %d %s", e.Code, token.Describe(e.Code))
}

// ErrUnreachable is returned by Run when the server cannot be reached at all.
var ErrUnreachable = errors.New("cannot reach the room server")

// ErrSessionEnded is returned when the server ended the session (bye) or
// reconnecting gave up.
var ErrSessionEnded = errors.New("session ended")

// Engine is one participant. Create with New, run with Run.
type Engine struct {
	cfg Config
	log *slog.Logger
	ev  event.Emitter

	// endsTold holds the Ended channels of published tracks whose
	// audio_track_end / video_track_end was printed.
	endsTold sync.Map

	actions chan func()   // work for the run loop, from callbacks
	done    chan struct{} // closed when Run returns

	connMu sync.Mutex
	conn   Signaler

	// Owned by the run loop.
	session  string
	tok      string
	streams  map[string]*remote // by uid
	pub      *publisher
	sub      *subscriber
	renewing bool
	leaving  bool
	q        quality

	muteMu sync.Mutex
	muted  map[string]bool // local kinds muted

	sigRTT atomic.Int64 // signaling round trip + 1 ns; 0: not measured (quality.go)

	closeOnce sync.Once
}

// New validates cfg and returns an engine.
func New(cfg Config) (*Engine, error) {
	if !signal.IDPattern.MatchString(cfg.UID) {
		return nil, fmt.Errorf("invalid uid %q: want 1-64 of A-Z a-z 0-9 _ -", cfg.UID)
	}
	if !signal.IDPattern.MatchString(cfg.RoomID) {
		return nil, fmt.Errorf("invalid room %q: want 1-64 of A-Z a-z 0-9 _ -", cfg.RoomID)
	}
	if cfg.AppID == "" {
		return nil, errors.New("missing app id")
	}
	if cfg.Server == "" {
		return nil, errors.New("missing server url")
	}
	if cfg.Tokens == nil {
		return nil, errors.New("missing token source")
	}
	if cfg.Events == nil {
		return nil, errors.New("missing event emitter")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Dial == nil {
		cfg.Dial = DialSignal
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = time.Second
	}
	if cfg.ReconnectFor <= 0 {
		cfg.ReconnectFor = 2 * time.Minute
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 5 * time.Second
	}
	return &Engine{
		cfg:     cfg,
		log:     cfg.Logger,
		ev:      cfg.Events,
		actions: make(chan func(), 256),
		done:    make(chan struct{}),
		streams: map[string]*remote{},
		muted:   map[string]bool{},
	}, nil
}

func (e *Engine) uidRoom() event.UIDRoom {
	return event.UIDRoom{UID: e.cfg.UID, RoomID: e.cfg.RoomID}
}

// post runs f on the run loop; dropped once Run has returned.
func (e *Engine) post(f func()) {
	select {
	case e.actions <- f:
	case <-e.done:
	}
}

// send writes a message on the current connection; it fails quietly while
// reconnecting (the resumed session repeats what matters).
func (e *Engine) send(m *signal.Message) error {
	e.connMu.Lock()
	c := e.conn
	e.connMu.Unlock()
	if c == nil {
		return errors.New("not connected")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Send(ctx, m); err != nil {
		e.log.Debug("send failed", "type", m.Type, "err", err)
		return err
	}
	return nil
}

func (e *Engine) setConn(c Signaler) {
	e.connMu.Lock()
	old := e.conn
	e.conn = c
	e.connMu.Unlock()
	if old != nil && old != c {
		_ = old.Close("replaced")
	}
}

type inbound struct {
	m   *signal.Message
	err error
}

// Run joins and serves the session until ctx is done (a clean leave, nil),
// the server refuses the token (*AuthError), the server cannot be reached
// (ErrUnreachable) or the session ends (ErrSessionEnded).
func (e *Engine) Run(ctx context.Context) (err error) {
	defer e.teardown()
	// Closed before teardown waits for goroutines that might post.
	defer close(e.done)

	tok, err := e.cfg.Tokens.Token(ctx, false)
	if err != nil {
		return fmt.Errorf("get token: %w", err)
	}
	e.tok = tok

	conn, err := e.dial(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	e.ev.Emit(event.Connected, e.uidRoom())
	msgs, err := e.join(ctx, conn)
	if err != nil {
		return err
	}

	ping := time.NewTicker(e.cfg.PingInterval)
	defer ping.Stop()
	lastHeard := time.Now()
	// One stats sample a second, on whole wall-clock seconds (quality.go).
	stats := time.NewTimer(untilNextSecond(time.Now()))
	defer stats.Stop()

	for {
		select {
		case <-ctx.Done():
			e.leave()
			return nil
		case f := <-e.actions:
			f()
		case now := <-stats.C:
			e.qualityTick(now)
			stats.Reset(untilNextSecond(time.Now()))
		case <-ping.C:
			if time.Since(lastHeard) > 3*e.cfg.PingInterval {
				e.log.Warn("signaling silent; reconnecting", "silent", time.Since(lastHeard).Round(time.Millisecond))
				e.dropConn()
				continue
			}
			_ = e.send(&signal.Message{Type: signal.TypePing, TS: time.Now().UnixMilli()})
		case in, ok := <-msgs:
			if !ok || in.err != nil {
				if ctx.Err() != nil {
					e.leave()
					return nil
				}
				if in.err != nil && !errors.Is(in.err, signal.ErrClosed) {
					e.log.Warn("bad message from server", "err", in.err)
					continue
				}
				msgs, err = e.reconnect(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				lastHeard = time.Now()
				continue
			}
			lastHeard = time.Now()
			if err := e.handle(ctx, in.m); err != nil {
				return err
			}
		}
	}
}

func (e *Engine) dial(ctx context.Context) (Signaler, error) {
	dctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
	defer cancel()
	c, err := e.cfg.Dial(dctx, e.cfg.Server)
	if err != nil {
		return nil, err
	}
	e.setConn(c)
	return c, nil
}

func (e *Engine) dropConn() {
	e.connMu.Lock()
	c := e.conn
	e.connMu.Unlock()
	if c != nil {
		_ = c.Close("unresponsive")
	}
}

// readLoop feeds one connection's messages to the run loop; the channel
// closes when the connection does. It reads without the caller's context on
// purpose: coder/websocket closes a connection whose Read context is
// cancelled, and a leave must still be sent after Run's context ends.
func (e *Engine) readLoop(c Signaler) <-chan inbound {
	ch := make(chan inbound, 16)
	go func() {
		defer close(ch)
		for {
			m, err := c.Recv(context.Background())
			if err == nil && m.Type == signal.TypePong {
				e.onPong(m.TS) // timed here: the run loop may be busy
			}
			select {
			case ch <- inbound{m: m, err: err}:
			case <-e.done:
				return
			}
			// A message that did not decode is reported and skipped; a
			// closed connection ends the loop.
			if errors.Is(err, signal.ErrClosed) {
				return
			}
		}
	}()
	return ch
}

// join sends join on c and waits for join_result. first is true for the
// first join of the process (refusals end Run); on a reconnect the session
// is resumed.
func (e *Engine) join(ctx context.Context, c Signaler) (<-chan inbound, error) {
	msgs := e.readLoop(c)
	for attempt := 0; ; attempt++ {
		jctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
		err := c.Send(jctx, &signal.Message{
			Type: signal.TypeJoin, AppID: e.cfg.AppID, RoomID: e.cfg.RoomID, UID: e.cfg.UID,
			Token: e.tok, Version: signal.Version, Session: e.session,
		})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("send join: %w", err)
		}
		res, err := waitFor(jctx, msgs, signal.TypeJoinResult)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("join: %w", err)
		}
		e.ev.Emit(event.SDKAuthResult, event.AuthResult{UID: e.cfg.UID, Result: res.Result})
		if res.Result == token.OK {
			resumed := e.session != "" && res.Session == e.session
			e.session = res.Session
			e.onJoined(ctx, res, resumed)
			return msgs, nil
		}
		if res.Result == token.Expired {
			e.ev.Emit(event.TokenRequest, event.UID{UID: e.cfg.UID})
		}
		// The server closes the socket after a refusal; an expired token is
		// worth one more try when a fresh one can be had.
		if res.Result == token.Expired && e.cfg.Tokens.Renewable() && attempt == 0 {
			tok, terr := e.cfg.Tokens.Token(ctx, true)
			if terr != nil {
				return nil, &AuthError{Code: res.Result, Reason: terr.Error()}
			}
			e.tok = tok
			nc, derr := e.dial(ctx)
			if derr != nil {
				return nil, fmt.Errorf("%w: %w", ErrUnreachable, derr)
			}
			e.ev.Emit(event.Connected, e.uidRoom())
			c = nc
			msgs = e.readLoop(c)
			continue
		}
		return nil, &AuthError{Code: res.Result}
	}
}

// waitFor reads messages until one of type t arrives.
func waitFor(ctx context.Context, msgs <-chan inbound, t string) (*signal.Message, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case in, ok := <-msgs:
			if !ok {
				return nil, signal.ErrClosed
			}
			if in.err != nil {
				if errors.Is(in.err, signal.ErrClosed) {
					return nil, in.err
				}
				continue
			}
			if in.m.Type == signal.TypeError {
				return nil, fmt.Errorf("server error %d: %s", in.m.Code, in.m.Reason)
			}
			if in.m.Type == t {
				return in.m, nil
			}
		}
	}
}

// reconnect re-establishes signaling after a drop: reconnect, then
// connected again once the socket is back, with jittered exponential backoff.
func (e *Engine) reconnect(ctx context.Context) (<-chan inbound, error) {
	e.setConn(nil)
	e.ev.Emit(event.Reconnect, e.uidRoom())
	deadline := time.Now().Add(e.cfg.ReconnectFor)
	backoff := 100 * time.Millisecond
	for {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: could not reconnect within %s", ErrSessionEnded, e.cfg.ReconnectFor)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, e.cfg.ReconnectMax)
		c, err := e.dial(ctx)
		if err != nil {
			e.log.Info("reconnect attempt failed", "err", err)
			continue
		}
		e.ev.Emit(event.Connected, e.uidRoom())
		msgs, err := e.join(ctx, c)
		if err != nil {
			var ae *AuthError
			if errors.As(err, &ae) {
				return nil, err
			}
			e.log.Info("rejoin failed", "err", err)
			_ = c.Close("rejoin failed")
			continue
		}
		return msgs, nil
	}
}

// onJoined starts what a session needs: subscriptions and the publication.
// A resumed session keeps its PeerConnections; a new one (the server lost
// ours) starts them again.
func (e *Engine) onJoined(ctx context.Context, res *signal.Message, resumed bool) {
	if !resumed {
		if e.sub != nil {
			e.sub.close()
			e.sub = nil
		}
		if e.pub != nil {
			e.pub.close()
			e.pub = nil
		}
		// A new session (the server restarted or forgot us): the streams we
		// knew went with the old one; those still there come back in
		// join_result or when their publishers rejoin.
		for _, r := range e.streams {
			e.streamRemove(&r.info, ReasonSessionLost)
		}
	}
	for i := range res.Streams {
		e.streamAdd(&res.Streams[i])
	}
	if len(e.cfg.Subscribe) > 0 {
		_ = e.send(&signal.Message{Type: signal.TypeSubscribe, UIDs: e.cfg.Subscribe})
	}
	if e.cfg.Publish != nil && e.pub == nil && liveTracks(e.cfg.Publish) == 0 {
		e.log.Info("not publishing again: every track has ended")
	} else if e.cfg.Publish != nil && e.pub == nil {
		pub, err := newPublisher(ctx, e, e.cfg.Publish)
		if err != nil {
			e.log.Error("publish failed", "err", err)
			return
		}
		e.pub = pub
	}
	if resumed {
		e.muteMu.Lock()
		for kind, m := range e.muted {
			_ = e.send(&signal.Message{Type: signal.TypeMute, Kind: kind, Muted: m})
		}
		e.muteMu.Unlock()
	}
}

func (e *Engine) handle(ctx context.Context, m *signal.Message) error {
	switch m.Type {
	case signal.TypeStreamAdd:
		e.streamAdd(m.Stream)
	case signal.TypeStreamUpdate:
		e.streamUpdate(m.Stream)
	case signal.TypeStreamRemove:
		e.streamRemove(m.Stream, ReasonStreamRemoved)
	case signal.TypeOffer:
		if m.PC == signal.PCSubscribe {
			e.onSubscribeOffer(m.SDP)
		}
	case signal.TypeAnswer:
		if m.PC == signal.PCPublish && e.pub != nil {
			e.pub.onAnswer(m.SDP)
		}
	case signal.TypeCandidate:
		e.onCandidate(m)
	case signal.TypePublishRefused:
		e.ev.Emit(event.PublishAuthFail, event.AuthResult{UID: e.cfg.UID, Result: m.Result})
		if e.pub != nil {
			e.pub.close()
			e.pub = nil
		}
		e.cfg.Publish = nil
	case signal.TypeAuthResult:
		e.ev.Emit(event.SDKAuthResult, event.AuthResult{UID: e.cfg.UID, Result: m.Result})
		if m.Result == token.WillExpire {
			e.ev.Emit(event.TokenWillExpire, event.TokenWill{UID: e.cfg.UID, Token: e.tok})
			e.renew(ctx)
		}
	case signal.TypeTokenWillExpire:
		// The SDK sees this as verdict 10007 and the token_will_expire callback.
		e.ev.Emit(event.SDKAuthResult, event.AuthResult{UID: e.cfg.UID, Result: token.WillExpire})
		e.ev.Emit(event.TokenWillExpire, event.TokenWill{UID: e.cfg.UID, Token: e.tok})
		e.renew(ctx)
	case signal.TypeTokenRequest:
		e.ev.Emit(event.SDKAuthResult, event.AuthResult{UID: e.cfg.UID, Result: token.Expired})
		e.ev.Emit(event.TokenRequest, event.UID{UID: e.cfg.UID})
		e.renew(ctx)
	case signal.TypeBye:
		if m.Code == signal.ErrServerClosing {
			// A server going down for a restart: treat it as a lost
			// connection; the rejoin gets a new session when it is back.
			e.log.Warn("server is closing; reconnecting", "reason", m.Reason)
			e.session = ""
			e.dropConn()
			return nil
		}
		e.log.Warn("server ended the session", "result", m.Result, "reason", m.Reason)
		e.setConn(nil)
		if m.Result >= token.Internal {
			return &AuthError{Code: m.Result, Reason: m.Reason}
		}
		return fmt.Errorf("%w: %s", ErrSessionEnded, m.Reason)
	case signal.TypeError:
		e.log.Warn("server error", "code", m.Code, "reason", m.Reason)
	case signal.TypePong, signal.TypeJoinResult:
	default:
		e.log.Debug("ignored message", "type", m.Type)
	}
	return nil
}

// renew fetches a fresh token off the run loop (a --token-cmd may be slow)
// and sends it; the server answers with auth_result.
func (e *Engine) renew(ctx context.Context) {
	if !e.cfg.Tokens.Renewable() {
		e.log.Warn("token needs renewal but no --token-cmd or --app-secret was given")
		return
	}
	if e.renewing {
		return
	}
	e.renewing = true
	go func() {
		tok, err := e.cfg.Tokens.Token(ctx, true)
		e.post(func() {
			e.renewing = false
			if err != nil {
				e.log.Error("token renewal failed", "err", err)
				return
			}
			e.tok = tok
			_ = e.send(&signal.Message{Type: signal.TypeUpdateToken, Token: tok})
		})
	}()
}

func (e *Engine) onCandidate(m *signal.Message) {
	switch m.PC {
	case signal.PCPublish:
		if e.pub != nil {
			e.pub.addCandidate(*m.Candidate)
		}
	case signal.PCSubscribe:
		if e.sub != nil {
			e.sub.addCandidate(*m.Candidate)
		}
	}
}

// Mute mutes or unmutes the local published track of kind ("audio" or
// "video"): nothing of it is sent while muted, and the room is told.
func (e *Engine) Mute(kind string, muted bool) {
	e.post(func() {
		e.muteMu.Lock()
		e.muted[kind] = muted
		e.muteMu.Unlock()
		if e.pub != nil {
			e.pub.setMuted(kind, muted)
		}
		_ = e.send(&signal.Message{Type: signal.TypeMute, Kind: kind, Muted: muted})
	})
}

func (e *Engine) leave() {
	e.leaving = true
	_ = e.send(&signal.Message{Type: signal.TypeLeave})
}

func (e *Engine) teardown() {
	e.closeOnce.Do(func() {
		if e.pub != nil {
			e.pub.close()
		}
		if e.sub != nil {
			e.sub.close()
		}
		e.connMu.Lock()
		c := e.conn
		e.conn = nil
		e.connMu.Unlock()
		if c != nil {
			_ = c.Close("leave")
		}
	})
}
