package media

import (
	"fmt"
	"image/color"
	"strings"
	"time"

	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/openh264"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	// The test drivers register themselves in the process-global driver
	// manager on import. Other packages listing devices will see them as
	// "VideoTest" (camera) and "AudioTest" (microphone) and must filter
	// them out by label if they mean real devices only.
	_ "github.com/pion/mediadevices/pkg/driver/audiotest"
	_ "github.com/pion/mediadevices/pkg/driver/videotest"
)

// Labels of mediadevices' synthetic drivers.
const (
	videoTestLabel = "VideoTest"
	audioTestLabel = "AudioTest"
)

// TestConfig configures NewTestSource. Zero values take the defaults.
type TestConfig struct {
	VideoCodec string // "vp8" (default) | "h264"
	Width      int    // default 640, even
	Height     int    // default 480, even
	FrameRate  int    // default 30, at most 60
	Bitrate    int    // video kb/s, default 1000
	NoAudio    bool
	NoVideo    bool
	// ToneVolume is the peak of the tone in percent of full scale, 1 to
	// 100; 0 means the default, 25 (mediadevices' audiotest tone as is).
	// The source's SetToneVolume changes it while publishing, 0 included.
	ToneVolume int
	// ToneHz is the tone's frequency, 20 to 20000; 0 means audiotest's
	// own 480 Hz.
	ToneHz int
	// Colour, when set, replaces the moving pattern with a picture of one
	// colour (sRGB), for tests that look for a source in a composition.
	Colour *color.RGBA
}

const (
	testAudioBitrate = 32 // kb/s
	// keyFrameEvery bounds the wait of a new subscriber for a picture when
	// nobody sends PLI; a PLI or FIR still forces one at once.
	keyFrameEvery = 2 * time.Second
)

func (c *TestConfig) withDefaults() error {
	if c.NoAudio && c.NoVideo {
		return fmt.Errorf("%w: test source with neither audio nor video", ErrInvalidConfig)
	}
	c.VideoCodec = strings.ToLower(c.VideoCodec)
	if c.VideoCodec == "" {
		c.VideoCodec = "vp8"
	}
	if c.VideoCodec != "vp8" && c.VideoCodec != "h264" {
		return fmt.Errorf("%w: video codec %q (want vp8 or h264)", ErrInvalidConfig, c.VideoCodec)
	}
	if c.Width == 0 {
		c.Width = 640
	}
	if c.Height == 0 {
		c.Height = 480
	}
	if c.FrameRate == 0 {
		c.FrameRate = 30
	}
	if c.Bitrate == 0 {
		c.Bitrate = 1000
	}
	// The videotest driver lays chroma out at Width/2 per row: odd sizes
	// would corrupt the picture, tiny ones break the encoders.
	if c.Width < 16 || c.Height < 16 || c.Width > 3840 || c.Height > 2160 || c.Width%2 != 0 || c.Height%2 != 0 {
		return fmt.Errorf("%w: video size %dx%d (even, 16x16 to 3840x2160)", ErrInvalidConfig, c.Width, c.Height)
	}
	if c.FrameRate < 1 || c.FrameRate > 60 {
		return fmt.Errorf("%w: frame rate %d (1 to 60)", ErrInvalidConfig, c.FrameRate)
	}
	if c.ToneVolume == 0 {
		c.ToneVolume = defaultToneVolume
	}
	if c.ToneVolume < 0 || c.ToneVolume > 100 {
		return fmt.Errorf("%w: tone volume %d (0 to 100)", ErrInvalidConfig, c.ToneVolume)
	}
	if c.ToneHz != 0 && (c.ToneHz < 20 || c.ToneHz > 20000) {
		return fmt.Errorf("%w: tone frequency %d Hz (20 to 20000)", ErrInvalidConfig, c.ToneHz)
	}
	if c.Bitrate < 1 || c.Bitrate > 50000 {
		return fmt.Errorf("%w: bitrate %d kb/s (1 to 50000)", ErrInvalidConfig, c.Bitrate)
	}
	return nil
}

// testSource is a moving test pattern and a tone, encoded by mediadevices
// when the PeerConnection binds the tracks.
type testSource struct {
	*mdSource
	audio *audioDriverSource // nil without audio
}

