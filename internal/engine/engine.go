// Package engine is one participant of a room: it connects, authenticates,
// joins, publishes a media source, subscribes to the others, renews its
// token and reconnects — and turns every observable change into an SDK
// callback on an event.Emitter. It knows nothing of files, RTMP or flags.
//
// It speaks to a room service through a Backend (backend.go), in what
// happens in a room rather than in one service's messages; the commands
// plug in internal/backend/embedded for roomctl's own server, and tests an
// in-memory fake (enginetest).
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/ids"
	"github.com/roomctl/roomctl/internal/media"
	"github.com/roomctl/roomctl/internal/token"
)

// TokenSource provides the token to join with and fresh ones on renewal.
// Its methods may be called from several goroutines at once (a renewal
// and a reconnect's join).
type TokenSource interface {
	// Token returns a token; renew is true when the server asked for a new one.
	Token(ctx context.Context, renew bool) (string, error)
	// Renewable reports whether asking again can give a different token.
	Renewable() bool
}

// Config configures an Engine.
type Config struct {
	// Backend is the room service the engine speaks to. Required: the
	// commands set internal/backend/embedded (roomctl serve) or another
	// service's backend; tests set a fake (enginetest).
	Backend Backend
	Server  string // the service's URL, given to Backend.Join
	AppID   string
	RoomID  string
	UID     string
	Tokens  TokenSource

	// Publish is published once joined; nil publishes nothing.
	Publish media.Source
	// Subscribe limits subscriptions to these uids; empty means everyone.
	// It is the initial state: Subscribe, Unsubscribe and SetSubscriptions
	// change it at run time.
	Subscribe []string
	// Tracks, when set, is given every subscribed track's media (record,
	// push-rtmp). The engine's own first-frame detection runs regardless.
	Tracks TrackHandler

	Events event.Emitter
	Logger *slog.Logger // nil: discard

	// ConnectTimeout bounds each Backend.Join (transport and verdict);
	// default 10 s.
	ConnectTimeout time.Duration
	// ReconnectMax caps the reconnect backoff; default 1 s, so a restarted
	// server is found again within about a second. ReconnectFor
	// bounds how long it keeps trying; default 2 min.
	ReconnectMax time.Duration
	ReconnectFor time.Duration
	// PingInterval is how often the signaling connection is probed; default 5 s.
	// Three intervals without any event mean the connection is dead.
	// (The quality telemetry pings once a second besides, to measure RTT.)
	PingInterval time.Duration

	// AudioLevelReport prints audio_level_report every 2 s, as the SDK's
	// enableAudioLevelReport(); it is the initial state, which
	// SetAudioLevelReport changes at run time. active_speaker,
	// network_score and exception are always on.
	AudioLevelReport bool
	// NoRemoteLevels: subscribed audio is decoded only until its first
	// frame decodes (first_audio_frame_decode), not for levels, unless
	// audio_level_report is on (now or later, SetAudioLevelReport).
	// Remote users are then left out of active_speaker and have no level
	// to report. For consumers that have no use for levels (record, load):
	// decoding every Opus packet is most of what a subscribed audio track
	// costs.
	NoRemoteLevels bool
	// CountOnly is for load generators (roomctl load): subscribed tracks
	// go to the TrackHandler and are counted in bytes, and nothing more —
	// no frame assembly, no audio decoding, no RTP stats interceptor on
	// the subscribe connection. So no first_*_frame_decode and no player
	// states for remote streams; the downlink half of network_score,
	// DownlinkStats' loss, jitter and frame rate, and the receive
	// exceptions measure nothing. NACKs, receiver reports and TWCC go on.
	CountOnly bool

	// ICE chooses the interfaces and addresses the PeerConnections gather
	// on; the zero value gathers on every interface, loopback included.
	ICE iceopt.Config
}

// ConfigError is returned by New for a Config it cannot run with; Field
// names the Config field.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return "engine config: " + e.Field + ": " + e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }

// ErrMissing is the Err of a ConfigError for a required field left empty.
var ErrMissing = errors.New("required")

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

