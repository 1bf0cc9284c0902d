// Package load is `roomctl load`: many participants in one process, each a
// real engine (its own signaling connection and PeerConnections), joined at
// a given rate; publishers send media files, subscribers only count what
// they receive (packets, bytes, sequence gaps, the first video packet),
// without decoding. Every second it reports a Tick; at the end a Summary.
package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/event"
)

// Role is what a simulated participant does.
type Role int

const (
	Publisher Role = iota
	Subscriber
)

// Participant is what NewEngine is asked to build.
type Participant struct {
	Room, UID string
	Role      Role
	// Publishers are the uids of the room's publishers (a subscriber
	// subscribes to them only).
	Publishers []string
	// Tracks counts what a subscriber receives (nil for a publisher).
	Tracks engine.TrackHandler
	// Events gets the participant's SDK events (connected, exception, …).
	Events event.Emitter
}

// Config configures Run.
type Config struct {
	Rooms       []string
	Publishers  int // per room
	Subscribers int // per room
	// Ramp is how many participants join per second (publishers first).
	Ramp float64
	// Duration is how long the whole run lasts, ramp included.
	Duration time.Duration
	// NewEngine builds a participant's engine (backend, tokens, ICE, media
	// source for a publisher).
	NewEngine func(p Participant) (*engine.Engine, error)
	// Tick is called once a second, Summary once at the end.
	Tick    func(Tick)
	Summary func(Summary)
	Logger  *slog.Logger
}

// Pctl is a distribution in milliseconds: how many, and the nearest-rank
// percentiles.
type Pctl struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Tick is one second of the run.
type Tick struct {
	T           float64 `json:"t"`           // seconds since the start
	Started     int     `json:"started"`     // participants started so far
	Joined      int     `json:"joined"`      // connected now
	Failed      int     `json:"failed"`      // engines that ended with an error
	Receiving   int     `json:"receiving"`   // subscribers that received media in this second
	Subscribers int     `json:"subscribers"` // subscribers started
	Packets     int64   `json:"packets"`     // received by all subscribers in this second
	Kbps        float64 `json:"kbps"`        // received by all subscribers in this second
	Lost        int64   `json:"lost"`        // sequence-number gaps in this second
	Loss        float64 `json:"loss"`        // lost / (packets + lost)
	// JoinMs: engine start → connected; FirstVideoMs, FirstAudioMs: a
	// subscriber's engine start → its first video (audio) packet; all over
	// the run so far.
	JoinMs       *Pctl `json:"joinMs,omitempty"`
	FirstVideoMs *Pctl `json:"firstVideoMs,omitempty"`
	FirstAudioMs *Pctl `json:"firstAudioMs,omitempty"`
}

// Summary is the whole run.
type Summary struct {
	Seconds      float64 `json:"seconds"`
	Rooms        int     `json:"rooms"`
	Publishers   int     `json:"publishers"`
	Subscribers  int     `json:"subscribers"`
	Joined       int     `json:"joined"` // ever connected
	Failed       int     `json:"failed"`
	Packets      int64   `json:"packets"`
	Bytes        int64   `json:"bytes"`
	Lost         int64   `json:"lost"`
	Loss         float64 `json:"loss"`
	Kbps         float64 `json:"kbps"` // mean over the steady part (all joined)
	JoinMs       *Pctl   `json:"joinMs,omitempty"`
	FirstVideoMs *Pctl   `json:"firstVideoMs,omitempty"`
	FirstAudioMs *Pctl   `json:"firstAudioMs,omitempty"`
}

// ErrConfig is returned for a configuration Run cannot run.
var ErrConfig = errors.New("load: bad configuration")

// member is one simulated participant.
type member struct {
	p       Participant
	started time.Time
	joined  atomic.Bool
	ever    atomic.Bool
	failed  atomic.Bool
	// Subscribers' counters, written by their tracks' goroutines.
	packets, bytes, lost atomic.Int64
	lastPkt              atomic.Int64 // unix ns of the last packet
	firstVideo           atomic.Bool
	firstAudio           atomic.Bool
}

