package livekit

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/roomctl/roomctl/internal/token"
)

// LiveKit refuses a token at the WebSocket upgrade (or /rtc/validate) with
// an HTTP status and a one-line text body. verdictOf maps them to the
// SDK's verdicts; see the package comment's table. hadToken tells an
// empty token (LiveKit's "no permissions to access the room", the same
// body as a token without the join right) from a token lacking a right.
func verdictOf(status int, body string, hadToken bool) int {
	b := strings.ToLower(body)
	switch {
	case !hadToken:
		return token.NoToken
	case strings.Contains(b, "invalid api key"):
		return token.UnknownApp
	case strings.Contains(b, "token is expired"), strings.Contains(b, "exp claim is required"):
		// roomctl serve too calls a token without exp expired.
		return token.Expired
	case strings.Contains(b, "not valid yet"):
		// roomctl serve's verdict for nbf in the future; the SDK has no
		// "not yet valid" code.
		return token.BadSignature
	case strings.Contains(b, "invalid token"), strings.Contains(b, "invalid authorization"),
		strings.Contains(b, "signature is invalid"), strings.Contains(b, "malformed"):
		return token.BadSignature
	case status == http.StatusUnauthorized && strings.Contains(b, "no permissions"),
		status == http.StatusBadRequest && strings.Contains(b, "identity cannot be empty"):
		// The token does not admit this participant: no join right, no
		// identity. The SDK's nearest code is uid/room mismatch.
		return token.UIDMismatch
	}
	return token.Internal
}

// jwtLike matches a compact JWS: three base64url parts. LiveKit echoes the
// whole token in some 401 bodies ("invalid token: <JWT>, error: ...").
var jwtLike = regexp.MustCompile(`[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)

// maxReason bounds a body kept as an error reason.
const maxReason = 300

// redact makes a response body fit for logs and errors: the token (and
// anything shaped like one) removed, one line, bounded.
func redact(body, tok string) string {
	body = strings.Join(strings.Fields(body), " ")
	if tok != "" {
		body = strings.ReplaceAll(body, tok, "<token>")
	}
	body = jwtLike.ReplaceAllString(body, "<token>")
	if len(body) > maxReason {
		body = strings.ToValidUTF8(body[:maxReason], "") + "…"
	}
	return body
}
