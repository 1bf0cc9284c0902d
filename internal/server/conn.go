package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

const (
	// maxQueue bounds the messages waiting for one socket; a client that
	// reads slower than that is cut (and may resume).
	maxQueue = 1024
	// writeTimeout bounds one message write.
	writeTimeout = 10 * time.Second
)

// conn is one signaling socket. Messages to it are queued by send, which never
// blocks, and written in order by its writer goroutine.
type conn struct {
	s      *Server
	ws     *signal.Conn
	ctx    context.Context // canceled when the socket is cut
	cancel context.CancelFunc
	remote string
	ip     string // remote IP, the key of the unjoined-per-IP count

	// joined is set once the socket has joined; guarded by s.limMu.
	joined bool

	mu      sync.Mutex
	queue   []*signal.Message
	closing bool   // no more messages; the writer closes after the queue drains
	reason  string // close reason
	code    int    // close code; 0 is a normal closure
	wake    chan struct{}
	done    chan struct{} // closed when the writer is done

	// Rate limiting; used by the reader goroutine only.
	window   time.Time
	count    int
	rateSent bool
}

func newConn(s *Server, ws *signal.Conn, remote, ip string) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		s: s, ws: ws, ctx: ctx, cancel: cancel, remote: remote, ip: ip,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
}

// send queues m. It reports false if the socket is closing or overflowing.
func (c *conn) send(m *signal.Message) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= maxQueue {
		c.mu.Unlock()
		c.s.log.Warn("signaling queue full, cutting socket", "remote", c.remote)
		c.abort()
		return false
	}
	c.queue = append(c.queue, m)
	c.mu.Unlock()
	c.notify()
	return true
}

// close lets the writer send what is queued, then close the socket with a
// close handshake.
func (c *conn) close(reason string) {
	c.closeWith(0, reason)
}

// closeWith is close with a close code (0: normal closure).
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		c.reason = reason
		c.code = code
	}
	c.mu.Unlock()
	c.notify()
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// abort cuts the socket without a close handshake.
func (c *conn) abort() {
	c.cancel()
	_ = c.ws.Abort()
}

func (c *conn) notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) writeLoop() {
	defer close(c.done)
	for {
		select {
		case <-c.wake:
		case <-c.ctx.Done():
			return
		}
		for {
			c.mu.Lock()
			q := c.queue
			c.queue = nil
			closing, reason, code := c.closing, c.reason, c.code
			c.mu.Unlock()
			for _, m := range q {
				ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
				err := c.ws.Send(ctx, m)
				cancel()
				if err != nil {
					c.s.log.Debug("signaling write failed", "remote", c.remote, "err", err)
					c.abort()
					return
				}
			}
			if len(q) > 0 {
				continue
			}
			if closing {
				var err error
				if code != 0 {
					err = c.ws.CloseWith(code, reason)
				} else {
					err = c.ws.Close(reason)
				}
				if err != nil {
					c.s.log.Debug("signaling close", "remote", c.remote, "err", err)
				}
				c.abort()
				return
			}
			break
		}
	}
}

// allow applies the per-connection rate limit to one incoming message.
func (c *conn) allow(now time.Time) bool {
	if now.Sub(c.window) >= time.Second || now.Before(c.window) {
		c.window, c.count, c.rateSent = now, 0, false
	}
	c.count++
	return c.count <= MaxMessagesPerSecond
}

func (c *conn) sendError(code int, reason string) {
	c.send(&signal.Message{Type: signal.TypeError, Code: code, Reason: reason})
}

// serveWS runs one signaling socket: this goroutine reads and handles its
// messages in order; a second one writes.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()
	ip := remoteIP(r.RemoteAddr)
	if status, msg := s.admit(ip); status != 0 {
		s.log.Info("websocket refused", "remote", r.RemoteAddr, "status", status, "reason", msg)
		// The refused client's connection is not kept for keep-alive.
		w.Header().Set("Connection", "close")
		http.Error(w, msg, status)
		return
	}
	ws, err := signal.Accept(w, r)
	if err != nil {
		s.releaseAdmission(ip, false)
		s.log.Debug("websocket accept", "remote", r.RemoteAddr, "err", err)
		return
	}
	c := newConn(s, ws, r.RemoteAddr, ip)
	defer c.cancel()
	if !s.addConn(c) {
		s.releaseAdmission(ip, false)
		c.abort()
		return
	}
	defer s.removeConn(c)
	if !s.spawn(c.writeLoop) {
		close(c.done)
		c.abort()
		return
	}
	joinTimer := s.afterFunc(s.cfg.JoinTimeout, func() { s.joinTimedOut(c) })
	defer joinTimer.Stop()
	p := s.readLoop(c)
	// The socket is gone; the writer cannot write any more.
	c.abort()
	<-c.done
	if p != nil {
		p.r.socketLost(p, c)
	}
}

