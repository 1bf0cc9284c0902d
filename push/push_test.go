package push

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	rtmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
	"go.uber.org/goleak"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/event"
)

// wait is generous: -race on two busy cores is slow, and tests wait on
// conditions, never on the clock.
const wait = 20 * time.Second

// statusLog records push_stream_status events.
type statusLog struct {
	mu  sync.Mutex
	ev  []event.PushStatus
	sig chan struct{}
}

func newStatusLog() *statusLog { return &statusLog{sig: make(chan struct{})} }

func (l *statusLog) Emit(name string, data any) {
	if name != event.PushStreamStatus {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, data.(event.PushStatus))
	close(l.sig)
	l.sig = make(chan struct{})
}

// waitFor returns the index of the first status at or after from for url.
func (l *statusLog) waitFor(t *testing.T, from int, url, status, reason string) int {
	t.Helper()
	deadline := time.After(wait)
	for {
		l.mu.Lock()
		for i := from; i < len(l.ev); i++ {
			if e := l.ev[i]; e.URL == url && e.Status == status && e.Reason == reason {
				l.mu.Unlock()
				return i
			}
		}
		sig := l.sig
		l.mu.Unlock()
		select {
		case <-sig:
		case <-deadline:
			t.Fatalf("no %s %q for %s within %s; got %+v", status, reason, url, wait, l.all())
		}
	}
}

func (l *statusLog) all() []event.PushStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event.PushStatus(nil), l.ev...)
}

// of returns the statuses of one URL in order.
func (l *statusLog) of(url string) []string {
	var s []string
	for _, e := range l.all() {
		if e.URL == url {
			s = append(s, e.Status+"/"+e.Reason)
		}
	}
	return s
}

// rtmpServer is go-rtmp's server on 127.0.0.1:0, recording what publishers
// send. refuse makes it refuse "connect" or "publish".
type rtmpServer struct {
	t      *testing.T
	srv    *rtmp.Server
	addr   string
	refuse string

	mu    sync.Mutex
	tags  []recvTag
	conns []net.Conn
	sig   chan struct{}
}

type recvTag struct {
	typ  byte
	ts   uint32
	body []byte
}

func startRTMPServer(t *testing.T, refuse string) *rtmpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rtmpServer{t: t, addr: l.Addr().String(), refuse: refuse, sig: make(chan struct{})}
	s.srv = rtmp.NewServer(&rtmp.ServerConfig{OnConnect: func(c net.Conn) (io.ReadWriteCloser, *rtmp.ConnConfig) {
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		return c, &rtmp.ConnConfig{Handler: &serverHandler{s: s}}
	}})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.srv.Close()
		<-served
		s.dropConns()
	})
	return s
}

func (s *rtmpServer) url(key string) string { return "rtmp://" + s.addr + "/live/" + key }

// dropConns cuts every connection, as a crashing server would.
func (s *rtmpServer) dropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}

func (s *rtmpServer) record(typ byte, ts uint32, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tags = append(s.tags, recvTag{typ, ts, b})
	close(s.sig)
	s.sig = make(chan struct{})
	return nil
}

func (s *rtmpServer) received() []recvTag {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recvTag(nil), s.tags...)
}

// waitTags waits until n tags arrived.
func (s *rtmpServer) waitTags(n int) []recvTag {
	s.t.Helper()
	deadline := time.After(wait)
	for {
		s.mu.Lock()
		got, sig := len(s.tags), s.sig
		s.mu.Unlock()
		if got >= n {
			return s.received()
		}
		select {
		case <-sig:
		case <-deadline:
			s.t.Fatalf("%d tags received, want %d", got, n)
		}
	}
}

type serverHandler struct {
	rtmp.DefaultHandler
	s *rtmpServer
}

func (h *serverHandler) OnConnect(_ uint32, cmd *message.NetConnectionConnect) error {
	if h.s.refuse == "connect" || cmd.Command.App != "live" {
		return errors.New("no such app")
	}
	return nil
}

func (h *serverHandler) OnPublish(_ *rtmp.StreamContext, _ uint32, _ *message.NetStreamPublish) error {
	if h.s.refuse == "publish" {
		return errors.New("publishing refused")
	}
	return nil
}