type runner struct {
	cfg Config
	mu  sync.Mutex
	// join, first-video and first-audio latencies, ms
	joinMs, firstMs, firstAudioMs []float64
	members                       []*member
}

// Run runs the load until ctx ends or Duration passed.
func Run(ctx context.Context, cfg Config) error {
	if len(cfg.Rooms) == 0 || cfg.Publishers < 0 || cfg.Subscribers < 0 || cfg.Publishers+cfg.Subscribers == 0 {
		return fmt.Errorf("%w: want rooms and at least one participant", ErrConfig)
	}
	if cfg.Ramp <= 0 || cfg.Duration <= 0 || cfg.NewEngine == nil {
		return fmt.Errorf("%w: ramp and duration must be positive", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &runner{cfg: cfg}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	// Publishers first (all rooms), then subscribers.
	var plan []Participant
	pubs := map[string][]string{}
	for _, room := range cfg.Rooms {
		for i := range cfg.Publishers {
			uid := fmt.Sprintf("pub%d", i+1)
			pubs[room] = append(pubs[room], uid)
			plan = append(plan, Participant{Room: room, UID: uid, Role: Publisher})
		}
	}
	for _, room := range cfg.Rooms {
		for i := range cfg.Subscribers {
			plan = append(plan, Participant{Room: room, UID: fmt.Sprintf("sub%d", i+1), Role: Subscriber, Publishers: pubs[room]})
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	startOne := func(p Participant) {
		m := &member{p: p, started: time.Now()}
		m.p.Events = emitter{r, m}
		if p.Role == Subscriber {
			m.p.Tracks = counter{r, m}
		}
		r.mu.Lock()
		r.members = append(r.members, m)
		r.mu.Unlock()
		eng, err := cfg.NewEngine(m.p)
		if err != nil {
			m.failed.Store(true)
			cfg.Logger.Warn("participant not started", "room", p.Room, "uid", p.UID, "err", err)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := eng.Run(ctx); err != nil && ctx.Err() == nil {
				m.failed.Store(true)
				cfg.Logger.Warn("participant ended", "room", p.Room, "uid", p.UID, "err", err)
			}
			m.joined.Store(false)
		}()
	}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	gap := time.Duration(float64(time.Second) / cfg.Ramp)
	next := time.NewTimer(0)
	defer next.Stop()
	var prev totals
	var steady []totals // totals at each tick once everyone started
	for {
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			if cfg.Summary != nil {
				cfg.Summary(r.summary(start, steady))
			}
			return nil
		case <-next.C:
			if len(plan) > 0 {
				startOne(plan[0])
				plan = plan[1:]
				next.Reset(gap)
			}
		case now := <-tick.C:
			t := r.totals(now)
			if cfg.Tick != nil {
				cfg.Tick(r.tick(now.Sub(start), t, prev))
			}
			if len(plan) == 0 {
				steady = append(steady, t)
			}
			prev = t
		}
	}
}

// totals are the counters summed over the members at one time.
type totals struct {
	at                    time.Time
	started, joined, ever int
	failed, subs, recv    int
	packets, bytes, lost  int64
}

func (r *runner) totals(now time.Time) totals {
	r.mu.Lock()
	ms := slices.Clone(r.members)
	r.mu.Unlock()
	t := totals{at: now, started: len(ms)}
	for _, m := range ms {
		if m.joined.Load() {
			t.joined++
		}
		if m.ever.Load() {
			t.ever++
		}
		if m.failed.Load() {
			t.failed++
		}
		if m.p.Role != Subscriber {
			continue
		}
		t.subs++
		t.packets += m.packets.Load()
		t.bytes += m.bytes.Load()
		t.lost += m.lost.Load()
		if now.UnixNano()-m.lastPkt.Load() < int64(time.Second) {
			t.recv++
		}
	}
	return t
}

func (r *runner) tick(since time.Duration, t, prev totals) Tick {
	secs := 1.0
	if !prev.at.IsZero() {
		secs = t.at.Sub(prev.at).Seconds()
	}
	pk, lost := t.packets-prev.packets, t.lost-prev.lost
	tk := Tick{
		T: math.Round(since.Seconds()*10) / 10, Started: t.started, Joined: t.joined, Failed: t.failed,
		Receiving: t.recv, Subscribers: t.subs, Packets: pk, Lost: lost,
		Kbps: math.Round(float64(t.bytes-prev.bytes)*8/1000/secs*10) / 10,
	}
	if pk+lost > 0 {
		tk.Loss = round4(float64(lost) / float64(pk+lost))
	}
	r.mu.Lock()
	tk.JoinMs, tk.FirstVideoMs, tk.FirstAudioMs = pctl(r.joinMs), pctl(r.firstMs), pctl(r.firstAudioMs)
	r.mu.Unlock()
	return tk
}

func (r *runner) summary(start time.Time, steady []totals) Summary {
	t := r.totals(time.Now())
	s := Summary{
		Seconds: math.Round(time.Since(start).Seconds()*10) / 10, Rooms: len(r.cfg.Rooms),
		Publishers: r.cfg.Publishers * len(r.cfg.Rooms), Subscribers: r.cfg.Subscribers * len(r.cfg.Rooms),
		Joined: t.ever, Failed: t.failed, Packets: t.packets, Bytes: t.bytes, Lost: t.lost,
	}
	if t.packets+t.lost > 0 {
		s.Loss = round4(float64(t.lost) / float64(t.packets+t.lost))
	}
	if n := len(steady); n >= 2 {
		a, b := steady[0], steady[n-1]
		s.Kbps = math.Round(float64(b.bytes-a.bytes)*8/1000/b.at.Sub(a.at).Seconds()*10) / 10
	}
	r.mu.Lock()
	s.JoinMs, s.FirstVideoMs, s.FirstAudioMs = pctl(r.joinMs), pctl(r.firstMs), pctl(r.firstAudioMs)
	r.mu.Unlock()
	return s
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// pctl summarizes ms values; nil when there are none.
func pctl(v []float64) *Pctl {
	if len(v) == 0 {
		return nil
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return math.Round(s[max(0, min(i, len(s)-1))]*10) / 10
	}
	return &Pctl{N: len(s), P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: at(1)}
}

// emitter watches a participant's events: connected marks it joined.
type emitter struct {
	r *runner
	m *member
}

func (e emitter) Emit(name string, _ any) {
	switch name {
	case event.Connected, event.Reconnect:
		if !e.m.ever.Swap(true) {
			e.r.mu.Lock()
			e.r.joinMs = append(e.r.joinMs, ms(time.Since(e.m.started)))
			e.r.mu.Unlock()
		}
		e.m.joined.Store(true)
	case event.StreamReconnectStart:
		e.m.joined.Store(false)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// counter is a subscriber's TrackHandler: every track counts into the
// subscriber's counters.
type counter struct {
	r *runner
	m *member
}

func (c counter) HandleTrack(t *engine.RemoteTrack) engine.PacketSink {
	return &countSink{r: c.r, m: c.m, video: t.Kind == "video"}
}

// countSink counts one track's packets; its methods are called from the
// track's goroutine.
type countSink struct {
	r       *runner
	m       *member
	video   bool
	lastSeq uint16
	started bool
}

func (s *countSink) WriteRTP(p *rtp.Packet, arrival time.Time) {
	if s.started {
		d := p.SequenceNumber - s.lastSeq
		if d == 0 || d >= 0x8000 {
			return // duplicate or late (a retransmission that came after the gap was counted)
		}
		if d > 1 {
			s.m.lost.Add(int64(d - 1))
		}
	}
	s.started, s.lastSeq = true, p.SequenceNumber
	s.m.packets.Add(1)
	s.m.bytes.Add(int64(len(p.Payload) + 12))
	s.m.lastPkt.Store(arrival.UnixNano())
	first, into := &s.m.firstAudio, &s.r.firstAudioMs
	if s.video {
		first, into = &s.m.firstVideo, &s.r.firstMs
	}
	if !first.Swap(true) {
		s.r.mu.Lock()
		*into = append(*into, ms(arrival.Sub(s.m.started)))
		s.r.mu.Unlock()
	}
}

func (s *countSink) SenderReport(time.Time, uint32) {}
func (s *countSink) Close(engine.EndReason)         {}