// errNotConnected is what a request gets while the engine reconnects.
var errNotConnected = errors.New("not connected")

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

	sessMu sync.Mutex
	sess   Session // nil while (re)connecting

	// Owned by the run loop.
	sessionID string
	tok       string
	streams   map[string]*remote // by uid
	pub       *publisher
	pubDown   bool // the closed publication was down: the next one prints stream_reconnect_end
	sub       *subscriber
	renewing  bool
	// unpublished are the kinds of the source not published (Unpublish).
	unpublished map[string]bool
	// runCtx is Run's context, for what the run loop starts on its behalf
	// (a publication made by Publish).
	runCtx   context.Context
	q        quality
	subs     subscriptions  // whom the engine subscribes to (subscribe.go)
	subsSent []string       // the list the service has, or gets with the join in progress
	volumes  map[string]int // uid → local playback volume 0-99; absent: 100
	levelRep atomic.Bool    // audio_level_report is on (read by tracks: remoteLevels)
	traffic  trafficMeter   // rates and totals of the bytes sent and received (stats.go)
	joinedAt time.Time      // when the first session was joined

	muteMu sync.Mutex
	muted  map[string]bool // local kinds muted

	sigRTT atomic.Int64 // signaling round trip + 1 ns; 0: not measured (quality.go)

	// everJoined is set by the first joined session and cleared when Run
	// returns (Joined).
	everJoined atomic.Bool

	renewals  sync.WaitGroup // token renewals in progress (renew)
	dialing   sync.WaitGroup // a reconnect's redial in progress
	closeOnce sync.Once
}

