// Package embedded is the engine's backend for roomctl's own room server
// (`roomctl serve`): the JSON protocol of internal/signal over one
// WebSocket per session (PROTOCOL.md). It translates the engine's
// requests into signal messages and the server's messages into
// engine.Events, and nothing else: what to do about them is the engine's.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/ids"
	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

// Config configures a Backend.
type Config struct {
	// Logger gets what the engine does not need to know: messages from the
	// server that did not decode, ignored types. Nil discards.
	Logger *slog.Logger
}

// Backend joins rooms of a roomctl server. It is safe for concurrent use
// by several engines.
type Backend struct {
	log *slog.Logger
}

var _ engine.Backend = (*Backend)(nil)

// New returns a Backend; nothing in cfg can be invalid.
func New(cfg Config) *Backend {
	b := &Backend{log: cfg.Logger}
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return b
}

// Join implements engine.Backend: dial, join, wait for join_result; then
// subscribe when req.Subscribe limits it. Messages before join_result are
// dropped, as a server sends none.
func (b *Backend) Join(ctx context.Context, req engine.JoinRequest) (engine.Session, *engine.Joined, error) {
	c, err := signal.Dial(ctx, req.Server)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", engine.ErrUnreachable, err)
	}
	if req.Connected != nil {
		req.Connected()
	}
	res, err := join(ctx, c, req)
	if err != nil {
		_ = c.Close("join failed")
		return nil, nil, err
	}
	if res.Result != token.OK {
		// The server closes the socket after a refusal.
		_ = c.Close("refused")
		return nil, nil, &engine.AuthError{Code: res.Result}
	}
	if len(req.Subscribe) > 0 {
		if err := c.Send(ctx, &signal.Message{Type: signal.TypeSubscribe, UIDs: req.Subscribe}); err != nil {
			_ = c.Close("join failed")
			return nil, nil, fmt.Errorf("send subscribe: %w", err)
		}
	}
	s := newSession(c, b.log)
	joined := &engine.Joined{
		Session: res.Session,
		Resumed: req.Resume != "" && res.Session == req.Resume,
	}
	for i := range res.Streams {
		joined.Streams = append(joined.Streams, streamOf(&res.Streams[i]))
	}
	return s, joined, nil
}

// join sends join and reads until join_result. It reads with ctx, which
// closes c if ctx ends first (coder/websocket does so): the caller closes
// c on any error anyway.
func join(ctx context.Context, c *signal.Conn, req engine.JoinRequest) (*signal.Message, error) {
	err := c.Send(ctx, &signal.Message{
		Type: signal.TypeJoin, AppID: req.AppID, RoomID: req.RoomID, UID: req.UID,
		Token: req.Token, Version: signal.Version, Session: req.Resume,
	})
	if err != nil {
		return nil, fmt.Errorf("send join: %w", err)
	}
	for {
		m, err := c.Recv(ctx)
		switch {
		case errors.Is(err, signal.ErrClosed):
			return nil, fmt.Errorf("join: %w", err)
		case err != nil:
			continue // one message that did not decode
		case m.Type == signal.TypeError:
			return nil, fmt.Errorf("join: server error %d: %s", m.Code, m.Reason)
		case m.Type == signal.TypeJoinResult:
			return m, nil
		}
	}
}

// session is one joined WebSocket. One goroutine reads it and turns its
// messages into events; Close stops it.
type session struct {
	c      *signal.Conn
	log    *slog.Logger
	events chan engine.Event
	quit   chan struct{}
	done   chan struct{} // closed when the reader has returned

	closeOnce sync.Once
}

