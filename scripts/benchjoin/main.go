// Command benchjoin measures join latency on loopback: an embedded room
// server and one publisher (test pattern + tone) in this process, then N
// subscribers joining one after another. For each it records the time from
// the start of the join to `connected`, to `sdk_auth_result` 0 and to
// `first_video_frame_decode`, and prints p50/p90/p99.
//
//	go run ./scripts/benchjoin -n 100 -codec vp8
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/roomctl/roomctl/internal/backend/embedded"
	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/iceopt"
	"github.com/roomctl/roomctl/internal/media"
	"github.com/roomctl/roomctl/internal/server"
	"github.com/roomctl/roomctl/internal/token"
)

const secret = "bench-secret-bench-secret-bench-secret"

// timing records when each event was first seen.
type timing struct {
	mu   sync.Mutex
	at   map[string]time.Time
	want string
	done chan struct{}
}

func (t *timing) Emit(name string, _ any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.at[name]; !ok {
		t.at[name] = time.Now()
		if name == t.want {
			close(t.done)
		}
	}
}

type tokens struct{ opts token.Options }

func (t tokens) Token(context.Context, bool) (string, error) { return token.Mint(secret, t.opts) }
func (t tokens) Renewable() bool                             { return true }

func main() {
	n := flag.Int("n", 100, "number of joins")
	codec := flag.String("codec", "vp8", "publisher video codec: vp8 or h264")
	gap := flag.Duration("gap", 0, "idle time between joins (0: back to back, so keyframe requests meet the server's PLI pacing)")
	flag.Parse()
	if err := run(*n, *codec, *gap); err != nil {
		fmt.Fprintln(os.Stderr, "benchjoin:", err)
		os.Exit(1)
	}
}

func run(n int, codec string, gap time.Duration) error {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	reg, err := token.NewRegistry(token.App{ID: "bench", Secret: secret})
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{Registry: reg, Logger: quiet, ICE: iceopt.Loopback})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Serve(ctx, ln) }()
	url := "ws://" + ln.Addr().String()

	src, err := media.NewTestSource(media.TestConfig{VideoCodec: codec})
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	pubT := &timing{at: map[string]time.Time{}, want: event.SDKAuthResult, done: make(chan struct{})}
	pub, err := engine.New(engine.Config{
		Backend: embedded.New(embedded.Config{}),
		Server:  url, AppID: "bench", RoomID: "bench", UID: "pub",
		Tokens:  tokens{token.Options{AppID: "bench", RoomID: "bench", UID: "pub", TTL: time.Hour}},
		Publish: src, Events: pubT, Logger: quiet, ICE: iceopt.Loopback,
	})
	if err != nil {
		return err
	}
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(ctx) }()
	<-pubT.done

	var toConnected, toAuth, toAudio, toVideo, connToVideo []time.Duration
	for i := 0; i < n; i++ {
		uid := fmt.Sprintf("sub%d", i)
		tm := &timing{at: map[string]time.Time{}, want: event.FirstVideoFrameDecode, done: make(chan struct{})}
		e, err := engine.New(engine.Config{
			Backend: embedded.New(embedded.Config{}),
			Server:  url, AppID: "bench", RoomID: "bench", UID: uid,
			Tokens: tokens{token.Options{AppID: "bench", RoomID: "bench", UID: uid, TTL: time.Hour}},
			Events: tm, Logger: quiet, ICE: iceopt.Loopback,
		})
		if err != nil {
			return err
		}
		jctx, jcancel := context.WithCancel(ctx)
		start := time.Now()
		res := make(chan error, 1)
		go func() { res <- e.Run(jctx) }()
		select {
		case <-tm.done:
		case err := <-res:
			jcancel()
			return fmt.Errorf("join %d ended early: %w", i, err)
		case <-time.After(30 * time.Second):
			jcancel()
			return fmt.Errorf("join %d: no first_video_frame_decode in 30s", i)
		}
		jcancel()
		if err := <-res; err != nil {
			return fmt.Errorf("join %d: %w", i, err)
		}
		time.Sleep(gap)
		tm.mu.Lock()
		toConnected = append(toConnected, tm.at[event.Connected].Sub(start))
		toAuth = append(toAuth, tm.at[event.SDKAuthResult].Sub(start))
		toAudio = append(toAudio, tm.at[event.FirstAudioFrameDecode].Sub(start))
		toVideo = append(toVideo, tm.at[event.FirstVideoFrameDecode].Sub(start))
		connToVideo = append(connToVideo, tm.at[event.FirstVideoFrameDecode].Sub(tm.at[event.Connected]))
		tm.mu.Unlock()
	}
	cancel()
	if err := <-pubDone; err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	fmt.Printf("joins: %d on loopback, publisher video %s, gap %v, in-process server and clients\n", n, codec, gap)
	report("join -> connected", toConnected)
	report("join -> sdk_auth_result", toAuth)
	report("join -> first_audio_frame_decode", toAudio)
	report("join -> first_video_frame_decode", toVideo)
	report("connected -> first_video_frame_decode", connToVideo)
	return nil
}

func report(name string, d []time.Duration) {
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))].Round(100 * time.Microsecond) }
	fmt.Printf("%-40s p50 %-9v p90 %-9v p99 %-9v max %v\n", name, q(0.5), q(0.9), q(0.99), d[len(d)-1].Round(100*time.Microsecond))
}
