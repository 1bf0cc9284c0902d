package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

func TestNewValidates(t *testing.T) {
	reg, err := token.NewRegistry(token.App{ID: testApp, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"no registry":      {},
		"bad udp port":     {Registry: reg, UDPPort: 70000},
		"negative warning": {Registry: reg, TokenWarning: -time.Second},
	} {
		if s, err := New(cfg); err == nil {
			_ = s.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestRootAndClosedServe(t *testing.T) {
	s, url := startServer(t, Config{})
	httpURL := "http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), signal.Path) + "/"
	resp, err := http.Get(httpURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), signal.Path) {
		t.Errorf("GET / = %d %q", resp.StatusCode, body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background(), ln); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close = %v, want ErrClosed", err)
	}
}

func TestJoin(t *testing.T) {
	s, url := startServer(t, Config{})
	alice := dial(t, url, "alice")
	res := alice.join("r1", mint(t, "r1", "alice", time.Hour))
	if len(res.Participants) != 0 || len(res.Streams) != 0 {
		t.Errorf("first join_result %+v, want an empty room", res)
	}
	bob := dial(t, url, "bob")
	res = bob.join("r1", mint(t, "r1", "bob", time.Hour))
	if !slices.Equal(res.Participants, []string{"alice"}) {
		t.Errorf("participants %v, want [alice]", res.Participants)
	}
	if res.Session == "" {
		t.Error("no session id")
	}
	if got := s.Rooms(testApp); !slices.Equal(got["r1"], []string{"alice", "bob"}) {
		t.Errorf("Rooms() = %v", got)
	}
	bob.send(joinMsg("r1", "bob", mint(t, "r1", "bob", time.Hour)))
	if m := bob.expect(signal.TypeError); m.Code != signal.ErrConflict {
		t.Errorf("second join: %+v", m)
	}

	// A join of the same uid without the session replaces the participant.
	bob2 := dial(t, url, "bob")
	bob2.join("r1", mint(t, "r1", "bob", time.Hour))
	if m := bob.waitFor(signal.TypeBye); m.Reason != "replaced" {
		t.Errorf("bye %+v, want replaced", m)
	}
	bob.expectClosed()

	// leave takes the participant out and closes its socket.
	alice.send(&signal.Message{Type: signal.TypeLeave})
	alice.expectClosed()
	bob2.ping()
	if got := s.Rooms(testApp); !slices.Equal(got["r1"], []string{"bob"}) {
		t.Errorf("Rooms() after leave = %v", got)
	}
}

func TestJoinRefused(t *testing.T) {
	_, url := startServer(t, Config{})
	// A room of app1, for the token of another app id.
	owner := dial(t, url, "owner")
	owner.join("taken", mint(t, "taken", "owner", time.Hour))

	past := time.Now().Add(-2 * time.Hour)
	for _, tc := range []struct {
		name   string
		join   *signal.Message
		result int
	}{
		{"no token", joinMsg("r1", "alice", ""), token.NoToken},
		{"wrong secret", func() *signal.Message {
			tok, err := token.Mint(otherSecret, token.Options{AppID: testApp, RoomID: "r1", UID: "alice", TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			return joinMsg("r1", "alice", tok)
		}(), token.BadSignature},
		{"garbage token", joinMsg("r1", "alice", "not.a.jwt"), token.BadSignature},
		{"unknown app", func() *signal.Message {
			m := joinMsg("r1", "alice", mint(t, "r1", "alice", time.Hour))
			m.AppID = "nosuchapp"
			return m
		}(), token.UnknownApp},
		{"uid mismatch", joinMsg("r1", "alice", mint(t, "r1", "bob", time.Hour)), token.UIDMismatch},
		{"room mismatch", joinMsg("r1", "alice", mint(t, "r2", "alice", time.Hour)), token.UIDMismatch},
		{"expired", joinMsg("r1", "alice", mint(t, "r1", "alice", time.Hour,
			func(o *token.Options) { o.Now = past })), token.Expired},
		{"banned", joinMsg("r1", bannedUID, mint(t, "r1", bannedUID, time.Hour)), token.Banned},
		// Rooms are per app (TestTenantsShareRoomIDs): app2 joining its own
		// "taken" is fine; a token whose app id is not the join's is not.
		{"token of another app id", func() *signal.Message {
			tok, err := token.Mint(testSecret, token.Options{AppID: otherApp, RoomID: "taken", UID: "alice", TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			return joinMsg("taken", "alice", tok)
		}(), token.AppMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, url, tc.join.UID)
			c.send(tc.join)
			m := c.expect(signal.TypeJoinResult)
			if m.Result != tc.result {
				t.Errorf("result %d, want %d", m.Result, tc.result)
			}
			c.expectClosed()
		})
	}

	t.Run("version", func(t *testing.T) {
		c := dial(t, url, "alice")
		m := joinMsg("r1", "alice", mint(t, "r1", "alice", time.Hour))
		m.Version = signal.Version + 1
		c.send(m)
		if m := c.expect(signal.TypeError); m.Code != signal.ErrVersion {
			t.Errorf("error %+v, want code %d", m, signal.ErrVersion)
		}
		c.expectClosed()
	})
	owner.ping()
}

func TestBadMessages(t *testing.T) {
	_, url := startServer(t, Config{})
	other := dial(t, url, "carol")
	other.join("elsewhere", mint(t, "elsewhere", "carol", time.Hour))

	c := dial(t, url, "alice")
	oversized := `{"type":"ping","reason":"` + strings.Repeat("x", signal.MaxMessageSize) + `"}`
	for _, tc := range []struct {
		name string
		raw  string
		code int
	}{
		{"not json", `{"type":`, signal.ErrBadMessage},
		{"unknown type", `{"type":"dance"}`, signal.ErrBadMessage},
		{"unknown field", `{"type":"ping","shoe":1}`, signal.ErrBadMessage},
		{"bad join", `{"type":"join","appId":"app1","roomId":"bad room!","uid":"alice","version":1}`, signal.ErrBadMessage},
		{"oversized", oversized, signal.ErrPayloadTooLarge},
		{"before join", `{"type":"ping","ts":1}`, signal.ErrNotJoined},
	} {
		c.sendRaw([]byte(tc.raw))
		if m := c.expect(signal.TypeError); m.Code != tc.code {
			t.Errorf("%s: error %+v, want code %d", tc.name, m, tc.code)
		}
	}
	c.join("r1", mint(t, "r1", "alice", time.Hour))
	for _, tc := range []struct {
		name string
		raw  string
		code int
	}{
		{"not json", `]]`, signal.ErrBadMessage},
		{"oversized", oversized, signal.ErrPayloadTooLarge},
		{"server-only type", `{"type":"pong"}`, signal.ErrBadMessage},
		{"answer on publish", `{"type":"answer","pc":"publish","sdp":"v=0"}`, signal.ErrBadMessage},
		{"unsolicited subscribe answer", `{"type":"answer","pc":"subscribe","sdp":"v=0"}`, signal.ErrBadMessage},
		{"garbage offer", `{"type":"offer","pc":"publish","sdp":"nonsense","tracks":[{"kind":"video"}]}`, signal.ErrBadMessage},
		{"mute without stream", `{"type":"mute","kind":"audio","muted":true}`, signal.ErrBadMessage},
	} {
		c.sendRaw([]byte(tc.raw))
		if m := c.expect(signal.TypeError); m.Code != tc.code {
			t.Errorf("%s: error %+v, want code %d", tc.name, m, tc.code)
		}
	}
	c.ping()
	other.ping()
}

func TestRateLimit(t *testing.T) {
	_, url := startServer(t, Config{})
	c := dial(t, url, "alice")
	c.join("r1", mint(t, "r1", "alice", time.Hour))
	for i := range 2 * MaxMessagesPerSecond {
		c.send(&signal.Message{Type: signal.TypePing, TS: int64(i + 1)})
	}
	pongs := 0
	for {
		m := c.next()
		if m == nil {
			t.Fatal("socket closed")
		}
		if m.Type == signal.TypePong {
			pongs++
			continue
		}
		if m.Type != signal.TypeError || m.Code != signal.ErrRateExceeded {
			t.Fatalf("got %+v, want pongs then a rate error", m)
		}
		break
	}
	if pongs > MaxMessagesPerSecond {
		t.Errorf("%d pongs before the rate error, want at most %d", pongs, MaxMessagesPerSecond)
	}
}

func TestRoomFull(t *testing.T) {
	s, url := startServer(t, Config{})
	for i := range MaxParticipants {
		uid := "u" + strconv.Itoa(i)
		dial(t, url, uid).join("big", mint(t, "big", uid, time.Hour))
	}
	late := dial(t, url, "late")
	late.send(joinMsg("big", "late", mint(t, "big", "late", time.Hour)))
	if m := late.expect(signal.TypeJoinResult); m.Result != token.Internal {
		t.Errorf("join of a full room: %+v", m)
	}
	late.expectClosed()
	if n := len(s.Rooms(testApp)["big"]); n != MaxParticipants {
		t.Errorf("%d participants, want %d", n, MaxParticipants)
	}
}
