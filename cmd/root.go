// Package cmd is roomctl's command line: cobra wiring from flags to options
// to a run function per command, and the one place where errors become
// exit codes.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/roomctl/roomctl/internal/engine"
)

// Exit codes: documented in the README and in `roomctl --help`; scripts rely on them.
const (
	ExitOK           = 0
	ExitFailure      = 1
	ExitUsage        = 2
	ExitAuthRefused  = 3
	ExitUntilTimeout = 4
	ExitUnreachable  = 5
)

const exitCodesHelp = `Exit codes:
  0  done (--until reached, --duration elapsed, interrupted, or the session ended cleanly)
  1  anything else
  2  usage: a bad flag, uid, room or file
  3  auth refused (sdk_auth_result was not 0 and could not be fixed by renewal)
  4  --until not reached before --timeout
  5  cannot reach the server`

// Streams are the process's standard streams, injected so that tests can
// run commands with buffers.
type Streams struct {
	In     io.Reader
	Out    io.Writer // events only
	ErrOut io.Writer // logs and human text
}

// usageError marks a problem with the command line (exit 2). It wraps its
// cause, so errors.Is and errors.As see through it.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef is a usage error formatted as fmt.Errorf: wrap causes with %w.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// usage marks err as a usage error; nil stays nil.
func usage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err}
}

// errUntilTimeout is returned when --until was not met before --timeout.
var errUntilTimeout = errors.New("--until event not reached before --timeout")

// ExitCode maps an error from a command to the documented exit code.
func ExitCode(err error) int {
	var ue *usageError
	var ae *engine.AuthError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &ae):
		return ExitAuthRefused
	case errors.Is(err, errUntilTimeout):
		return ExitUntilTimeout
	case errors.Is(err, engine.ErrUnreachable):
		return ExitUnreachable
	default:
		return ExitFailure
	}
}

// Execute runs roomctl with args and returns the exit code.
func Execute(ctx context.Context, args []string, s Streams) int {
	root := NewRoot(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		// cobra's own flag errors are usage errors too.
		if !isRunError(err) {
			err = usage(err)
		}
		fmt.Fprintf(s.ErrOut, "roomctl: %v\n", err)
	}
	return ExitCode(err)
}

// runError marks errors that come from a command's run function, as
// opposed to cobra's argument parsing.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

func isRunError(err error) bool {
	var re *runError
	return errors.As(err, &re)
}

// runE adapts a run function so its errors are told apart from cobra's.
func runE(f func(cmd *cobra.Command) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, _ []string) error {
		if err := applyEnv(c.Flags()); err != nil {
			return &runError{usage(err)}
		}
		if err := f(c); err != nil {
			return &runError{err}
		}
		return nil
	}
}

// NewRoot builds the command tree.
func NewRoot(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "roomctl",
		Short: "A headless real-time-communication client: every SDK callback as one JSON line on stdout",
		Long: `roomctl joins RTC rooms from the command line, publishes and subscribes to
audio/video, and prints every SDK callback as one JSON line on stdout
({"seq","ts","event","data"}); logs go to stderr. 'roomctl serve' is its own
room server, so everything runs on one machine.

The room commands (join, record, push-rtmp, mix-audio) join rooms of
'roomctl serve' by default; --backend livekit joins rooms of a LiveKit server
or cluster instead, with the same flags and events: --server is its URL
(ws://host:7880), --app-id and --app-secret its API key and secret, and
'roomctl token --backend livekit' mints its access tokens.

Every flag can also be set by an environment variable: ROOMCTL_ and the flag
name in upper case with '-' as '_' (--app-secret: ROOMCTL_APP_SECRET).

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.ErrOut) // help and usage are human text: stderr
	root.SetErr(s.ErrOut)
	root.AddCommand(newServeCmd(s), newTokenCmd(s), newJoinCmd(s), newSchemaCmd(s), newPushRTMPCmd(s))
	root.AddCommand(newRecordCmd(s), newMixAudioCmd(s), newDevicesCmd(s), newLoadCmd(s))
	return root
}

// applyEnv fills every flag not given on the command line from ROOMCTL_*.
func applyEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		name := EnvName(f.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			if err := sv.Replace(strings.Split(v, ",")); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			f.Changed = true
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	})
	return errors.Join(errs...)
}

// closeLogged closes c at the end of a command and logs (does not return)
// a failure: the command's own result matters more than a late close error.
func closeLogged(log *slog.Logger, what string, c interface{ Close() error }) {
	if err := c.Close(); err != nil {
		log.Warn("close "+what, "err", err)
	}
}

// EnvName is the environment variable that stands for a flag.
func EnvName(flag string) string {
	return "ROOMCTL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// logFlags are the flags every command has for its stderr.
type logFlags struct {
	quiet bool
	level string
}

func (l *logFlags) register(fs *pflag.FlagSet) {
	fs.BoolVarP(&l.quiet, "quiet", "q", false, "silence logs on stderr (events on stdout are not affected)")
	fs.StringVar(&l.level, "log-level", "info", "stderr log level: debug, info, warn, error")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	return l.loggerAtLeast(w, slog.LevelDebug)
}

// loggerAtLeast is logger, but never below floor.
func (l *logFlags) loggerAtLeast(w io.Writer, floor slog.Level) (*slog.Logger, error) {
	if l.quiet {
		return slog.New(slog.NewTextHandler(io.Discard, nil)), nil
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", l.level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: max(lv, floor)})), nil
}
