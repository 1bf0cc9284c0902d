package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// App is one application known to the server: its id, the secret its app
// server signs tokens with, and the user ids it has banned.
type App struct {
	ID     string   `json:"appId"`
	Secret string   `json:"secret"`
	Banned []string `json:"banned,omitempty"`
}

// app is the registry's private copy of an App, with the ban list as a set.
type app struct {
	secret []byte
	banned map[string]struct{}
}

// Registry verifies tokens against a fixed set of apps. It is immutable after
// construction, so one Registry may be shared by every connection without
// locking; to change apps, build a new Registry and swap it in.
type Registry struct {
	apps   map[string]app
	parser *jwt.Parser
	// leeway is the clock skew Verify tolerates on exp and nbf; see
	// WithLeeway. Zero (the default) is strict.
	leeway time.Duration
}

// DefaultLeeway is the clock skew `roomctl serve` tolerates by default
// (--token-leeway); a Registry itself is strict until WithLeeway.
const DefaultLeeway = 30 * time.Second

// MaxLeeway is the largest leeway WithLeeway accepts: the tolerance is for
// clocks that disagree by seconds, not for tokens that outlive their exp.
const MaxLeeway = time.Minute

// WithLeeway returns a registry with r's apps whose Verify tolerates clocks
// that disagree by up to d: it accepts a token until d after its exp and
// from d before its nbf, as JWT verifiers' "leeway" does. d must be between
// 0 (strict, the default) and MaxLeeway. r is left unchanged.
func (r *Registry) WithLeeway(d time.Duration) (*Registry, error) {
	if r == nil {
		return nil, errors.New("token leeway: nil registry")
	}
	if d < 0 || d > MaxLeeway {
		return nil, fmt.Errorf("token leeway %v: must be between 0 and %v", d, MaxLeeway)
	}
	c := *r
	c.leeway = d
	return &c, nil
}

// Leeway is the clock skew Verify tolerates (see WithLeeway).
func (r *Registry) Leeway() time.Duration {
	if r == nil {
		return 0
	}
	return r.leeway
}

// NewRegistry validates apps and returns a registry holding copies of them.
// Ids must be non-empty and unique, and secrets at least MinSecretLen bytes;
// errors name the offending app so a large config is easy to fix.
func NewRegistry(apps ...App) (*Registry, error) {
	r := &Registry{
		apps: make(map[string]app, len(apps)),
		// Only HS256: accepting whatever the header names would let a client
		// pick "none" or an algorithm the secret was never meant for. Claims
		// validation is off because Verify checks times itself, so an expired
		// token gets Expired rather than a generic parse failure.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithoutClaimsValidation(),
		),
	}
	for i, a := range apps {
		if a.ID == "" {
			return nil, fmt.Errorf("app #%d: empty app id", i+1)
		}
		if _, dup := r.apps[a.ID]; dup {
			return nil, fmt.Errorf("app %q: duplicate app id", a.ID)
		}
		if len(a.Secret) < MinSecretLen {
			return nil, fmt.Errorf("app %q: %w", a.ID, ErrShortSecret)
		}
		banned := make(map[string]struct{}, len(a.Banned))
		for _, uid := range a.Banned {
			if uid == "" {
				return nil, fmt.Errorf("app %q: empty uid in banned list", a.ID)
			}
			banned[uid] = struct{}{}
		}
		r.apps[a.ID] = app{secret: []byte(a.Secret), banned: banned}
	}
	return r, nil
}

// registryFile is the on-disk shape read by LoadRegistry.
type registryFile struct {
	Apps []App `json:"apps"`
}

// LoadRegistry reads a registry from a JSON file of the form
//
//	{"apps":[{"appId":"1001","secret":"...","banned":["mallory"]}]}
//
// Unknown fields are rejected: a misspelt "banned" would otherwise silently
// let banned users in. A file with no apps is rejected too, since a server
// that refuses every token is never what the operator meant.
func LoadRegistry(path string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load registry: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f registryFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("load registry %s: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("load registry %s: trailing data after the JSON object", path)
	}
	if len(f.Apps) == 0 {
		return nil, fmt.Errorf("load registry %s: no apps", path)
	}
	r, err := NewRegistry(f.Apps...)
	if err != nil {
		return nil, fmt.Errorf("load registry %s: %w", path, err)
	}
	return r, nil
}

// maxTokenLen bounds the work an unauthenticated client can make Verify do
// (base64 and JSON decoding happen before the signature check). Real tokens
// are a few hundred bytes; 8 KiB leaves room for long ids.
const maxTokenLen = 8 << 10

// Verify decides whether tok admits uid to roomID in appID at time now (zero
// means time.Now) and returns the token's claims with the verdict.
//
// Checks run in this order, and the first failure is the verdict:
//
//  1. empty tok: NoToken
//  2. appID not in the registry: UnknownApp
//  3. uid on the app's ban list: Banned (checked before the token so a
//     banned user learns nothing from token errors)
//  4. longer than 8 KiB, malformed, not HS256, or signature invalid under
//     the app's secret: BadSignature
//  5. token's appId differs from appID: AppMismatch
//  6. token's uid differs from uid, or its roomId differs from roomID:
//     UIDMismatch (the SDK has no room code, so a room mismatch shares it)
//  7. exp at or before now-leeway, or no exp at all: Expired (a token must
//     never be valid forever)
//  8. nbf after now+leeway: BadSignature (the SDK has no "not yet valid"
//     code)
//  9. otherwise: OK
//
// The leeway (WithLeeway; zero by default) tolerates a minter whose clock
// disagrees with now; the returned claims are the token's own, exp
// included, so a caller's expiry timers do not move with it.
//
// Claims are returned whenever the signature verified (verdicts from step 5
// on), so the caller can log them and schedule WillExpire from ExpiresAt;
// before that they are zero, because unverified claims are attacker-chosen.
// Verify never returns WillExpire. A nil registry yields Internal.
func (r *Registry) Verify(tok, appID, roomID, uid string, now time.Time) (Claims, int) {
	if r == nil {
		return Claims{}, Internal
	}
	if tok == "" {
		return Claims{}, NoToken
	}
	a, ok := r.apps[appID]
	if !ok {
		return Claims{}, UnknownApp
	}
	if _, banned := a.banned[uid]; banned {
		return Claims{}, Banned
	}
	if len(tok) > maxTokenLen {
		return Claims{}, BadSignature
	}
	var c Claims
	_, err := r.parser.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		// WithValidMethods already filters by name; this also pins the
		// implementation, so a method registered under the same name by
		// other code cannot slip in.
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return a.secret, nil
	})
	if err != nil {
		return Claims{}, BadSignature
	}
	if c.AppID != appID {
		return c, AppMismatch
	}
	if c.UID != uid || c.RoomID != roomID {
		return c, UIDMismatch
	}
	if now.IsZero() {
		now = time.Now()
	}
	if c.ExpiresAt == nil || !now.Before(c.ExpiresAt.Add(r.leeway)) {
		return c, Expired
	}
	if c.NotBefore != nil && c.NotBefore.After(now.Add(r.leeway)) {
		return c, BadSignature
	}
	return c, OK
}
