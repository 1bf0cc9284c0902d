package token

import (
	"reflect"
	"testing"
	"time"
)

// Fixed request the fuzzers verify against; fuzzing the token alone keeps the
// corpus small while still reaching every token-dependent verdict.
const (
	fuzzApp  = "1001"
	fuzzRoom = "room1"
	fuzzUID  = "alice"
)

var fuzzNow = t0.Add(time.Minute)

var verdicts = map[int]bool{
	OK: true, Internal: true, NoToken: true, BadSignature: true, AppMismatch: true,
	UIDMismatch: true, Expired: true, UnknownApp: true, WillExpire: true, Banned: true,
	NoPublishRight: true,
}

// FuzzVerify feeds arbitrary strings to Verify. Seeds come from
// testdata/fuzz/FuzzVerify and from the TestVerify table.
func FuzzVerify(f *testing.F) {
	for _, tt := range verifyCases(f) {
		f.Add(tt.tok)
	}
	r := testRegistry(f)
	f.Fuzz(func(t *testing.T, tok string) {
		c, v := r.Verify(tok, fuzzApp, fuzzRoom, fuzzUID, fuzzNow)
		if !verdicts[v] {
			t.Fatalf("verdict %d is not a known code", v)
		}
		switch v {
		case Internal, WillExpire, NoPublishRight, UnknownApp, Banned:
			// None of these can come from the token for a known, unbanned app.
			t.Fatalf("verdict %d (%s) for a known app and unbanned uid", v, Describe(v))
		case NoToken:
			if tok != "" {
				t.Fatalf("NoToken for non-empty token %q", tok)
			}
		case OK:
			if c.AppID != fuzzApp || c.RoomID != fuzzRoom || c.UID != fuzzUID {
				t.Fatalf("OK with claims %+v", c)
			}
			if c.ExpiresAt == nil || !fuzzNow.Before(c.ExpiresAt.Time) {
				t.Fatalf("OK with exp %v at %v", c.ExpiresAt, fuzzNow)
			}
		}
		// Verified claims must match what Parse shows, or the CLI would
		// display something other than what the server acted on.
		if !reflect.DeepEqual(c, Claims{}) {
			p, err := Parse(tok)
			if err != nil {
				t.Fatalf("Verify accepted the signature but Parse failed: %v", err)
			}
			if !reflect.DeepEqual(p, c) {
				t.Fatalf("Parse = %+v, Verify = %+v", p, c)
			}
		}
	})
}

// FuzzParse checks that Parse never panics and that anything Parse cannot
// read, Verify rejects as BadSignature.
func FuzzParse(f *testing.F) {
	for _, tt := range verifyCases(f) {
		f.Add(tt.tok)
	}
	r := testRegistry(f)
	f.Fuzz(func(t *testing.T, tok string) {
		_, err := Parse(tok)
		_, v := r.Verify(tok, fuzzApp, fuzzRoom, fuzzUID, fuzzNow)
		if err != nil && tok != "" && v != BadSignature {
			t.Fatalf("Parse failed (%v) but Verify gave %d (%s)", err, v, Describe(v))
		}
	})
}
