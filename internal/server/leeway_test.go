package server

import (
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

// mintedAt makes mint's token as if minted at the given offset from now
// (a minter whose clock is behind, negative, or ahead, positive).
func mintedAt(off time.Duration) func(*token.Options) {
	return func(o *token.Options) { o.Now = time.Now().Add(off) }
}

// Clock skew between the token minter and the server (item 11): with a
// leeway, a token that expired a few seconds ago or whose nbf is a few
// seconds ahead is accepted on join and on update_token; the session is told
// at once to renew and is kept until exp+TokenGrace, never less.
func TestTokenLeeway(t *testing.T) {
	// A 60 s token minted 70 s ago expired 10-11 s ago (exp has one-second
	// resolution).
	expired10s := func(t *testing.T, uid string) string {
		return mint(t, "r1", uid, time.Minute, mintedAt(-70*time.Second))
	}

	t.Run("strict", func(t *testing.T) {
		t.Parallel()
		_, url := startServer(t, Config{})
		c := dial(t, url, "alice")
		c.send(joinMsg("r1", "alice", expired10s(t, "alice")))
		if m := c.expect(signal.TypeJoinResult); m.Result != token.Expired {
			t.Fatalf("join_result %+v, want %d", m, token.Expired)
		}
	})

	t.Run("expired within the leeway", func(t *testing.T) {
		t.Parallel()
		_, url := startServer(t, Config{TokenLeeway: 30 * time.Second, TokenGrace: 30 * time.Second})
		c := dial(t, url, "alice")
		c.join("r1", expired10s(t, "alice"))
		// Past its exp: renewal is asked for at once, as for any expired token.
		c.expect(signal.TypeTokenWillExpire)
		c.expect(signal.TypeTokenRequest)
		// A renewal that is itself a little expired is accepted too
		// (update_token path).
		c.send(&signal.Message{Type: signal.TypeUpdateToken, Token: expired10s(t, "alice")})
		if m := c.expect(signal.TypeAuthResult); m.Result != token.OK {
			t.Fatalf("auth_result %+v for a token within the leeway", m)
		}
		c.expect(signal.TypeTokenWillExpire)
		c.expect(signal.TypeTokenRequest)
		fresh := mint(t, "r1", "alice", time.Hour)
		c.send(&signal.Message{Type: signal.TypeUpdateToken, Token: fresh})
		if m := c.expect(signal.TypeAuthResult); m.Result != token.OK {
			t.Fatalf("auth_result %+v", m)
		}
		c.ping(signal.TypeBye, signal.TypeTokenWillExpire, signal.TypeTokenRequest)
	})

	t.Run("expired beyond the leeway", func(t *testing.T) {
		t.Parallel()
		_, url := startServer(t, Config{TokenLeeway: 5 * time.Second})
		c := dial(t, url, "alice")
		c.send(joinMsg("r1", "alice", expired10s(t, "alice")))
		if m := c.expect(signal.TypeJoinResult); m.Result != token.Expired {
			t.Fatalf("join_result %+v, want %d", m, token.Expired)
		}
	})

	t.Run("nbf within the leeway", func(t *testing.T) {
		t.Parallel()
		_, url := startServer(t, Config{TokenLeeway: 30 * time.Second})
		c := dial(t, url, "alice")
		// Minted 25 s in the server's future: nbf is 20 s ahead.
		c.join("r1", mint(t, "r1", "alice", time.Hour, mintedAt(25*time.Second)))
		c.ping(signal.TypeTokenWillExpire, signal.TypeTokenRequest, signal.TypeBye)

		d := dial(t, url, "bob")
		d.send(joinMsg("r1", "bob", mint(t, "r1", "bob", time.Hour, mintedAt(40*time.Second))))
		if m := d.expect(signal.TypeJoinResult); m.Result != token.BadSignature {
			t.Fatalf("join_result %+v for nbf 35 s ahead, want %d", m, token.BadSignature)
		}
	})

	// The leeway is capped at TokenGrace: a token the server would end the
	// session of at once (exp+grace already past) is refused instead, and
	// one accepted after its exp is ended at exp+grace without renewal.
	t.Run("capped at grace", func(t *testing.T) {
		t.Parallel()
		s, url := startServer(t, Config{TokenLeeway: 30 * time.Second, TokenGrace: 3 * time.Second})
		if got := s.cfg.TokenLeeway; got != 3*time.Second {
			t.Errorf("effective leeway %v, want the grace 3s", got)
		}
		c := dial(t, url, "alice")
		c.send(joinMsg("r1", "alice", expired10s(t, "alice")))
		if m := c.expect(signal.TypeJoinResult); m.Result != token.Expired {
			t.Fatalf("join_result %+v, want %d: accepted past exp+grace", m, token.Expired)
		}

		d := dial(t, url, "bob")
		// A 60 s token minted 61 s ago expired 1-2 s ago.
		start := time.Now()
		d.join("r1", mint(t, "r1", "bob", time.Minute, mintedAt(-61*time.Second)))
		d.expect(signal.TypeTokenWillExpire)
		d.expect(signal.TypeTokenRequest)
		m := d.expect(signal.TypeBye)
		if m.Result != token.Expired {
			t.Errorf("bye %+v", m)
		}
		// exp+grace is 1-2 s after the join: not at once.
		if el := time.Since(start); el < 500*time.Millisecond {
			t.Errorf("bye %v after the join, want the rest of the grace", el)
		}
	})
}

func TestTokenLeewayConfig(t *testing.T) {
	reg, err := token.NewRegistry(token.App{ID: testApp, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{-time.Second, token.MaxLeeway + time.Second} {
		if s, err := New(Config{Registry: reg, TokenLeeway: d}); err == nil {
			_ = s.Close()
			t.Errorf("New accepted TokenLeeway %v", d)
		}
	}
	// Zero keeps the registry's own leeway (still capped at the grace).
	lenient, err := reg.WithLeeway(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		reg          *token.Registry
		leeway, want time.Duration
	}{
		{reg, 0, 0},
		{reg, 10 * time.Second, 10 * time.Second},
		{reg, token.MaxLeeway, DefaultTokenGrace},
		{lenient, 0, 20 * time.Second},
		{lenient, 5 * time.Second, 5 * time.Second},
	} {
		s, err := New(Config{Registry: c.reg, TokenLeeway: c.leeway})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.cfg.Registry.Leeway(); got != c.want {
			t.Errorf("registry leeway %v with TokenLeeway %v, want %v", got, c.leeway, c.want)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
}
