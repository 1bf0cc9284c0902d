package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/engine/enginetest"
	"github.com/roomctl/roomctl/internal/media"
)

// Mute replaces a sender's track with nothing and unmute puts it back:
// pion unbinds the track and binds it again on the same SSRC. Sources
// that packetize per binding (every mediadevices track) start each binding
// at a new random sequence number and timestamp. When the new numbers
// fell "behind" the old ones, the receiver's SRTP replay protection took
// every packet of the binding for a replay and dropped it: after an
// unmute, nothing reached the room. The source here always restarts
// behind, so the stall happened on the first cycle; media must flow after
// every cycle of every kind, and a mute or unmute that changes nothing
// must not rebind.
func TestMediaFlowsAfterMuteCycles(t *testing.T) {
	fake := enginetest.New(t)
	src := newRebindSource(t)
	r := start(t, fake, func(cfg *engine.Config) { cfg.Publish = src })
	flows(t, fake, "audio", "video")

	mutes := 0
	mute := func(kind string, muted bool) {
		t.Helper()
		r.eng.Mute(kind, muted)
		mutes++
		fake.WaitCall(t, "Mute", mutes) // made after the sender changed
	}
	for _, kinds := range [][]string{{"audio"}, {"video"}, {"video", "audio"}} {
		for cycle := range 3 {
			for _, k := range kinds {
				mute(k, true)
			}
			for _, k := range kinds {
				mute(k, false)
			}
			t.Logf("%s cycle %d", strings.Join(kinds, "+"), cycle)
			flows(t, fake, "audio", "video")
		}
	}

	// Nothing changes: no rebinding (an encoder restart), media goes on.
	binds := src.binds()
	mute("video", false)
	mute("audio", false)
	flows(t, fake, "audio", "video")
	if got := src.binds(); got != binds {
		t.Errorf("a redundant unmute bound the tracks again: %v, then %v", binds, got)
	}
	mute("audio", true)
	binds = src.binds()
	mute("audio", true)
	if got := src.binds(); got != binds {
		t.Errorf("a redundant mute rebound: %v, then %v", binds, got)
	}
	mute("audio", false)
	flows(t, fake, "audio", "video")
}

// flows waits until the fake receives more packets of each kind.
func flows(t *testing.T, fake *enginetest.Fake, kinds ...string) {
	t.Helper()
	for _, k := range kinds {
		n := fake.Received(k)
		waitUntil(t, k+" flowing", func() bool { return fake.Received(k) >= n+10 })
	}
}

// rebindSource is a media.Source of one Opus and one VP8 track that
// number their packets per binding, as mediadevices tracks do: each Bind
// starts at a new sequence number and timestamp, here 40000 ahead of the
// binding before, that is 25536 behind it.
type rebindSource struct {
	tracks []*rebindTrack
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

func newRebindSource(t *testing.T) *rebindSource {
	s := &rebindSource{stop: make(chan struct{})}
	s.tracks = []*rebindTrack{
		{kind: webrtc.RTPCodecTypeAudio, mime: webrtc.MimeTypeOpus, ticks: 960, payload: []byte{0xfc, 0xff, 0xfe}},
		{kind: webrtc.RTPCodecTypeVideo, mime: webrtc.MimeTypeVP8, ticks: 1800, payload: []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}},
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (s *rebindSource) RegisterCodecs(m *webrtc.MediaEngine) error {
	return m.RegisterDefaultCodecs()
}

func (s *rebindSource) Tracks() []media.Track {
	return []media.Track{
		{Local: s.tracks[0], Info: media.TrackInfo{Kind: media.KindAudio, Codec: media.CodecOpus, SampleRate: 48000, Channel: 2}},
		{Local: s.tracks[1], Info: media.TrackInfo{Kind: media.KindVideo, Codec: media.CodecVP8, Width: 16, Height: 16, FrameRate: 50}},
	}
}

// Start writes a packet of each track every 20 ms until ctx ends or Close.
func (s *rebindSource) Start(ctx context.Context) error {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			case <-tick.C:
			}
			for _, tr := range s.tracks {
				tr.write()
			}
		}
	}()
	return nil
}

