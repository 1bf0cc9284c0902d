package media

import (
	"fmt"

	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/prop"
)

// CaptureConfig configures NewCaptureSource. Zero values take the
// defaults.
type CaptureConfig struct {
	Mic      bool
	MicID    string // audio input id (AudioDevice.ID); "" for the default one
	Camera   bool
	CameraID string // camera id (Camera.ID); "" for the first one

	// The camera mode nearest to Width×Height at FrameRate is taken
	// (default 640×480 at 30); the encoder runs at the mode's size.
	VideoCodec string // "vp8" (default) | "h264"
	Width      int
	Height     int
	FrameRate  int
	Bitrate    int // video kb/s, default 1000

	AudioBitrate int // Opus kb/s, default 32
}

// CaptureSource publishes a microphone and/or a camera. A track ends by
// itself (Track.Ended, audio_track_end / video_track_end) when its device
// goes away; the other track goes on.
type CaptureSource struct {
	*mdSource
	mic     *Mic
	camera  string
	camMode prop.Video
}

// NewCaptureSource opens the devices cfg asks for. Errors wrapping
// ErrNoDevice name a device that is not there.
func NewCaptureSource(cfg CaptureConfig) (*CaptureSource, error) {
	if !cfg.Mic && !cfg.Camera {
		return nil, fmt.Errorf("%w: capture source with neither microphone nor camera", ErrInvalidConfig)
	}
	if cfg.AudioBitrate == 0 {
		cfg.AudioBitrate = testAudioBitrate
	}
	vc := TestConfig{VideoCodec: cfg.VideoCodec, Width: cfg.Width, Height: cfg.Height, FrameRate: cfg.FrameRate, Bitrate: cfg.Bitrate}
	if err := vc.withDefaults(); err != nil {
		return nil, err
	}
	s := &CaptureSource{mdSource: newMDSource("capture source")}
	if cfg.Camera {
		if err := s.addCamera(cfg.CameraID, vc); err != nil {
			return nil, err
		}
	}
	if cfg.Mic {
		m, err := OpenMic(cfg.MicID)
		if err != nil {
			_ = s.closeAll()
			return nil, err
		}
		s.closers = append(s.closers, m)
		s.mic = m
		if err := s.addPCM(m, PCMConfig{Channels: 1, Bitrate: cfg.AudioBitrate}); err != nil {
			_ = s.closeAll()
			return nil, err
		}
	}
	return s, nil
}

func (s *CaptureSource) addCamera(id string, vc TestConfig) error {
	src, mode, err := openCamera(id, prop.Video{Width: vc.Width, Height: vc.Height, FrameRate: float32(vc.FrameRate)})
	if err != nil {
		return err
	}
	// Encode at the mode's own size and rate.
	vc.Width, vc.Height = mode.Width, mode.Height
	if mode.FrameRate >= 1 && mode.FrameRate <= 60 {
		vc.FrameRate = int(mode.FrameRate)
	}
	enc, info, err := videoEncoder(vc)
	if err != nil {
		_ = src.Close()
		return err
	}
	track := mediadevices.NewVideoTrack(src, mediadevices.NewCodecSelector(mediadevices.WithVideoEncoders(enc)))
	s.add(track, enc.RTPCodec(), info, src.ended, src.stopped)
	s.camera, s.camMode = src.d.Info().Label, mode
	return nil
}

// Mic is the microphone captured, nil without one.
func (s *CaptureSource) Mic() *Mic { return s.mic }

// CameraID is the camera captured ("" without a camera) and the mode it
// runs in.
func (s *CaptureSource) CameraID() (string, prop.Video) { return s.camera, s.camMode }
