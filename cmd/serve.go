package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/server"
	"github.com/roomctl/roomctl/internal/token"
)

type serveOptions struct {
	listen       string
	appID        string
	appSecret    string
	apps         string
	ban          []string
	udpPort      int
	udpBatch     bool
	tokenWarning time.Duration
	tokenGrace   time.Duration
	tokenLeeway  time.Duration
	resumeWindow time.Duration
	// Connection limits (issue 15 item 7) and the profiling listener.
	joinTimeout      time.Duration
	maxUnjoinedPerIP int
	maxConns         int
	idleTimeout      time.Duration
	pprof            string
	iceAllow         []string
	ice              iceFlags
	logFlags
}

func newServeCmd(s Streams) *cobra.Command {
	o := &serveOptions{}
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the embedded room server (token auth, rooms, SFU forwarding, WebSocket signaling)",
		Long: `Run the embedded room server. Clients connect to ws://ADDR/v1/rtc.

Apps come from --app-id/--app-secret (one app; --ban lists banned uids) or
--apps FILE, a JSON file: {"apps":[{"appId":"1001","secret":"...","banned":["mallory"]}]}.
Secrets must be at least 32 bytes.

Once listening it prints one server_listening event on stdout with the address
(useful with --listen 127.0.0.1:0); logs go to stderr.

Tokens: token_will_expire (verdict 10007) is sent --token-warning before a
token's expiry, token_request (10005) at expiry, and a session without a
fresh token is ended --token-grace after expiry. --token-leeway tolerates
clock skew with the token minter: a token is accepted (join, update_token)
until that long after its exp and from that long before its nbf; it never
lengthens a session (the timers above count from exp) and is capped at
--token-grace.

ICE addresses: by default media goes over every IPv4 address of every
interface, loopback included. --ice-interface and --ice-ip narrow that (and
the addresses --udp-port binds); --nat-ip advertises a public address instead
of the local ones, for a host behind 1:1 NAT (a cloud VM). The addresses
are logged at start. With --udp-port the server sends in batches: the copies
of a forwarded packet to all its subscribers leave in one sendmmsg(2), other
datagrams within 1 ms (--udp-batch=false sends each on its own).

Strangers: a WebSocket that sends no valid join within --join-timeout is
closed (code 1008); one IP address may hold --max-unjoined-per-ip sockets
without a join (beyond: HTTP 429) and the server --max-conns signaling
connections in all (beyond: HTTP 503 "server full"); idle HTTP keep-alive
connections are closed after --idle-timeout. Rooms belong to an app: two
apps may each have a room of the same name and never see each other's.

` + exitCodesHelp,
		Example: `  roomctl serve --listen 127.0.0.1:8890 --app-id 1001 --app-secret "$SECRET"
  # a cloud VM behind 1:1 NAT: media on eth0, port 7882, advertised at the public IP
  roomctl serve --listen :8890 --apps apps.json --nat-ip 203.0.113.7 --ice-interface eth0 --udp-port 7882
  # tests: every packet on loopback
  roomctl serve --listen 127.0.0.1:0 --app-id 1001 --app-secret "$SECRET" --ice-ip 127.0.0.1/32`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cobra.Command) error { return runServe(c.Context(), o, s) }),
	}
	fs := c.Flags()
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8890", "address to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&o.appID, "app-id", "", "the one app's id (or use --apps)")
	fs.StringVar(&o.appSecret, "app-secret", "", "the one app's secret, at least 32 bytes")
	fs.StringVar(&o.apps, "apps", "", "JSON file with the app registry")
	fs.StringSliceVar(&o.ban, "ban", nil, "with --app-id: uids refused with 10008")
	fs.IntVar(&o.udpPort, "udp-port", 0, "carry all ICE traffic on this one UDP port (0: a port per connection)")
	fs.BoolVar(&o.udpBatch, "udp-batch", true, "with --udp-port: send the copies of a forwarded packet in one sendmmsg (--udp-batch=false: one sendto each)")
	fs.DurationVar(&o.tokenWarning, "token-warning", 30*time.Second, "send token_will_expire this long before a token expires")
	fs.DurationVar(&o.tokenGrace, "token-grace", 30*time.Second, "end a session this long after its token expired without renewal")
	fs.DurationVar(&o.tokenLeeway, "token-leeway", token.DefaultLeeway, "accept a token's exp/nbf this far off (clock skew); 0 to 1m, capped at --token-grace")
	fs.DurationVar(&o.resumeWindow, "resume-window", 15*time.Second, "keep a participant whose signaling dropped this long for it to resume")
	fs.DurationVar(&o.joinTimeout, "join-timeout", server.DefaultJoinTimeout,
		"close a WebSocket that has not joined within this long (close code 1008, reason \"join timeout\")")
	fs.IntVar(&o.maxUnjoinedPerIP, "max-unjoined-per-ip", server.DefaultMaxUnjoinedPerIP,
		"refuse a WebSocket upgrade with HTTP 429 when its IP address already holds this many sockets without a join")
	fs.IntVar(&o.maxConns, "max-conns", 0,
		fmt.Sprintf("refuse a WebSocket upgrade with HTTP 503 beyond this many signaling connections, joined or not (0: (RLIMIT_NOFILE-64)/4, at most %d)", server.MaxConnsCap))
	fs.DurationVar(&o.idleTimeout, "idle-timeout", server.DefaultIdleTimeout, "close an idle HTTP keep-alive connection after this long")
	fs.StringVar(&o.pprof, "pprof", "", "serve net/http/pprof at http://ADDR/debug/pprof/ on a loopback ADDR (e.g. 127.0.0.1:6060; port 0 picks one, logged as \"pprof listening\"); off by default")
	o.ice.register(fs, true)
	fs.StringSliceVar(&o.iceAllow, "ice-allow", nil,
		"loopback/private ranges (CIDR, comma-separated) a client's ICE candidates may name; the server drops candidates in 127/8, ::1, 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7 outside it (and always multicast, broadcast, unspecified, link-local and .local ones); default: loopback plus the private range of the client's own signaling address")
	o.logFlags.register(fs)
	return c
}

