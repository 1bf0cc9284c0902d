package livekit

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livekit/protocol/auth"

	"github.com/roomctl/roomctl/internal/token"
)

// ErrTTL is returned by MintToken for a ttl that is not positive.
var ErrTTL = errors.New("token ttl must be positive")

// MintToken mints a LiveKit access token that admits identity to room,
// signed with the API key's secret, valid for ttl from now: what
// `roomctl token --backend livekit` prints and what --app-secret mints on
// LiveKit (the API key is roomctl's app id there).
//
// ttl must be positive: LiveKit's auth package would silently turn zero or
// a negative ttl into six hours. The secret must be at least 32 bytes, as
// livekit-server requires of its keys.
func MintToken(apiKey, apiSecret, room, identity string, ttl time.Duration, canPublish, canSubscribe bool) (string, error) {
	switch {
	case ttl <= 0:
		return "", fmt.Errorf("mint livekit token: %w (got %s)", ErrTTL, ttl)
	case apiKey == "" || room == "" || identity == "":
		return "", errors.New("mint livekit token: api key, room and identity are required")
	case len(apiSecret) < token.MinSecretLen:
		return "", fmt.Errorf("mint livekit token: %w", token.ErrShortSecret)
	}
	g := &auth.VideoGrant{RoomJoin: true, Room: room}
	g.SetCanPublish(canPublish)
	g.SetCanSubscribe(canSubscribe)
	tok, err := auth.NewAccessToken(apiKey, apiSecret).
		SetIdentity(identity).SetName(identity).
		SetVideoGrant(g).SetValidFor(ttl).ToJWT()
	if err != nil {
		return "", fmt.Errorf("mint livekit token: %w", err)
	}
	return tok, nil
}

// claims is a LiveKit token's payload, as auth's own (unexported) type.
type claims struct {
	jwt.RegisteredClaims
	auth.ClaimGrants
}

// unverifiedClaims reads a token's claims without its secret; ok is false
// for anything that is not an HS256 JWT. Only the token's holder uses
// them, to refuse a token that cannot be for this join.
func unverifiedClaims(tok string) (*claims, bool) {
	var c claims
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
	if _, _, err := p.ParseUnverified(tok, &c); err != nil {
		return nil, false
	}
	return &c, true
}

// mismatch is roomctl's own verdict on a token for a join, as roomctl
// serve gives it: 10003 when it is signed with another API key than the
// app id, 10004 when it admits another identity or room (LiveKit takes
// both from the token alone, so the participant would silently join
// elsewhere or as someone else). 0: the token may be for this join.
func mismatch(c *claims, appID, roomID, uid string) (int, string) {
	identity := c.Subject
	if identity == "" {
		identity = c.ID // as LiveKit reads it
	}
	switch {
	case appID != "" && c.Issuer != appID:
		return token.AppMismatch, fmt.Sprintf("token is signed with API key %q, not the app id %q", c.Issuer, appID)
	case identity != uid:
		return token.UIDMismatch, fmt.Sprintf("token is for identity %q, not %q", identity, uid)
	case c.Video == nil || !c.Video.RoomJoin:
		return token.UIDMismatch, "token has no roomJoin grant"
	case c.Video.Room != roomID:
		return token.UIDMismatch, fmt.Sprintf("token is for room %q, not %q", c.Video.Room, roomID)
	}
	return token.OK, ""
}
