package server

import (
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/pionlog"
)

// newAPI builds the two pion APIs of the server: pub for publish
// PeerConnections (default codecs and interceptors: NACK generator, RTCP
// receiver reports, TWCC feedback, stats) and sub for subscribe
// PeerConnections (RTCP sender reports and the TWCC sequence number only:
// no NACK responder, whose per-subscriber copy of every packet
// fanoutTrack's shared ring replaces, and no stats interceptor, whose
// per-packet bookkeeping nothing of the server reads: BytesSent uses the
// transport's counters). Both have ICE as
// addrs says (over UDP/IPv4 with loopback candidates and without mDNS, so
// that it works on a machine whose only network is 127.0.0.1) and share one
// UDP port when udpPort > 0, bound on the addresses addrs keeps only.
//
// With batch (and a udpPort) the port's writes are batched; flush then
// sends what is queued (nil otherwise).
func newAPI(udpPort int, batch bool, addrs iceopt.Config, log *slog.Logger) (pub, sub *webrtc.API, _ io.Closer, flush func(), _ error) {
	lf := pionlog.Factory(log)
	se := webrtc.SettingEngine{LoggerFactory: lf}
	addrs.Apply(&se)
	var mux io.Closer
	if udpPort > 0 {
		m, fl, err := listenUDPMux(udpPort, addrs, batch, lf.NewLogger("udpmux"))
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("listen on udp port %d: %w", udpPort, err)
		}
		se.SetICEUDPMux(m)
		mux = m
		if len(fl) > 0 {
			flush = fl.Flush
		}
	}
	fail := func(err error) (*webrtc.API, *webrtc.API, io.Closer, func(), error) {
		if mux != nil {
			_ = mux.Close()
		}
		return nil, nil, nil, nil, err
	}

	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return fail(fmt.Errorf("register codecs: %w", err))
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(me, ir, webrtc.WithInterceptorLoggerFactory(lf)); err != nil {
		return fail(fmt.Errorf("register interceptors: %w", err))
	}
	pub = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))

	sme := &webrtc.MediaEngine{}
	if err := sme.RegisterDefaultCodecs(); err != nil {
		return fail(fmt.Errorf("register codecs: %w", err))
	}
	sir := &interceptor.Registry{}
	// NACK and PLI stay negotiated: subscribers send NACKs (answered by
	// fanoutTrack.Resend) and PLIs (passed to the publisher).
	sme.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	sme.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	steps := []func() error{
		func() error { return webrtc.ConfigureRTCPReports(sir) }, // sender reports: A/V sync
		func() error { return webrtc.ConfigureSimulcastExtensionHeaders(sme) },
		func() error { return webrtc.ConfigureTWCCSender(sme, sir) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fail(fmt.Errorf("register subscribe interceptors: %w", err))
		}
	}
	sub = webrtc.NewAPI(webrtc.WithMediaEngine(sme), webrtc.WithInterceptorRegistry(sir), webrtc.WithSettingEngine(se))
	return pub, sub, mux, flush, nil
}

// listenUDPMux binds port on every local IPv4 address addrs keeps and
// muxes every PeerConnection's ICE over those sockets. With batch, the
// sockets' writes are batched (batchConn) and the returned flushers send
// what is queued.
func listenUDPMux(port int, addrs iceopt.Config, batch bool, logger logging.LeveledLogger) (*ice.MultiUDPMuxDefault, flushers, error) {
	locals, err := addrs.Locals()
	if err != nil {
		return nil, nil, err
	}
	var muxes []ice.UDPMux
	var fl flushers
	for _, l := range locals {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: l.Addr.AsSlice(), Port: port})
		if err != nil {
			for _, m := range muxes {
				_ = m.Close()
			}
			return nil, nil, err
		}
		var pc net.PacketConn = conn
		if batch {
			bc := newBatchConn(conn)
			fl = append(fl, bc)
			pc = bc
		}
		muxes = append(muxes, ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: logger, UDPConn: pc}))
	}
	if len(muxes) == 0 {
		return nil, nil, fmt.Errorf("no local IPv4 address to bind (ICE addresses: %s)", addrs)
	}
	return ice.NewMultiUDPMuxDefault(muxes...), fl, nil
}
