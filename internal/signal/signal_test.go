package signal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// decodeCases feed both TestDecode and FuzzDecode's seed corpus.
var decodeCases = []struct {
	name string
	in   string
	ok   bool
}{
	{"join", `{"type":"join","appId":"1001","roomId":"r1","uid":"alice","token":"t","version":1}`, true},
	{"join resume", `{"type":"join","appId":"1001","roomId":"r1","uid":"alice","token":"t","version":1,"session":"abc"}`, true},
	{"join bad uid", `{"type":"join","appId":"1001","roomId":"r1","uid":"al ice","token":"t","version":1}`, false},
	{"join long room", `{"type":"join","appId":"1001","roomId":"` + strings.Repeat("r", 65) + `","uid":"a"}`, false},
	{"join no app", `{"type":"join","roomId":"r1","uid":"a"}`, false},
	{"offer", `{"type":"offer","pc":"publish","sdp":"v=0","tracks":[{"kind":"video","codec":"VP8"}]}`, true},
	{"offer bad pc", `{"type":"offer","pc":"both","sdp":"v=0"}`, false},
	{"offer no sdp", `{"type":"offer","pc":"publish"}`, false},
	{"offer bad kind", `{"type":"offer","pc":"publish","sdp":"v=0","tracks":[{"kind":"data"}]}`, false},
	{"candidate", `{"type":"candidate","pc":"subscribe","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host"}}`, true},
	{"candidate missing", `{"type":"candidate","pc":"subscribe"}`, false},
	{"mute", `{"type":"mute","kind":"audio","muted":true}`, true},
	{"mute bad kind", `{"type":"mute","kind":"screen"}`, false},
	{"update_token", `{"type":"update_token","token":"x"}`, true},
	{"update_token empty", `{"type":"update_token"}`, false},
	{"subscribe", `{"type":"subscribe","uids":["a","b"]}`, true},
	{"subscribe bad uid", `{"type":"subscribe","uids":["a b"]}`, false},
	{"stream_add", `{"type":"stream_add","stream":{"uid":"a","roomId":"r","tracks":[{"kind":"audio","codec":"opus"}]}}`, true},
	{"stream_add missing", `{"type":"stream_add"}`, false},
	{"ping", `{"type":"ping","ts":123}`, true},
	{"restart_ice", `{"type":"restart_ice","pc":"subscribe"}`, true},
	{"restart_ice publish", `{"type":"restart_ice","pc":"publish"}`, false},
	{"leave", `{"type":"leave"}`, true},
	{"unknown type", `{"type":"teleport"}`, false},
	{"no type", `{"uid":"a"}`, false},
	{"unknown field", `{"type":"leave","extra":1}`, false},
	{"not json", `hello`, false},
	{"trailing", `{"type":"leave"}{"type":"leave"}`, false},
	{"array", `[1,2]`, false},
	{"wrong field type", `{"type":"join","appId":1}`, false},
}

func TestDecode(t *testing.T) {
	for _, c := range decodeCases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode([]byte(c.in))
			if (err == nil) != c.ok {
				t.Fatalf("Decode(%s) err = %v, want ok=%v", c.in, err, c.ok)
			}
			if c.ok {
				b, err := Encode(m)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := Decode(b); err != nil {
					t.Fatalf("re-decode %s: %v", b, err)
				}
			}
		})
	}
}

func TestDecodeTooLarge(t *testing.T) {
	big := `{"type":"offer","pc":"publish","sdp":"` + strings.Repeat("a", MaxMessageSize) + `"}`
	if _, err := Decode([]byte(big)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must validate and survive a round trip.
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded but invalid: %v", err)
		}
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("round trip of %q: %v", data, err)
		}
	})
}

func TestWithPath(t *testing.T) {
	for in, want := range map[string]string{
		"ws://127.0.0.1:8890":       "ws://127.0.0.1:8890/v1/rtc",
		"ws://127.0.0.1:8890/":      "ws://127.0.0.1:8890/v1/rtc",
		"ws://h:1/custom/rtc":       "ws://h:1/custom/rtc",
		"wss://example.test/v1/rtc": "wss://example.test/v1/rtc",
	} {
		if got := withPath(in); got != want {
			t.Errorf("withPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// A message that does not decode is reported but leaves the connection usable.
func TestConnBadMessageKeepsConnection(t *testing.T) {
	got := make(chan error, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r)
		if err != nil {
			got <- err
			return
		}
		defer c.Close("done")
		ctx := r.Context()
		_, err = c.Recv(ctx)
		got <- err
		m, err := c.Recv(ctx)
		if err == nil && m.Type != TypePing {
			err = errors.New("want ping, got " + m.Type)
		}
		got <- err
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close("done")
	if err := c.ws.Write(ctx, 1, []byte(`{"type":"nope"}`)); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err == nil || errors.Is(err, ErrClosed) {
		t.Fatalf("bad message: err = %v, want a decode error", err)
	}
	if err := c.Send(ctx, &Message{Type: TypePing, TS: 1}); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
