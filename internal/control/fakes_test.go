package control

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/event/eventschema"
	"github.com/roomctl/roomctl/mixing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder logs the calls the fakes get and fails them all with err.
type recorder struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (r *recorder) call(format string, args ...any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
	return r.err
}

func (r *recorder) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// fakeEngine is an Engine that logs its calls.
type fakeEngine struct{ *recorder }

func (f fakeEngine) Joined() bool { return true }
func (f fakeEngine) UpdateToken(_ context.Context, token string) error {
	return f.call("UpdateToken %s", token)
}
func (f fakeEngine) MuteLocal(_ context.Context, kind string, muted bool) error {
	return f.call("MuteLocal %s %v", kind, muted)
}
func (f fakeEngine) Publish(_ context.Context, kinds []string) error {
	return f.call("Publish %v", kinds)
}
func (f fakeEngine) Unpublish(_ context.Context, kinds []string) error {
	return f.call("Unpublish %v", kinds)
}
func (f fakeEngine) Subscribe(_ context.Context, uid string) error {
	return f.call("Subscribe %s", uid)
}
func (f fakeEngine) Unsubscribe(_ context.Context, uid string) error {
	return f.call("Unsubscribe %s", uid)
}
func (f fakeEngine) SetRemoteAudioVolume(_ context.Context, uid string, volume int) error {
	return f.call("SetRemoteAudioVolume %s %d", uid, volume)
}
func (f fakeEngine) SetAudioLevelReport(_ context.Context, on bool) error {
	return f.call("SetAudioLevelReport %v", on)
}

var (
	fakeSession  = engine.SessionStats{Duration: 3, UserCount: 2, SendBytes: 1000}
	fakeDownlink = []engine.DownlinkStats{{UID: "bob", Kind: "audio", Codec: "opus"}}
)

func (f fakeEngine) SessionStats(context.Context) (engine.SessionStats, error) {
	return fakeSession, f.call("SessionStats")
}
func (f fakeEngine) UplinkStats(_ context.Context, kind string) (engine.UplinkStats, error) {
	return engine.UplinkStats{Kind: kind, Published: true}, f.call("UplinkStats %s", kind)
}

// DownlinkStats has audio only: video is nil, as an engine might say
// "nothing".
func (f fakeEngine) DownlinkStats(_ context.Context, kind string) ([]engine.DownlinkStats, error) {
	err := f.call("DownlinkStats %s", kind)
	if kind == "audio" {
		return fakeDownlink, err
	}
	return nil, err
}

// fakeMixer is a Mixer that logs its calls.
type fakeMixer struct{ *recorder }

func (f fakeMixer) Start(id int, path string, pc mixing.PlayConfig) error {
	return f.call("Start %d %s %+v", id, path, pc)
}
func (f fakeMixer) Stop(id int) error                  { return f.call("Stop %d", id) }
func (f fakeMixer) Pause(id int) error                 { return f.call("Pause %d", id) }
func (f fakeMixer) Resume(id int) error                { return f.call("Resume %d", id) }
func (f fakeMixer) SetVolume(id, volume int) error     { return f.call("SetVolume %d %d", id, volume) }
func (f fakeMixer) Seek(id int, d time.Duration) error { return f.call("Seek %d %v", id, d) }
func (f fakeMixer) Position(id int) (time.Duration, error) {
	return 1500 * time.Millisecond, f.call("Position %d", id)
}
func (f fakeMixer) Duration(id int) (time.Duration, error) {
	return 4 * time.Second, f.call("Duration %d", id)
}

// fakePusher is a Pusher that logs its calls.
type fakePusher struct{ *recorder }

func (f fakePusher) AddURL(url string) error    { return f.call("AddURL %s", url) }
func (f fakePusher) RemoveURL(url string) error { return f.call("RemoveURL %s", url) }
func (f fakePusher) URLs() []string             { return nil }

// fakeTone is join's test source.
type fakeTone struct{ *recorder }

func (f fakeTone) SetToneVolume(v int) { _ = f.call("SetToneVolume %d", v) }

// allMethods is every table over fakes logging to rec; leaveRoom logs
// "leave".
func allMethods(rec *recorder) Methods {
	e := fakeEngine{rec}
	return SessionMethods(e, func() { _ = rec.call("leave") }).With(
		PublishMethods(e), SubscribeMethods(e), ToneMethods(fakeTone{rec}),
		MixingMethods(fakeMixer{rec}), PushMethods(fakePusher{rec}))
}

// validator is the schema every reply line of these tests must pass.
var validator = sync.OnceValues(eventschema.New)

// collector is what the sink writes to: it checks each line against the
// schema and keeps the replies.
type collector struct {
	t      testing.TB
	mu     sync.Mutex
	lines  []string
	got    []event.ReplyData
	signal chan struct{} // a token after each line
}

func newCollector(t testing.TB) *collector {
	return &collector{t: t, signal: make(chan struct{}, 1)}
}

func (c *collector) Write(p []byte) (int, error) {
	r, err := checkReplyLine(p)
	if err != nil {
		c.t.Error(err)
	}
	c.mu.Lock()
	c.lines = append(c.lines, string(p))
	c.got = append(c.got, r)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
	return len(p), nil
}

func newSink(c *collector) *event.Sink { return event.NewSink(c, event.SinkConfig{}) }

// checkReplyLine validates one printed line and decodes its reply.
func checkReplyLine(line []byte) (event.ReplyData, error) {
	var r event.ReplyData
	v, err := validator()
	if err != nil {
		return r, err
	}
	if err := v.Validate(line); err != nil {
		return r, err
	}
	l, err := event.Decode(line)
	if err != nil {
		return r, err
	}
	if l.Event != event.Reply {
		return r, fmt.Errorf("event %q, want reply", l.Event)
	}
	if err := json.Unmarshal(l.Data.(json.RawMessage), &r); err != nil {
		return r, fmt.Errorf("reply %s: %w", line, err)
	}
	return r, nil
}

func (c *collector) replies() []event.ReplyData {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event.ReplyData(nil), c.got...)
}

// wait returns the replies once there are n, failing the test after
// timeout.
func (c *collector) wait(n int, timeout time.Duration) []event.ReplyData {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		if got := c.replies(); len(got) >= n {
			return got
		}
		select {
		case <-c.signal:
		case <-deadline:
			c.t.Fatalf("%d replies after %v, want %d", len(c.replies()), timeout, n)
		}
	}
}

// serve runs Serve over input until its end and returns the replies.
// config, when given, changes the Config first.
func serve(t *testing.T, methods Methods, input io.Reader, config ...func(*Config)) []event.ReplyData {
	t.Helper()
	c := newCollector(t)
	cfg := Config{In: input, Events: newSink(c), Methods: methods, Command: "join"}
	for _, f := range config {
		f(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Serve(ctx, cfg); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Serve stalled: %v", ctx.Err())
	}
	return c.replies()
}

// serveLines is serve over lines joined by newlines.
func serveLines(t *testing.T, methods Methods, lines ...string) []event.ReplyData {
	t.Helper()
	return serve(t, methods, strings.NewReader(strings.Join(lines, "\n")+"\n"))
}

// describe shows a reply in failures.
func describe(r event.ReplyData) string {
	b, _ := json.Marshal(r)
	return string(b)
}
