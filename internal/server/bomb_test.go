package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/testutil"
)

// testFingerprint is a syntactically valid DTLS fingerprint for hand-made
// SDPs (no DTLS ever runs with it).
var testFingerprint = "sha-256 " + strings.TrimSuffix(strings.Repeat("AB:", 32), ":")

// bombSDP is a minimal publish offer with n audio m-lines whose mids start
// at first; candidates are added as a=candidate lines to the first m-line.
func bombSDP(first, n int, ufrag string, candidates ...string) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 4215775240449105457 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	b.WriteString("a=group:BUNDLE")
	for i := range n {
		fmt.Fprintf(&b, " %d", first+i)
	}
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "a=fingerprint:%s\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", testFingerprint, ufrag,
		"0123456789abcdef01234567")
	for i := range n {
		fmt.Fprintf(&b, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:%d\r\n"+
			"a=setup:actpass\r\na=rtcp-mux\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n", first+i)
		if i == 0 {
			for _, c := range candidates {
				b.WriteString("a=" + c + "\r\n")
			}
		}
	}
	return b.String()
}

var audioOpus = []signal.Track{{Kind: "audio", Codec: "opus"}}

type bombResult struct {
	answers, refused413, refused429, other int
	maxAnswer                              int // bytes of the largest answer message
	transceivers                           int // on the server's publish pc at the end
	heapBefore, heapDuring, heapAfter      uint64
	gorBefore, gorDuring, gorAfter         int
	elapsed, closed                        time.Duration
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// renegotiationBomb has alice send offers publish offers of mlines fresh
// m-lines each (new mids every time), every interval, and measures the
// process's live heap and goroutines before, right after (alice still
// joined) and after she left.
// The replies are awaited until limit; what is still queued then is cut with
// the socket.
func renegotiationBomb(t *testing.T, offers, mlines int, interval, limit time.Duration) bombResult {
	var log testutil.Buffer
	s, url := startServer(t, Config{ResumeWindow: time.Second,
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	var res bombResult
	res.heapBefore, res.gorBefore = liveHeap(), runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), limit+time.Minute)
	defer cancel()
	// A raw socket: the replies may be larger than a client accepts.
	ws, resp, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	defer func() { _ = ws.CloseNow() }()
	ws.SetReadLimit(16 << 20)
	send := func(m *signal.Message) {
		b, err := signal.Encode(m)
		if err == nil {
			err = ws.Write(ctx, websocket.MessageText, b)
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("send %s: %v", m.Type, err)
		}
	}
	recv := func(ctx context.Context) (*signal.Message, int) {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return nil, 0
		}
		var m signal.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("reply %.100q: %v", b, err)
		}
		return &m, len(b)
	}
	send(joinMsg("r1", "alice", mint(t, "r1", "alice", time.Hour)))
	if m, _ := recv(ctx); m == nil || m.Type != signal.TypeJoinResult || m.Result != 0 {
		t.Fatalf("join: %+v", m)
	}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := range offers {
			if ctx.Err() != nil {
				return
			}
			send(&signal.Message{Type: signal.TypeOffer, PC: signal.PCPublish,
				SDP: bombSDP(i*mlines, mlines, "ufrag0001"), Tracks: audioOpus})
			<-tick.C
		}
	}()
	rctx, rcancel := context.WithTimeout(ctx, limit)
	defer rcancel()
	for got := 0; got < offers; got++ {
		m, size := recv(rctx)
		if m == nil {
			t.Logf("%d of %d offers replied to within %v", got, offers, limit)
			break
		}
		if got%25 == 0 && m.Type != signal.TypeCandidate {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Logf("%v: %d replies; heap %.1f MB, goroutines %d", time.Since(start).Round(time.Second), got,
				mb(ms.HeapAlloc), runtime.NumGoroutine())
		}
		switch {
		case m.Type == signal.TypeAnswer:
			res.answers++
			res.maxAnswer = max(res.maxAnswer, size)
		case m.Type == signal.TypeError && m.Code == signal.ErrPayloadTooLarge:
			res.refused413++
		case m.Type == signal.TypeError && m.Code == signal.ErrRateExceeded:
			res.refused429++
		case m.Type == signal.TypeCandidate:
			got--
		default:
			res.other++
			t.Logf("reply %s %d %s", m.Type, m.Code, m.Reason)
		}
	}
	res.elapsed = time.Since(start)
	if p := findParticipant(s, "r1", "alice"); p != nil {
		p.r.mu.Lock()
		if p.pub != nil {
			res.transceivers = len(p.pub.pc.GetTransceivers())
		}
		p.r.mu.Unlock()
	}
	res.heapDuring, res.gorDuring = liveHeap(), runtime.NumGoroutine()

	cancel() // stops the sender
	<-done
	_ = ws.CloseNow()
	// The room closes after ResumeWindow, once the offers queued on the
	// socket are handled; PeerConnection goroutines end after Close.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		n := len(s.rooms)
		s.mu.Unlock()
		if n == 0 && runtime.NumGoroutine() <= res.gorBefore+4 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.closed = time.Since(start)
	res.heapAfter, res.gorAfter = liveHeap(), runtime.NumGoroutine()
	t.Logf("%d offers x %d m-lines every %v: %d answers (largest %d B), %d refused 413, %d refused 429, %d other; "+
		"publish pc transceivers %d; took %v", offers, mlines, interval, res.answers, res.maxAnswer,
		res.refused413, res.refused429, res.other, res.transceivers, res.elapsed.Round(time.Millisecond))
	t.Logf("live heap %.1f MB -> %.1f MB (alice joined) -> %.1f MB (socket cut, at %v); goroutines %d -> %d -> %d",
		mb(res.heapBefore), mb(res.heapDuring), mb(res.heapAfter), res.closed.Round(time.Second),
		res.gorBefore, res.gorDuring, res.gorAfter)
	return res
}

// findParticipant returns uid in the room roomID, or nil.
func findParticipant(s *Server, roomID, uid string) *participant {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rooms {
		if r.id != roomID {
			continue
		}
		r.mu.Lock()
		p := r.parts[uid]
		r.mu.Unlock()
		if p != nil {
			return p
		}
	}
	return nil
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

// TestRenegotiationBomb is issue 15 item 8's reproduction: 250 offers x 300
// new m-lines at 10/s. Set ROOMCTL_MEASURE=1 for the full run (25 s); the
// default is a short one with the same shape.
func TestRenegotiationBomb(t *testing.T) {
	offers := 20
	if os.Getenv("ROOMCTL_MEASURE") != "" {
		offers = 250
	}
	res := renegotiationBomb(t, offers, 300, 100*time.Millisecond, 3*time.Minute)
	if res.answers > 0 {
		t.Errorf("%d offers of 300 m-lines were answered (largest answer %d B), want every one refused",
			res.answers, res.maxAnswer)
	}
	if res.transceivers > maxMediaSections {
		t.Errorf("publish pc has %d transceivers, want at most %d", res.transceivers, maxMediaSections)
	}
	if grow := int64(res.heapDuring) - int64(res.heapBefore); grow > 8<<20 {
		t.Errorf("live heap grew by %.1f MB", float64(grow)/(1<<20))
	}
}
