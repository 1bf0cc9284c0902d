// Package server is roomctl's embedded room server: it checks room tokens,
// keeps rooms of participants, forwards their media to each other as a
// selective forwarding unit (SFU) and speaks the signal protocol over one
// WebSocket per participant.
//
// Each participant has up to two PeerConnections: "publish", on which the
// client offers what it sends, and "subscribe", on which the server offers
// the tracks of the others. Every published track is forwarded through one
// fanoutTrack shared by all of its subscribers, which also answers their
// NACKs from one retransmission ring per track (fanout.go).
//
// Concurrency: the server lock guards the room map; each room has one lock
// that guards its participants, their PeerConnection bookkeeping and their
// timers. Messages leave through a per-socket queue drained by a writer
// goroutine, so no lock is held while a socket blocks, and PeerConnections are
// closed only after the room lock is released.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

// Defaults of Config.
const (
	DefaultTokenWarning = 30 * time.Second
	DefaultTokenGrace   = 30 * time.Second
	DefaultResumeWindow = 15 * time.Second
	// DefaultJoinTimeout is how long a WebSocket may stay without a valid
	// join before the server closes it.
	DefaultJoinTimeout = 5 * time.Second
	// DefaultMaxUnjoinedPerIP is how many not-yet-joined WebSockets one
	// remote address may hold.
	DefaultMaxUnjoinedPerIP = 16
	// DefaultIdleTimeout is how long an idle HTTP keep-alive connection is
	// kept.
	DefaultIdleTimeout = 60 * time.Second
	// MaxConnsCap bounds DefaultMaxConns.
	MaxConnsCap = 4096
)

// readHeaderTimeout bounds how long a client may take to send its request
// headers (a slow or silent TCP connection).
const readHeaderTimeout = 10 * time.Second

// MaxParticipants is the size limit of one room.
const MaxParticipants = 100

// MaxMessagesPerSecond is the rate limit of one signaling connection.
const MaxMessagesPerSecond = 50

// ErrClosed is returned by Serve once the server is closed.
var ErrClosed = errors.New("server closed")