// readLoop reads and handles the messages of c until the socket fails. It
// returns the participant that joined on it, if any.
func (s *Server) readLoop(c *conn) *participant {
	var p *participant
	for {
		raw, err := c.ws.RecvRaw(c.ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.log.Debug("signaling read ended", "remote", c.remote, "err", err)
			}
			return p
		}
		if c.isClosing() {
			continue
		}
		// The limit is about real throughput, not the token clock of Config.Now.
		if !c.allow(time.Now()) {
			if !c.rateSent {
				c.rateSent = true
				c.sendError(signal.ErrRateExceeded,
					fmt.Sprintf("more than %d messages per second; dropping messages", MaxMessagesPerSecond))
			}
			continue
		}
		m, err := signal.Decode(raw)
		if err != nil {
			c.sendError(decodeErrorCode(err), err.Error())
			continue
		}
		if p == nil {
			p = s.handleJoin(c, m)
			continue
		}
		p.r.handle(p, c, m)
	}
}

// handleJoin handles the first messages of a socket until one joins.
func (s *Server) handleJoin(c *conn, m *signal.Message) *participant {
	if m.Type != signal.TypeJoin {
		c.sendError(signal.ErrNotJoined, "join first")
		return nil
	}
	log := s.log.With("room", m.RoomID, "uid", m.UID, "app", m.AppID, "remote", c.remote)
	if m.Version != signal.Version {
		log.Info("join refused: protocol version", "version", m.Version)
		c.sendError(signal.ErrVersion, fmt.Sprintf("protocol version %d not supported, want %d", m.Version, signal.Version))
		c.close("unsupported protocol version")
		return nil
	}
	claims, verdict := s.cfg.Registry.Verify(m.Token, m.AppID, m.RoomID, m.UID, s.now())
	if verdict != token.OK {
		log.Info("join refused: token", "result", verdict)
		c.send(&signal.Message{Type: signal.TypeJoinResult, Result: verdict})
		c.close("join refused")
		return nil
	}
	for {
		r := s.room(m.AppID, m.RoomID)
		if r == nil {
			c.send(&signal.Message{Type: signal.TypeJoinResult, Result: token.Internal, Reason: "server closing"})
			c.close("server closing")
			return nil
		}
		p, retry := r.join(c, m, claims, log)
		if !retry {
			return p
		}
	}
}

// remoteIP is the IP address of a request's RemoteAddr (host:port); the
// whole string when it does not split.
func remoteIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// admit counts a new signaling socket from ip against Config.MaxConns and
// Config.MaxUnjoinedPerIP. It returns 0 when admitted, else the HTTP status
// and the one-line message of the refusal. An admitted socket is released
// by removeConn (or releaseAdmission if it never becomes a conn).
func (s *Server) admit(ip string) (status int, msg string) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	s.limMu.Lock()
	defer s.limMu.Unlock()
	switch {
	case closed:
		return http.StatusServiceUnavailable, "server closed"
	case s.active >= s.cfg.MaxConns:
		return http.StatusServiceUnavailable, fmt.Sprintf("server full: %d connections", s.cfg.MaxConns)
	case s.unjoined[ip] >= s.cfg.MaxUnjoinedPerIP:
		return http.StatusTooManyRequests,
			fmt.Sprintf("too many connections without a join from %s: limit %d", ip, s.cfg.MaxUnjoinedPerIP)
	}
	s.active++
	s.unjoined[ip]++
	return 0, ""
}

// releaseAdmission undoes admit for a socket that is gone; joined says
// whether markJoined already took it off the unjoined count.
func (s *Server) releaseAdmission(ip string, joined bool) {
	s.limMu.Lock()
	defer s.limMu.Unlock()
	s.releaseLocked(ip, joined)
}

func (s *Server) releaseLocked(ip string, joined bool) {
	s.active--
	if !joined {
		s.unjoinedDoneLocked(ip)
	}
}

func (s *Server) unjoinedDoneLocked(ip string) {
	if s.unjoined[ip]--; s.unjoined[ip] <= 0 {
		delete(s.unjoined, ip)
	}
}

// markJoined takes c off the unjoined count of its IP: it has joined. It is
// called before join_result goes out, so that a client that saw its join
// accepted finds the slot free.
func (s *Server) markJoined(c *conn) {
	s.limMu.Lock()
	defer s.limMu.Unlock()
	if !c.joined {
		c.joined = true
		s.unjoinedDoneLocked(c.ip)
	}
}

// joinTimedOut closes c with 1008 "join timeout" unless it has joined.
func (s *Server) joinTimedOut(c *conn) {
	// Under limMu, which markJoined takes before join_result is queued: a
	// join at this very moment either counts (no close) or finds the socket
	// closing (its join_result is never sent).
	s.limMu.Lock()
	defer s.limMu.Unlock()
	if c.joined || c.isClosing() {
		return
	}
	s.log.Info("join timeout: closing websocket", "remote", c.remote, "after", s.cfg.JoinTimeout)
	c.closeWith(signal.ClosePolicyViolation, "join timeout")
}