func (s *rebindSource) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	return nil
}

// binds returns how many times each track was bound.
func (s *rebindSource) binds() [2]int {
	var n [2]int
	for i, tr := range s.tracks {
		tr.mu.Lock()
		n[i] = tr.nbinds
		tr.mu.Unlock()
	}
	return n
}

type rebindTrack struct {
	kind    webrtc.RTPCodecType
	mime    string
	ticks   uint32 // timestamp step per packet
	payload []byte

	mu      sync.Mutex
	nbinds  int
	bound   map[string]*rebinding // by TrackLocalContext.ID
	nextSeq uint16                // first sequence number of the next binding
	nextTS  uint32
}

type rebinding struct {
	w    webrtc.TrackLocalWriter
	pt   webrtc.PayloadType
	ssrc webrtc.SSRC
	seq  uint16
	ts   uint32
}

func (tr *rebindTrack) ID() string                { return "rebind-" + tr.kind.String() }
func (tr *rebindTrack) RID() string               { return "" }
func (tr *rebindTrack) StreamID() string          { return "rebind" }
func (tr *rebindTrack) Kind() webrtc.RTPCodecType { return tr.kind }

func (tr *rebindTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, tr.mime) {
			continue
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if tr.bound == nil {
			tr.bound = map[string]*rebinding{}
		}
		tr.nbinds++
		tr.bound[ctx.ID()] = &rebinding{w: ctx.WriteStream(), pt: c.PayloadType, ssrc: ctx.SSRC(), seq: tr.nextSeq, ts: tr.nextTS}
		tr.nextSeq += 40000
		tr.nextTS += 1 << 31
		return c, nil
	}
	return webrtc.RTPCodecParameters{}, fmt.Errorf("bind %s: %w", tr.mime, webrtc.ErrUnsupportedCodec)
}

func (tr *rebindTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	delete(tr.bound, ctx.ID())
	return nil
}

func (tr *rebindTrack) write() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, b := range tr.bound {
		h := rtp.Header{Version: 2, PayloadType: uint8(b.pt), SSRC: uint32(b.ssrc), SequenceNumber: b.seq, Timestamp: b.ts, Marker: true}
		_, _ = b.w.WriteRTP(&h, tr.payload) // dropped while ICE is not up
		b.seq++
		b.ts += tr.ticks
	}
}

// A muted track stays muted in a new session (the server restarted and
// forgot ours): the new publication is made with every track, so it must
// take the mute state over once answered, and the room must be told. Before,
// a muted microphone went live again after a server restart, while the
// client still said muted.
func TestMuteSurvivesNewSession(t *testing.T) {
	fake := enginetest.New(t)
	src := newRebindSource(t)
	r := start(t, fake, func(cfg *engine.Config) { cfg.Publish = src })
	flows(t, fake, "audio", "video")
	r.eng.Mute("audio", true)
	fake.WaitCall(t, "Mute", 1)

	fake.RefuseResume()
	fake.Cut()
	fake.WaitJoin(t, 2)
	c := fake.WaitCall(t, "Mute", 2)
	if c.Kind != "audio" || !c.Muted || c.Session != fake.Session() {
		t.Errorf("after the new session: %+v, want audio muted told to the new session %s", c, fake.Session())
	}
	flows(t, fake, "video")
	audio := fake.Received("audio")
	flows(t, fake, "video") // a while of video: audio must not have come meanwhile
	if got := fake.Received("audio"); got != audio {
		t.Errorf("muted audio flows in the new session: %d packets, then %d", audio, got)
	}
	r.eng.Mute("audio", false)
	flows(t, fake, "audio", "video")
}
