package livekit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	lk "github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/token"
)

// ProtocolVersion is the LiveKit signalling protocol roomctl speaks:
// livekit-server v1.13's, and server-sdk-go v2.20's. It means two
// PeerConnections with the server offering first on the subscriber one,
// resume by participant sid, and RequestResponse for refused requests.
const ProtocolVersion = 17

// Config configures a Backend. The zero value is ready to use.
type Config struct {
	// HTTPClient opens the signalling WebSocket and asks /rtc/validate.
	// Nil: a client of the Backend's own, with a transport of its own that
	// keeps no idle connection (validate is rare; a WebSocket is never
	// idle in the pool). A Timeout on it bounds each dial; Join's context
	// does anyway.
	HTTPClient *http.Client
	// Logger gets what the engine does not need to know: messages that did
	// not decode, ignored types, failed resumes. Nil discards.
	Logger *slog.Logger
	// Version is sent to LiveKit as the client's version (its logs and
	// analytics show it); default "roomctl".
	Version string
}

// Backend joins rooms of a LiveKit server (or cluster) as one of its
// clients. It is safe for concurrent use by several engines.
type Backend struct {
	http    *http.Client
	log     *slog.Logger
	version string

	mu    sync.Mutex
	saved map[string]savedState // by participant sid: what a resume carries on
}

var _ engine.Backend = (*Backend)(nil)

// savedState is a dropped session's state, kept for a Join that resumes
// it.
type savedState struct {
	st *state
	at time.Time
}

const (
	// savedFor and maxSaved bound the states kept for resumes: the engine
	// resumes within seconds or gives up (Config.ReconnectFor, 2 min).
	savedFor = 10 * time.Minute
	maxSaved = 256
	// readLimit bounds one signalling message. A JoinResponse in a big
	// room and SDPs with many m-lines exceed coder/websocket's 32 KiB.
	readLimit = 16 << 20
	// bodyLimit bounds a refusal body read from /rtc/validate.
	bodyLimit = 64 << 10
)

// New returns a Backend; nothing in cfg can be invalid.
func New(cfg Config) *Backend {
	b := &Backend{http: cfg.HTTPClient, log: cfg.Logger, version: cfg.Version, saved: map[string]savedState{}}
	if b.http == nil {
		b.http = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}}
	}
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if b.version == "" {
		b.version = "roomctl"
	}
	return b
}

// dialParams are the /rtc query parameters that vary.
type dialParams struct {
	autoSub bool
	resume  string // participant sid: reconnect=1&sid=
	reason  lk.ReconnectReason
}

// Join implements engine.Backend. See the package comment for what it
// sends and how LiveKit's answers become a verdict.
func (b *Backend) Join(ctx context.Context, req engine.JoinRequest) (engine.Session, *engine.Joined, error) {
	base, err := rtcURL(req.Server)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", engine.ErrUnreachable, err)
	}
	// A token that names another room, identity or key is refused here,
	// as roomctl serve refuses it, but without joining with it: LiveKit
	// would put the participant in the token's room, under the token's
	// identity, replacing a session of that identity there.
	if c, ok := unverifiedClaims(req.Token); ok {
		if code, why := mismatch(c, req.AppID, req.RoomID, req.UID); code != 0 {
			return nil, nil, b.refuseLocally(ctx, base, req, code, why)
		}
	}
	p := dialParams{autoSub: len(req.Subscribe) == 0, resume: req.Resume, reason: lk.ReconnectReason_RR_SIGNAL_DISCONNECTED}
	conn, first, err := b.dial(ctx, base, req.Token, p)
	var rf *refusal
	if errors.As(err, &rf) {
		if req.Connected != nil {
			req.Connected() // LiveKit answered: the server is up, the token is not
		}
		return nil, nil, &engine.AuthError{Code: verdictOf(rf.status, rf.body, req.Token != ""), Reason: redact(rf.body, req.Token)}
	}
	if err != nil {
		return nil, nil, err
	}
	if req.Connected != nil {
		req.Connected()
	}
	if req.Resume != "" {
		if first.GetReconnect() != nil {
			return b.resumed(conn, base, req)
		}
		b.take(req.Resume) // that session is gone
		if l := first.GetLeave(); l != nil && (l.GetAction() != lk.LeaveRequest_DISCONNECT || l.GetCanReconnect()) {
			// LiveKit lost the session (STATE_MISMATCH, action RECONNECT):
			// join anew; the engine starts over on Resumed false.
			b.log.Info("livekit could not resume; joining anew", "reason", reasonText(l.GetReason()))
			_ = conn.CloseNow()
			p.resume = ""
			conn, first, err = b.dial(ctx, base, req.Token, p)
			if errors.As(err, &rf) {
				return nil, nil, &engine.AuthError{Code: verdictOf(rf.status, rf.body, req.Token != ""), Reason: redact(rf.body, req.Token)}
			}
			if err != nil {
				return nil, nil, err
			}
		}
	}
	jr := first.GetJoin()
	if jr == nil {
		_ = conn.CloseNow()
		if l := first.GetLeave(); l != nil {
			return nil, nil, fmt.Errorf("livekit refused the join: %s", reasonText(l.GetReason()))
		}
		return nil, nil, fmt.Errorf("livekit answered the join with %T", first.GetMessage())
	}
	return b.joined(ctx, conn, base, req, jr)
}

