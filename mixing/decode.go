// Package mixing mixes audio files into a microphone signal the way the
// SDK's startAudioMixing does: files (WAV, MP3, Ogg Vorbis, Ogg Opus) are
// decoded whole, converted to 48 kHz mono with a windowed-sinc resampler,
// and played by up to two players (ids 0 and 1) with cycle, loop, start
// offset and volume; the sum goes through a soft limiter. A Mixer is a
// media.PCMReader: the publishing track pulls one 20-ms frame at a time.
package mixing

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/roomctl/roomctl/internal/dsp"
)

// SampleRate is the rate of everything the package produces: 48 kHz mono.
// Mono because the published microphone track is mono; stereo files are
// averaged down.
const SampleRate = 48000

// ErrFormat is returned for a file that is none of the supported formats.
var ErrFormat = errors.New("unsupported audio format (want WAV, MP3, Ogg Vorbis or Ogg Opus)")

// Clip is a decoded file: 48 kHz mono float samples, full scale ±1.
type Clip struct {
	Name    string // base name of the file, for audio_mixing_played
	Samples []float32
}

// Len is the length of the clip in 48-kHz samples.
func (c *Clip) Len() int { return len(c.Samples) }

// pcm is what a format decoder returns: interleaved samples at their own rate.
type pcm struct {
	rate     int
	channels int
	data     []float32
}

// DecodeFile decodes a whole file into a Clip. The format is recognised by
// content (RIFF, OggS with OpusHead or vorbis, ID3 or an MPEG frame sync),
// not by extension. Files are held in memory whole: about 11.5 MB per
// minute of audio; mixing files are jingles and beds, not albums.
func DecodeFile(path string) (*Clip, error) {
	f, err := os.Open(path)
	if err != nil {
		// The PathError names the whole path and the operation again:
		// keep its cause.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("open %s: %w", filepath.Base(path), err)
	}
	defer func() { _ = f.Close() }()
	c, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", filepath.Base(path), err)
	}
	c.Name = filepath.Base(path)
	return c, nil
}

// Decode decodes a whole stream into a 48 kHz mono Clip.
func Decode(r io.ReadSeeker) (*Clip, error) {
	head := make([]byte, 64)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("read header: %w", err)
	}
	head = head[:n]
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seek: %w", err)
	}
	var p pcm
	switch {
	case bytes.HasPrefix(head, []byte("RIFF")) && len(head) >= 12 && string(head[8:12]) == "WAVE":
		p, err = decodeWAV(r)
	case bytes.HasPrefix(head, []byte("OggS")) && bytes.Contains(head, []byte("OpusHead")):
		p, err = decodeOpus(bufio.NewReader(r))
	case bytes.HasPrefix(head, []byte("OggS")) && bytes.Contains(head, []byte("\x01vorbis")):
		p, err = decodeVorbis(bufio.NewReader(r))
	case bytes.HasPrefix(head, []byte("ID3")) || (len(head) >= 2 && head[0] == 0xFF && head[1]&0xE0 == 0xE0):
		p, err = decodeMP3(r)
	default:
		return nil, ErrFormat
	}
	if err != nil {
		return nil, err
	}
	if p.rate <= 0 || p.channels <= 0 {
		return nil, fmt.Errorf("%w: rate %d, %d channels", ErrFormat, p.rate, p.channels)
	}
	mono := downmix(p.data, p.channels)
	if len(mono) == 0 {
		return nil, errors.New("no audio in file")
	}
	samples, err := dsp.Resample(mono, p.rate, SampleRate)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return &Clip{Samples: samples}, nil
}

// downmix averages interleaved channels into one.
func downmix(data []float32, channels int) []float32 {
	if channels == 1 {
		return data
	}
	out := make([]float32, len(data)/channels)
	g := 1 / float32(channels)
	for i := range out {
		var s float32
		for _, v := range data[i*channels : (i+1)*channels] {
			s += v
		}
		out[i] = s * g
	}
	return out
}