func (h *serverHandler) OnSetDataFrame(ts uint32, d *message.NetStreamSetDataFrame) error {
	return h.s.record(tagScript, ts, strings.NewReader(string(d.Payload)))
}

func (h *serverHandler) OnAudio(ts uint32, r io.Reader) error { return h.s.record(tagAudio, ts, r) }
func (h *serverHandler) OnVideo(ts uint32, r io.Reader) error { return h.s.record(tagVideo, ts, r) }

// hangingServer accepts TCP connections and never answers: a server that
// neither refuses nor accepts the app.
func hangingServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "rtmp://" + l.Addr().String() + "/live/hang"
}

// source feeds the test media to a pusher's sinks in (about 4x) real
// time, looping, until stop is closed.
type source struct {
	stop chan struct{}
	done chan struct{}
	// end is why its tracks end at halt; "" is engine.ReasonLeft (the
	// engine stopping: the push goes on until closed).
	end engine.EndReason
}

func startSource(t *testing.T, p *Pusher, loops int) *source {
	t.Helper()
	vt := &engine.RemoteTrack{UID: "alice", Kind: "video", Codec: "H264", ClockRate: 90000}
	at := &engine.RemoteTrack{UID: "alice", Kind: "audio", Codec: "opus", ClockRate: 48000, Channels: 2}
	vs, as := p.HandleTrack(vt), p.HandleTrack(at)
	if vs == nil || as == nil {
		t.Fatal("tracks refused")
	}
	ev := testMedia(t)
	var nv, na uint16
	for _, e := range ev {
		if e.video {
			nv++
		} else {
			na++
		}
	}
	src := &source{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(src.done)
		defer func() {
			reason := cmp.Or(src.end, engine.ReasonLeft)
			as.Close(reason)
			vs.Close(reason)
		}()
		start := time.Now()
		vs.SenderReport(start, 0)
		as.SenderReport(start, 0)
		const speed = 4
		for loop := 0; loops == 0 || loop < loops; loop++ {
			offset := float64(loop) * 3000
			for _, e := range ev {
				at := start.Add(time.Duration((offset + e.ms) / speed * float64(time.Millisecond)))
				if d := time.Until(at); d > 0 {
					select {
					case <-time.After(d): // pacing the source, as a publisher's clock does
					case <-src.stop:
						return
					}
				}
				pkt := *e.pkt
				if e.video {
					pkt.Timestamp += uint32(loop * 90 * 3000)
					pkt.SequenceNumber += uint16(loop) * nv
					vs.WriteRTP(&pkt, time.Now())
				} else {
					pkt.Timestamp += uint32(loop * 48 * 3000)
					pkt.SequenceNumber += uint16(loop) * na
					as.WriteRTP(&pkt, time.Now())
				}
			}
		}
	}()
	return src
}

func (s *source) halt() {
	close(s.stop)
	<-s.done
}

func newTestPusher(t *testing.T, log *statusLog, urls ...string) *Pusher {
	t.Helper()
	p, err := New(Config{
		URLs: urls, Events: log, Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})), DialTimeout: 2 * time.Second, RetryMin: 50 * time.Millisecond,
		RetryMax: 200 * time.Millisecond, SyncWait: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() }) // before the test ends, even when it fails
	return p
}

