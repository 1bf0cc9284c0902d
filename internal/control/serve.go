package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/roomctl/roomctl/internal/event"
)

// DefaultMaxLine is the longest request line, in bytes, when
// Config.MaxLine is 0.
const DefaultMaxLine = 64 << 10

// Config configures Serve.
type Config struct {
	// In has the requests, one per line: the command's stdin.
	In io.Reader
	// Events gets one event.Reply per request: the command's sink, which
	// prints replies whatever --events says.
	Events event.Emitter
	// Methods are the methods the command offers.
	Methods Methods
	// Joined tells whether the session was joined: until then a method
	// with NeedsJoin fails with HAS_NOT_JOIN. nil means always.
	Joined func() bool
	// Command names the command ("join", "record", …) in NOT_SUPPORTED
	// replies.
	Command string
	// Logger gets each request at debug level; nil discards.
	Logger *slog.Logger
	// MaxLine is the longest line in bytes, its newline not counted; a
	// longer one gets a LINE_TOO_LONG reply and is skipped. 0 means
	// DefaultMaxLine.
	MaxLine int
}

// Serve answers the requests of cfg.In one at a time, in their order:
// each line gets exactly one reply through cfg.Events, except blank lines
// (white space only), which get none. It returns nil at the end of
// cfg.In or when ctx ends, and the error of a read that failed.
//
// Serve returns as soon as ctx ends even while a read of cfg.In is
// blocked: the read goes on in a goroutine that ends when it returns
// (at the next line, the end of the input, or an error: closing In ends
// it). A request whose method is running when ctx ends still gets its
// reply.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.In == nil || cfg.Events == nil {
		return errors.New("control: Config.In and Config.Events are required")
	}
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	lines := make(chan readLine)
	stop := make(chan struct{})
	defer close(stop)
	go readLines(newLineReader(cfg.In, cfg.MaxLine), lines, stop)
	for {
		var l readLine
		select {
		case l = <-lines:
		case <-ctx.Done():
			return nil
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(l.err, io.EOF):
			return nil
		case l.err != nil:
			return fmt.Errorf("read control requests: %w", l.err)
		case l.tooLong:
			cfg.Events.Emit(event.Reply, replyTo(request{}, nil,
				errorf(CodeLineTooLong, "the line is longer than %d bytes", cfg.MaxLine)))
		case len(bytes.TrimSpace(l.line)) > 0:
			cfg.answer(ctx, l.line)
		}
	}
}

// readLine is one line read, or the error that ended the input.
type readLine struct {
	line    []byte
	tooLong bool
	err     error
}

// readLines sends the lines of r until the input ends (the last message
// carries the error) or stop is closed.
func readLines(r *lineReader, out chan<- readLine, stop <-chan struct{}) {
	for {
		line, tooLong, err := r.next()
		select {
		case out <- readLine{line: bytes.Clone(line), tooLong: tooLong, err: err}:
		case <-stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// answer handles one line and prints its reply.
func (cfg *Config) answer(ctx context.Context, line []byte) {
	req, err := decode(line)
	var result any
	if err == nil {
		result, err = cfg.call(ctx, req)
	}
	var then func()
	if a, ok := result.(afterReply); ok {
		result, then = a.result, a.then
	}
	r := replyTo(req, result, err)
	if r.Error != nil {
		cfg.Logger.Debug("control request failed", "method", req.method, "code", r.Error.Code, "err", r.Error.Message)
	} else {
		cfg.Logger.Debug("control request", "method", req.method)
	}
	cfg.Events.Emit(event.Reply, r)
	if then != nil {
		then()
	}
}

// call runs req's method.
func (cfg *Config) call(ctx context.Context, req request) (any, error) {
	m, ok := cfg.Methods[req.method]
	switch {
	case !ok && isSDKMethod(req.method):
		command := cfg.Command
		if command == "" {
			command = "this command"
		}
		return nil, errorf(CodeNotSupported, "%s is not offered by %s", req.method, command)
	case !ok:
		return nil, errorf(CodeUnknownMethod, "unknown method %q", req.method)
	case m.Handle == nil:
		return nil, errorf(CodeNotSupported, "%s has no handler", req.method)
	case m.NeedsJoin && cfg.Joined != nil && !cfg.Joined():
		return nil, errorf(CodeHasNotJoin, "%s: the session is not joined yet", req.method)
	}
	return m.Handle(ctx, req.params)
}

// replyTo is the reply to req: result, or err named by codeOf.
func replyTo(req request, result any, err error) event.ReplyData {
	r := event.ReplyData{ID: req.id, Method: req.method}
	if err == nil {
		if result == nil {
			result = struct{}{}
		}
		r.Result, err = json.Marshal(result)
		if err == nil {
			return r
		}
		r.Result = nil
		err = fmt.Errorf("%s: cannot encode the result: %w", req.method, err)
	}
	code, message := codeOf(err)
	r.Error = &event.ReplyError{Code: code, Message: message}
	return r
}
