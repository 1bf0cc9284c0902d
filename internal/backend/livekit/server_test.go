package livekit

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livekit/protocol/auth"

	"github.com/roomctl/roomctl/internal/testutil"
)

// wait bounds every wait of these tests: generous, for -race on two busy
// cores; a test waits on an event, never on the clock.
const wait = 30 * time.Second

// testKey and testSecret are the API key and secret of the servers
// startServer starts.
const (
	testKey    = testutil.LiveKitKey
	testSecret = testutil.LiveKitSecret
)

// startServer starts a livekit-server of the test's own on loopback
// (testutil.StartLiveKit) and waits until it answers; t.Cleanup kills it.
func startServer(t testing.TB) *testutil.LiveKit {
	t.Helper()
	return testutil.StartLiveKit(t, testutil.LiveKitConfig{})
}

// mint is a token of the test key for uid in room, valid for an hour.
func mint(t testing.TB, room, uid string) string {
	t.Helper()
	tok, err := MintToken(testKey, testSecret, room, uid, time.Hour, true, true)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rawToken signs any claims with secret: tokens that MintToken (and
// LiveKit's auth) refuse to make, expired or not yet valid.
func rawToken(t testing.TB, key, secret, room, uid string, nbf, exp time.Time) string {
	t.Helper()
	g := &auth.VideoGrant{RoomJoin: true, Room: room}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: key, Subject: uid,
			NotBefore: jwt.NewNumericDate(nbf), ExpiresAt: jwt.NewNumericDate(exp),
		},
		ClaimGrants: auth.ClaimGrants{Identity: uid, Video: g},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// roomName is a room of the test's own.
func roomName(t testing.TB) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
}
