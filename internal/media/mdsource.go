package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/webrtc/v4"
)

// mdSource is a Source made of mediadevices tracks: the test pattern and
// tone, PCM (mixer) tracks and capture devices. mediadevices encodes when the
// PeerConnection binds a track, so Start has nothing to start.
type mdSource struct {
	name     string // for errors: "test source", "capture source", ...
	streamID string
	codecs   []webrtc.RTPCodecParameters // to register, with their kinds
	kinds    []webrtc.RTPCodecType
	tracks   []Track
	md       []mediadevices.Track
	// closers are closed after the tracks (devices the tracks read from).
	closers []io.Closer

	mu     sync.Mutex
	closed bool
}

func newMDSource(name string) *mdSource {
	return &mdSource{name: name, streamID: newStreamID()}
}

// add appends a track. ended is closed when the track's media ends by
// itself; a nil channel means it never does. stopped reports that the
// track's source returns no more media (ended, failed or closed), which
// its Bind then refuses at once; see mdLocal.
func (s *mdSource) add(md mediadevices.Track, c *codec.RTPCodec, info TrackInfo, ended <-chan struct{}, stopped func() bool) {
	params := c.RTPCodecParameters
	typ := webrtc.RTPCodecTypeAudio
	if info.Kind == KindVideo {
		typ = webrtc.RTPCodecTypeVideo
		params.RTCPFeedback = videoRTCPFeedback
	}
	if ended == nil {
		ended = make(chan struct{})
	}
	s.codecs = append(s.codecs, params)
	s.kinds = append(s.kinds, typ)
	s.md = append(s.md, md)
	s.tracks = append(s.tracks, Track{
		Local: &mdLocal{track: md, id: info.Kind, streamID: s.streamID, mime: params.MimeType, stopped: stopped},
		Info:  info,
		Ended: ended,
	})
}

// RegisterCodecs registers the encoders' codecs the way
// CodecSelector.Populate does, but with video RTCP feedback and with
// errors returned: Populate drops them, and mediadevices' codecs carry no
// feedback at all.
func (s *mdSource) RegisterCodecs(m *webrtc.MediaEngine) error {
	for i, c := range s.codecs {
		if err := m.RegisterCodec(c, s.kinds[i]); err != nil {
			return fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	return nil
}

func (s *mdSource) Tracks() []Track { return append([]Track(nil), s.tracks...) }

// Start does nothing but refuse a closed source: mediadevices starts
// encoding when the PeerConnection binds a track.
func (s *mdSource) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

func (s *mdSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeAll()
}

// closeAll closes the tracks, then the closers; also used to undo a
// half-built source.
func (s *mdSource) closeAll() error {
	var errs []error
	for _, t := range s.md {
		if err := t.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range s.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.md, s.closers = nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close %s: %w", s.name, err)
	}
	return nil
}
