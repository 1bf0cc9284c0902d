package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"
)

// FileConfig configures NewFileSource.
type FileConfig struct {
	// Loop starts a file again at its end instead of ending its track.
	Loop bool
}

// sample is one encoded frame (or Opus packet) and how long it lasts.
type sample struct {
	data []byte
	dur  time.Duration
}

// sampleReader yields a file's samples in order; io.EOF (or any error) ends
// the pass over the file.
type sampleReader interface {
	next() (sample, error)
}

// fileTrack is one file: what it carries and how to read it from the top.
type fileTrack struct {
	path      string
	f         *os.File
	info      TrackInfo
	typ       webrtc.RTPCodecType
	codec     webrtc.RTPCodecParameters
	newReader func(io.Reader) (sampleReader, error)

	local *webrtc.TrackLocalStaticSample
	out   *sampleLocal // what Tracks hands out, the same every call
	ended chan struct{}
}

type fileSource struct {
	tracks []*fileTrack
	loop   bool

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewFileSource opens pre-encoded files, one track each, at most one audio
// and one video: IVF with VP8, H.264 Annex-B, Ogg Opus. The format is
// detected from the content, not the extension. Samples are written in
// real time once Start is called.
func NewFileSource(paths []string, cfg FileConfig) (Source, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no files", ErrInvalidConfig)
	}
	s := &fileSource{loop: cfg.Loop}
	var video, audio *fileTrack
	for _, p := range paths {
		t, err := openFileTrack(p)
		if err != nil {
			_ = s.closeFiles()
			return nil, err
		}
		s.tracks = append(s.tracks, t)
		prev := &video
		if t.typ == webrtc.RTPCodecTypeAudio {
			prev = &audio
		}
		if *prev != nil {
			_ = s.closeFiles()
			return nil, fmt.Errorf("%w: %s and %s are both %s", ErrTooManyTracks, (*prev).path, p, t.info.Kind)
		}
		*prev = t
	}
	streamID := newStreamID()
	for _, t := range s.tracks {
		local, err := webrtc.NewTrackLocalStaticSample(t.codec.RTPCodecCapability, t.info.Kind, streamID)
		if err != nil {
			_ = s.closeFiles()
			return nil, fmt.Errorf("track for %s: %w", t.path, err)
		}
		t.local = local
		t.out = &sampleLocal{TrackLocalStaticSample: local}
		t.ended = make(chan struct{})
	}
	return s, nil
}

// openFileTrack opens path, detects its format and reads its headers.
func openFileTrack(path string) (*fileTrack, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("media file: %w", err)
	}
	t, err := probe(path, f)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	t.path, t.f = path, f
	return t, nil
}

func probe(path string, f *os.File) (*fileTrack, error) {
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("media file %s: %w", path, err)
	}
	head = head[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("media file %s: %w", path, err)
	}
	var t *fileTrack
	switch detect(head) {
	case formatIVF:
		t, err = probeIVF(bufio.NewReader(f))
	case formatOgg:
		t, err = probeOgg(bufio.NewReader(f))
	case formatH264:
		t, err = probeH264(bufio.NewReader(f))
	default:
		return nil, fmt.Errorf("media file %s: %w (want IVF/VP8, H.264 Annex-B or Ogg Opus)", path, ErrUnknownFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("media file %s: %w", path, err)
	}
	return t, nil
}

func (s *fileSource) RegisterCodecs(m *webrtc.MediaEngine) error {
	for _, t := range s.tracks {
		if err := m.RegisterCodec(t.codec, t.typ); err != nil {
			return fmt.Errorf("register %s for %s: %w", t.codec.MimeType, t.path, err)
		}
	}
	return nil
}

func (s *fileSource) Tracks() []Track {
	out := make([]Track, 0, len(s.tracks))
	for _, t := range s.tracks {
		out = append(out, Track{Local: t.out, Info: t.info, Ended: t.ended})
	}
	return out
}

// Start starts one pacing goroutine per track; they stop when ctx is done,
// on Close, or (without Loop) at the end of their file.
func (s *fileSource) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return ErrAlreadyStarted
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	for _, t := range s.tracks {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t.run(ctx, s.loop)
		}()
	}
	return nil
}

func (s *fileSource) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return s.closeFiles()
}

func (s *fileSource) closeFiles() error {
	var errs []error
	for _, t := range s.tracks {
		if err := t.f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close media files: %w", err)
	}
	return nil
}

// maxLag is how far pacing may fall behind the media clock (a stalled
// machine, a slow disk) before it gives up catching up: beyond it the clock
// is moved instead of bursting the backlog onto the network.
const maxLag = time.Second

// run writes the file's samples at the pace of their durations. The clock
// is cumulative media time since Start, so rounding never accumulates and a
// loop continues the same timeline (the RTP timestamps follow the same
// durations inside TrackLocalStaticSample).
func (t *fileTrack) run(ctx context.Context, loop bool) {
	// Since Go 1.23 a stopped timer can be Reset without draining it.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	start := time.Now()
	var mediaTime time.Duration
	for {
		r, err := t.rewind()
		n := 0
		for err == nil {
			var smp sample
			smp, err = r.next()
			if err != nil {
				break
			}
			due := start.Add(mediaTime)
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			} else if -wait > maxLag {
				start = start.Add(-wait)
			}
			if ctx.Err() != nil {
				return
			}
			// A write error belongs to one binding (a closed PeerConnection);
			// the others, and later bindings, still want the samples.
			_ = t.local.WriteSample(pmedia.Sample{Data: smp.data, Duration: smp.dur})
			mediaTime += smp.dur
			n++
		}
		// Corrupt data ends a pass like EOF. A pass that produced nothing
		// would loop at full speed forever, so it ends the track too.
		if !loop || n == 0 {
			close(t.ended)
			return
		}
	}
}

func (t *fileTrack) rewind() (sampleReader, error) {
	if _, err := t.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", t.path, err)
	}
	return t.newReader(bufio.NewReader(t.f))
}
