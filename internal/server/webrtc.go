package server

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/pionlog"
)

// newAPI builds the pion API every PeerConnection of the server is made
// with: default codecs and interceptors, ICE as addrs says (over UDP/IPv4
// with loopback candidates and without mDNS, so that it works on a machine
// whose only network is 127.0.0.1), and one shared UDP port when
// udpPort > 0, bound on the addresses addrs keeps only.
func newAPI(udpPort int, addrs iceopt.Config, log *slog.Logger) (*webrtc.API, io.Closer, error) {
	lf := pionlog.Factory(log)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, nil, fmt.Errorf("register codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(me, ir, webrtc.WithInterceptorLoggerFactory(lf)); err != nil {
		return nil, nil, fmt.Errorf("register interceptors: %w", err)
	}
	se := webrtc.SettingEngine{LoggerFactory: lf}
	addrs.Apply(&se)
	var mux io.Closer
	if udpPort > 0 {
		opts := append(addrs.UDPMuxOptions(), ice.UDPMuxFromPortWithLogger(lf.NewLogger("udpmux")))
		m, err := ice.NewMultiUDPMuxFromPort(udpPort, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("listen on udp port %d: %w", udpPort, err)
		}
		se.SetICEUDPMux(m)
		mux = m
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se))
	return api, mux, nil
}