// NewTestSource opens mediadevices' videotest and audiotest drivers and
// returns their tracks, encoded with libvpx (VP8) or the openh264 copy that
// mediadevices ships (H.264), and Opus. Only one test source can be open at
// a time in a process: the drivers are single global instances
// (ErrDeviceBusy otherwise).
func NewTestSource(cfg TestConfig) (Source, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	s := &testSource{mdSource: newMDSource("test source")}

	if !cfg.NoVideo {
		enc, info, err := videoEncoder(cfg)
		if err != nil {
			return nil, err
		}
		src, err := openVideoTest(cfg)
		if err != nil {
			return nil, err
		}
		track := mediadevices.NewVideoTrack(src, mediadevices.NewCodecSelector(mediadevices.WithVideoEncoders(enc)))
		s.add(track, enc.RTPCodec(), info, nil, src.isClosed) // a test source never ends by itself
	}
	if !cfg.NoAudio {
		params, err := opus.NewParams()
		if err != nil {
			_ = s.closeAll()
			return nil, fmt.Errorf("opus params: %w", err)
		}
		params.BitRate = testAudioBitrate * 1000
		src, err := openAudioTest()
		if err != nil {
			_ = s.closeAll()
			return nil, err
		}
		src.setVolume(cfg.ToneVolume)
		src.toneHz = cfg.ToneHz
		s.audio = src
		track := mediadevices.NewAudioTrack(src, mediadevices.NewCodecSelector(mediadevices.WithAudioEncoders(&params)))
		info := TrackInfo{Kind: KindAudio, Codec: CodecOpus, SampleRate: 48000, Channel: 1, Bitrate: testAudioBitrate}
		s.add(track, params.RTPCodec(), info, nil, src.isClosed)
	}
	return s, nil
}

func videoEncoder(cfg TestConfig) (codec.VideoEncoderBuilder, TrackInfo, error) {
	info := TrackInfo{Kind: KindVideo, Width: cfg.Width, Height: cfg.Height, FrameRate: cfg.FrameRate, Bitrate: cfg.Bitrate}
	keyInt := int(keyFrameEvery.Seconds()) * cfg.FrameRate
	switch cfg.VideoCodec {
	case "h264":
		params, err := openh264.NewParams()
		if err != nil {
			return nil, info, fmt.Errorf("openh264 params: %w", err)
		}
		params.BitRate = cfg.Bitrate * 1000
		params.IntraPeriod = uint(keyInt)
		// openh264 keeps the bitrate by skipping frames (EnableFrameSkip,
		// its default): on videotest's noise block at 640x480 and 1000 kb/s
		// about half of them. Without skipping it overshoots 2-3x instead,
		// as its QP is capped at 42. We keep the bitrate; VP8 manages both.
		info.Codec = CodecH264
		return &h264Builder{Params: params, fps: float32(cfg.FrameRate)}, info, nil
	default:
		params, err := vpx.NewVP8Params()
		if err != nil {
			return nil, info, fmt.Errorf("vp8 params: %w", err)
		}
		params.BitRate = cfg.Bitrate * 1000
		params.KeyFrameInterval = keyInt
		info.Codec = CodecVP8
		return &params, info, nil
	}
}

// h264Builder hands openh264 the frame rate the source really has.
// mediadevices measures the input's properties on a single frame, so the
// frame rate it passes to the encoder is always 0; openh264 then runs its
// rate control for a near-0 fps stream.
type h264Builder struct {
	openh264.Params
	fps float32
}

func (b *h264Builder) BuildVideoEncoder(r video.Reader, p prop.Media) (codec.ReadCloser, error) {
	if p.FrameRate <= 0 {
		p.FrameRate = b.fps
	}
	return b.Params.BuildVideoEncoder(r, p)
}

// SetToneVolume sets the peak of the tone, in percent of full scale (0 is
// silence, values outside 0-100 are clamped), from the next 20-ms chunk on.
// Callers find it through an interface of their own: it is specific to the
// test source.
func (s *testSource) SetToneVolume(v int) {
	if s.audio != nil {
		s.audio.setVolume(v)
	}
}
