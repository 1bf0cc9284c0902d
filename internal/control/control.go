// Package control is the request side of roomctl's headless SDK: with
// --control, a room command reads requests from stdin (one JSON object or
// text alias per line), calls the SDK method each one names, and answers
// each with exactly one reply event in its NDJSON stream. The callbacks a
// method causes follow through the command's event sink as usual.
//
// Serve reads and answers; a Methods table says which methods a command
// offers. SessionMethods, PublishMethods, SubscribeMethods, ToneMethods,
// MixingMethods and PushMethods build the tables over small interfaces
// (Engine, Mixer, Pusher) that the engine, the mixer and the pusher
// implement.
package control

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Error is a failed request's error as its reply carries it: Code is the
// SDK's error name (CodeInvalidParam, …), Message names the problem.
// Handlers return it for what they check themselves; other errors are
// named by their sentinel (see Code* and codeOf).
type Error struct{ Code, Message string }

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorf returns an *Error with code and a formatted message.
func errorf(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Handler runs one method with its params, a JSON object (`{}` when the
// request had none). The result is marshalled into the reply; nil
// becomes {}.
type Handler func(ctx context.Context, params json.RawMessage) (any, error)

// Method is one method a command offers.
type Method struct {
	Handle Handler
	// NeedsJoin refuses the method with HAS_NOT_JOIN until the session
	// was joined (Config.Joined).
	NeedsJoin bool
}

// Methods maps SDK method names to what runs them.
type Methods map[string]Method

// With returns a new table with the methods of m and of more; a name
// in more replaces the same name before it. m is not changed.
func (m Methods) With(more ...Methods) Methods {
	out := maps.Clone(m)
	if out == nil {
		out = Methods{}
	}
	for _, t := range more {
		maps.Copy(out, t)
	}
	return out
}

// Names returns the method names of m, sorted.
func (m Methods) Names() []string {
	return slices.Sorted(maps.Keys(m))
}

// afterReply is a result whose reply is printed before then runs:
// leaveRoom answers before the command starts leaving, so the reply is
// out before the process may end.
type afterReply struct {
	result any
	then   func()
}
