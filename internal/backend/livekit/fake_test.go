package livekit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
	lk "github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/token"
)

// fakeLiveKit answers /rtc with first (after an upgrade), or refuses it
// with status and body (also at /rtc/validate); it reports the requests
// it read on got.
func fakeLiveKit(t *testing.T, status int, body string, first *lk.SignalResponse) (url string, got chan *lk.SignalRequest) {
	t.Helper()
	got = make(chan *lk.SignalRequest, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status != 0 {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		b, _ := proto.Marshal(first)
		if err := c.Write(r.Context(), websocket.MessageBinary, b); err != nil {
			return
		}
		for {
			_, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			var req lk.SignalRequest
			if proto.Unmarshal(b, &req) == nil {
				got <- &req
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), got
}

func fakeJoin(t *testing.T, url string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sess, _, err := newBackend(t).Join(ctx, engine.JoinRequest{Server: url, AppID: testKey, RoomID: "r1", UID: "alice", Token: mint(t, "r1", "alice")})
	if sess != nil {
		_ = sess.Close("test")
	}
	return err
}

// TestJoinedElsewhere: LiveKit put us in another room than the token
// says (the local check passed): refused with 10004, and left.
func TestJoinedElsewhere(t *testing.T) {
	url, got := fakeLiveKit(t, 0, "", &lk.SignalResponse{Message: &lk.SignalResponse_Join{Join: &lk.JoinResponse{
		Room: &lk.Room{Name: "moved"}, Participant: &lk.ParticipantInfo{Sid: "PA_x", Identity: "alice"},
	}}})
	var ae *engine.AuthError
	if err := fakeJoin(t, url); !errors.As(err, &ae) || ae.Code != token.UIDMismatch {
		t.Fatalf("err = %v, want verdict %d", err, token.UIDMismatch)
	}
	if req := <-got; req.GetLeave() == nil {
		t.Errorf("sent %v, want a leave", req)
	}
}

// TestLongRefusal: a reason past the 1024 bytes of the body that the
// WebSocket library keeps is read again from /rtc/validate.
func TestLongRefusal(t *testing.T) {
	url, _ := fakeLiveKit(t, http.StatusUnauthorized, "invalid token: "+strings.Repeat("x", 2000)+", error: token has invalid claims: token is expired", nil)
	var ae *engine.AuthError
	if err := fakeJoin(t, url); !errors.As(err, &ae) || ae.Code != token.Expired {
		t.Fatalf("err = %v, want verdict %d", err, token.Expired)
	}
}

// TestNotLiveKit: a server that is not LiveKit's (roomctl serve's 404):
// 10000 with its answer.
func TestNotLiveKit(t *testing.T) {
	url, _ := fakeLiveKit(t, http.StatusNotFound, "404 page not found", nil)
	var ae *engine.AuthError
	if err := fakeJoin(t, url); !errors.As(err, &ae) || ae.Code != token.Internal || !strings.Contains(ae.Reason, "404 page not found") {
		t.Fatalf("err = %v, want verdict %d with the body", err, token.Internal)
	}
}

// TestJoinLeave: LiveKit answers a join with a leave: a failure worth
// retrying, not a verdict.
func TestJoinLeave(t *testing.T) {
	url, _ := fakeLiveKit(t, 0, "", &lk.SignalResponse{Message: &lk.SignalResponse_Leave{Leave: &lk.LeaveRequest{Reason: lk.DisconnectReason_JOIN_FAILURE}}})
	err := fakeJoin(t, url)
	var ae *engine.AuthError
	if err == nil || errors.As(err, &ae) || errors.Is(err, engine.ErrUnreachable) {
		t.Fatalf("err = %v, want a plain error", err)
	}
}