// Config configures a Server.
type Config struct {
	// Registry verifies tokens. Required.
	Registry *token.Registry
	// Logger receives joins, leaves and errors. Nil discards them.
	Logger *slog.Logger
	// UDPPort, when > 0, carries the ICE traffic of every PeerConnection over
	// that one UDP port on every local IPv4 address that ICE keeps
	// (loopback included). 0 lets each PeerConnection use ephemeral ports.
	UDPPort int
	// NoUDPBatch sends each datagram of UDPPort with its own sendto(2).
	// By default they are batched: the copies of a forwarded packet to all
	// its subscribers leave in one sendmmsg(2) (batchconn.go).
	NoUDPBatch bool
	// ICE chooses the local addresses the server gathers on (and UDPPort
	// binds) and the addresses it advertises (1:1 NAT); the zero value
	// gathers on every interface, loopback included.
	ICE iceopt.Config
	// ICEAllow lists the loopback and private ranges (10/8, 172.16/12,
	// 192.168/16, 100.64/10, fc00::/7) a client's ICE candidates may name;
	// candidates there outside it are dropped, as are unspecified,
	// broadcast, multicast, link-local and mDNS/name candidates always.
	// Empty: loopback plus the private block that holds the address of the
	// participant's signaling peer, plus this host's own addresses for a
	// peer on loopback. See candidates.go.
	ICEAllow []netip.Prefix
	// TokenWarning is how long before a token's expiry token_will_expire is
	// sent. Default DefaultTokenWarning.
	TokenWarning time.Duration
	// TokenGrace is how long after a token's expiry (when token_request is
	// sent) a participant may stay without a valid update_token before it is
	// sent bye{result: token.Expired}. Default DefaultTokenGrace.
	TokenGrace time.Duration
	// ResumeWindow is how long a participant whose socket dropped without
	// leave is kept, PeerConnections and media untouched, for a join that
	// resumes its session. Default DefaultResumeWindow.
	ResumeWindow time.Duration
	// TokenLeeway is the clock skew tolerated when a token is checked (join,
	// update_token): it is accepted until TokenLeeway after its exp and from
	// TokenLeeway before its nbf. It never lengthens a session: the token
	// timers count from the token's own exp, and the leeway is capped at
	// TokenGrace, so a token accepted after its exp gets token_request at
	// once and until exp+TokenGrace to be renewed. Zero keeps the Registry's
	// own leeway (strict unless token.Registry.WithLeeway); at most
	// token.MaxLeeway. See applyTokenLeeway.
	TokenLeeway time.Duration
	// Now is the clock of token checks and timers. Nil means time.Now.
	Now func() time.Time
	// JoinTimeout is how long a WebSocket may stay open without a valid
	// join; then it is closed with close code 1008 (policy violation),
	// reason "join timeout". Default DefaultJoinTimeout.
	JoinTimeout time.Duration
	// MaxUnjoinedPerIP bounds the WebSockets one remote IP address holds
	// open without having joined; an upgrade beyond it is refused with HTTP
	// 429. Default DefaultMaxUnjoinedPerIP.
	MaxUnjoinedPerIP int
	// MaxConns bounds the signaling WebSockets of the whole server, joined
	// or not; an upgrade beyond it is refused with HTTP 503 "server full".
	// Default DefaultMaxConns().
	MaxConns int
	// IdleTimeout is how long an idle HTTP keep-alive connection is kept
	// open. Default DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// Server is the room server. Create it with New; Close it when done.
type Server struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	api    *webrtc.API // publish PeerConnections
	subAPI *webrtc.API // subscribe PeerConnections (newAPI)
	udpMux io.Closer   // nil without Config.UDPPort
	flush  func()      // sends the batched datagrams; nil when not batching
	// ownAddrs are this host's addresses, allowed by default as ICE
	// candidates of clients on this host (see allowList).
	ownAddrs []netip.Prefix
	handler  http.Handler

	mu      sync.Mutex
	closed  bool
	done    chan struct{} // closed by Close
	rooms   map[roomKey]*room
	conns   map[*conn]struct{}
	servers map[*http.Server]struct{}

	// limMu guards the connection counts and conn.joined; it is taken
	// last (under a room lock, or alone).
	limMu sync.Mutex
	// active counts the admitted signaling sockets (Config.MaxConns);
	// unjoined counts the admitted sockets without a join per remote IP
	// (Config.MaxUnjoinedPerIP).
	active   int
	unjoined map[string]int

	// wg counts every goroutine the server runs or borrows (handlers, writers,
	// forwarding loops, RTCP readers, timer callbacks); see enter.
	wg sync.WaitGroup
}

// New validates cfg, fills its defaults and returns a server.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil {
		return nil, errors.New("new server: registry is required")
	}
	if cfg.UDPPort < 0 || cfg.UDPPort > 65535 {
		return nil, fmt.Errorf("new server: udp port %d out of range", cfg.UDPPort)
	}
	if err := cfg.ICE.Check(); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	if cfg.TokenWarning < 0 || cfg.TokenGrace < 0 || cfg.ResumeWindow < 0 ||
		cfg.JoinTimeout < 0 || cfg.IdleTimeout < 0 {
		return nil, errors.New("new server: durations must not be negative")
	}
	if cfg.MaxUnjoinedPerIP < 0 || cfg.MaxConns < 0 {
		return nil, errors.New("new server: connection limits must not be negative")
	}
	if cfg.JoinTimeout == 0 {
		cfg.JoinTimeout = DefaultJoinTimeout
	}
	if cfg.MaxUnjoinedPerIP == 0 {
		cfg.MaxUnjoinedPerIP = DefaultMaxUnjoinedPerIP
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns()
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.TokenWarning == 0 {
		cfg.TokenWarning = DefaultTokenWarning
	}
	if cfg.TokenGrace == 0 {
		cfg.TokenGrace = DefaultTokenGrace
	}
	if cfg.ResumeWindow == 0 {
		cfg.ResumeWindow = DefaultResumeWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.applyTokenLeeway(); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		done:     make(chan struct{}),
		rooms:    make(map[roomKey]*room),
		conns:    make(map[*conn]struct{}),
		servers:  make(map[*http.Server]struct{}),
		unjoined: make(map[string]int),
		ownAddrs: hostPrefixes(),
	}
	web, err := webHandler()
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	api, subAPI, mux, flush, err := newAPI(cfg.UDPPort, !cfg.NoUDPBatch, cfg.ICE, s.log)
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	port := "a port per connection"
	if cfg.UDPPort > 0 {
		port = fmt.Sprintf("udp port %d", cfg.UDPPort)
	}
	cfg.ICE.Log(s.log, "port", port, "batched_sends", flush != nil)
	s.log.Info("connection limits", "max_conns", cfg.MaxConns, "max_unjoined_per_ip", cfg.MaxUnjoinedPerIP,
		"join_timeout", cfg.JoinTimeout, "idle_timeout", cfg.IdleTimeout)
	s.api, s.subAPI, s.udpMux, s.flush = api, subAPI, mux, flush

	hm := http.NewServeMux()
	hm.HandleFunc("GET "+signal.Path, s.serveWS)
	hm.Handle("GET /", web)
	s.handler = hm
	return s, nil
}