// New validates cfg and returns an engine. Its errors are *ConfigError.
func New(cfg Config) (*Engine, error) {
	bad := func(field string, err error) (*Engine, error) {
		return nil, &ConfigError{Field: field, Err: err}
	}
	if cfg.Backend == nil {
		return bad("Backend", ErrMissing)
	}
	if err := ids.Check("uid", cfg.UID); err != nil {
		return bad("UID", err)
	}
	if err := ids.Check("room", cfg.RoomID); err != nil {
		return bad("RoomID", err)
	}
	switch {
	case cfg.AppID == "":
		return bad("AppID", ErrMissing)
	case cfg.Server == "":
		return bad("Server", ErrMissing)
	case cfg.Tokens == nil:
		return bad("Tokens", ErrMissing)
	case cfg.Events == nil:
		return bad("Events", ErrMissing)
	}
	for _, u := range cfg.Subscribe {
		if err := ids.Check("uid", u); err != nil {
			return bad("Subscribe", err)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
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
	cfg.Subscribe = slices.Clone(cfg.Subscribe)
	e := &Engine{
		cfg:     cfg,
		log:     cfg.Logger,
		ev:      cfg.Events,
		actions: make(chan func(), 256),
		done:    make(chan struct{}),
		streams: map[string]*remote{},
		muted:   map[string]bool{},
		subs:    newSubscriptions(cfg.Subscribe),
		volumes: map[string]int{},
	}
	e.levelRep.Store(cfg.AudioLevelReport)
	return e, nil
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

// request makes one request on the current session; it fails quietly
// while reconnecting (the resumed session repeats what matters). Any
// goroutine may call it.
func (e *Engine) request(what string, f func(context.Context, Session) error) error {
	s := e.session()
	if s == nil {
		return errNotConnected
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f(ctx, s); err != nil {
		e.log.Debug("request failed", "request", what, "err", err)
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (e *Engine) session() Session {
	e.sessMu.Lock()
	defer e.sessMu.Unlock()
	return e.sess
}

// setSession makes s the current session and closes the one before,
// telling the service why.
func (e *Engine) setSession(s Session, why string) {
	e.sessMu.Lock()
	old := e.sess
	e.sess = s
	e.sessMu.Unlock()
	if old != nil && old != s {
		_ = old.Close(why)
	}
}

// Run joins and serves the session until ctx is done (a clean leave, nil),
// the server refuses the token (*AuthError), the server cannot be reached
// (ErrUnreachable) or the session ends (ErrSessionEnded).
//
// The run loop never waits for the service: a reconnect dials on a
// goroutine of its own (redial) and hands its outcome back, so that the
// telemetry keeps its beat and callbacks keep running while signaling is
// down.
func (e *Engine) Run(ctx context.Context) (err error) {
	defer e.teardown()
	// Closed before teardown waits for goroutines that might post.
	defer close(e.done)
	defer e.everJoined.Store(false)
	// Ends what runs on Run's behalf (a token renewal, a reconnect) when
	// Run returns.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.runCtx = ctx

	tok, err := e.cfg.Tokens.Token(ctx, false)
	if err != nil {
		return fmt.Errorf("get token: %w", err)
	}
	e.tok = tok

	res := e.dial(ctx, e.joinRequest())
	if res.err != nil {
		return res.err
	}
	events := e.joined(ctx, res)
	var rejoined <-chan joinResult // while reconnecting: the outcome

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
			if rejoined != nil {
				continue // nothing to probe
			}
			if time.Since(lastHeard) > 3*e.cfg.PingInterval {
				e.log.Warn("signaling silent; reconnecting", "silent", time.Since(lastHeard).Round(time.Millisecond))
				e.dropSession("unresponsive")
				continue
			}
			_ = e.request("ping", func(ctx context.Context, s Session) error { return s.Ping(ctx) })
		case res := <-rejoined:
			rejoined = nil
			if res.err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return res.err
			}
			events = e.joined(ctx, res)
			lastHeard = time.Now()
		case ev, ok := <-events:
			if !ok {
				events = nil
				if ctx.Err() != nil {
					e.leave()
					return nil
				}
				rejoined = e.reconnect(ctx)
				continue
			}
			lastHeard = time.Now()
			if err := e.handle(ctx, ev); err != nil {
				return err
			}
		}
	}
}

// dropSession closes the current session's transport without leaving: its
// Events close and the run loop reconnects.
func (e *Engine) dropSession(reason string) {
	if s := e.session(); s != nil {
		_ = s.Close(reason)
	}
}

// joinRequest is a join with the run loop's state of the moment: the
// token, the session to resume, the subscriptions.
func (e *Engine) joinRequest() JoinRequest {
	return JoinRequest{
		Server: e.cfg.Server, AppID: e.cfg.AppID, RoomID: e.cfg.RoomID, UID: e.cfg.UID,
		Token: e.tok, Resume: e.sessionID, Subscribe: e.subscribeList(),
		Connected: func() { e.ev.Emit(event.Connected, e.uidRoom()) },
	}
}

// joinResult is the outcome of dial.
type joinResult struct {
	sess    Session
	joined  *Joined
	req     JoinRequest // as joined: its Token is the one the service accepted
	renewed bool        // req.Token was renewed by dial (an expired verdict)
	err     error
}

// dial joins through the backend with req. A refusal is printed as
// sdk_auth_result and ends in an *AuthError, except an expired token,
// which is worth one more try when a fresh one can be had. It touches no
// run-loop state: a reconnect runs it on a goroutine of its own.
func (e *Engine) dial(ctx context.Context, req JoinRequest) joinResult {
	renewed := false
	fail := func(err error) joinResult { return joinResult{req: req, renewed: renewed, err: err} }
	for attempt := 0; ; attempt++ {
		jctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
		r := req
		r.Subscribe = slices.Clone(req.Subscribe)
		sess, joined, err := e.cfg.Backend.Join(jctx, r)
		cancel()
		var ae *AuthError
		if errors.As(err, &ae) {
			e.ev.Emit(event.SDKAuthResult, event.AuthResult{UID: e.cfg.UID, Result: ae.Code})
			if ae.Code != token.Expired {
				return fail(err)
			}
			e.ev.Emit(event.TokenRequest, event.UID{UID: e.cfg.UID})
			if !e.cfg.Tokens.Renewable() || attempt > 0 {
				return fail(err)
			}
			tok, terr := e.cfg.Tokens.Token(ctx, true)
			if terr != nil {
				return fail(&AuthError{Code: ae.Code, Reason: terr.Error()})
			}
			req.Token, renewed = tok, true
			continue
		}
		if err != nil {
			return fail(err)
		}
		return joinResult{sess: sess, joined: joined, req: req, renewed: renewed}
	}
}

// joined makes a dial's session the current one, on the run loop, and
// returns its events.
func (e *Engine) joined(ctx context.Context, res joinResult) <-chan Event {
	if !res.joined.Resumed {
		// The PeerConnections of the old session go before anything is
		// sent on the new one: not a late candidate of theirs reaches it.
		e.closeMedia()
	}
	if !e.everJoined.Load() {
		// Before sdk_auth_result: a controller that sees it may call.
		e.joinedAt = time.Now()
		e.everJoined.Store(true)
	}
	e.ev.Emit(event.SDKAuthResult, event.AuthResult{UID: e.cfg.UID, Result: token.OK})
	e.setSession(res.sess, "replaced")
	e.sessionID = res.joined.Session
	if res.renewed {
		e.tok = res.req.Token
	} else if e.tok != res.req.Token {
		// Renewed while the reconnect dialled with the one before.
		tok := e.tok
		_ = e.request("update token", func(ctx context.Context, s Session) error { return s.UpdateToken(ctx, tok) })
	}
	e.subsSent = slices.Clone(res.req.Subscribe)
	e.onJoined(ctx, res.joined)
	// Changed while the reconnect dialled (Subscribe, Unsubscribe), or by
	// the streams of a new session (everyone but some: the list names the
	// publishers).
	e.syncSubscriptions()
	return res.sess.Events()
}

// reconnect re-establishes signaling after a drop: reconnect now, then,
// from redial on a goroutine of its own, connected again once the
// transport is back. The outcome comes on the returned channel, which the
// run loop selects on; Run's end (ctx) ends the dialing.
func (e *Engine) reconnect(ctx context.Context) <-chan joinResult {
	e.setSession(nil, "replaced")
	e.ev.Emit(event.Reconnect, e.uidRoom())
	req := e.joinRequest()
	out := make(chan joinResult) // unbuffered: a session is handed over or closed, never lost
	e.dialing.Add(1)
	go func() {
		defer e.dialing.Done()
		res := e.redial(ctx, req)
		select {
		case out <- res:
		case <-ctx.Done():
			if res.sess != nil { // joined just as Run ended
				lctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = res.sess.Leave(lctx)
				cancel()
				_ = res.sess.Close("leave")
			}
		}
	}()
	return out
}

// redial dials until it joins, with jittered exponential backoff, for at
// most ReconnectFor. An *AuthError ends it.
func (e *Engine) redial(ctx context.Context, req JoinRequest) joinResult {
	deadline := time.Now().Add(e.cfg.ReconnectFor)
	backoff := 100 * time.Millisecond
	renewed := false // by an attempt: the token to keep
	wait := time.NewTimer(time.Hour)
	wait.Stop() // armed by Reset below
	defer wait.Stop()
	for {
		if time.Now().After(deadline) {
			return joinResult{err: fmt.Errorf("%w: could not reconnect within %s", ErrSessionEnded, e.cfg.ReconnectFor)}
		}
		wait.Reset(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			return joinResult{err: ctx.Err()}
		case <-wait.C:
		}
		backoff = min(backoff*2, e.cfg.ReconnectMax)
		res := e.dial(ctx, req)
		req, renewed = res.req, renewed || res.renewed
		res.renewed = renewed
		if res.err == nil {
			return res
		}
		if ctx.Err() != nil {
			return joinResult{err: ctx.Err()}
		}
		var ae *AuthError
		if errors.As(res.err, &ae) {
			return res
		}
		e.log.Info("reconnect attempt failed", "err", res.err)
	}
}

// onJoined starts what a session needs: the streams and the publication.
// A resumed session keeps its PeerConnections; a new one (the server lost
// ours) starts them again.
func (e *Engine) onJoined(ctx context.Context, j *Joined) {
	if !j.Resumed {
		e.closeMedia()
		// A new session (the server restarted or forgot us): the streams we
		// knew went with the old one; those still there come back in
		// the join or when their publishers rejoin.
		for uid := range e.streams {
			e.streamRemove(uid, ReasonSessionLost)
		}
	}
	for i := range j.Streams {
		e.streamAdd(&j.Streams[i])
	}
	if e.cfg.Publish != nil && e.pub == nil && e.publishable() == 0 {
		e.log.Info("not publishing again: every track has ended or is unpublished")
	} else if e.cfg.Publish != nil && e.pub == nil {
		pub, err := newPublisher(ctx, e, e.cfg.Publish)
		if err != nil {
			e.log.Error("publish failed", "err", err)
			return
		}
		e.pub = pub
		// The publication was down when its session went (its
		// stream_reconnect_start printed): the end comes when this one
		// connects.
		pub.ice.down, e.pubDown = e.pubDown, false
	}
	// The room learns our mute state again: a resumed session may have
	// missed a change, and a new one (after the publish offer above, which
	// declares the tracks) starts unmuted: the new publication itself
	// applies the state once answered (publisher.onAnswer).
	e.muteMu.Lock()
	muted := maps.Clone(e.muted)
	e.muteMu.Unlock()
	for kind, m := range muted {
		if j.Resumed || m {
			_ = e.request("mute", func(ctx context.Context, s Session) error { return s.Mute(ctx, kind, m) })
		}
	}
}

// isMuted reports whether the local kind is muted (Mute).
func (e *Engine) isMuted(kind string) bool {
	e.muteMu.Lock()
	defer e.muteMu.Unlock()
	return e.muted[kind]
}

// closeMedia closes both PeerConnections: the service lost the session
// they belonged to. Nothing they queued for the run loop runs after this
// (ice.go, live).
func (e *Engine) closeMedia() {
	// Their counters are taken into the session's totals (a track the
	// meter has seen is counted to its last byte).
	e.sampleTraffic(time.Now())
	if e.sub != nil {
		e.sub.close(ReasonSessionLost)
		e.sub = nil
	}
	if e.pub != nil {
		e.pubDown = e.pubDown || e.pub.ice.down
		e.pub.close()
		e.pub = nil
	}
}

// handle acts on one event of the session, on the run loop. An error ends
// Run.
func (e *Engine) handle(ctx context.Context, ev Event) error {
	switch ev := ev.(type) {
	case StreamAdded:
		e.streamAdd(&ev.Stream)
		e.syncSubscriptions() // a newcomer, when everyone but some are subscribed
	case StreamUpdated:
		e.streamUpdate(&ev.Stream)
		e.syncSubscriptions()
	case StreamRemoved:
		e.streamRemove(ev.UID, ReasonStreamRemoved)
	case SubscribeOffer:
		e.onSubscribeOffer(ev.SDP)
	case PublishAnswer:
		if e.pub != nil {
			e.pub.onAnswer(ev.SDP)
		}
	case RemoteCandidate:
		e.onCandidate(ev.PC, ev.Candidate)
	case PublishRefused:
		e.ev.Emit(event.PublishAuthFail, event.AuthResult{UID: e.cfg.UID, Result: ev.Result})
		if e.pub != nil {
			e.pub.close()
			e.pub = nil
		}
		e.cfg.Publish = nil
	case AuthVerdict:
		e.ev.Emit(event.SDKAuthResult, event.AuthResult{UID: e.cfg.UID, Result: ev.Result})
		if ev.Result == token.WillExpire {
			e.ev.Emit(event.TokenWillExpire, event.TokenWill{UID: e.cfg.UID, Token: e.tok})
			e.renew(ctx)
		}
	case TokenExpiring:
		// The SDK sees this as verdict 10007 and the token_will_expire callback.
		e.ev.Emit(event.SDKAuthResult, event.AuthResult{UID: e.cfg.UID, Result: token.WillExpire})
		e.ev.Emit(event.TokenWillExpire, event.TokenWill{UID: e.cfg.UID, Token: e.tok})
		e.renew(ctx)
	case TokenRefreshed:
		e.log.Debug("the server renewed the token")
		e.tok = ev.Token
	case TokenRequested:
		e.ev.Emit(event.SDKAuthResult, event.AuthResult{UID: e.cfg.UID, Result: token.Expired})
		e.ev.Emit(event.TokenRequest, event.UID{UID: e.cfg.UID})
		e.renew(ctx)
	case SessionEnded:
		if ev.Restart {
			// A server going down for a restart: treat it as a lost
			// connection; the rejoin gets a new session when it is back.
			e.log.Warn("server is closing; reconnecting", "reason", ev.Reason)
			e.sessionID = ""
			e.dropSession("server closing")
			return nil
		}
		e.log.Warn("server ended the session", "result", ev.Result, "reason", ev.Reason)
		e.setSession(nil, "replaced")
		if ev.Result >= token.Internal {
			return &AuthError{Code: ev.Result, Reason: ev.Reason}
		}
		return fmt.Errorf("%w: %s", ErrSessionEnded, ev.Reason)
	case Pong:
		e.onPong(ev.RTT)
	case ServerError:
		e.log.Warn("server error", "code", ev.Code, "reason", ev.Reason)
	default:
		e.log.Debug("ignored event", "event", fmt.Sprintf("%T", ev))
	}
	return nil
}

// renew fetches a fresh token off the run loop (a --token-cmd may be slow)
// and sends it; the server answers with AuthVerdict.
func (e *Engine) renew(ctx context.Context) {
	if !e.cfg.Tokens.Renewable() {
		e.log.Warn("token needs renewal but no --token-cmd or --app-secret was given")
		return
	}
	if e.renewing {
		return
	}
	e.renewing = true
	e.renewals.Add(1)
	go func() {
		defer e.renewals.Done()
		tok, err := e.cfg.Tokens.Token(ctx, true)
		e.post(func() {
			e.renewing = false
			if err != nil {
				e.log.Error("token renewal failed", "err", err)
				return
			}
			e.tok = tok
			_ = e.request("update token", func(ctx context.Context, s Session) error { return s.UpdateToken(ctx, tok) })
		})
	}()
}

func (e *Engine) onCandidate(pc PC, c webrtc.ICECandidateInit) {
	switch pc {
	case PCPublish:
		if e.pub != nil {
			e.pub.addCandidate(c)
		}
	case PCSubscribe:
		if e.sub != nil {
			e.sub.addCandidate(c)
		}
	}
}

// Mute mutes or unmutes the local published track of kind ("audio" or
// "video"): nothing of it is sent while muted, and the room is told. It
// returns at once; MuteLocal is the same, checked and synchronous.
func (e *Engine) Mute(kind string, muted bool) {
	e.post(func() { e.setMute(kind, muted) })
}

// setMute is Mute on the run loop. While reconnecting the room is told
// by the next session (onJoined).
func (e *Engine) setMute(kind string, muted bool) {
	e.muteMu.Lock()
	e.muted[kind] = muted
	e.muteMu.Unlock()
	if e.pub != nil {
		e.pub.setMuted(kind, muted)
	}
	_ = e.request("mute", func(ctx context.Context, s Session) error { return s.Mute(ctx, kind, muted) })
}

// SetSubscriptions changes whom the engine subscribes to (empty: everyone),
// as Config.Subscribe does at join; exclusions made by Unsubscribe are
// forgotten. The tracks of publishers no longer subscribed end for their
// consumers with ReasonUnsubscribed. It returns at once; the change is
// made on the run loop.
func (e *Engine) SetSubscriptions(uids []string) {
	uids = slices.Clone(uids)
	e.post(func() {
		e.subs = newSubscriptions(uids)
		e.applySubscriptions()
	})
}

func (e *Engine) leave() {
	_ = e.request("leave", func(ctx context.Context, s Session) error { return s.Leave(ctx) })
}

func (e *Engine) teardown() {
	e.closeOnce.Do(func() {
		if e.pub != nil {
			e.pub.close()
		}
		if e.sub != nil {
			e.sub.close(ReasonLeft)
		}
		e.setSession(nil, "leave")
		e.renewals.Wait()
		e.dialing.Wait()
	})
}
