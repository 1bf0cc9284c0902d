package mixing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/go-audio/wav"
	"github.com/hajimehoshi/go-mp3"
	"github.com/jfreymuth/oggvorbis"
	"github.com/pion/opus"
	"github.com/pion/opus/pkg/oggreader"
)

func decodeWAV(r io.ReadSeeker) (pcm, error) {
	d := wav.NewDecoder(r)
	if !d.IsValidFile() {
		return pcm{}, errors.New("invalid WAV file")
	}
	if d.WavAudioFormat != 1 {
		return pcm{}, fmt.Errorf("%w: WAV audio format %d (only integer PCM)", ErrFormat, d.WavAudioFormat)
	}
	buf, err := d.FullPCMBuffer()
	if err != nil {
		return pcm{}, fmt.Errorf("wav: %w", err)
	}
	depth := buf.SourceBitDepth
	if depth < 8 || depth > 32 {
		return pcm{}, fmt.Errorf("%w: WAV bit depth %d", ErrFormat, depth)
	}
	scale := 1 / float32(int64(1)<<(depth-1))
	out := make([]float32, len(buf.Data))
	for i, v := range buf.Data {
		if depth == 8 { // 8-bit WAV is unsigned
			v -= 128
		}
		out[i] = float32(v) * scale
	}
	return pcm{rate: buf.Format.SampleRate, channels: buf.Format.NumChannels, data: out}, nil
}

func decodeVorbis(r io.Reader) (pcm, error) {
	data, f, err := oggvorbis.ReadAll(r)
	if err != nil {
		return pcm{}, fmt.Errorf("ogg vorbis: %w", err)
	}
	return pcm{rate: f.SampleRate, channels: f.Channels, data: data}, nil
}

// decodeOpus decodes Ogg Opus at 48 kHz, drops the header's pre-skip and
// trims the end to the last page's granule position (RFC 7845 §4).
func decodeOpus(r io.Reader) (pcm, error) {
	rd, h, err := oggreader.NewWith(r)
	if err != nil {
		return pcm{}, fmt.Errorf("ogg opus: %w", err)
	}
	ch := min(max(int(h.Channels), 1), 2)
	dec, err := opus.NewDecoderWithOutput(SampleRate, ch)
	if err != nil {
		return pcm{}, fmt.Errorf("opus decoder: %w", err)
	}
	var out []float32
	buf := make([]float32, 5760*ch) // 120 ms, the longest Opus packet
	var granule uint64
	for {
		pkt, ph, err := rd.ParseNextPacket()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return pcm{}, fmt.Errorf("ogg opus: %w", err)
		}
		if ph != nil && ph.GranulePosition != ^uint64(0) {
			granule = max(granule, ph.GranulePosition)
		}
		if len(pkt) == 0 || (len(pkt) >= 8 && string(pkt[:8]) == "OpusTags") {
			continue
		}
		n, err := dec.DecodeToFloat32(pkt, buf)
		if err != nil {
			return pcm{}, fmt.Errorf("opus packet: %w", err)
		}
		out = append(out, buf[:n*ch]...)
	}
	skip := int(h.PreSkip)
	frames := len(out) / ch
	end := frames
	if granule > 0 && int(granule) < frames {
		end = int(granule)
	}
	if skip >= end {
		return pcm{}, errors.New("ogg opus: no audio after pre-skip")
	}
	return pcm{rate: SampleRate, channels: ch, data: out[skip*ch : end*ch]}, nil
}

// mp3DecoderDelay is the standard MPEG layer III decoder delay in samples,
// which go-mp3 does not remove.
const mp3DecoderDelay = 529

// decodeMP3 decodes with go-mp3 (always 16-bit stereo at the file's rate)
// and removes what go-mp3 leaves in: the Xing/Info frame, which it
// decodes as a frame of silence, the encoder delay and padding written by
// LAME (and FFmpeg) in that frame, and the 529-sample decoder delay. A file
// without the tag only loses the decoder delay; its encoder delay (576
// for LAME) stays in as leading silence.
func decodeMP3(r io.ReadSeeker) (pcm, error) {
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(r, head)
	gap := parseGapless(head[:n])
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return pcm{}, fmt.Errorf("seek: %w", err)
	}
	d, err := mp3.NewDecoder(r)
	if err != nil {
		return pcm{}, fmt.Errorf("mp3: %w", err)
	}
	raw, err := io.ReadAll(d)
	if err != nil {
		return pcm{}, fmt.Errorf("mp3: %w", err)
	}
	frames := len(raw) / 4
	start := mp3DecoderDelay
	end := frames
	if gap.tag {
		start += gap.frameSamples + gap.delay
		end = frames - gap.padding + mp3DecoderDelay
		end = min(end, frames)
	}
	if start >= end {
		return pcm{}, errors.New("mp3: no audio")
	}
	out := make([]float32, (end-start)*2)
	for i := range out {
		out[i] = float32(int16(binary.LittleEndian.Uint16(raw[start*4+2*i:]))) / 32768
	}
	return pcm{rate: d.SampleRate(), channels: 2, data: out}, nil
}

type gapless struct {
	tag            bool // a Xing/Info frame is present
	frameSamples   int  // samples per frame (1152 or 576)
	delay, padding int  // from the LAME extension, 0 without it
}

// parseGapless finds the Xing/Info frame at the start of an MP3 (after
// any ID3v2 tag) and the LAME extension's encoder delay and padding.
func parseGapless(b []byte) gapless {
	var g gapless
	i := 0
	if len(b) >= 10 && string(b[:3]) == "ID3" {
		size := int(b[6]&0x7f)<<21 | int(b[7]&0x7f)<<14 | int(b[8]&0x7f)<<7 | int(b[9]&0x7f)
		i = 10 + size
		if b[5]&0x10 != 0 {
			i += 10
		}
	}
	for ; i+4 <= len(b); i++ {
		if b[i] == 0xFF && b[i+1]&0xE0 == 0xE0 {
			break
		}
	}
	if i+4 > len(b) {
		return g
	}
	version := (b[i+1] >> 3) & 3 // 3: MPEG-1
	mono := b[i+3]>>6 == 3
	side := 17
	g.frameSamples = 576
	if version == 3 {
		g.frameSamples = 1152
		if !mono {
			side = 32
		}
	} else if mono {
		side = 9
	}
	x := i + 4 + side
	if x+8 > len(b) || (string(b[x:x+4]) != "Xing" && string(b[x:x+4]) != "Info") {
		return g
	}
	g.tag = true
	flags := binary.BigEndian.Uint32(b[x+4:])
	p := x + 8
	if flags&1 != 0 {
		p += 4
	}
	if flags&2 != 0 {
		p += 4
	}
	if flags&4 != 0 {
		p += 100
	}
	if flags&8 != 0 {
		p += 4
	}
	if p+24 > len(b) {
		return g
	}
	d := b[p+21:]
	g.delay = int(d[0])<<4 | int(d[1])>>4
	g.padding = int(d[1]&0x0f)<<8 | int(d[2])
	return g
}
