package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Fixed inputs keep minted tokens byte-identical across runs, which the fuzz
// seed corpus relies on.
const (
	testSecret  = "0123456789abcdef0123456789abcdef" // exactly MinSecretLen
	otherSecret = "fedcba9876543210fedcba9876543210"
)

var t0 = time.Unix(1_700_000_000, 0)

func mustMint(t testing.TB, secret string, o Options) string {
	t.Helper()
	tok, err := Mint(secret, o)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

func TestDescribe(t *testing.T) {
	codes := []int{OK, Internal, NoToken, BadSignature, AppMismatch, UIDMismatch,
		Expired, UnknownApp, WillExpire, Banned, NoPublishRight}
	seen := map[string]int{}
	for _, c := range codes {
		d := Describe(c)
		if d == "" || strings.HasPrefix(d, "unknown verdict") {
			t.Errorf("Describe(%d) = %q, want specific text", c, d)
		}
		if prev, dup := seen[d]; dup {
			t.Errorf("Describe(%d) and Describe(%d) both %q", c, prev, d)
		}
		seen[d] = c
	}
	if got := Describe(Expired); got != "token expired" {
		t.Errorf("Describe(Expired) = %q", got)
	}
	if got := Describe(42); got != "unknown verdict 42" {
		t.Errorf("Describe(42) = %q", got)
	}
}

func TestMintRefuses(t *testing.T) {
	good := Options{AppID: "1001", RoomID: "room1", UID: "alice", TTL: time.Hour, Now: t0}
	tests := []struct {
		name    string
		secret  string
		edit    func(*Options)
		want    string
		wantErr error
	}{
		{name: "short secret", secret: testSecret[:MinSecretLen-1], wantErr: ErrShortSecret},
		{name: "empty secret", secret: "", wantErr: ErrShortSecret},
		{name: "empty app", secret: testSecret, edit: func(o *Options) { o.AppID = "" }, want: "empty app id"},
		{name: "empty room", secret: testSecret, edit: func(o *Options) { o.RoomID = "" }, want: "empty room id"},
		{name: "empty uid", secret: testSecret, edit: func(o *Options) { o.UID = "" }, want: "empty uid"},
		{name: "zero ttl", secret: testSecret, edit: func(o *Options) { o.TTL = 0 }, want: "not positive"},
		{name: "negative ttl", secret: testSecret, edit: func(o *Options) { o.TTL = -time.Second }, want: "not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			if tt.edit != nil {
				tt.edit(&o)
			}
			tok, err := Mint(tt.secret, o)
			if err == nil {
				t.Fatalf("Mint succeeded with %q", tok)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestMintParseRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want Rights
	}{
		{"both rights", Options{AppID: "1001", RoomID: "room1", UID: "alice", TTL: time.Hour, Now: t0},
			Rights{Publish: true, Subscribe: true}},
		{"subscribe only", Options{AppID: "1001", RoomID: "r", UID: "viewer", TTL: time.Minute, Now: t0, NoPublish: true},
			Rights{Subscribe: true}},
		{"publish only", Options{AppID: "x", RoomID: "r", UID: "cam", TTL: time.Second, Now: t0, NoSubscribe: true},
			Rights{Publish: true}},
		{"unicode ids", Options{AppID: "应用", RoomID: "房间 1", UID: "ユーザー", TTL: 24 * time.Hour, Now: t0},
			Rights{Publish: true, Subscribe: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(mustMint(t, testSecret, tt.o))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.AppID != tt.o.AppID || c.RoomID != tt.o.RoomID || c.UID != tt.o.UID {
				t.Errorf("ids = %q/%q/%q, want %q/%q/%q", c.AppID, c.RoomID, c.UID, tt.o.AppID, tt.o.RoomID, tt.o.UID)
			}
			if c.Rights != tt.want {
				t.Errorf("rights = %+v, want %+v", c.Rights, tt.want)
			}
			if c.ExpiresAt == nil || !c.ExpiresAt.Equal(t0.Add(tt.o.TTL)) {
				t.Errorf("exp = %v, want %v", c.ExpiresAt, t0.Add(tt.o.TTL))
			}
			if c.NotBefore == nil || !c.NotBefore.Equal(t0.Add(-clockSkew)) {
				t.Errorf("nbf = %v, want %v", c.NotBefore, t0.Add(-clockSkew))
			}
			if c.IssuedAt == nil || !c.IssuedAt.Equal(t0) {
				t.Errorf("iat = %v, want %v", c.IssuedAt, t0)
			}
		})
	}
}

func TestMintDefaultsNowToWallClock(t *testing.T) {
	before := time.Now().Add(-time.Second)
	c, err := Parse(mustMint(t, testSecret, Options{AppID: "a", RoomID: "r", UID: "u", TTL: time.Hour}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.IssuedAt == nil || c.IssuedAt.Before(before) || c.IssuedAt.After(time.Now()) {
		t.Errorf("iat = %v, want about now", c.IssuedAt)
	}
}

func TestMintWireNames(t *testing.T) {
	// Other SDKs read these names; a renamed struct field must not change them.
	tok := mustMint(t, testSecret, Options{AppID: "1001", RoomID: "room1", UID: "alice", TTL: time.Hour, Now: t0})
	payload := strings.Split(tok, ".")[1]
	// eyJhcHBJZCI6 is base64url for `{"appId":`.
	if !strings.HasPrefix(payload, "eyJhcHBJZCI6") {
		t.Errorf("payload %q does not start with {\"appId\":", payload)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, tok string }{
		{"empty", ""},
		{"one segment", "abc"},
		{"four segments", "a.b.c.d"},
		{"bad base64", "!!!.###.$$$"},
		{"header not json", "bm90anNvbg.e30.sig"},
		{"claims wrong type", "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiJzb29uIn0.sig"}, // {"exp":"soon"}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := Parse(tt.tok); err == nil {
				t.Errorf("Parse(%q) = %+v, want error", tt.tok, c)
			} else if !strings.HasPrefix(err.Error(), "parse token: ") {
				t.Errorf("err = %q, want parse token: prefix", err)
			}
		})
	}
}
