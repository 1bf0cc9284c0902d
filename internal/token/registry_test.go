package token

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func testRegistry(t testing.TB) *Registry {
	t.Helper()
	r, err := NewRegistry(
		App{ID: "1001", Secret: testSecret, Banned: []string{"mallory"}},
		App{ID: "1002", Secret: otherSecret},
	)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return r
}

// signRaw signs arbitrary claims with any method, to build tokens Mint would
// never produce.
func signRaw(t testing.TB, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

type verifyCase struct {
	name               string
	tok                string
	appID, roomID, uid string
	now                time.Time
	want               int
	wantClaims         bool // claims returned (signature verified)
}

// verifyCases is shared by TestVerify and FuzzVerify so every hand-picked
// edge case also seeds the fuzzer.
func verifyCases(t testing.TB) []verifyCase {
	alice := Options{AppID: "1001", RoomID: "room1", UID: "alice", TTL: time.Hour, Now: t0}
	good := mustMint(t, testSecret, alice)
	at := t0.Add(time.Minute)

	mallory := alice
	mallory.UID = "mallory"
	longRoom := alice
	longRoom.RoomID = strings.Repeat("r", maxTokenLen)
	wrongApp := alice
	wrongApp.AppID = "1002" // claims app 1002 but signed with 1001's secret

	base := Claims{AppID: "1001", RoomID: "room1", UID: "alice", Rights: Rights{Publish: true, Subscribe: true}}
	noExp := base
	noExp.NotBefore = jwt.NewNumericDate(t0)
	withExp := base
	withExp.ExpiresAt = jwt.NewNumericDate(t0.Add(time.Hour))

	parts := strings.Split(good, ".")
	// Swap in another token's payload, keeping the original signature.
	bob := alice
	bob.UID = "bob"
	tampered := parts[0] + "." + strings.Split(mustMint(t, testSecret, bob), ".")[1] + "." + parts[2]

	c := func(name, tok, uid string, now time.Time, want int, claims bool) verifyCase {
		return verifyCase{name, tok, "1001", "room1", uid, now, want, claims}
	}
	cases := []verifyCase{
		c("valid", good, "alice", at, OK, true),
		c("valid at nbf", good, "alice", t0.Add(-clockSkew), OK, true),
		c("valid just before exp", good, "alice", t0.Add(time.Hour-time.Nanosecond), OK, true),
		c("empty token", "", "alice", at, NoToken, false),
		{"empty token beats unknown app", "", "9999", "room1", "alice", at, NoToken, false},
		{"unknown app", good, "9999", "room1", "alice", at, UnknownApp, false},
		{"empty app id", good, "", "room1", "alice", at, UnknownApp, false},
		c("banned", mustMint(t, testSecret, mallory), "mallory", at, Banned, false),
		c("banned beats garbage", "garbage", "mallory", at, Banned, false),
		{"banned only in its app", mustMint(t, otherSecret, Options{AppID: "1002", RoomID: "room1", UID: "mallory", TTL: time.Hour, Now: t0}),
			"1002", "room1", "mallory", at, OK, true},
		c("garbage", "garbage", "alice", at, BadSignature, false),
		{"oversized but correctly signed", mustMint(t, testSecret, longRoom), "1001", longRoom.RoomID, "alice", at, BadSignature, false},
		c("three empty segments", "..", "alice", at, BadSignature, false),
		c("wrong secret", mustMint(t, otherSecret, alice), "alice", at, BadSignature, false),
		c("tampered payload", tampered, "bob", at, BadSignature, false),
		c("signature stripped", parts[0]+"."+parts[1]+".", "alice", at, BadSignature, false),
		c("alg none", signRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, withExp), "alice", at, BadSignature, false),
		c("alg HS512 with right secret", signRaw(t, jwt.SigningMethodHS512, []byte(testSecret), withExp), "alice", at, BadSignature, false),
		c("alg HS384 with right secret", signRaw(t, jwt.SigningMethodHS384, []byte(testSecret), withExp), "alice", at, BadSignature, false),
		c("wrong secret and expired", mustMint(t, otherSecret, alice), "alice", t0.Add(2*time.Hour), BadSignature, false),
		c("app mismatch", mustMint(t, testSecret, wrongApp), "alice", at, AppMismatch, true),
		c("uid mismatch", good, "bob", at, UIDMismatch, true),
		{"room mismatch", good, "1001", "room2", "alice", at, UIDMismatch, true},
		c("uid mismatch beats expired", good, "bob", t0.Add(2*time.Hour), UIDMismatch, true),
		c("expired at exp", good, "alice", t0.Add(time.Hour), Expired, true),
		c("expired long ago", good, "alice", t0.Add(24*time.Hour), Expired, true),
		c("no exp", signRaw(t, jwt.SigningMethodHS256, []byte(testSecret), noExp), "alice", at, Expired, true),
		c("not yet valid", good, "alice", t0.Add(-clockSkew-time.Second), BadSignature, true),
		c("hand-signed HS256 without nbf", signRaw(t, jwt.SigningMethodHS256, []byte(testSecret), withExp), "alice", at, OK, true),
	}
	return cases
}

