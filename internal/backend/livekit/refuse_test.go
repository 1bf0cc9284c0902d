package livekit

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/token"
)

// refusalCases are livekit-server v1.13.5's answers to refused upgrades
// (NOTES.md, and TestRefusals against a real one), with their verdicts.
var refusalCases = []struct {
	name     string
	status   int
	body     string
	hadToken bool
	want     int
}{
	{"wrong secret", 401, "invalid token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLWhlcmU, error: token signature is invalid: signature is invalid", true, token.BadSignature},
	{"unknown key", 401, "invalid API key: nokey", true, token.UnknownApp},
	{"expired", 401, "invalid token: x.y.z, error: token has invalid claims: token is expired", true, token.Expired},
	{"no exp", 401, "invalid token: x.y.z, error: token has invalid claims: token is missing required claim: exp claim is required", true, token.Expired},
	{"not valid yet", 401, "invalid token: x.y.z, error: token has invalid claims: token is not valid yet", true, token.BadSignature},
	{"not a jwt", 401, "invalid authorization token", true, token.BadSignature},
	{"no token", 401, "no permissions to access the room", false, token.NoToken},
	{"no join right", 401, "no permissions to access the room", true, token.UIDMismatch},
	{"no identity", 400, "identity cannot be empty", true, token.UIDMismatch},
	{"not livekit", 404, "404 page not found", true, token.Internal},
	{"overloaded", 503, "limit exceeded", true, token.Internal},
}

func TestVerdictOf(t *testing.T) {
	for _, c := range refusalCases {
		if got := verdictOf(c.status, c.body, c.hadToken); got != c.want {
			t.Errorf("%s: %d %q → %d, want %d", c.name, c.status, c.body, got, c.want)
		}
	}
}

func TestRedact(t *testing.T) {
	tok := mint(t, "r1", "alice")
	cases := []struct{ body, want string }{
		{"invalid token: " + tok + ", error: token is expired", "invalid token: <token>, error: token is expired"},
		{"invalid token: aaaaaaaaaa.bbbbbbbbbb.cccccccccc, error: x", "invalid token: <token>, error: x"},
		{"line one\nline  two", "line one line two"},
		{strings.Repeat("é", 400), strings.Repeat("é", maxReason/2) + "…"},
	}
	for _, c := range cases {
		if got := redact(c.body, tok); got != c.want {
			t.Errorf("redact(%.40q) = %.60q, want %.60q", c.body, got, c.want)
		}
	}
}

// FuzzRedact: the token never survives redaction, and the verdict never
// panics, whatever the body.
func FuzzRedact(f *testing.F) {
	for _, c := range refusalCases {
		f.Add(c.status, c.body, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLWhlcmU")
	}
	f.Fuzz(func(t *testing.T, status int, body, tok string) {
		_ = verdictOf(status, body, tok != "")
		got := redact(body, tok)
		if tokenChars.MatchString(tok) && strings.Contains(got, tok) {
			t.Errorf("redact(%q) kept the token: %q", body, got)
		}
		if jwtLike.MatchString(got) {
			t.Errorf("redact(%q) kept a JWT: %q", body, got)
		}
	})
}

// tokenChars: what a token is made of (base64url parts and dots), long
// enough not to occur by chance in LiveKit's words.
var tokenChars = regexp.MustCompile(`^[A-Za-z0-9_.-]{16,}$`)

func TestRTCURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ws://127.0.0.1:7880", "ws://127.0.0.1:7880/rtc"},
		{"wss://example.livekit.cloud/", "wss://example.livekit.cloud/rtc"},
		{"http://127.0.0.1:7880", "ws://127.0.0.1:7880/rtc"},
		{"https://lk.example.com/prefix/", "wss://lk.example.com/prefix/rtc"},
		{"ws://u:p@host:1/?x=1#f", "ws://host:1/rtc"},
		{"ftp://host", ""},
		{"ws://", ""},
		{"::", ""},
	} {
		u, err := rtcURL(c.in)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("rtcURL(%q) = %s, want an error", c.in, u)
		case c.want != "" && (err != nil || u.String() != c.want):
			t.Errorf("rtcURL(%q) = %v, %v; want %s", c.in, u, err, c.want)
		}
	}
}

func TestMismatch(t *testing.T) {
	tok := mint(t, "r1", "alice")
	c, ok := unverifiedClaims(tok)
	if !ok {
		t.Fatal("a minted token does not parse")
	}
	for _, k := range []struct {
		app, room, uid string
		want           int
	}{
		{testKey, "r1", "alice", token.OK},
		{"", "r1", "alice", token.OK},
		{"other", "r1", "alice", token.AppMismatch},
		{testKey, "r2", "alice", token.UIDMismatch},
		{testKey, "r1", "bob", token.UIDMismatch},
	} {
		if got, why := mismatch(c, k.app, k.room, k.uid); got != k.want {
			t.Errorf("mismatch(%s, %s, %s) = %d (%s), want %d", k.app, k.room, k.uid, got, why, k.want)
		}
	}
	if _, ok := unverifiedClaims("not.a.jwt"); ok {
		t.Error("garbage parsed")
	}
}

func TestMintToken(t *testing.T) {
	tok, err := MintToken(testKey, testSecret, "r1", "alice", time.Minute, false, true)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := unverifiedClaims(tok)
	if !ok {
		t.Fatal("does not parse")
	}
	if c.Issuer != testKey || c.Subject != "alice" || c.Video.Room != "r1" || !c.Video.RoomJoin ||
		c.Video.GetCanPublish() || !c.Video.GetCanSubscribe() {
		t.Errorf("claims = %+v %+v", c.RegisteredClaims, c.Video)
	}
	if ttl := c.ExpiresAt.Sub(c.NotBefore.Time); ttl != time.Minute {
		t.Errorf("ttl = %s", ttl)
	}
	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, err := MintToken(testKey, testSecret, "r1", "alice", ttl, true, true); !errors.Is(err, ErrTTL) {
			t.Errorf("ttl %s: err = %v, want ErrTTL", ttl, err)
		}
	}
	if _, err := MintToken(testKey, "short", "r1", "alice", time.Minute, true, true); !errors.Is(err, token.ErrShortSecret) {
		t.Errorf("short secret: err = %v", err)
	}
}