func newSession(c *signal.Conn, log *slog.Logger) *session {
	s := &session{
		c: c, log: log,
		events: make(chan engine.Event, 16),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go s.read()
	return s
}

// read feeds the connection's messages to Events until it closes. It
// reads without a caller's context on purpose: coder/websocket closes a
// connection whose Read context is cancelled, and a leave must still be
// sent after the engine's context ends.
func (s *session) read() {
	defer close(s.done)
	defer close(s.events)
	for {
		m, err := s.c.Recv(context.Background())
		if errors.Is(err, signal.ErrClosed) {
			s.log.Debug("signaling closed", "err", err)
			return
		}
		if err != nil {
			s.log.Warn("bad message from server", "err", err)
			continue
		}
		ev := eventOf(m, time.Now())
		if ev == nil {
			s.log.Debug("ignored message", "type", m.Type)
			continue
		}
		select {
		case s.events <- ev:
		case <-s.quit:
			return
		}
	}
}

// eventOf translates one server message; nil for those the engine does not
// need. now times a pong (the reader receives it; the engine may be busy).
func eventOf(m *signal.Message, now time.Time) engine.Event {
	switch m.Type {
	case signal.TypeStreamAdd:
		return engine.StreamAdded{Stream: streamOf(m.Stream)}
	case signal.TypeStreamUpdate:
		return engine.StreamUpdated{Stream: streamOf(m.Stream)}
	case signal.TypeStreamRemove:
		return engine.StreamRemoved{UID: m.Stream.UID}
	case signal.TypeOffer:
		if m.PC == signal.PCSubscribe {
			return engine.SubscribeOffer{SDP: m.SDP}
		}
	case signal.TypeAnswer:
		if m.PC == signal.PCPublish {
			return engine.PublishAnswer{SDP: m.SDP}
		}
	case signal.TypeCandidate:
		if pc, ok := pcOf(m.PC); ok {
			return engine.RemoteCandidate{PC: pc, Candidate: *m.Candidate}
		}
	case signal.TypePublishRefused:
		return engine.PublishRefused{Result: m.Result}
	case signal.TypeAuthResult:
		return engine.AuthVerdict{Result: m.Result}
	case signal.TypeTokenWillExpire:
		// Its token is the one expiring, not a new one.
		return engine.TokenExpiring{}
	case signal.TypeTokenRequest:
		return engine.TokenRequested{}
	case signal.TypeBye:
		return engine.SessionEnded{Result: m.Result, Reason: m.Reason, Restart: m.Code == signal.ErrServerClosing}
	case signal.TypePong:
		return engine.Pong{RTT: now.Sub(time.UnixMilli(m.TS))}
	case signal.TypeError:
		return engine.ServerError{Code: m.Code, Reason: m.Reason}
	}
	return nil
}

func pcOf(name string) (engine.PC, bool) {
	switch name {
	case signal.PCPublish:
		return engine.PCPublish, true
	case signal.PCSubscribe:
		return engine.PCSubscribe, true
	}
	return 0, false
}

func pcName(pc engine.PC) string {
	if pc == engine.PCSubscribe {
		return signal.PCSubscribe
	}
	return signal.PCPublish
}

func streamOf(s *signal.Stream) engine.Stream {
	out := engine.Stream{UID: s.UID, RoomID: s.RoomID}
	for _, t := range s.Tracks {
		out.Tracks = append(out.Tracks, engine.Track{
			Kind: t.Kind, Codec: t.Codec, Width: t.Width, Height: t.Height, FrameRate: t.FrameRate,
			SampleRate: t.SampleRate, Channel: t.Channel, Bitrate: t.Bitrate, Muted: t.Muted,
		})
	}
	return out
}

// tracksOf declares published tracks on the wire; the protocol has no
// track ids (the server names forwarded tracks <uid>-<kind>).
func tracksOf(ts []engine.Track) []signal.Track {
	var out []signal.Track
	for _, t := range ts {
		out = append(out, signal.Track{
			Kind: t.Kind, Codec: t.Codec, Width: t.Width, Height: t.Height, FrameRate: t.FrameRate,
			SampleRate: t.SampleRate, Channel: t.Channel, Bitrate: t.Bitrate,
		})
	}
	return out
}

// Events implements engine.Session.
func (s *session) Events() <-chan engine.Event { return s.events }

func (s *session) send(ctx context.Context, m *signal.Message) error {
	if err := s.c.Send(ctx, m); err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

// PublishOffer implements engine.Session: offer {pc:"publish", sdp, tracks}.
func (s *session) PublishOffer(ctx context.Context, sdp string, tracks []engine.Track) error {
	return s.send(ctx, &signal.Message{Type: signal.TypeOffer, PC: signal.PCPublish, SDP: sdp, Tracks: tracksOf(tracks)})
}

// SubscribeAnswer implements engine.Session: answer {pc:"subscribe", sdp}.
func (s *session) SubscribeAnswer(ctx context.Context, sdp string) error {
	return s.send(ctx, &signal.Message{Type: signal.TypeAnswer, PC: signal.PCSubscribe, SDP: sdp})
}

// Candidate implements engine.Session: candidate {pc, candidate}.
func (s *session) Candidate(ctx context.Context, pc engine.PC, c webrtc.ICECandidateInit) error {
	return s.send(ctx, &signal.Message{Type: signal.TypeCandidate, PC: pcName(pc), Candidate: &c})
}

// RestartSubscribeICE implements engine.Session: restart_ice {pc:"subscribe"}.
func (s *session) RestartSubscribeICE(ctx context.Context) error {
	return s.send(ctx, &signal.Message{Type: signal.TypeRestartICE, PC: signal.PCSubscribe})
}

// Mute implements engine.Session: mute {kind, muted}.
func (s *session) Mute(ctx context.Context, kind string, muted bool) error {
	return s.send(ctx, &signal.Message{Type: signal.TypeMute, Kind: kind, Muted: muted})
}

// Unpublish implements engine.Session: unpublish {}.
func (s *session) Unpublish(ctx context.Context) error {
	return s.send(ctx, &signal.Message{Type: signal.TypeUnpublish})
}

// UpdateToken implements engine.Session: update_token {token}.
func (s *session) UpdateToken(ctx context.Context, tok string) error {
	return s.send(ctx, &signal.Message{Type: signal.TypeUpdateToken, Token: tok})
}

// SetSubscriptions implements engine.Session: subscribe {uids}.
func (s *session) SetSubscriptions(ctx context.Context, uids []string) error {
	return s.send(ctx, &signal.Message{Type: signal.TypeSubscribe, UIDs: uids})
}

// Ping implements engine.Session: ping {ts}, the pong echoing ts.
func (s *session) Ping(ctx context.Context) error {
	return s.send(ctx, &signal.Message{Type: signal.TypePing, TS: time.Now().UnixMilli()})
}

// Leave implements engine.Session: leave {}.
func (s *session) Leave(ctx context.Context) error {
	return s.send(ctx, &signal.Message{Type: signal.TypeLeave})
}

// TrackOwner implements engine.Session: the server's forwarded tracks
// carry the publisher's uid as their stream id.
func (s *session) TrackOwner(streamID, _ string) (string, bool) {
	return streamID, ids.Valid(streamID)
}

// Close implements engine.Session: a normal closure of the WebSocket; the
// reader returns and Events closes.
func (s *session) Close(reason string) error {
	var err error
	s.closeOnce.Do(func() {
		close(s.quit)
		err = s.c.Close(reason)
		<-s.done
	})
	return err
}