func TestVerify(t *testing.T) {
	r := testRegistry(t)
	for _, tt := range verifyCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			c, got := r.Verify(tt.tok, tt.appID, tt.roomID, tt.uid, tt.now)
			if got != tt.want {
				t.Fatalf("verdict = %d (%s), want %d (%s)", got, Describe(got), tt.want, Describe(tt.want))
			}
			if zero := reflect.DeepEqual(c, Claims{}); zero == tt.wantClaims {
				t.Errorf("claims = %+v, want claims returned: %v", c, tt.wantClaims)
			}
			if got == OK && c.ExpiresAt == nil {
				t.Error("OK without exp: server cannot schedule WillExpire")
			}
		})
	}
}

func TestVerifyReachesEveryVerdict(t *testing.T) {
	// Guards the table against losing coverage when cases are edited.
	want := []int{OK, NoToken, BadSignature, AppMismatch, UIDMismatch, Expired, UnknownApp, Banned}
	have := map[int]bool{}
	for _, tt := range verifyCases(t) {
		have[tt.want] = true
	}
	for _, v := range want {
		if !have[v] {
			t.Errorf("no case yields %d (%s)", v, Describe(v))
		}
	}
}

func TestVerifyNilRegistry(t *testing.T) {
	var r *Registry
	if _, got := r.Verify("x", "1001", "room1", "alice", t0); got != Internal {
		t.Errorf("verdict = %d, want Internal", got)
	}
}

