package token

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A token that expired 30 s ago, or whose nbf is 30 s ahead, is accepted by
// a registry with a 30 s or larger leeway (a verifier whose clock runs ahead
// of or behind the minter's) and refused by a strict one; the boundaries are
// exclusive on exp (valid while now < exp+leeway) and inclusive on nbf
// (valid once now >= nbf-leeway), as without a leeway.
func TestVerifyLeeway(t *testing.T) {
	strict := testRegistry(t)
	lenient, err := strict.WithLeeway(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strict.Leeway() != 0 || lenient.Leeway() != 30*time.Second {
		t.Fatalf("leeways %v, %v", strict.Leeway(), lenient.Leeway())
	}
	alice := Options{AppID: "1001", RoomID: "room1", UID: "alice", TTL: time.Hour, Now: t0}
	tok := mustMint(t, testSecret, alice)
	exp := t0.Add(time.Hour)
	nbf := t0.Add(-clockSkew)

	for _, c := range []struct {
		name          string
		now           time.Time
		strict, loose int
	}{
		{"just before exp", exp.Add(-time.Nanosecond), OK, OK},
		{"at exp", exp, Expired, OK},
		{"expired 29 s ago", exp.Add(29 * time.Second), Expired, OK},
		{"expired just under 30 s ago", exp.Add(30*time.Second - time.Nanosecond), Expired, OK},
		{"expired 30 s ago", exp.Add(30 * time.Second), Expired, Expired},
		{"expired 31 s ago", exp.Add(31 * time.Second), Expired, Expired},
		{"at nbf", nbf, OK, OK},
		{"nbf 1 s ahead", nbf.Add(-time.Second), BadSignature, OK},
		{"nbf 30 s ahead", nbf.Add(-30 * time.Second), BadSignature, OK},
		{"nbf 31 s ahead", nbf.Add(-31 * time.Second), BadSignature, BadSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, v := strict.Verify(tok, "1001", "room1", "alice", c.now); v != c.strict {
				t.Errorf("strict: verdict %d (%s), want %d", v, Describe(v), c.strict)
			}
			cl, v := lenient.Verify(tok, "1001", "room1", "alice", c.now)
			if v != c.loose {
				t.Errorf("30 s leeway: verdict %d (%s), want %d", v, Describe(v), c.loose)
			}
			// The claims are the token's own: the leeway does not move exp.
			if cl.ExpiresAt == nil || !cl.ExpiresAt.Equal(exp) {
				t.Errorf("claims exp %v, want the token's %v", cl.ExpiresAt, exp)
			}
		})
	}

	// The leeway is a tolerance on times only: every other check is as strict.
	at := exp.Add(10 * time.Second)
	if _, v := lenient.Verify(tok, "1001", "room1", "bob", at); v != UIDMismatch {
		t.Errorf("uid mismatch within the leeway: %d", v)
	}
	if _, v := lenient.Verify(mustMint(t, otherSecret, alice), "1001", "room1", "alice", at); v != BadSignature {
		t.Errorf("wrong secret within the leeway: %d", v)
	}
	noExpClaims := Claims{AppID: "1001", RoomID: "room1", UID: "alice"}
	noExpClaims.NotBefore = jwt.NewNumericDate(t0)
	noExp := signRaw(t, jwt.SigningMethodHS256, []byte(testSecret), noExpClaims)
	if _, v := lenient.Verify(noExp, "1001", "room1", "alice", at); v != Expired {
		t.Errorf("no exp with a leeway: %d, want Expired", v)
	}
	mallory := alice
	mallory.UID = "mallory"
	if _, v := lenient.Verify(mustMint(t, testSecret, mallory), "1001", "room1", "mallory", t0); v != Banned {
		t.Errorf("banned within the leeway: %d", v)
	}
}

func TestWithLeewayRange(t *testing.T) {
	r := testRegistry(t)
	for _, d := range []time.Duration{0, time.Second, MaxLeeway} {
		if _, err := r.WithLeeway(d); err != nil {
			t.Errorf("WithLeeway(%v): %v", d, err)
		}
	}
	for _, d := range []time.Duration{-time.Second, MaxLeeway + time.Nanosecond, time.Hour} {
		if _, err := r.WithLeeway(d); err == nil {
			t.Errorf("WithLeeway(%v) accepted", d)
		}
	}
	var nilReg *Registry
	if _, err := nilReg.WithLeeway(time.Second); err == nil {
		t.Error("WithLeeway on a nil registry accepted")
	}
	if DefaultLeeway <= 0 || DefaultLeeway > MaxLeeway {
		t.Errorf("DefaultLeeway %v out of (0, %v]", DefaultLeeway, MaxLeeway)
	}
}
