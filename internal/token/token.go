// Package token mints and verifies the room tokens that clients present when
// they join a room, and defines the SDK's verdict codes (sdk_auth_result) that
// the server sends back, so the client, the embedded server and the CLI all
// agree on what a token means and why it was refused.
//
// A token is an HS256 JWT signed with a per-app secret. Minting lives here so
// tests and the CLI can produce tokens without an app server; verification
// lives on [Registry], which knows every app's secret and ban list.
package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLen is the shortest accepted app secret, in bytes. HS256 keys
// shorter than the 32-byte hash output weaken the MAC and are usually a sign
// that a placeholder secret made it into a config.
const MinSecretLen = 32

// Verdicts are the SDK's sdk_auth_result codes. The numeric values are part
// of the wire protocol and must not change.
const (
	// OK means the token is valid for the requested app, room and user.
	OK = 0
	// Internal means the verifier itself failed (for example a nil registry),
	// not that the token is bad; the client may retry.
	Internal = 10000
	// NoToken means the client presented an empty token.
	NoToken = 10001
	// BadSignature means the token is malformed, is not HS256, does not verify
	// under the app's secret, or is not yet valid (nbf in the future).
	BadSignature = 10002
	// AppMismatch means the token was signed for a different app id than the
	// one the client asked to join.
	AppMismatch = 10003
	// UIDMismatch means the token's uid differs from the joining user's uid.
	// A room mismatch also yields this code because the SDK has no room code.
	UIDMismatch = 10004
	// Expired means the token's exp is at or before the verification time.
	Expired = 10005
	// UnknownApp means the app id is not in the registry.
	UnknownApp = 10006
	// WillExpire warns a connected client that its token expires soon so it
	// can renew. Verify never returns it; the server sends it on its own timer.
	WillExpire = 10007
	// Banned means the user id is on the app's ban list.
	Banned = 10008
	// NoPublishRight is a roomctl extension: the token lacks the publish right
	// (the result carried by publish_auth_fail).
	NoPublishRight = 10009
)

// Describe returns human text for a verdict, for logs and CLI output.
func Describe(code int) string {
	switch code {
	case OK:
		return "ok"
	case Internal:
		return "internal error"
	case NoToken:
		return "no token"
	case BadSignature:
		return "bad token signature"
	case AppMismatch:
		return "token app id mismatch"
	case UIDMismatch:
		return "token uid or room mismatch"
	case Expired:
		return "token expired"
	case UnknownApp:
		return "unknown app id"
	case WillExpire:
		return "token will expire"
	case Banned:
		return "user banned"
	case NoPublishRight:
		return "token lacks publish right"
	default:
		return fmt.Sprintf("unknown verdict %d", code)
	}
}

// ErrShortSecret is returned when a secret is shorter than MinSecretLen bytes.
var ErrShortSecret = errors.New("secret shorter than 32 bytes")

// Rights says what the holder may do in the room.
type Rights struct {
	Publish   bool `json:"publish"`
	Subscribe bool `json:"subscribe"`
}

// Claims is the JWT payload of a room token.
type Claims struct {
	AppID  string `json:"appId"`
	RoomID string `json:"roomId"`
	UID    string `json:"uid"`
	Rights Rights `json:"rights"`
	jwt.RegisteredClaims
}

// Options describe the token to mint.
type Options struct {
	AppID  string
	RoomID string
	UID    string
	// TTL is how long the token stays valid after Now; it must be positive.
	TTL time.Duration
	// NoPublish and NoSubscribe withhold a right; the zero value grants both
	// because a plain participant is the common case.
	NoPublish   bool
	NoSubscribe bool
	// Now is the mint time; zero means time.Now. Injected so tests and the
	// CLI can mint tokens that are already expired or not yet valid.
	Now time.Time
}

// clockSkew backdates nbf so a verifier whose clock runs slightly behind the
// minter's still accepts a freshly minted token.
const clockSkew = 5 * time.Second

// Mint returns an HS256 token for o signed with secret.
func Mint(secret string, o Options) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("mint token: %w", ErrShortSecret)
	}
	switch {
	case o.AppID == "":
		return "", errors.New("mint token: empty app id")
	case o.RoomID == "":
		return "", errors.New("mint token: empty room id")
	case o.UID == "":
		return "", errors.New("mint token: empty uid")
	case o.TTL <= 0:
		return "", fmt.Errorf("mint token: ttl %v is not positive", o.TTL)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	c := Claims{
		AppID:  o.AppID,
		RoomID: o.RoomID,
		UID:    o.UID,
		Rights: Rights{Publish: !o.NoPublish, Subscribe: !o.NoSubscribe},
		RegisteredClaims: jwt.RegisteredClaims{
			ExpiresAt: jwt.NewNumericDate(now.Add(o.TTL)),
			NotBefore: jwt.NewNumericDate(now.Add(-clockSkew)),
			IssuedAt:  jwt.NewNumericDate(now),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return s, nil
}

// Parse decodes tok's claims without checking the signature or times. It is
// for display (who is this token for, when does it expire); never base an
// access decision on its result — use [Registry.Verify].
func Parse(tok string) (Claims, error) {
	var c Claims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		return Claims{}, fmt.Errorf("parse token: %w", err)
	}
	return c, nil
}