func TestVerifyZeroNowUsesWallClock(t *testing.T) {
	r := testRegistry(t)
	fresh := mustMint(t, testSecret, Options{AppID: "1001", RoomID: "room1", UID: "alice", TTL: time.Hour})
	if _, got := r.Verify(fresh, "1001", "room1", "alice", time.Time{}); got != OK {
		t.Errorf("fresh token: verdict = %d, want OK", got)
	}
	old := mustMint(t, testSecret, Options{AppID: "1001", RoomID: "room1", UID: "alice", TTL: time.Hour, Now: t0})
	if _, got := r.Verify(old, "1001", "room1", "alice", time.Time{}); got != Expired {
		t.Errorf("2023 token: verdict = %d, want Expired", got)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	r := testRegistry(t)
	cases := verifyCases(t)
	var wg sync.WaitGroup
	errs := make(chan string, len(cases)*8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tt := range cases {
				if _, got := r.Verify(tt.tok, tt.appID, tt.roomID, tt.uid, tt.now); got != tt.want {
					errs <- tt.name
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for name := range errs {
		t.Errorf("%s: wrong verdict under concurrency", name)
	}
}

func TestRegistryCopiesInput(t *testing.T) {
	banned := []string{"mallory"}
	r, err := NewRegistry(App{ID: "1001", Secret: testSecret, Banned: banned})
	if err != nil {
		t.Fatal(err)
	}
	banned[0] = "alice" // must not unban mallory or ban alice
	tok := mustMint(t, testSecret, Options{AppID: "1001", RoomID: "room1", UID: "alice", TTL: time.Hour, Now: t0})
	if _, got := r.Verify(tok, "1001", "room1", "alice", t0); got != OK {
		t.Errorf("alice: verdict = %d, want OK", got)
	}
	if _, got := r.Verify(tok, "1001", "room1", "mallory", t0); got != Banned {
		t.Errorf("mallory: verdict = %d, want Banned", got)
	}
}

func TestNewRegistryValidation(t *testing.T) {
	tests := []struct {
		name    string
		apps    []App
		want    string // substring of the error; empty means success
		wantErr error
	}{
		{name: "none", apps: nil},
		{name: "one", apps: []App{{ID: "1001", Secret: testSecret}}},
		{name: "empty id", apps: []App{{ID: "1001", Secret: testSecret}, {Secret: testSecret}}, want: "app #2: empty app id"},
		{name: "duplicate id", apps: []App{{ID: "1001", Secret: testSecret}, {ID: "1001", Secret: otherSecret}}, want: `app "1001": duplicate`},
		{name: "short secret", apps: []App{{ID: "7", Secret: "hunter2"}}, want: `app "7"`, wantErr: ErrShortSecret},
		{name: "empty banned uid", apps: []App{{ID: "7", Secret: testSecret, Banned: []string{""}}}, want: `app "7": empty uid`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRegistry(tt.apps...)
			if tt.want == "" && tt.wantErr == nil {
				if err != nil || r == nil {
					t.Fatalf("NewRegistry = %v, %v; want registry", r, err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewRegistry succeeded, want error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.wantErr)
			}
		})
	}
}

func TestLoadRegistry(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		body    string // file content; "-" means no file
		want    []string
		wantErr error
	}{
		{name: "valid", body: `{"apps":[{"appId":"1001","secret":"` + testSecret + `","banned":["mallory"]}]}`},
		{name: "missing file", body: "-", want: []string{"missing file"}, wantErr: os.ErrNotExist},
		{name: "bad json", body: `{"apps":[`, want: []string{"bad json", "unexpected EOF"}},
		{name: "wrong type", body: `{"apps":{}}`, want: []string{"wrong type", "cannot unmarshal"}},
		{name: "unknown field", body: `{"apps":[{"appId":"1001","secret":"` + testSecret + `","baned":["mallory"]}]}`,
			want: []string{"unknown field", `"baned"`}},
		{name: "trailing data", body: `{"apps":[{"appId":"1","secret":"` + testSecret + `"}]} {}`, want: []string{"trailing data"}},
		{name: "no apps", body: `{"apps":[]}`, want: []string{"no apps"}},
		{name: "empty object", body: `{}`, want: []string{"no apps"}},
		{name: "short secret", body: `{"apps":[{"appId":"1001","secret":"short"}]}`,
			want: []string{"short secret", `app "1001"`}, wantErr: ErrShortSecret},
		{name: "duplicate id", body: `{"apps":[{"appId":"1001","secret":"` + testSecret + `"},{"appId":"1001","secret":"` + otherSecret + `"}]}`,
			want: []string{"duplicate id", `app "1001": duplicate app id`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if tt.body != "-" {
				if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r, err := LoadRegistry(path)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("LoadRegistry: %v", err)
				}
				tok := mustMint(t, testSecret, Options{AppID: "1001", RoomID: "room1", UID: "mallory", TTL: time.Hour, Now: t0})
				if _, got := r.Verify(tok, "1001", "room1", "mallory", t0); got != Banned {
					t.Errorf("loaded ban list ignored: verdict = %d", got)
				}
				return
			}
			if err == nil {
				t.Fatal("LoadRegistry succeeded, want error")
			}
			// Every error names the file so an operator can find it.
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to contain %q", err, w)
				}
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.wantErr)
			}
		})
	}
}
