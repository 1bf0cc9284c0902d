package enginetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/roomctl/roomctl/internal/media"
)

// Source is a media.Source of synthetic samples, one Opus and one VP8
// track, paced every 20 ms from Start until its context ends or Close.
// The payloads are not real media: the fake counts packets, nobody decodes
// them.
type Source struct {
	audio, video *webrtc.TrackLocalStaticSample

	mu      sync.Mutex
	starts  int
	stop    chan struct{}
	stopped bool
	wg      sync.WaitGroup
}

var _ media.Source = (*Source)(nil)

// NewSource returns a Source whose tracks share one stream id.
func NewSource() (*Source, error) {
	a, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "fake-audio", "fake-stream")
	if err != nil {
		return nil, fmt.Errorf("audio track: %w", err)
	}
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "fake-video", "fake-stream")
	if err != nil {
		return nil, fmt.Errorf("video track: %w", err)
	}
	return &Source{audio: a, video: v, stop: make(chan struct{})}, nil
}

// RegisterCodecs implements media.Source.
func (s *Source) RegisterCodecs(m *webrtc.MediaEngine) error {
	return m.RegisterDefaultCodecs()
}

// Tracks implements media.Source.
func (s *Source) Tracks() []media.Track {
	return []media.Track{
		{Local: s.audio, Info: media.TrackInfo{Kind: media.KindAudio, Codec: media.CodecOpus, SampleRate: 48000, Channel: 2}},
		{Local: s.video, Info: media.TrackInfo{Kind: media.KindVideo, Codec: media.CodecVP8, Width: 16, Height: 16, FrameRate: 50}},
	}
}

// Start implements media.Source: one pacing goroutine per call (the engine
// starts the source again for a new session's publication).
func (s *Source) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.starts++
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		every(ctx, s.stop, 20*time.Millisecond, func() {
			_ = s.audio.WriteSample(pionmedia.Sample{Data: []byte{0xfc, 0xff, 0xfe}, Duration: 20 * time.Millisecond})
			_ = s.video.WriteSample(pionmedia.Sample{Data: vp8Keyframe, Duration: 20 * time.Millisecond})
		})
	}()
	return nil
}

// Starts returns how many times Start was called.
func (s *Source) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// Close implements media.Source; safe to call more than once.
func (s *Source) Close() error {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.stop)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Tokens is an engine.TokenSource that hands out "tok-1", "tok-2", … and
// remembers each call's renew flag.
type Tokens struct {
	// Renew is what Renewable reports: a --token-cmd or --app-secret
	// (true) or a fixed --token (false).
	Renew bool

	mu    sync.Mutex
	calls []bool
}

// Token implements engine.TokenSource.
func (t *Tokens) Token(_ context.Context, renew bool) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls = append(t.calls, renew)
	return fmt.Sprintf("tok-%d", len(t.calls)), nil
}

// Renewable implements engine.TokenSource.
func (t *Tokens) Renewable() bool { return t.Renew }

// Calls returns the renew flag of every Token call so far.
func (t *Tokens) Calls() []bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]bool(nil), t.calls...)
}
