package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/roomctl/roomctl/internal/event"
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
	tokenWarning time.Duration
	tokenGrace   time.Duration
	resumeWindow time.Duration
	ice          iceFlags
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
fresh token is ended --token-grace after expiry.

ICE addresses: by default media goes over every IPv4 address of every
interface, loopback included. --ice-interface and --ice-ip narrow that (and
the addresses --udp-port binds); --nat-ip advertises a public address instead
of the local ones, for a host behind 1:1 NAT (a cloud VM). The addresses
are logged at start.

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
	fs.DurationVar(&o.tokenWarning, "token-warning", 30*time.Second, "send token_will_expire this long before a token expires")
	fs.DurationVar(&o.tokenGrace, "token-grace", 30*time.Second, "end a session this long after its token expired without renewal")
	fs.DurationVar(&o.resumeWindow, "resume-window", 15*time.Second, "keep a participant whose signaling dropped this long for it to resume")
	o.ice.register(fs, true)
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
	srv, err := server.New(server.Config{
		Registry: reg, Logger: log, UDPPort: o.udpPort, ICE: ice,
		TokenWarning: o.tokenWarning, TokenGrace: o.tokenGrace, ResumeWindow: o.resumeWindow,
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
	sink := event.NewSink(s.Out, event.SinkConfig{})
	sink.Emit(event.ServerListening, event.Listening{Addr: addr, URL: "ws://" + addr})
	log.Info("room server listening", "url", "ws://"+addr)
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
