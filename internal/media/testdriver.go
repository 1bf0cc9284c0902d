package media

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// driverMu serializes what we do to mediadevices drivers. The driver
// manager is a process-global registry (the library's design, not ours) and
// a driver's open/running/closed state is a plain field with no lock, so
// two sources opening or closing at once would race on it. The lock is
// global because what it guards is.
var driverMu sync.Mutex

// We open the test drivers ourselves instead of through GetUserMedia:
//   - GetUserMedia opens every registered driver of the kind just to read
//     its properties, even with a DeviceID constraint, so with the camera
//     and microphone drivers registered it would touch real devices (and
//     ALSA's "null" capture device, whose first Read panics).
//   - It merges the driver's advertised properties over the constraints,
//     so videotest always produces 640x480@30 whatever Width, Height and
//     FrameRate ask for; VideoRecord given our own prop.Media honours them.
//   - Closing a driver while a reader waits on videotest's ticker strands
//     that reader forever (the ticker is stopped, never closed); our
//     wrapper below closes the driver only between reads.

func findTestDriver(label string, typ driver.DeviceType) (driver.Driver, error) {
	ds := driver.GetManager().Query(func(d driver.Driver) bool {
		info := d.Info()
		return info.Label == label && info.DeviceType == typ
	})
	if len(ds) == 0 {
		return nil, fmt.Errorf("mediadevices %s driver not registered", label)
	}
	d := ds[0]
	if d.Status() != driver.StateClosed {
		return nil, fmt.Errorf("%w: mediadevices %s driver is %s (one test source per process)", ErrDeviceBusy, label, d.Status())
	}
	return d, nil
}

func openVideoTest(cfg TestConfig) (*videoDriverSource, error) {
	driverMu.Lock()
	defer driverMu.Unlock()
	d, err := findTestDriver(videoTestLabel, driver.Camera)
	if err != nil {
		return nil, err
	}
	rec, ok := d.(driver.VideoRecorder)
	if !ok {
		return nil, fmt.Errorf("mediadevices %s driver records no video", videoTestLabel)
	}
	if err := d.Open(); err != nil {
		return nil, fmt.Errorf("open %s: %w", videoTestLabel, err)
	}
	r, err := rec.VideoRecord(prop.Media{Video: prop.Video{
		Width: cfg.Width, Height: cfg.Height, FrameRate: float32(cfg.FrameRate),
	}})
	if err != nil {
		// VideoRecord closes the driver itself when it fails.
		return nil, fmt.Errorf("record %s: %w", videoTestLabel, err)
	}
	vs := &videoDriverSource{driverSource: driverSource{d: d}, r: r}
	if c := cfg.Colour; c != nil {
		vs.solid = solidPicture(cfg.Width, cfg.Height, *c)
	}
	return vs, nil
}

func openAudioTest() (*audioDriverSource, error) {
	driverMu.Lock()
	defer driverMu.Unlock()
	d, err := findTestDriver(audioTestLabel, driver.Microphone)
	if err != nil {
		return nil, err
	}
	rec, ok := d.(driver.AudioRecorder)
	if !ok {
		return nil, fmt.Errorf("mediadevices %s driver records no audio", audioTestLabel)
	}
	if err := d.Open(); err != nil {
		return nil, fmt.Errorf("open %s: %w", audioTestLabel, err)
	}
	r, err := rec.AudioRecord(prop.Media{Audio: prop.Audio{
		SampleRate: 48000, ChannelCount: 1, Latency: 20 * time.Millisecond,
	}})
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", audioTestLabel, err)
	}
	s := &audioDriverSource{driverSource: driverSource{d: d}, r: r}
	s.setVolume(defaultToneVolume)
	return s, nil
}

// driverSource is the mediadevices.Source side of an opened driver.
type driverSource struct {
	d driver.Driver
	// mu is held for the length of every Read so that Close waits for the
	// read in flight (at most one frame period) before closing the driver.
	mu     sync.Mutex
	closed bool
}

func (s *driverSource) ID() string { return s.d.ID() }

func (s *driverSource) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *driverSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	driverMu.Lock()
	defer driverMu.Unlock()
	if err := s.d.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.d.Info().Label, err)
	}
	return nil
}

type videoDriverSource struct {
	driverSource
	r     video.Reader
	solid *image.YCbCr // replaces the pattern when set
}

// solidPicture is a w x h picture of one colour, 4:2:0.
func solidPicture(w, h int, c color.RGBA) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	y, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
	for i := range img.Y {
		img.Y[i] = y
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = cb, cr
	}
	return img
}

// Read returns io.EOF once closed, which ends the track: mediadevices'
// sending goroutine returns and closes its encoder.
func (s *videoDriverSource) Read() (image.Image, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, func() {}, io.EOF
	}
	img, release, err := s.r.Read() // paces the frames
	if err != nil || s.solid == nil {
		return img, release, err
	}
	release()
	return s.solid, func() {}, nil
}

// defaultToneVolume is the peak of audiotest's sine in percent of full
// scale (its amplitude is 0.25).
const defaultToneVolume = 25

type audioDriverSource struct {
	driverSource
	r      audio.Reader
	volume atomic.Int32 // peak of the tone, percent of full scale
	// toneHz, when not 0, replaces the driver's 480 Hz with a sine of
	// that frequency (same amplitude); phase runs on across reads.
	toneHz int
	phase  float64
}

func (s *audioDriverSource) setVolume(v int) {
	s.volume.Store(int32(min(100, max(0, v))))
}

// Read scales the driver's tone to the volume; at the default it passes
// the samples through untouched.
func (s *audioDriverSource) Read() (wave.Audio, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, func() {}, io.EOF
	}
	a, release, err := s.r.Read()
	if err != nil {
		return a, release, err
	}
	if f, ok := a.(*wave.Float32Interleaved); ok && s.toneHz != 0 {
		ch := f.ChunkInfo().Channels
		step := 2 * math.Pi * float64(s.toneHz) / float64(f.ChunkInfo().SamplingRate)
		for i := 0; i+ch <= len(f.Data); i += ch {
			v := float32(0.25 * math.Sin(s.phase))
			for c := range ch {
				f.Data[i+c] = v
			}
			s.phase = math.Mod(s.phase+step, 2*math.Pi)
		}
	}
	if v := s.volume.Load(); v != defaultToneVolume {
		if f, ok := a.(*wave.Float32Interleaved); ok {
			gain := float32(v) / defaultToneVolume
			for i := range f.Data {
				f.Data[i] *= gain
			}
		}
	}
	return a, release, nil
}
