package cmd

import (
	"github.com/spf13/pflag"

	"github.com/roomctl/roomctl/internal/control"
	"github.com/roomctl/roomctl/internal/engine"
)

// controlFlags are --control and --control-eof, which every room command
// shares: stdin as the headless SDK's method calls (internal/control).
type controlFlags struct {
	control    bool
	controlEOF string
}

const controlHelp = `With --control, each stdin line is a request: a JSON object
{"id": ANY, "method": "SDK method name", "params": {...}} or a short text form
("mute audio", "unmute video", "tone-volume N", "leave"). Each request gets
exactly one "reply" line on stdout, {"id", "method", "result"} or {"id",
"method", "error": {"code", "message"}}, printed even with --events; the
callbacks a request causes are printed as they happen. The README lists the
methods. At the end of stdin the session goes on, unless --control-eof leave.`

func (f *controlFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.control, "control", false, "read requests (SDK methods as JSON lines, or mute audio|video, unmute audio|video, tone-volume N, leave) from stdin; replies on stdout")
	fs.StringVar(&f.controlEOF, "control-eof", "stay", "with --control, at the end of stdin: stay in the room, or leave")
}

func (f *controlFlags) validate() error {
	switch f.controlEOF {
	case "", "stay", "leave": // "": not set (stay)
	default:
		return usagef("--control-eof %q: want stay or leave", f.controlEOF)
	}
	return nil
}

// serveControl reads requests from stdin for the session when --control is
// on; command names the command in NOT_SUPPORTED replies. It returns at
// once; the reading ends with the session.
func (se *session) serveControl(f *controlFlags, s Streams, command string, eng *engine.Engine, methods control.Methods) {
	if !f.control {
		return
	}
	leaveAtEOF := f.controlEOF == "leave"
	go func() {
		err := control.Serve(se.ctx, control.Config{
			In: s.In, Events: se.sink, Methods: methods, Joined: eng.Joined,
			Command: command, Logger: se.log,
		})
		if err != nil {
			se.log.Warn("reading control requests", "err", err)
		}
		if leaveAtEOF && se.ctx.Err() == nil {
			se.log.Info("end of control input: leaving")
			se.cancel()
		}
	}()
}