// Handler serves the signaling WebSocket at signal.Path and the browser
// client (server/web) at /.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve runs an HTTP server with Handler on ln until ctx is done or the
// server is closed, then closes ln. It returns nil in both cases. Serve does
// not close the sessions: Close does.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrClosed
	}
	s.servers[hs] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.servers, hs)
		s.mu.Unlock()
	}()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	case <-s.done:
	}
	_ = hs.Close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// closeGrace bounds how long Close lets sockets flush their last messages
// (bye) and finish the close handshake before cutting them.
const closeGrace = 2 * time.Second

// Close ends every session (bye{reason:"server closing"}), closes all
// PeerConnections and sockets, stops the HTTP servers started by Serve and
// waits for every goroutine of the server. It is safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	servers := make([]*http.Server, 0, len(s.servers))
	for hs := range s.servers {
		servers = append(servers, hs)
	}
	s.mu.Unlock()

	for _, hs := range servers {
		_ = hs.Close()
	}
	var cl cleanup
	for _, r := range rooms {
		r.mu.Lock()
		r.gone = true
		for _, p := range r.parts {
			r.removeLocked(p, "server closing", &cl)
			p.detach(&signal.Message{Type: signal.TypeBye, Code: signal.ErrServerClosing, Reason: "server closing"}, "server closing")
		}
		r.mu.Unlock()
	}
	cl.run(s)

	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.rooms = map[roomKey]*room{}
	s.mu.Unlock()
	for _, c := range conns {
		c.close("server closing")
	}
	deadline := time.NewTimer(closeGrace)
	defer deadline.Stop()
	for _, c := range conns {
		select {
		case <-c.done:
		case <-deadline.C:
			// Keep the deadline expired for the remaining sockets.
			deadline.Reset(0)
		}
		c.abort()
	}

	s.wg.Wait()
	if s.udpMux != nil {
		if err := s.udpMux.Close(); err != nil {
			return fmt.Errorf("close server: udp mux: %w", err)
		}
	}
	s.log.Info("server closed")
	return nil
}

// DropSignaling cuts the socket of uid in app appID's room roomID without a
// close handshake, as a network failure would, and keeps the session for a
// resume. It reports whether such a participant with a socket was found. It
// is a test hook.
func (s *Server) DropSignaling(appID, roomID, uid string) bool {
	s.mu.Lock()
	r := s.rooms[roomKey{appID, roomID}]
	s.mu.Unlock()
	if r == nil {
		return false
	}
	r.mu.Lock()
	var c *conn
	if p := r.parts[uid]; p != nil {
		c = p.conn.Load()
	}
	r.mu.Unlock()
	if c == nil {
		return false
	}
	s.log.Info("dropping signaling", "app", appID, "room", roomID, "uid", uid)
	c.abort()
	return true
}

// Rooms returns the uids of every room of app appID, sorted, keyed by room
// id. Rooms of other apps are not listed, whatever their ids.
func (s *Server) Rooms(appID string) map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]string)
	for k, r := range s.rooms {
		if k.app != appID {
			continue
		}
		r.mu.Lock()
		uids := make([]string, 0, len(r.parts))
		for uid := range r.parts {
			uids = append(uids, uid)
		}
		r.mu.Unlock()
		slices.Sort(uids)
		out[k.id] = uids
	}
	return out
}

