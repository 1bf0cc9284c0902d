package media

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/wave"
)

// PCM frames handed to a PCMReader: 20 ms at 48 kHz.
const (
	PCMSampleRate   = 48000
	PCMFrameSamples = PCMSampleRate / 50 // per channel
	pcmFrame        = 20 * time.Millisecond
)

// PCMReader yields the audio of a PCM source one 20-ms frame at a time.
type PCMReader interface {
	// ReadPCM fills frame (PCMFrameSamples × channels float32 samples,
	// interleaved, full scale ±1) with the next 20 ms. io.EOF ends the
	// track (Track.Ended is closed); any other error ends it as well.
	ReadPCM(frame []float32) error
}

// PCMConfig configures NewPCMSource. Zero values take the defaults.
type PCMConfig struct {
	Channels int // 1 (default) or 2
	Bitrate  int // Opus kb/s, default 64, 6 to 510
}

// NewPCMSource returns a source whose one audio track encodes what r
// yields. The reader is paced in real time: mediadevices pulls a frame,
// and the pull blocks until that frame's 20 ms slot has come, so r is
// called 50 times a second from one goroutine and may compute each frame
// on demand (a mixer).
func NewPCMSource(r PCMReader, cfg PCMConfig) (Source, error) {
	s := newMDSource("pcm source")
	if err := s.addPCM(r, cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// addPCM adds an Opus track that encodes what r yields, paced in real time.
func (s *mdSource) addPCM(r PCMReader, cfg PCMConfig) error {
	if cfg.Channels == 0 {
		cfg.Channels = 1
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = 64
	}
	if cfg.Channels != 1 && cfg.Channels != 2 {
		return fmt.Errorf("%w: pcm channels %d (1 or 2)", ErrInvalidConfig, cfg.Channels)
	}
	if cfg.Bitrate < 6 || cfg.Bitrate > 510 {
		return fmt.Errorf("%w: opus bitrate %d kb/s (6 to 510)", ErrInvalidConfig, cfg.Bitrate)
	}
	params, err := opus.NewParams()
	if err != nil {
		return fmt.Errorf("opus params: %w", err)
	}
	params.BitRate = cfg.Bitrate * 1000
	ended := make(chan struct{})
	rs := &pcmReaderSource{
		r: r, channels: cfg.Channels, ended: ended,
		stop: make(chan struct{}), id: "pcm-" + newStreamID(),
	}
	md := mediadevices.NewAudioTrack(rs, mediadevices.NewCodecSelector(mediadevices.WithAudioEncoders(&params)))
	s.add(md, params.RTPCodec(), TrackInfo{
		Kind: KindAudio, Codec: CodecOpus, SampleRate: PCMSampleRate,
		Channel: cfg.Channels, Bitrate: cfg.Bitrate,
	}, ended, rs.done.Load)
	return nil
}

// pcmReaderSource is the mediadevices.AudioSource side: it paces the
// PCMReader on a 20-ms schedule.
type pcmReaderSource struct {
	r        PCMReader
	channels int
	id       string
	stop     chan struct{} // closed by Close
	ended    chan struct{} // closed when r ends

	mu        sync.Mutex  // one Read at a time; guards next
	next      time.Time   // when the next frame is due
	done      atomic.Bool // r ended or Close; read without waiting for a Read
	endOnce   sync.Once
	closeOnce sync.Once
}

func (p *pcmReaderSource) ID() string { return p.id }

// Close unblocks a Read waiting for its slot; the next Read returns
// io.EOF, which ends mediadevices' sending goroutine.
func (p *pcmReaderSource) Close() error {
	p.done.Store(true)
	p.closeOnce.Do(func() { close(p.stop) })
	return nil
}

func (p *pcmReaderSource) Read() (wave.Audio, func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done.Load() {
		return nil, func() {}, io.EOF
	}
	now := time.Now()
	switch {
	case p.next.IsZero():
		p.next = now
	case p.next.Sub(now) > 0:
		t := time.NewTimer(p.next.Sub(now))
		select {
		case <-t.C:
		case <-p.stop:
			t.Stop()
			return nil, func() {}, io.EOF
		}
	case now.Sub(p.next) > 10*pcmFrame:
		// Far behind (a stalled process): restart the schedule rather
		// than burst the backlog out.
		p.next = now
	}
	select {
	case <-p.stop:
		return nil, func() {}, io.EOF
	default:
	}
	p.next = p.next.Add(pcmFrame)
	a := wave.NewFloat32Interleaved(wave.ChunkInfo{Len: PCMFrameSamples, Channels: p.channels, SamplingRate: PCMSampleRate})
	if err := p.r.ReadPCM(a.Data); err != nil {
		p.done.Store(true)
		p.endOnce.Do(func() { close(p.ended) })
		if !errors.Is(err, io.EOF) {
			return nil, func() {}, fmt.Errorf("pcm reader: %w", err)
		}
		return nil, func() {}, io.EOF
	}
	return a, func() {}, nil
}