// The whole push against an RTMP server: publish accepted, metadata and
// both sequence headers before the first (key) picture, timestamps that
// never go back, ONGOING, and FINISHED/STREAM_IS_UNPUBLISHED when the
// source leaves, with no goroutine left behind.
func TestPushToServer(t *testing.T) {
	checkLeaks(t)
	srv := startRTMPServer(t, "")
	log := newStatusLog()
	url := srv.url("k1")
	p := newTestPusher(t, log, url)
	src := startSource(t, p, 0)
	log.waitFor(t, 0, url, StatusOngoing, ReasonNone)
	srv.waitTags(250) // about 3 s of media
	// The source leaves: its tracks end with that reason.
	src.end = engine.ReasonStreamRemoved
	src.halt()
	select {
	case <-p.Done():
	case <-time.After(wait):
		t.Fatal("push did not end after the source left")
	}
	if err := p.Err(); err != nil {
		t.Fatalf("Err %v", err)
	}
	log.waitFor(t, 0, url, StatusFinished, ReasonUnpublished)
	if got := log.of(url); strings.Join(got, " ") != "PUSH_STREAM_ONGOING/ PUSH_STREAM_FINISHED/STREAM_IS_UNPUBLISHED" {
		t.Errorf("statuses %v", got)
	}
	_ = p.Close() // after the end: nothing more
	if n := len(log.all()); n != 2 {
		t.Errorf("%d statuses after Close", n)
	}

	tags := srv.received()
	if len(tags) < 50 {
		t.Fatalf("%d tags received", len(tags))
	}
	if tags[0].typ != tagScript || !strings.Contains(string(tags[0].body), "onMetaData") {
		t.Errorf("first tag %d % x", tags[0].typ, tags[0].body[:min(16, len(tags[0].body))])
	}
	sawASC, sawAVC, video, audio := false, false, 0, 0
	var last uint32
	for i, tg := range tags {
		if tg.ts < last {
			t.Fatalf("tag %d: timestamp %d after %d", i, tg.ts, last)
		}
		last = tg.ts
		switch {
		case tg.typ == tagAudio && tg.body[1] == aacSequenceHeader:
			sawASC = true
		case tg.typ == tagVideo && tg.body[1] == avcSequenceHeader:
			sawAVC = true
		case tg.typ == tagAudio:
			if !sawASC || video == 0 {
				t.Fatalf("tag %d: audio before the AAC header or the first picture", i)
			}
			audio++
		case tg.typ == tagVideo:
			if !sawAVC {
				t.Fatalf("tag %d: picture before the AVC header", i)
			}
			if video == 0 && tg.body[0]>>4 != 1 {
				t.Fatalf("tag %d: the first picture is not a keyframe", i)
			}
			video++
		}
	}
	// Both kinds flow at their rates: 30 pictures and 43 AAC frames a second.
	if ratio := float64(audio) / float64(video); video < 60 || ratio < 1.2 || ratio > 1.7 {
		t.Errorf("%d pictures and %d AAC frames", video, audio)
	}
}

// A URL that refuses the app, one that refuses to publish and one that
// never answers all fail (within DialTimeout, not hanging), and none of
// them keeps the good one from streaming.
func TestPushFailuresAreIsolated(t *testing.T) {
	checkLeaks(t)
	good := startRTMPServer(t, "")
	noApp := startRTMPServer(t, "connect")
	noPublish := startRTMPServer(t, "publish")
	hang := hangingServer(t)
	log := newStatusLog()
	urls := []string{good.url("ok"), noApp.url("x"), noPublish.url("y"), hang}
	p := newTestPusher(t, log, urls...)
	src := startSource(t, p, 0)
	for _, u := range urls[1:] {
		log.waitFor(t, 0, u, StatusFailed, ReasonNone)
	}
	log.waitFor(t, 0, urls[0], StatusOngoing, ReasonNone)
	src.halt()
	_ = p.Close()
	for _, u := range urls {
		log.waitFor(t, 0, u, StatusFinished, ReasonStopped)
	}
	for _, u := range urls[1:] {
		// Retries do not repeat a status that did not change.
		if got := log.of(u); strings.Join(got, " ") != "PUSH_STREAM_FAILED/ PUSH_STREAM_FINISHED/TASK_IS_STOPPED" {
			t.Errorf("%s: %v", u, got)
		}
	}
	_ = p.Close() // idempotent
}

// A dropped connection is FAILED, the retry is ONGOING again, and every
// change is printed.
func TestPushReconnects(t *testing.T) {
	checkLeaks(t)
	srv := startRTMPServer(t, "")
	log := newStatusLog()
	url := srv.url("k")
	p := newTestPusher(t, log, url)
	src := startSource(t, p, 0)
	i := log.waitFor(t, 0, url, StatusOngoing, ReasonNone)
	srv.dropConns()
	i = log.waitFor(t, i, url, StatusFailed, ReasonNone)
	i = log.waitFor(t, i, url, StatusOngoing, ReasonNone)
	n := len(srv.received())
	srv.waitTags(n + 20) // media flows again
	src.halt()
	_ = p.Close()
	log.waitFor(t, i, url, StatusFinished, ReasonStopped)
	want := "PUSH_STREAM_ONGOING/ PUSH_STREAM_FAILED/ PUSH_STREAM_ONGOING/ PUSH_STREAM_FINISHED/TASK_IS_STOPPED"
	if got := strings.Join(log.of(url), " "); got != want {
		t.Errorf("statuses %s\nwant %s", got, want)
	}
}

