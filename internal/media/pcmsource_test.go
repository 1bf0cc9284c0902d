package media

import (
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// countReader yields n frames of a tone, then io.EOF.
type countReader struct{ n, calls int }

func (c *countReader) ReadPCM(f []float32) error {
	if c.calls == c.n {
		return io.EOF
	}
	for i := range f {
		f[i] = float32(0.25 * math.Sin(2*math.Pi*440*float64(c.calls*len(f)+i)/PCMSampleRate))
	}
	c.calls++
	return nil
}

func TestPCMSourceConfig(t *testing.T) {
	for _, cfg := range []PCMConfig{{Channels: 3}, {Bitrate: 1}, {Bitrate: 600}} {
		if _, err := NewPCMSource(&countReader{}, cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	s, err := NewPCMSource(&countReader{}, PCMConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if tr := s.Tracks(); len(tr) != 1 || tr[0].Info.Kind != KindAudio || tr[0].Info.Channel != 1 || tr[0].Info.Bitrate != 64 {
		t.Errorf("tracks %+v", tr)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Frames come at 20-ms intervals; the reader's EOF ends the track.
func TestPCMReaderPacing(t *testing.T) {
	ended := make(chan struct{})
	p := &pcmReaderSource{r: &countReader{n: 10}, channels: 1, stop: make(chan struct{}), ended: ended}
	t0 := time.Now()
	for i := range 10 {
		a, _, err := p.Read()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if a.ChunkInfo().Len != PCMFrameSamples {
			t.Fatalf("frame len %d", a.ChunkInfo().Len)
		}
	}
	// 10 frames: the first at once, the tenth 180 ms later.
	if d := time.Since(t0); d < 170*time.Millisecond {
		t.Errorf("10 frames in %s: not paced", d)
	}
	if _, _, err := p.Read(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the reader's end: %v", err)
	}
	select {
	case <-ended:
	default:
		t.Error("Ended not closed")
	}
}

func TestPCMReaderClose(t *testing.T) {
	p := &pcmReaderSource{r: &countReader{n: 1000}, channels: 1, stop: make(chan struct{}), ended: make(chan struct{})}
	if _, _, err := p.Read(); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	_ = p.Close()
	if _, _, err := p.Read(); !errors.Is(err, io.EOF) {
		t.Fatalf("after Close: %v", err)
	}
}

// BenchmarkOpusEncode20ms is the Opus encode of one 20-ms mono frame at
// 64 kb/s; ×50 per second of a stream.
func BenchmarkOpusEncode20ms(b *testing.B) {
	params, err := opus.NewParams()
	if err != nil {
		b.Fatal(err)
	}
	params.BitRate = 64000
	cr := &countReader{n: math.MaxInt}
	r := audio.ReaderFunc(func() (wave.Audio, func(), error) {
		a := wave.NewFloat32Interleaved(wave.ChunkInfo{Len: PCMFrameSamples, Channels: 1, SamplingRate: PCMSampleRate})
		_ = cr.ReadPCM(a.Data)
		return a, func() {}, nil
	})
	enc, err := params.BuildAudioEncoder(r, prop.Media{Audio: prop.Audio{SampleRate: PCMSampleRate, ChannelCount: 1}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = enc.Close() }()
	for b.Loop() {
		if _, _, err := enc.Read(); err != nil {
			b.Fatal(err)
		}
	}
}
