package server

import (
	"slices"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

func TestTokenTimers(t *testing.T) {
	// Token expiry has one-second resolution: a 2s token expires 1-2s after
	// minting, so token_will_expire comes 0-1s after the join.
	cfg := Config{TokenWarning: time.Second, TokenGrace: time.Second}

	t.Run("expires", func(t *testing.T) {
		t.Parallel()
		s, url := startServer(t, cfg)
		c := dial(t, url, "alice")
		tok := mint(t, "r1", "alice", 2*time.Second)
		c.join("r1", tok)
		if m := c.expect(signal.TypeTokenWillExpire); m.Token != tok {
			t.Errorf("token_will_expire carries %q, want the current token", m.Token)
		}
		c.expect(signal.TypeTokenRequest)
		m := c.expect(signal.TypeBye)
		if m.Result != token.Expired || m.Reason != "token expired" {
			t.Errorf("bye %+v", m)
		}
		c.expectClosed()
		if slices.Contains(s.Rooms(testApp)["r1"], "alice") {
			t.Error("alice still in the room")
		}
	})

	t.Run("renewed", func(t *testing.T) {
		t.Parallel()
		_, url := startServer(t, cfg)
		c := dial(t, url, "alice")
		c.join("r1", mint(t, "r1", "alice", 2*time.Second))
		c.expect(signal.TypeTokenWillExpire)
		c.expect(signal.TypeTokenRequest)

		bad, err := token.Mint(otherSecret, token.Options{AppID: testApp, RoomID: "r1", UID: "alice", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		c.send(&signal.Message{Type: signal.TypeUpdateToken, Token: bad})
		if m := c.expect(signal.TypeAuthResult); m.Result != token.BadSignature {
			t.Errorf("auth_result for a bad token: %d", m.Result)
		}

		// A 5s token's warning comes at least 3s from now, after the old
		// token's bye would have been sent (1s after its expiry).
		fresh := mint(t, "r1", "alice", 5*time.Second)
		c.send(&signal.Message{Type: signal.TypeUpdateToken, Token: fresh})
		if m := c.expect(signal.TypeAuthResult); m.Result != token.OK {
			t.Fatalf("auth_result %d", m.Result)
		}
		if m := c.expect(signal.TypeTokenWillExpire); m.Token != fresh {
			t.Errorf("token_will_expire carries %q, want the renewed token", m.Token)
		}
		c.ping()
	})

	t.Run("expiring at join", func(t *testing.T) {
		t.Parallel()
		_, url := startServer(t, Config{TokenWarning: time.Minute})
		c := dial(t, url, "alice")
		c.join("r1", mint(t, "r1", "alice", 30*time.Second))
		c.expect(signal.TypeTokenWillExpire)
	})
}
