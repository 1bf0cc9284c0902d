// Command benchresilience measures recovery on loopback, in one process:
// an embedded server on one UDP port, a publisher (test pattern + tone) and
// a subscriber.
//
//   - media cuts: nftables drops the server's UDP port for -cut, then
//     restores it; measured is restore → stream_reconnect_end on the
//     subscriber (its first RTP packet after the restart). Needs root + nft.
//
//   - server restarts: the server is closed and a new one started on the
//     same address; measured is new server listening → the subscriber's
//     first_video_frame_decode in its new session.
//
//     go run ./scripts/benchresilience -cuts 20 -restarts 20
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
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

// waiter lets the benchmark wait for the next event of a name.
type waiter struct {
	mu    sync.Mutex
	subs  map[string][]chan time.Time
	trace bool
	name  string
}

func (w *waiter) Emit(name string, data any) {
	now := time.Now()
	if w.trace {
		fmt.Fprintf(os.Stderr, "%s %s %s %v\n", now.Format("15:04:05.000"), w.name, name, data)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.subs[name] {
		ch <- now
	}
	w.subs[name] = nil
}

// next returns a channel that gets the time of the next event of name.
func (w *waiter) next(name string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	w.mu.Lock()
	w.subs[name] = append(w.subs[name], ch)
	w.mu.Unlock()
	return ch
}

func await(ch <-chan time.Time, what string) (time.Time, error) {
	select {
	case t := <-ch:
		return t, nil
	case <-time.After(60 * time.Second):
		return time.Time{}, fmt.Errorf("no %s within 60 s", what)
	}
}

type tokens struct{ opts token.Options }

func (t tokens) Token(context.Context, bool) (string, error) { return token.Mint(secret, t.opts) }
func (t tokens) Renewable() bool                             { return true }

func main() {
	cuts := flag.Int("cuts", 20, "number of media cuts (0 to skip; needs root and nft)")
	cut := flag.Duration("cut", 5*time.Second, "length of each media cut")
	restarts := flag.Int("restarts", 20, "number of server restarts (0 to skip)")
	trace := flag.Bool("trace", false, "print every event on stderr")
	flag.Parse()
	if err := run(*cuts, *cut, *restarts, *trace); err != nil {
		fmt.Fprintln(os.Stderr, "benchresilience:", err)
		os.Exit(1)
	}
}

func run(cuts int, cut time.Duration, restarts int, trace bool) error {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	reg, err := token.NewRegistry(token.App{ID: "bench", Secret: secret})
	if err != nil {
		return err
	}
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	port := udp.LocalAddr().(*net.UDPAddr).Port
	_ = udp.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()

	startServer := func(ln net.Listener) (stop func(), err error) {
		srv, err := server.New(server.Config{Registry: reg, Logger: quiet, UDPPort: port, ICE: iceopt.Loopback})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
		return func() { cancel(); _ = srv.Close(); <-done }, nil
	}
	stopServer, err := startServer(ln)
	if err != nil {
		return err
	}
	defer func() { stopServer() }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := media.NewTestSource(media.TestConfig{})
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	pubW := &waiter{subs: map[string][]chan time.Time{}, trace: trace, name: "pub"}
	subW := &waiter{subs: map[string][]chan time.Time{}, trace: trace, name: "sub"}
	joined := subW.next(event.FirstVideoFrameDecode)
	var wg sync.WaitGroup
	for _, p := range []struct {
		uid string
		w   *waiter
		src media.Source
	}{{"pub", pubW, src}, {"sub", subW, nil}} {
		e, err := engine.New(engine.Config{
			Backend: embedded.New(embedded.Config{}),
			Server:  "ws://" + addr, AppID: "bench", RoomID: "bench", UID: p.uid,
			Tokens:  tokens{token.Options{AppID: "bench", RoomID: "bench", UID: p.uid, TTL: time.Hour}},
			Publish: p.src, Events: p.w, Logger: quiet, ICE: iceopt.Loopback,
		})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.Run(ctx); err != nil {
				fmt.Fprintln(os.Stderr, p.uid, "ended:", err)
			}
		}()
	}
	defer wg.Wait()
	defer cancel()
	if _, err := await(joined, "first video"); err != nil {
		return err
	}

	var restoreToMedia []time.Duration
	for i := 0; i < cuts; i++ {
		started := subW.next(event.StreamReconnectStart)
		ended := subW.next(event.StreamReconnectEnd)
		if err := nft(port, true); err != nil {
			return err
		}
		if _, err := await(started, "stream_reconnect_start"); err != nil {
			_ = nft(port, false)
			return err
		}
		time.Sleep(cut)
		if err := nft(port, false); err != nil {
			return err
		}
		restored := time.Now()
		at, err := await(ended, "stream_reconnect_end")
		if err != nil {
			return err
		}
		restoreToMedia = append(restoreToMedia, at.Sub(restored))
		time.Sleep(time.Second)
	}

	var backToMedia []time.Duration
	for i := 0; i < restarts; i++ {
		video := subW.next(event.FirstVideoFrameDecode)
		stopServer()
		time.Sleep(500 * time.Millisecond) // the server is down for a while
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen again on %s: %w", addr, err)
		}
		back := time.Now()
		if stopServer, err = startServer(ln); err != nil {
			return err
		}
		at, err := await(video, "first_video_frame_decode after restart")
		if err != nil {
			return err
		}
		backToMedia = append(backToMedia, at.Sub(back))
	}

	fmt.Printf("loopback, in-process server on one UDP port, publisher vp8 + opus, one subscriber\n")
	if len(restoreToMedia) > 0 {
		report(fmt.Sprintf("media cut %v: restore -> media flowing", cut), restoreToMedia)
	}
	if len(backToMedia) > 0 {
		report("server restart: back -> first video decoded", backToMedia)
	}
	return nil
}

// nft adds (cut) or removes the table that drops the port on loopback.
func nft(port int, cut bool) error {
	table := fmt.Sprintf("roomctl_bench_%d", os.Getpid())
	var cmds [][]string
	if cut {
		p := fmt.Sprint(port)
		cmds = [][]string{
			{"add", "table", "inet", table},
			{"add", "chain", "inet", table, "in", "{ type filter hook input priority 0 ; }"},
			{"add", "rule", "inet", table, "in", "iifname", "lo", "udp", "dport", p, "drop"},
			{"add", "rule", "inet", table, "in", "iifname", "lo", "udp", "sport", p, "drop"},
		}
	} else {
		cmds = [][]string{{"delete", "table", "inet", table}}
	}
	for _, c := range cmds {
		if out, err := exec.Command("nft", c...).CombinedOutput(); err != nil {
			return errors.Join(fmt.Errorf("nft %v: %s", c, out), err)
		}
	}
	return nil
}

func report(name string, d []time.Duration) {
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))].Round(time.Millisecond) }
	fmt.Printf("%-50s n=%d p50 %-8v p90 %-8v max %v\n", name, len(d), q(0.5), q(0.9), d[len(d)-1].Round(time.Millisecond))
}