// enter registers one goroutine with the server's WaitGroup. It returns false
// once the server is closed, and the goroutine must then not start its work.
// Checking closed under the lock keeps Add from racing with Close's Wait.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// spawn runs f on a goroutine owned by the server; it returns false (and does
// not run f) once the server is closed.
func (s *Server) spawn(f func()) bool {
	if !s.enter() {
		return false
	}
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// afterFunc runs f after d unless the server is closed by then.
func (s *Server) afterFunc(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() {
		if !s.enter() {
			return
		}
		defer s.wg.Done()
		f()
	})
}

// cleanup collects work that must run after a room lock is released:
// closing PeerConnections (which does network I/O) and dropping empty rooms.
type cleanup struct {
	pcs   []*webrtc.PeerConnection
	empty []*room
}

func (cl *cleanup) closePC(pc *webrtc.PeerConnection) {
	if pc != nil {
		cl.pcs = append(cl.pcs, pc)
	}
}

func (cl *cleanup) run(s *Server) {
	for _, pc := range cl.pcs {
		if err := pc.Close(); err != nil {
			s.log.Debug("close peer connection", "err", err)
		}
	}
	cl.pcs = nil
	for _, r := range cl.empty {
		s.dropRoomIfEmpty(r)
	}
	cl.empty = nil
}

// roomKey names a room: rooms are per app (tenant), so two apps may each
// have a room of the same id, and neither sees the other's.
type roomKey struct{ app, id string }

// room returns app appID's room id, creating it if needed. It returns nil
// once the server is closed.
func (s *Server) room(appID, id string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	k := roomKey{appID, id}
	r := s.rooms[k]
	if r == nil {
		r = &room{s: s, id: id, appID: appID, parts: make(map[string]*participant)}
		s.rooms[k] = r
		s.log.Debug("room created", "room", id, "app", appID)
	}
	return r
}

// dropRoomIfEmpty forgets r when nobody is in it any more. A join that got r
// before it was dropped sees r.gone and asks for a fresh room.
func (s *Server) dropRoomIfEmpty(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.parts) > 0 || r.gone {
		return
	}
	r.gone = true
	if k := (roomKey{r.appID, r.id}); s.rooms[k] == r {
		delete(s.rooms, k)
	}
	s.log.Debug("room closed", "room", r.id, "app", r.appID)
}

func (s *Server) addConn(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// removeConn forgets c and releases its admission (see admit).
func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.limMu.Lock()
	defer s.limMu.Unlock()
	s.releaseLocked(c.ip, c.joined)
}

// BytesSent returns how many bytes the server has sent to uid in app
// appID's room roomID over its subscribe PeerConnection's transport (pion's
// transport stats; v4 does not report outbound-rtp counters); ok is false
// when there is no such subscriber. Tests and operators use it to see media
// flowing to a participant.
func (s *Server) BytesSent(appID, roomID, uid string) (n uint64, ok bool) {
	s.mu.Lock()
	r := s.rooms[roomKey{appID, roomID}]
	s.mu.Unlock()
	if r == nil {
		return 0, false
	}
	r.mu.Lock()
	var pc *webrtc.PeerConnection
	if p := r.parts[uid]; p != nil && p.sub != nil {
		pc = p.sub.pc
	}
	r.mu.Unlock()
	if pc == nil {
		return 0, false
	}
	for _, st := range pc.GetStats() {
		if ts, isTransport := st.(webrtc.TransportStats); isTransport {
			n += ts.BytesSent
		}
	}
	return n, true
}

// DefaultMaxConns is the default of Config.MaxConns, derived from the
// process's open-file limit (RLIMIT_NOFILE): a quarter of what is left after
// 64 descriptors for the process itself, since a participant holds its
// socket and the UDP sockets of its PeerConnections; at least 1, at most
// MaxConnsCap.
func DefaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return MaxConnsCap
	}
	return maxConnsFor(rl.Cur)
}

func maxConnsFor(nofile uint64) int {
	if nofile >= 64+4*MaxConnsCap {
		return MaxConnsCap
	}
	if nofile < 64+4 {
		return 1
	}
	return int((nofile - 64) / 4)
}