// joined starts the session of a new join.
func (b *Backend) joined(ctx context.Context, conn *websocket.Conn, base *url.URL, req engine.JoinRequest, jr *lk.JoinResponse) (engine.Session, *engine.Joined, error) {
	if name, id := jr.GetRoom().GetName(), jr.GetParticipant().GetIdentity(); name != req.RoomID || id != req.UID {
		// The token passed the local check, yet LiveKit put us elsewhere.
		_ = writeSignal(ctx, conn, leaveReq())
		_ = conn.Close(websocket.StatusNormalClosure, "wrong room")
		return nil, nil, &engine.AuthError{Code: token.UIDMismatch, Reason: fmt.Sprintf("livekit joined %q to room %q", id, name)}
	}
	st := newState(req.UID, req.RoomID, req.Subscribe)
	streams, o := st.join(jr)
	s := newSession(b, conn, base, st, req.Token)
	if err := s.write(ctx, o.sends...); err != nil {
		_ = s.Close("join failed")
		return nil, nil, err
	}
	b.log.Debug("joined livekit room", "room", req.RoomID, "room_sid", jr.GetRoom().GetSid(),
		"participant_sid", jr.GetParticipant().GetSid(), "server", jr.GetServerVersion(),
		"protocol", jr.GetServerInfo().GetProtocol(), "node", jr.GetServerInfo().GetNodeId())
	return s, &engine.Joined{Session: st.selfSID, Streams: streams}, nil
}

// resumed starts the session that resumes req.Resume: the state of the
// dropped one carries on (the streams told, our track sids), and the full
// ParticipantUpdate that follows the ReconnectResponse tells what changed
// meanwhile.
func (b *Backend) resumed(conn *websocket.Conn, base *url.URL, req engine.JoinRequest) (engine.Session, *engine.Joined, error) {
	st := b.take(req.Resume)
	if st == nil {
		st = newState(req.UID, req.RoomID, req.Subscribe)
		st.selfSID = req.Resume
	}
	st.resumed()
	s := newSession(b, conn, base, st, req.Token)
	return s, &engine.Joined{Session: req.Resume, Resumed: true}, nil
}

// refuseLocally gives roomctl's verdict code on a token that cannot be for
// this join, after LiveKit's own on it (/rtc/validate, which joins
// nothing): a token LiveKit refuses gets LiveKit's verdict, as roomctl
// serve checks the signature before the claims.
func (b *Backend) refuseLocally(ctx context.Context, base *url.URL, req engine.JoinRequest, code int, why string) error {
	status, body, err := b.validate(ctx, base, req.Token)
	if err != nil {
		return fmt.Errorf("%w: %w", engine.ErrUnreachable, err)
	}
	if req.Connected != nil {
		req.Connected()
	}
	if status != http.StatusOK {
		return &engine.AuthError{Code: verdictOf(status, body, true), Reason: redact(body, req.Token)}
	}
	return &engine.AuthError{Code: code, Reason: why}
}

// refusal is LiveKit's answer to an upgrade it refused.
type refusal struct {
	status int
	body   string
}

func (r *refusal) Error() string { return fmt.Sprintf("livekit refused: %d %s", r.status, r.body) }

