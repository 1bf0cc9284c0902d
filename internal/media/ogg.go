package media

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// Trap: pion's OggReader returns whole pages, and a page is not a packet.
// ffmpeg's Ogg muxer fills pages for up to a second (page_duration), about
// 50 Opus packets each; writing such a page as one sample sends one
// undecodable RTP packet per second (pion's example sidesteps this with
// -page_duration 20000). We keep pion's reader for framing and CRC checks,
// but watch the bytes it consumes to get each page's segment table and cut
// the page into packets (RFC 3533 lacing), joining packets that continue
// on the next page.

// pageCapture records the bytes the OggReader consumes for one page.
type pageCapture struct {
	r   io.Reader
	buf []byte
}

func (c *pageCapture) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.buf = append(c.buf, p[:n]...)
	return n, err
}

const (
	oggPageHeaderLen = 27
	oggContinued     = 0x01
)

// oggOpusReader yields the Opus packets of the first Opus stream in a file.
type oggOpusReader struct {
	capture *pageCapture
	r       *oggreader.OggReader
	head    *oggreader.OggHeader
	serial  uint32
	queue   [][]byte
	partial []byte
	skip    int // header packets still to drop (OpusTags)
}

func newOggOpusReader(rd io.Reader) (*oggOpusReader, error) {
	c := &pageCapture{r: rd}
	r, head, err := oggreader.NewWith(c)
	if err != nil {
		return nil, fmt.Errorf("ogg: %w", err)
	}
	if len(c.buf) < oggPageHeaderLen {
		return nil, fmt.Errorf("ogg: short first page")
	}
	return &oggOpusReader{
		capture: c, r: r, head: head,
		serial: binary.LittleEndian.Uint32(c.buf[14:18]),
		skip:   1,
	}, nil
}

func (o *oggOpusReader) packet() ([]byte, error) {
	for len(o.queue) == 0 {
		o.capture.buf = o.capture.buf[:0]
		payload, h, err := o.r.ParseNextPage()
		if err != nil {
			return nil, err
		}
		raw := o.capture.buf
		if h.Serial != o.serial || len(raw) < oggPageHeaderLen {
			continue // another logical stream multiplexed in
		}
		nseg := int(raw[26])
		if len(raw) < oggPageHeaderLen+nseg {
			return nil, fmt.Errorf("ogg: short page")
		}
		cur := o.partial
		if raw[5]&oggContinued == 0 {
			cur = nil // a lost continuation: drop the fragment
		}
		off := 0
		for _, seg := range raw[oggPageHeaderLen : oggPageHeaderLen+nseg] {
			end := off + int(seg)
			if end > len(payload) {
				return nil, fmt.Errorf("ogg: segment table exceeds page")
			}
			cur = append(cur, payload[off:end]...)
			off = end
			if seg < 255 {
				if o.skip > 0 {
					o.skip--
				} else {
					o.queue = append(o.queue, cur)
				}
				cur = nil
			}
		}
		o.partial = cur
	}
	p := o.queue[0]
	o.queue = o.queue[1:]
	return p, nil
}

func (o *oggOpusReader) next() (sample, error) {
	for {
		p, err := o.packet()
		if err != nil {
			return sample{}, err
		}
		// Empty or malformed packets carry no time and no sound.
		if d := opusPacketDuration(p); d > 0 {
			return sample{data: p, dur: d}, nil
		}
	}
}

// opusPacketDuration reads a packet's duration from its TOC byte (RFC 6716
// 3.1). This is the granule position's increment spread over the packets
// of a page, known per packet instead of per page.
func opusPacketDuration(p []byte) time.Duration {
	if len(p) == 0 {
		return 0
	}
	config := p[0] >> 3
	var frame time.Duration
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = [...]time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // Hybrid: 10, 20 ms
		frame = [...]time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [...]time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	frames := 1
	switch p[0] & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0
		}
		frames = int(p[1] & 0x3f)
	}
	d := frame * time.Duration(frames)
	if d > 120*time.Millisecond { // RFC 6716 caps a packet at 120 ms
		return 0
	}
	return d
}

// oggFirstCodec names the codec of the first page's packet by its magic, so
// that a Vorbis file is reported as Vorbis rather than as a malformed Opus
// header.
func oggFirstCodec(rd *bufio.Reader) string {
	h, err := rd.Peek(oggPageHeaderLen)
	if err != nil {
		return ""
	}
	start := oggPageHeaderLen + int(h[26])
	p, _ := rd.Peek(start + 8)
	if len(p) <= start {
		return ""
	}
	p = p[start:]
	for _, m := range []struct{ magic, name string }{
		{"OpusHead", "Opus"}, {"\x01vorbis", "Vorbis"}, {"\x80theora", "Theora"},
		{"\x7fFLAC", "FLAC"}, {"Speex", "Speex"}, {"\x80daala", "Daala"},
	} {
		if strings.HasPrefix(string(p), m.magic) {
			return m.name
		}
	}
	return ""
}

func probeOgg(rd *bufio.Reader) (*fileTrack, error) {
	if c := oggFirstCodec(rd); c != "Opus" {
		if c == "" {
			c = "an unknown codec"
		}
		return nil, fmt.Errorf("%w: Ogg with %s (only Opus is supported)", ErrUnsupportedCodec, c)
	}
	r, err := newOggOpusReader(rd)
	if err != nil {
		return nil, err
	}
	ch := int(r.head.Channels)
	if ch < 1 || ch > 2 {
		return nil, fmt.Errorf("%w: Opus with %d channels (mono or stereo only)", ErrUnsupportedCodec, ch)
	}
	if _, err := r.next(); err != nil {
		return nil, fmt.Errorf("ogg: no audio packet: %w", err)
	}
	return &fileTrack{
		// RTP Opus runs at 48 kHz whatever the OpusHead's input sample rate
		// says: that field only records what the encoder was fed.
		info:  TrackInfo{Kind: KindAudio, Codec: CodecOpus, SampleRate: 48000, Channel: ch},
		typ:   webrtc.RTPCodecTypeAudio,
		codec: opusCodec,
		newReader: func(rd io.Reader) (sampleReader, error) {
			r, err := newOggOpusReader(rd)
			if err != nil {
				return nil, err
			}
			return r, nil
		},
	}, nil
}
