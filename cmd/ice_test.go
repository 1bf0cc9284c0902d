package cmd

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/iceopt"
)

// Every command that makes PeerConnections has the ICE filters; only serve
// advertises a NAT address.
func TestICEFlagsEverywhere(t *testing.T) {
	root := NewRoot(Streams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	for _, name := range []string{"serve", "join", "record", "push-rtmp", "mix-audio"} {
		c, _, err := root.Find([]string{name})
		if err != nil || c.Name() != name {
			t.Fatalf("no %s command: %v", name, err)
		}
		for _, flag := range []string{"ice-interface", "ice-ip"} {
			if c.Flags().Lookup(flag) == nil {
				t.Errorf("%s has no --%s", name, flag)
			}
		}
		if got := c.Flags().Lookup("nat-ip") != nil; got != (name == "serve") {
			t.Errorf("%s: --nat-ip present %v", name, got)
		}
	}
}

func TestICEFlagsParse(t *testing.T) {
	for _, tc := range []struct {
		flags iceFlags
		want  string // iceopt.Config.String
		err   string
	}{
		{flags: iceFlags{}, want: "all interfaces"},
		{flags: iceFlags{ips: []string{"127.0.0.1/32"}}, want: "ips 127.0.0.1/32"},
		{flags: iceFlags{interfaces: []string{"lo"}, ips: []string{"127.0.0.1", "10.0.0.0/8"}, natIPs: []string{"203.0.113.7"}},
			want: "interfaces lo; ips 127.0.0.1/32,10.0.0.0/8; advertised 203.0.113.7"},
		{flags: iceFlags{ips: []string{"lo"}}, err: `--ice-ip: ip range "lo"`},
		{flags: iceFlags{interfaces: []string{"eth 0"}}, err: `--ice-interface: interface "eth 0"`},
		{flags: iceFlags{natIPs: []string{"example.com"}}, err: `--nat-ip: address "example.com"`},
		{flags: iceFlags{natIPs: []string{"10.0.0.1", "::1"}}, err: `--nat-ip: address "::1"`},
		{flags: iceFlags{interfaces: []string{"nosuchif0"}}, err: "--ice-interface/--ice-ip: no local IPv4 address matches"},
		{flags: iceFlags{ips: []string{"192.0.2.255/32"}}, err: "this host has 127.0.0.1"},
	} {
		got, err := tc.flags.config()
		if tc.err != "" {
			if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: %v (exit %d), want a usage error with %q", tc.flags, err, ExitCode(err), tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("%+v: %v, %v; want %s", tc.flags, got, err, tc.want)
		}
	}
	if _, err := (&iceFlags{interfaces: []string{"nosuchif0"}}).config(); !errors.Is(err, iceopt.ErrNoAddress) {
		t.Errorf("the usage error hides iceopt.ErrNoAddress: %v", err)
	}
}

// Bad ICE values exit 2 before anything starts, naming the flag (or the
// variable) and the value.
func TestICEFlagUsage(t *testing.T) {
	secret := strings.Repeat("s", 32)
	room := []string{"--app-id", "1", "--room", "r", "--app-secret", secret}
	cases := []struct {
		args []string
		env  string
		want string
	}{
		{args: append([]string{"join", "--ice-ip", "bogus"}, room...), want: `--ice-ip: ip range "bogus"`},
		{args: append([]string{"record", "--out", t.TempDir(), "--ice-interface", "nosuchif0"}, room...), want: "no local IPv4 address matches the ICE interface/ip filters (interfaces nosuchif0)"},
		{args: append([]string{"mix-audio", "--file", "x.wav", "--ice-ip", "10.0.0.0/40"}, room...), want: `--ice-ip: ip range "10.0.0.0/40"`},
		{args: append([]string{"push-rtmp", "--source-uid", "alice", "--url", "rtmp://127.0.0.1/live/k", "--ice-ip", "bogus"}, room...), want: `--ice-ip: ip range "bogus"`},
		{args: []string{"serve", "--app-id", "1", "--app-secret", secret, "--nat-ip", "127.0.0.1"}, want: `--nat-ip: address "127.0.0.1" cannot be advertised`},
		{args: []string{"serve", "--app-id", "1", "--app-secret", secret, "--nat-ip", "2001:db8::1"}, want: "want an IPv4 address"},
		{args: []string{"serve", "--app-id", "1", "--app-secret", secret, "--ice-ip", "198.51.100.0/24"}, want: "no local IPv4 address"},
		{args: []string{"serve", "--app-id", "1", "--app-secret", secret}, env: "not-an-ip", want: `--ice-ip: ip range "not-an-ip"`},
		{args: append([]string{"join", "--nat-ip", "203.0.113.7"}, room...), want: "unknown flag: --nat-ip"},
	}
	for _, c := range cases {
		if c.env != "" {
			t.Setenv("ROOMCTL_ICE_IP", c.env)
		}
		code, out, errOut := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want 2 and %q", c.args, code, errOut, out, c.want)
		}
	}
}

// serve --nat-ip --ice-ip: the start-up log says where media goes.
func TestServeLogsICEAddresses(t *testing.T) {
	var out, errOut syncWriter
	o := &serveOptions{
		listen: "127.0.0.1:0", appID: "1", appSecret: strings.Repeat("s", 32),
		ice:      iceFlags{ips: []string{"127.0.0.1/32"}, natIPs: []string{"203.0.113.7"}},
		logFlags: logFlags{level: "info"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, o, Streams{Out: &out, ErrOut: &errOut}) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "server_listening") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := `msg="ice addresses" gather="127.0.0.1 (lo)" advertise=203.0.113.7 port="a port per connection"`
	if !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr lacks %s:\n%s", want, errOut.String())
	}
}