// dial opens the signalling WebSocket and reads LiveKit's first message
// (JoinResponse, ReconnectResponse or LeaveRequest). The token travels in
// the Authorization header, as server-sdk-go sends it, so that it is in no
// URL: not in proxies' logs, nor in the url.Error of a failed dial. A
// refused upgrade is a *refusal; a dial that got no HTTP answer wraps
// engine.ErrUnreachable.
func (b *Backend) dial(ctx context.Context, base *url.URL, tok string, p dialParams) (*websocket.Conn, *lk.SignalResponse, error) {
	u := *base
	q := url.Values{}
	q.Set("protocol", strconv.Itoa(ProtocolVersion))
	q.Set("sdk", "go") // pion: LiveKit then fires tracks by RTP and skips ICE-TCP
	q.Set("version", b.version)
	q.Set("os", runtime.GOOS)
	q.Set("auto_subscribe", boolParam(p.autoSub))
	if p.resume != "" {
		q.Set("reconnect", "1")
		q.Set("sid", p.resume)
		q.Set("reconnect_reason", strconv.Itoa(int(p.reason)))
	}
	u.RawQuery = q.Encode()
	// coder/websocket owns the response body: a hijacked connection on
	// success, a copy of its first 1024 bytes on a refusal.
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: b.http, HTTPHeader: authHeader(tok)}) //nolint:bodyclose // see above
	if err != nil {
		if resp == nil {
			return nil, nil, fmt.Errorf("%w: %w", engine.ErrUnreachable, err)
		}
		// coder/websocket keeps the first 1024 bytes of the body; a long
		// token echoed in it may push LiveKit's reason past them.
		var body []byte
		if resp.Body != nil {
			body, _ = io.ReadAll(resp.Body)
		}
		if len(body) >= 1024 {
			if status, full, verr := b.validate(ctx, base, tok); verr == nil && status == resp.StatusCode {
				body = []byte(full)
			}
		}
		return nil, nil, &refusal{status: resp.StatusCode, body: string(body)}
	}
	conn.SetReadLimit(readLimit)
	for {
		m, err := readSignal(ctx, conn)
		if err != nil {
			_ = conn.CloseNow()
			return nil, nil, fmt.Errorf("livekit join: %w", err)
		}
		if m.GetJoin() != nil || m.GetReconnect() != nil || m.GetLeave() != nil {
			return conn, m, nil
		}
		b.log.Debug("livekit message before the join's answer", "type", fmt.Sprintf("%T", m.GetMessage()))
	}
}

// validate asks LiveKit's /rtc/validate about tok: the same checks as the
// upgrade, answered in plain HTTP, and no join.
func (b *Backend) validate(ctx context.Context, base *url.URL, tok string) (int, string, error) {
	u := *base
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	u.Path += "/validate"
	q := url.Values{}
	q.Set("protocol", strconv.Itoa(ProtocolVersion))
	q.Set("sdk", "go")
	u.RawQuery = q.Encode()
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", fmt.Errorf("livekit validate: %w", err)
	}
	r.Header = authHeader(tok)
	resp, err := b.http.Do(r)
	if err != nil {
		return 0, "", fmt.Errorf("livekit validate: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, bodyLimit))
	_ = resp.Body.Close()
	if err != nil {
		return 0, "", fmt.Errorf("livekit validate: %w", err)
	}
	return resp.StatusCode, string(body), nil
}

func authHeader(tok string) http.Header {
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	return h
}

func boolParam(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// rtcURL is the signalling endpoint of a server URL: ws(s)://host/rtc
// (http and https are taken for ws and wss; a path prefix is kept).
func rtcURL(server string) (*url.URL, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("livekit server url: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("livekit server url %q: scheme must be ws, wss, http or https", server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("livekit server url %q: no host", server)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/rtc"
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u, nil
}

// readSignal reads one SignalResponse. LiveKit sends binary protobuf; a
// text frame would be protojson, which it does not send.
func readSignal(ctx context.Context, conn *websocket.Conn) (*lk.SignalResponse, error) {
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ != websocket.MessageBinary {
			continue
		}
		m := &lk.SignalResponse{}
		if err := proto.Unmarshal(data, m); err != nil {
			return nil, fmt.Errorf("decode signal response: %w", err)
		}
		return m, nil
	}
}

func writeSignal(ctx context.Context, conn *websocket.Conn, req *lk.SignalRequest) error {
	data, err := proto.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode signal request: %w", err)
	}
	return conn.Write(ctx, websocket.MessageBinary, data)
}

func leaveReq() *lk.SignalRequest {
	return &lk.SignalRequest{Message: &lk.SignalRequest_Leave{Leave: &lk.LeaveRequest{
		Reason: lk.DisconnectReason_CLIENT_INITIATED, Action: lk.LeaveRequest_DISCONNECT,
	}}}
}

// save keeps a dropped session's state for the Join that resumes it.
func (b *Backend) save(sid string, st *state) {
	if sid == "" || st == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for k, v := range b.saved {
		if now.Sub(v.at) > savedFor {
			delete(b.saved, k)
		}
	}
	if len(b.saved) >= maxSaved {
		var oldest string
		for k, v := range b.saved {
			if oldest == "" || v.at.Before(b.saved[oldest].at) {
				oldest = k
			}
		}
		delete(b.saved, oldest)
	}
	b.saved[sid] = savedState{st: st, at: now}
}

// take returns (and forgets) the state saved for sid, or nil.
func (b *Backend) take(sid string) *state {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.saved[sid]
	if !ok {
		return nil
	}
	delete(b.saved, sid)
	return s.st
}