func (o *serveOptions) registry() (*token.Registry, error) {
	switch {
	case o.apps != "" && (o.appID != "" || o.appSecret != ""):
		return nil, usagef("give either --apps or --app-id/--app-secret")
	case o.apps != "":
		r, err := token.LoadRegistry(o.apps)
		if err != nil {
			return nil, usage(err)
		}
		return r, nil
	case o.appID == "" || o.appSecret == "":
		return nil, usagef("give --app-id and --app-secret, or --apps FILE")
	}
	r, err := token.NewRegistry(token.App{ID: o.appID, Secret: o.appSecret, Banned: o.ban})
	if err != nil {
		return nil, usage(err)
	}
	return r, nil
}

func runServe(ctx context.Context, o *serveOptions, s Streams) error {
	if err := checkListenAddr("--listen", o.listen); err != nil {
		return err
	}
	if o.pprof != "" {
		if err := checkLoopbackAddr("--pprof", o.pprof); err != nil {
			return err
		}
	}
	// Zero is the server's default for each of these.
	if o.joinTimeout < 0 || o.idleTimeout < 0 {
		return usagef("--join-timeout and --idle-timeout must not be negative")
	}
	if o.maxUnjoinedPerIP < 0 || o.maxConns < 0 {
		return usagef("--max-unjoined-per-ip and --max-conns must not be negative")
	}
	reg, err := o.registry()
	if err != nil {
		return err
	}
	log, err := o.logger(s.ErrOut)
	if err != nil {
		return err
	}
	if o.udpPort < 0 || o.udpPort > 65535 {
		return usagef("--udp-port %d out of range", o.udpPort)
	}
	ice, err := o.ice.config()
	if err != nil {
		return err
	}
	iceAllow, err := iceopt.ParsePrefixes(o.iceAllow)
	if err != nil {
		return usagef("--ice-allow: %w", err)
	}
	srv, err := server.New(server.Config{
		Registry: reg, Logger: log, UDPPort: o.udpPort, NoUDPBatch: !o.udpBatch, ICE: ice, ICEAllow: iceAllow,
		TokenWarning: o.tokenWarning, TokenGrace: o.tokenGrace, TokenLeeway: o.tokenLeeway, ResumeWindow: o.resumeWindow,
		JoinTimeout: o.joinTimeout, MaxUnjoinedPerIP: o.maxUnjoinedPerIP, MaxConns: o.maxConns, IdleTimeout: o.idleTimeout,
	})
	if err != nil {
		return usage(err)
	}
	defer closeLogged(log, "server", srv)
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", o.listen, err)
	}
	addr := ln.Addr().String()
	if o.pprof != "" {
		stop, err := startPprof(o.pprof, log)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer stop()
	}
	sink := event.NewSink(s.Out, event.SinkConfig{})
	sink.Emit(event.ServerListening, event.Listening{Addr: addr, URL: "ws://" + addr})
	log.Info("room server listening", "url", "ws://"+addr)
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// checkListenAddr checks that addr is host:port with a port number (or
// service name) in range: anything else is a usage error naming flag.
func checkListenAddr(flag, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return usagef("%s %q: want HOST:PORT (port 0 picks a free one): %w", flag, addr, err)
	}
	return nil
}

// checkLoopbackAddr is checkListenAddr for an address that must be on
// loopback (an IP of 127/8, ::1, or localhost).
func checkLoopbackAddr(flag, addr string) error {
	if err := checkListenAddr(flag, addr); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usagef("%s %q: want a loopback address such as 127.0.0.1:6060", flag, addr)
	}
	return nil
}

// startPprof serves net/http/pprof on addr (its own listener and mux, not
// the signaling server's) and logs the address it listens on. stop closes
// it and waits for it.
func startPprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof server", "err", err)
		}
	}()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return func() {
		_ = hs.Close()
		<-done
	}, nil
}
