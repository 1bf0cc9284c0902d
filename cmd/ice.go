package cmd

import (
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/roomctl/roomctl/internal/iceopt"
)

// iceFlags choose the local addresses ICE gathers on (serve and every
// room command) and, on serve, the address it advertises.
type iceFlags struct {
	interfaces []string
	ips        []string
	natIPs     []string
}

// register adds --ice-interface and --ice-ip, and --nat-ip when nat.
func (f *iceFlags) register(fs *pflag.FlagSet, nat bool) {
	fs.StringSliceVar(&f.interfaces, "ice-interface", nil,
		"gather ICE candidates only on these network interfaces, repeatable or comma-separated (e.g. --ice-interface eth0); default: every interface, loopback included")
	fs.StringSliceVar(&f.ips, "ice-ip", nil,
		"gather ICE candidates only on local addresses in these ranges, ADDR or CIDR, repeatable or comma-separated (e.g. --ice-ip 127.0.0.1/32 keeps all media on loopback); default: every address")
	if nat {
		fs.StringSliceVar(&f.natIPs, "nat-ip", nil,
			"advertise this public IPv4 address instead of the local ones in every host candidate: a host behind 1:1 NAT, as LiveKit's rtc.node_ip (e.g. --nat-ip 203.0.113.7)")
	}
}

// config parses the flags and checks that they leave a local address:
// a bad value or a filter that matches nothing is a usage error (exit 2).
func (f *iceFlags) config() (iceopt.Config, error) {
	var c iceopt.Config
	var err error
	if c.Interfaces, err = iceopt.ParseInterfaces(f.interfaces); err != nil {
		return c, usagef("--ice-interface: %w", err)
	}
	if c.IPs, err = iceopt.ParsePrefixes(f.ips); err != nil {
		return c, usagef("--ice-ip: %w", err)
	}
	if c.NATIPs, err = iceopt.ParseAddrs(f.natIPs); err != nil {
		return c, usagef("--nat-ip: %w", err)
	}
	if err := c.Check(); err != nil {
		return c, usagef("--ice-interface/--ice-ip: %w", err)
	}
	return c, nil
}

// logICE says where a client gathers, when the flags narrowed it.
func logICE(log *slog.Logger, c iceopt.Config) {
	if !c.IsZero() {
		c.Log(log)
	}
}
