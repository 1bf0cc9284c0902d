// Package pionlog sends pion's logs to an slog.Logger instead of pion's
// default logger (which writes to stderr on its own, outside --quiet and
// --log-level).
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// Factory returns a pion LoggerFactory writing to log, one level down:
// pion warns about routine events (pings before candidate pairs, candidates
// of an old ICE generation, streams closing at teardown), and roomctl logs
// what matters itself. Pion errors become warnings.
func Factory(log *slog.Logger) logging.LoggerFactory {
	return factory{log: log}
}

type factory struct{ log *slog.Logger }

func (f factory) NewLogger(scope string) logging.LeveledLogger {
	return logger{log: f.log.With("pion", scope)}
}

type logger struct{ log *slog.Logger }

func (l logger) logf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l logger) Trace(msg string)                  { l.logf(slog.LevelDebug-4, "%s", msg) }
func (l logger) Tracef(format string, args ...any) { l.logf(slog.LevelDebug-4, format, args...) }
func (l logger) Debug(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l logger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l logger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l logger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l logger) Warn(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l logger) Warnf(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l logger) Error(msg string)                  { l.logf(slog.LevelWarn, "%s", msg) }
func (l logger) Errorf(format string, args ...any) { l.logf(slog.LevelWarn, format, args...) }
