// Package aac encodes PCM to AAC-LC with libavcodec's native "aac" encoder,
// through cgo (Debian: libavcodec-dev, libavutil-dev; FFmpeg 5.1 API). The
// library is opened on first use (push/avlib), not linked.
//
// There is no pure-Go AAC encoder to use instead (see MEDIA-NOTES.md), and
// the FFmpeg bindings that exist do not build against Debian's FFmpeg 5.1,
// so this is the smallest wrapper that does the job: planar float input in
// frames of FrameSize samples, raw AAC frames out, and the
// AudioSpecificConfig from the encoder's global header.
//
// The encoder uses libavcodec's default coder (twoloop): on the reference
// machine it costs about 1.1 ms of CPU per 1024-sample frame (~5 % of a core
// per stereo 128 kb/s stream); "fast" would be 6x cheaper but undershoots the
// bit rate and quality.
//
// libav logs through a process-wide logger; push/avlib lowers it to errors
// when it loads the library, because the encoder prints statistics ("Qavg")
// at info level on stderr.
package aac

/*
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>

static int aacw_open(AVCodecContext **out, int rate, int channels, int bitrate) {
	const AVCodec *codec = avcodec_find_encoder_by_name("aac");
	if (!codec) return AVERROR_ENCODER_NOT_FOUND;
	AVCodecContext *c = avcodec_alloc_context3(codec);
	if (!c) return AVERROR(ENOMEM);
	c->sample_rate = rate;
	c->sample_fmt = AV_SAMPLE_FMT_FLTP;
	c->bit_rate = bitrate;
	c->profile = FF_PROFILE_AAC_LOW;
	c->time_base = (AVRational){1, rate};
	// The AudioSpecificConfig goes into extradata instead of an ADTS
	// header on every frame: FLV carries it once as the sequence header.
	c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	av_channel_layout_default(&c->ch_layout, channels);
	int rc = avcodec_open2(c, codec, NULL);
	if (rc < 0) {
		avcodec_free_context(&c);
		return rc;
	}
	*out = c;
	return 0;
}

static AVFrame *aacw_frame(AVCodecContext *c) {
	AVFrame *f = av_frame_alloc();
	if (!f) return NULL;
	f->nb_samples = c->frame_size;
	f->format = c->sample_fmt;
	f->sample_rate = c->sample_rate;
	if (av_channel_layout_copy(&f->ch_layout, &c->ch_layout) < 0 || av_frame_get_buffer(f, 0) < 0) {
		av_frame_free(&f);
		return NULL;
	}
	return f;
}

// aacw_send copies one frame of planar samples (channel after channel,
// n each) into f and sends it; pcm == NULL starts draining.
static int aacw_send(AVCodecContext *c, AVFrame *f, const float *pcm, int n, int64_t pts) {
	if (!pcm) return avcodec_send_frame(c, NULL);
	int rc = av_frame_make_writable(f);
	if (rc < 0) return rc;
	for (int ch = 0; ch < c->ch_layout.nb_channels; ch++) {
		memcpy(f->data[ch], pcm + (size_t)ch * n, (size_t)n * sizeof(float));
	}
	f->nb_samples = n;
	f->pts = pts;
	return avcodec_send_frame(c, f);
}

static void aacw_free(AVCodecContext **c, AVFrame **f, AVPacket **p) {
	av_packet_free(p);
	av_frame_free(f);
	avcodec_free_context(c);
}

static int aacw_eagain(void) { return AVERROR(EAGAIN); }
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/roomctl/roomctl/push/avlib"
)

// Options configures an Encoder. Zero values take the defaults of a
// transcoded CDN push: 44.1 kHz, stereo, 128 kb/s.
type Options struct {
	SampleRate int // Hz; default 44100
	Channels   int // 1 or 2; default 2
	BitRate    int // bit/s; default 128000
}

// Packet is one encoded AAC frame (raw, no ADTS header). PTS is in samples
// at the sample rate; the encoder's priming delay makes the first packet's
// PTS negative (-1024), as libavcodec reports it.
type Packet struct {
	Data []byte
	PTS  int64
}

// ErrClosed is returned by an Encoder used after Close.
var ErrClosed = errors.New("aac: encoder closed")

// Encoder is one libavcodec AAC encoder. It is not safe for concurrent use.
type Encoder struct {
	c         *C.AVCodecContext
	f         *C.AVFrame
	p         *C.AVPacket
	channels  int
	frameSize int
	asc       []byte
	draining  bool
}

// New opens an encoder.
func New(o Options) (*Encoder, error) {
	if o.SampleRate == 0 {
		o.SampleRate = 44100
	}
	if o.Channels == 0 {
		o.Channels = 2
	}
	if o.BitRate == 0 {
		o.BitRate = 128000
	}
	if o.Channels < 1 || o.Channels > 2 {
		return nil, fmt.Errorf("aac: %d channels: want 1 or 2", o.Channels)
	}
	if o.SampleRate < 8000 || o.SampleRate > 96000 || o.BitRate < 8000 || o.BitRate > 512000 {
		return nil, fmt.Errorf("aac: unsupported rate %d Hz / bit rate %d", o.SampleRate, o.BitRate)
	}
	if err := avlib.Load(); err != nil {
		return nil, fmt.Errorf("aac: %w", err)
	}
	e := &Encoder{channels: o.Channels}
	if rc := C.aacw_open(&e.c, C.int(o.SampleRate), C.int(o.Channels), C.int(o.BitRate)); rc < 0 {
		return nil, avError("open encoder", rc)
	}
	e.f = C.aacw_frame(e.c)
	e.p = C.av_packet_alloc()
	if e.f == nil || e.p == nil {
		e.Close()
		return nil, errors.New("aac: out of memory")
	}
	e.frameSize = int(e.c.frame_size)
	if e.c.extradata_size > 0 {
		e.asc = C.GoBytes(unsafe.Pointer(e.c.extradata), e.c.extradata_size)
	}
	if e.frameSize <= 0 || len(e.asc) < 2 {
		e.Close()
		return nil, fmt.Errorf("aac: encoder gave frame size %d and a %d-byte AudioSpecificConfig", e.frameSize, len(e.asc))
	}
	return e, nil
}

// FrameSize is the number of samples per channel of every frame (1024).
func (e *Encoder) FrameSize() int { return e.frameSize }

// AudioSpecificConfig is the encoder's global header (ISO 14496-3
// 1.6.2.1): the FLV/RTMP AAC sequence header.
func (e *Encoder) AudioSpecificConfig() []byte { return append([]byte(nil), e.asc...) }

// Encode encodes one frame: pcm holds FrameSize samples of the first
// channel, then FrameSize of the second (planar float, full scale ±1).
// pts is the frame's first sample index. Packets that became ready are
// appended to dst (usually zero or one).
func (e *Encoder) Encode(dst []Packet, pcm []float32, pts int64) ([]Packet, error) {
	if e.c == nil || e.draining {
		return dst, ErrClosed
	}
	if len(pcm) != e.channels*e.frameSize {
		return dst, fmt.Errorf("aac: frame of %d samples, want %d", len(pcm), e.channels*e.frameSize)
	}
	if rc := C.aacw_send(e.c, e.f, (*C.float)(unsafe.Pointer(&pcm[0])), C.int(e.frameSize), C.int64_t(pts)); rc < 0 {
		return dst, avError("send frame", rc)
	}
	return e.receive(dst)
}

// Flush drains the encoder's delayed frames; the encoder accepts no more
// input afterwards.
func (e *Encoder) Flush(dst []Packet) ([]Packet, error) {
	if e.c == nil || e.draining {
		return dst, nil
	}
	e.draining = true
	if rc := C.aacw_send(e.c, e.f, nil, 0, 0); rc < 0 {
		return dst, avError("flush", rc)
	}
	return e.receive(dst)
}

func (e *Encoder) receive(dst []Packet) ([]Packet, error) {
	for {
		rc := C.avcodec_receive_packet(e.c, e.p)
		if rc == C.aacw_eagain() || rc == C.AVERROR_EOF {
			return dst, nil
		}
		if rc < 0 {
			return dst, avError("receive packet", rc)
		}
		dst = append(dst, Packet{
			Data: C.GoBytes(unsafe.Pointer(e.p.data), e.p.size),
			PTS:  int64(e.p.pts),
		})
		C.av_packet_unref(e.p)
	}
}

// Close frees the encoder; it is safe to call more than once.
func (e *Encoder) Close() {
	if e.c == nil && e.f == nil && e.p == nil {
		return
	}
	C.aacw_free(&e.c, &e.f, &e.p)
}

func avError(what string, rc C.int) error {
	buf := make([]C.char, 128)
	C.av_strerror(rc, &buf[0], C.size_t(len(buf)))
	return fmt.Errorf("aac: %s: %s (%d)", what, C.GoString(&buf[0]), int(rc))
}
