package main

import (
	"net/netip"

	"github.com/roomctl/roomctl/internal/iceopt"
)

// loopbackICE keeps every ICE candidate, and so every media packet, on
// 127.0.0.1: a benchmark measures roomctl, not the machine's network.
var loopbackICE = iceopt.Config{IPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
