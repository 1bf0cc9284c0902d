package cmd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/roomctl/roomctl/internal/backend/embedded"
	"github.com/roomctl/roomctl/internal/backend/livekit"
	"github.com/roomctl/roomctl/internal/engine"
)

// DefaultLiveKitServer is where livekit-server listens by default (its
// port 7880), the --server of --backend livekit when none is given.
const DefaultLiveKitServer = "ws://127.0.0.1:7880"

// backendKind is the room service a command speaks to (--backend): the
// same commands, flags and events on each, only the wire and the tokens
// differ.
type backendKind string

const (
	// backendEmbedded is roomctl serve (internal/backend/embedded).
	backendEmbedded backendKind = "embedded"
	// backendLiveKit is a LiveKit server or cluster
	// (internal/backend/livekit); the app id is the API key, the app
	// secret its secret.
	backendLiveKit backendKind = "livekit"
)

const backendUsage = "room service: embedded (roomctl serve) or livekit (a LiveKit server or cluster; " +
	"--app-id and --app-secret are the API key and secret)"

// registerBackend adds --backend to fs, defaulting to embedded.
func registerBackend(fs *pflag.FlagSet, b *backendKind) {
	*b = backendEmbedded
	fs.Var(b, "backend", backendUsage)
}

// String implements pflag.Value.
func (b *backendKind) String() string { return string(*b) }

// Type implements pflag.Value; it is what --help shows as the value.
func (b *backendKind) Type() string { return "embedded|livekit" }

// Set implements pflag.Value: anything but the two names is refused, so
// that a typo is a usage error (exit 2) rather than a join elsewhere.
func (b *backendKind) Set(s string) error {
	switch k := backendKind(s); k {
	case backendEmbedded, backendLiveKit:
		*b = k
		return nil
	}
	return fmt.Errorf("want embedded or livekit, not %q", s)
}

// defaultServer is the --server of this backend when none is given: where
// its server listens by default on this machine.
func (b backendKind) defaultServer() string {
	if b == backendLiveKit {
		return DefaultLiveKitServer
	}
	return DefaultServer
}

// engineBackend is the engine's Backend for this kind; the zero value is
// the embedded one, as the flag's default.
func (b backendKind) engineBackend(log *slog.Logger) engine.Backend {
	if b == backendLiveKit {
		return livekit.New(livekit.Config{Logger: log})
	}
	return embedded.New(embedded.Config{Logger: log})
}

// livekitMinted is --app-secret on LiveKit: every call mints a LiveKit
// access token for the join (identity uid, room grant, publish and
// subscribe), as token.Minted does for roomctl serve.
type livekitMinted struct {
	apiKey, apiSecret, room, identity string
	ttl                               time.Duration
}

// Renewable is true: every call mints a new token.
func (m *livekitMinted) Renewable() bool { return true }

// Token mints a token.
func (m *livekitMinted) Token(context.Context, bool) (string, error) {
	return livekit.MintToken(m.apiKey, m.apiSecret, m.room, m.identity, m.ttl, true, true)
}