// Only a source track ending because the source left ends the push; the
// other ends (our session lost, unsubscribed, the engine stopping) do not.
func TestPushTrackEndReasons(t *testing.T) {
	checkLeaks(t)
	for _, c := range []struct {
		reason engine.EndReason
		ends   bool
	}{
		{engine.ReasonStreamRemoved, true},
		{engine.ReasonSessionLost, false},
		{engine.ReasonUnsubscribed, false},
		{engine.ReasonTrackEnded, false},
		{engine.ReasonLeft, false},
	} {
		t.Run(string(c.reason), func(t *testing.T) {
			log := newStatusLog()
			p := newTestPusher(t, log, "rtmp://127.0.0.1:1/live/k")
			s := p.HandleTrack(&engine.RemoteTrack{UID: "alice", Kind: "audio", Codec: "opus", ClockRate: 48000, Channels: 2})
			if s == nil {
				t.Fatal("track refused")
			}
			s.Close(c.reason)
			select {
			case <-p.Done():
				if !c.ends {
					t.Fatal("push ended")
				}
			case <-time.After(300 * time.Millisecond):
				if c.ends {
					t.Fatal("push did not end")
				}
			}
			_ = p.Close()
			if last := log.of("rtmp://127.0.0.1:1/live/k"); c.ends && last[len(last)-1] != StatusFinished+"/"+ReasonUnpublished {
				t.Errorf("statuses %v", last)
			}
		})
	}
}

// VP9 cannot be pushed (only H.264 and VP8 video are): the push ends with
// INTERNEL_ERROR.
func TestPushRefusesVP9(t *testing.T) {
	checkLeaks(t)
	log := newStatusLog()
	url := "rtmp://127.0.0.1:1/live/k"
	p := newTestPusher(t, log, url)
	if s := p.HandleTrack(&engine.RemoteTrack{UID: "alice", Kind: "video", Codec: "VP9", ClockRate: 90000}); s != nil {
		t.Fatal("VP9 track accepted")
	}
	<-p.Done()
	if err := p.Err(); !errors.Is(err, ErrUnsupportedCodec) || !strings.Contains(err.Error(), "VP9") {
		t.Errorf("Err %v", err)
	}
	_ = p.Close()
	if got := log.of(url); len(got) != 1 || got[0] != StatusInternal+"/" {
		t.Errorf("statuses %v", got)
	}
}

// Close without any source, Fail, and the order of terminal statuses.
func TestPushLifecycle(t *testing.T) {
	checkLeaks(t)
	log := newStatusLog()
	p := newTestPusher(t, log, "rtmp://127.0.0.1:1/live/a", "rtmp://127.0.0.1:1/live/b")
	_ = p.Close()
	_ = p.Close()
	if got := fmt.Sprint(log.of("rtmp://127.0.0.1:1/live/a"), log.of("rtmp://127.0.0.1:1/live/b")); got != "[PUSH_STREAM_FINISHED/TASK_IS_STOPPED] [PUSH_STREAM_FINISHED/TASK_IS_STOPPED]" {
		t.Errorf("statuses %s", got)
	}
	if s := p.HandleTrack(&engine.RemoteTrack{Kind: "audio", Codec: "opus"}); s != nil {
		t.Error("track accepted after Close")
	}

	log = newStatusLog()
	p = newTestPusher(t, log, "rtmp://127.0.0.1:1/live/a")
	p.Fail(errors.New("alice never came"))
	<-p.Done()
	if err := p.Err(); !errors.Is(err, ErrSourceUnavailable) {
		t.Errorf("Err %v", err)
	}
	_ = p.Close()
	if got := log.of("rtmp://127.0.0.1:1/live/a"); len(got) != 1 || got[0] != StatusInternal+"/" {
		t.Errorf("statuses %v", got)
	}

	if _, err := New(Config{URLs: []string{"rtmp://h/a/k"}}); err == nil {
		t.Error("New without Events succeeded")
	}
	if _, err := New(Config{URLs: []string{"rtmps://h/a/k"}, Events: log}); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("rtmps: %v", err)
	}
}

// checkLeaks fails the test if goroutines it started outlive it; it runs
// after the test's other cleanups (servers).
func checkLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
