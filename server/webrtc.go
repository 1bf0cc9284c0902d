package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// newAPI builds the pion API every PeerConnection of the server is made
// with: default codecs and interceptors, ICE over UDP/IPv4 with loopback
// candidates and without mDNS (so that it works on a machine whose only
// network is 127.0.0.1), and one shared UDP port when udpPort > 0.
func newAPI(udpPort int, log *slog.Logger) (*webrtc.API, io.Closer, error) {
	lf := pionLoggers{log: log}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, nil, fmt.Errorf("register codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(me, ir, webrtc.WithInterceptorLoggerFactory(lf)); err != nil {
		return nil, nil, fmt.Errorf("register interceptors: %w", err)
	}
	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	var mux io.Closer
	if udpPort > 0 {
		m, err := ice.NewMultiUDPMuxFromPort(udpPort,
			ice.UDPMuxFromPortWithLoopback(),
			ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4),
			ice.UDPMuxFromPortWithLogger(lf.NewLogger("udpmux")))
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

// pionLoggers sends pion's logs to the server's slog.Logger, one level down:
// pion warns about routine events (pings before candidate pairs, streams
// closing at teardown), and the server logs what matters itself.
type pionLoggers struct{ log *slog.Logger }

func (f pionLoggers) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) logf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l pionLogger) Trace(msg string)                  { l.logf(slog.LevelDebug-4, "%s", msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.logf(slog.LevelDebug-4, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Error(msg string)                  { l.logf(slog.LevelWarn, "%s", msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelWarn, format, args...) }
