// Package vcodec decodes VP8 and H.264 pictures, scales them onto a
// canvas and encodes the canvas to H.264, with FFmpeg's libraries through
// cgo: libavcodec's native VP8 and H.264 decoders, libswscale, and
// libavcodec's libx264 wrapper (Debian 12: libavcodec-dev, libswscale-dev,
// FFmpeg 5.1 API; libx264 is linked into Debian's libavcodec). The
// libraries are opened on first use (push/avlib), not linked.
//
// The encoder is set up for live restreams: x264's veryfast preset with
// the zerolatency tune (no lookahead, no frame delay: one picture in, one
// access unit out), a fixed GOP (keyint = keyint_min, no scene-cut
// keyframes), no B-frames, and CBR-like rate control (bit rate = max rate,
// one second of VBV buffer). SPS and PPS are repeated before every IDR in
// the Annex-B output, so a stream can be joined at any keyframe.
//
// Nothing here is safe for concurrent use: each Decoder, Canvas, Scaler and
// Encoder belongs to one goroutine.
package vcodec

/*
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

static int vc_dec_open(AVCodecContext **out, int id) {
	const AVCodec *codec = avcodec_find_decoder((enum AVCodecID)id);
	if (!codec) return AVERROR_DECODER_NOT_FOUND;
	AVCodecContext *c = avcodec_alloc_context3(codec);
	if (!c) return AVERROR(ENOMEM);
	c->thread_count = 1;
	int rc = avcodec_open2(c, codec, NULL);
	if (rc < 0) {
		avcodec_free_context(&c);
		return rc;
	}
	*out = c;
	return 0;
}

// vc_decode sends one compressed picture and takes the decoded one, if
// any, into f: 1 a picture, 0 none yet, < 0 an error.
static int vc_decode(AVCodecContext *c, AVPacket *p, AVFrame *f, uint8_t *data, int n) {
	p->data = data;
	p->size = n;
	int rc = avcodec_send_packet(c, p);
	p->data = NULL;
	p->size = 0;
	if (rc < 0 && rc != AVERROR(EAGAIN)) return rc;
	rc = avcodec_receive_frame(c, f);
	if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return 0;
	if (rc < 0) return rc;
	return 1;
}

static AVFrame *vc_canvas(int w, int h) {
	AVFrame *f = av_frame_alloc();
	if (!f) return NULL;
	f->format = AV_PIX_FMT_YUV420P;
	f->width = w;
	f->height = h;
	if (av_frame_get_buffer(f, 0) < 0) {
		av_frame_free(&f);
		return NULL;
	}
	return f;
}

static void vc_fill(AVFrame *f, int x, int y, int w, int h, int Y, int U, int V) {
	for (int r = y; r < y + h; r++) memset(f->data[0] + (size_t)r * f->linesize[0] + x, Y, w);
	for (int r = y / 2; r < (y + h) / 2; r++) {
		memset(f->data[1] + (size_t)r * f->linesize[1] + x / 2, U, w / 2);
		memset(f->data[2] + (size_t)r * f->linesize[2] + x / 2, V, w / 2);
	}
}

// vc_scale draws the part sx, sy, sw, sh of src (a 4:2:0 picture; sx, sy
// even) scaled to w x h at (x, y) of dst (x, y, w, h even).
static int vc_scale(struct SwsContext **ctx, AVFrame *src, int sx, int sy, int sw, int sh,
		AVFrame *dst, int x, int y, int w, int h) {
	*ctx = sws_getCachedContext(*ctx, sw, sh, src->format, w, h, AV_PIX_FMT_YUV420P,
		SWS_BILINEAR, NULL, NULL, NULL);
	if (!*ctx) return AVERROR(EINVAL);
	uint8_t *d[4] = {
		dst->data[0] + (size_t)y * dst->linesize[0] + x,
		dst->data[1] + (size_t)(y / 2) * dst->linesize[1] + x / 2,
		dst->data[2] + (size_t)(y / 2) * dst->linesize[2] + x / 2,
		NULL,
	};
	int ls[4] = {dst->linesize[0], dst->linesize[1], dst->linesize[2], 0};
	const uint8_t *s[4] = {
		src->data[0] + (size_t)sy * src->linesize[0] + sx,
		src->data[1] + (size_t)(sy / 2) * src->linesize[1] + sx / 2,
		src->data[2] + (size_t)(sy / 2) * src->linesize[2] + sx / 2,
		NULL,
	};
	return sws_scale(*ctx, s, src->linesize, 0, sh, d, ls);
}

static int vc_enc_open(AVCodecContext **out, int w, int h, int fps, int bitrate, int gop, int threads, const char *preset) {
	const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
	if (!codec) return AVERROR_ENCODER_NOT_FOUND;
	AVCodecContext *c = avcodec_alloc_context3(codec);
	if (!c) return AVERROR(ENOMEM);
	c->width = w;
	c->height = h;
	c->pix_fmt = AV_PIX_FMT_YUV420P;
	c->time_base = (AVRational){1, 1000};
	c->framerate = (AVRational){fps, 1};
	c->gop_size = gop;
	c->keyint_min = gop;
	c->max_b_frames = 0;
	c->bit_rate = bitrate;
	c->rc_max_rate = bitrate;
	c->rc_buffer_size = bitrate;
	c->thread_count = threads;
	av_opt_set(c->priv_data, "preset", preset, 0);
	av_opt_set(c->priv_data, "tune", "zerolatency", 0);
	av_opt_set(c->priv_data, "profile", "main", 0);
	av_opt_set_int(c->priv_data, "forced-idr", 1, 0);
	av_opt_set(c->priv_data, "x264-params", "scenecut=0:nal-hrd=cbr", 0);
	int rc = avcodec_open2(c, codec, NULL);
	if (rc < 0) {
		avcodec_free_context(&c);
		return rc;
	}
	*out = c;
	return 0;
}

static int vc_send(AVCodecContext *c, AVFrame *f, int64_t pts, int key) {
	f->pts = pts;
	f->pict_type = key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
	int rc = avcodec_send_frame(c, f);
	f->pict_type = AV_PICTURE_TYPE_NONE;
	return rc;
}

// vc_receive takes one encoded packet: 1 a packet, 0 none, < 0 an error.
static int vc_receive(AVCodecContext *c, AVPacket *p) {
	int rc = avcodec_receive_packet(c, p);
	if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return 0;
	return rc < 0 ? rc : 1;
}

static int vc_key(AVPacket *p) { return (p->flags & AV_PKT_FLAG_KEY) != 0; }
static int vc_plane(AVFrame *f, int i, int x, int y) { return f->data[i][(size_t)y * f->linesize[i] + x]; }
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/roomctl/roomctl/push/avlib"
)

// open loads the FFmpeg libraries on first use (push/avlib, which also
// lowers libav's log level to errors: x264 prints its settings and
// statistics on stderr at info level).
func open() error {
	if err := avlib.Load(); err != nil {
		return fmt.Errorf("vcodec: %w", err)
	}
	return nil
}

func averr(op string, rc C.int) error {
	var buf [256]C.char
	C.av_strerror(rc, &buf[0], C.size_t(len(buf)))
	return fmt.Errorf("%s: %s", op, C.GoString(&buf[0]))
}

// ErrCodec is returned for a codec that cannot be decoded.
var ErrCodec = errors.New("vcodec: unsupported codec")

// Frame is a decoded picture, valid until the next Decode of its decoder.
type Frame struct{ f *C.AVFrame }

// Width and Height are the picture's size.
func (f *Frame) Width() int  { return int(f.f.width) }
func (f *Frame) Height() int { return int(f.f.height) }

// Decoder decodes one stream of VP8 or H.264 pictures.
type Decoder struct {
	c   *C.AVCodecContext
	pkt *C.AVPacket
	f   *C.AVFrame
}

// NewDecoder opens a decoder for codec, "VP8" or "H264" (any case).
func NewDecoder(codec string) (*Decoder, error) {
	if err := open(); err != nil {
		return nil, err
	}
	var id C.int
	switch strings.ToUpper(codec) {
	case "VP8":
		id = C.AV_CODEC_ID_VP8
	case "H264":
		id = C.AV_CODEC_ID_H264
	default:
		return nil, fmt.Errorf("%w: %q", ErrCodec, codec)
	}
	d := &Decoder{pkt: C.av_packet_alloc(), f: C.av_frame_alloc()}
	if d.pkt == nil || d.f == nil {
		d.Close()
		return nil, errors.New("vcodec: out of memory")
	}
	if rc := C.vc_dec_open(&d.c, id); rc < 0 {
		d.Close()
		return nil, averr("open "+codec+" decoder", rc)
	}
	return d, nil
}

// Decode decodes one whole picture (a VP8 frame, an H.264 access unit in
// Annex-B). It returns nil and no error when the decoder has no picture to
// give yet.
func (d *Decoder) Decode(data []byte) (*Frame, error) {
	if len(data) == 0 {
		return nil, nil
	}
	// libavcodec reads up to AV_INPUT_BUFFER_PADDING_SIZE bytes past the
	// end: the picture is copied into C memory with that padding, zeroed.
	n := len(data)
	buf := (*C.uint8_t)(C.av_mallocz(C.size_t(n + C.AV_INPUT_BUFFER_PADDING_SIZE)))
	if buf == nil {
		return nil, errors.New("vcodec: out of memory")
	}
	defer C.av_free(unsafe.Pointer(buf))
	copy(unsafe.Slice((*byte)(unsafe.Pointer(buf)), n), data)
	rc := C.vc_decode(d.c, d.pkt, d.f, buf, C.int(n))
	switch {
	case rc < 0:
		return nil, averr("decode", rc)
	case rc == 0:
		return nil, nil
	}
	return &Frame{d.f}, nil
}

// Close frees the decoder.
func (d *Decoder) Close() {
	if d.c != nil {
		C.avcodec_free_context(&d.c)
	}
	if d.f != nil {
		C.av_frame_free(&d.f)
	}
	if d.pkt != nil {
		C.av_packet_free(&d.pkt)
	}
}

// Canvas is a YUV 4:2:0 picture that pictures are drawn on and that the
// encoder encodes.
type Canvas struct {
	f    *C.AVFrame
	w, h int
}

// NewCanvas allocates a black canvas of w x h, both even and positive.
func NewCanvas(w, h int) (*Canvas, error) {
	if w <= 0 || h <= 0 || w%2 != 0 || h%2 != 0 {
		return nil, fmt.Errorf("vcodec: canvas size %dx%d: want even and positive", w, h)
	}
	if err := open(); err != nil {
		return nil, err
	}
	f := C.vc_canvas(C.int(w), C.int(h))
	if f == nil {
		return nil, errors.New("vcodec: out of memory")
	}
	c := &Canvas{f: f, w: w, h: h}
	c.Fill(0, 0, w, h, Black)
	return c, nil
}

// Width and Height are the canvas's size.
func (c *Canvas) Width() int  { return c.w }
func (c *Canvas) Height() int { return c.h }

// YUV is a colour in limited-range BT.601 YCbCr, as the codecs carry it.
type YUV struct{ Y, U, V uint8 }

// Black is limited-range black.
var Black = YUV{16, 128, 128}

// RGB converts 8-bit sRGB to limited-range BT.601 YCbCr.
func RGB(r, g, b uint8) YUV {
	R, G, B := float64(r), float64(g), float64(b)
	clamp := func(v float64) uint8 { return uint8(min(255, max(0, v+0.5))) }
	return YUV{
		Y: clamp(16 + 0.257*R + 0.504*G + 0.098*B),
		U: clamp(128 - 0.148*R - 0.291*G + 0.439*B),
		V: clamp(128 + 0.439*R - 0.368*G - 0.071*B),
	}
}

// clip keeps x, y, w, h even and inside the canvas.
func (c *Canvas) clip(x, y, w, h int) (int, int, int, int, bool) {
	x, y = max(0, x)&^1, max(0, y)&^1
	w, h = min(w, c.w-x)&^1, min(h, c.h-y)&^1
	return x, y, w, h, w > 0 && h > 0
}

// Fill paints a rectangle (clipped to the canvas, rounded to even).
func (c *Canvas) Fill(x, y, w, h int, col YUV) {
	if x, y, w, h, ok := c.clip(x, y, w, h); ok {
		C.vc_fill(c.f, C.int(x), C.int(y), C.int(w), C.int(h), C.int(col.Y), C.int(col.U), C.int(col.V))
	}
}

// At is the colour of the pixel at x, y.
func (c *Canvas) At(x, y int) YUV {
	return YUV{
		Y: uint8(C.vc_plane(c.f, 0, C.int(x), C.int(y))),
		U: uint8(C.vc_plane(c.f, 1, C.int(x/2), C.int(y/2))),
		V: uint8(C.vc_plane(c.f, 2, C.int(x/2), C.int(y/2))),
	}
}

// Close frees the canvas.
func (c *Canvas) Close() {
	if c.f != nil {
		C.av_frame_free(&c.f)
	}
}

// Scaler draws pictures scaled onto a canvas. It keeps libswscale's
// context between calls while the sizes stay the same.
type Scaler struct{ ctx *C.struct_SwsContext }

// Draw scales src to w x h and draws it at x, y of dst (clipped, rounded
// to even).
func (s *Scaler) Draw(src *Frame, dst *Canvas, x, y, w, h int) error {
	return s.DrawPart(src, 0, 0, src.Width(), src.Height(), dst, x, y, w, h)
}

// DrawPart scales the part sx, sy, sw, sh of src to w x h and draws it at
// x, y of dst (both rectangles clipped and rounded to even). Only 4:2:0
// pictures can be cut (VP8 and H.264 decode to 4:2:0).
func (s *Scaler) DrawPart(src *Frame, sx, sy, sw, sh int, dst *Canvas, x, y, w, h int) error {
	x, y, w, h, ok := dst.clip(x, y, w, h)
	if !ok {
		return nil
	}
	sx, sy = max(0, sx)&^1, max(0, sy)&^1
	sw, sh = min(sw, src.Width()-sx)&^1, min(sh, src.Height()-sy)&^1
	if sw <= 0 || sh <= 0 {
		return nil
	}
	if (sx != 0 || sy != 0) && src.f.format != C.AV_PIX_FMT_YUV420P && src.f.format != C.AV_PIX_FMT_YUVJ420P {
		return fmt.Errorf("vcodec: cannot cut a picture of pixel format %d", int(src.f.format))
	}
	if rc := C.vc_scale(&s.ctx, src.f, C.int(sx), C.int(sy), C.int(sw), C.int(sh), dst.f, C.int(x), C.int(y), C.int(w), C.int(h)); rc < 0 {
		return averr("scale", rc)
	}
	return nil
}

// Close frees the scaling context.
func (s *Scaler) Close() {
	if s.ctx != nil {
		C.sws_freeContext(s.ctx)
		s.ctx = nil
	}
}

// EncoderOptions configure NewEncoder.
type EncoderOptions struct {
	Width, Height int // even
	FPS           int // nominal frame rate
	BitRate       int // bits per second
	// GOP is the keyframe interval in frames; 0 means two seconds.
	GOP int
	// Threads for x264; 0 means 1 (the cheapest per picture).
	Threads int
	// Preset is x264's preset; "" means veryfast.
	Preset string
}

// Encoder encodes canvases to H.264 (Annex-B access units).
type Encoder struct {
	c   *C.AVCodecContext
	pkt *C.AVPacket
	opt EncoderOptions
}

// NewEncoder opens libx264 with live settings (see the package comment).
func NewEncoder(o EncoderOptions) (*Encoder, error) {
	if err := open(); err != nil {
		return nil, err
	}
	if o.Width <= 0 || o.Height <= 0 || o.Width%2 != 0 || o.Height%2 != 0 {
		return nil, fmt.Errorf("vcodec: encoder size %dx%d: want even and positive", o.Width, o.Height)
	}
	if o.FPS <= 0 || o.BitRate <= 0 {
		return nil, fmt.Errorf("vcodec: encoder %d fps, %d b/s: want positive", o.FPS, o.BitRate)
	}
	if o.GOP <= 0 {
		o.GOP = 2 * o.FPS
	}
	if o.Threads <= 0 {
		o.Threads = 1
	}
	if o.Preset == "" {
		o.Preset = "veryfast"
	}
	e := &Encoder{pkt: C.av_packet_alloc(), opt: o}
	if e.pkt == nil {
		return nil, errors.New("vcodec: out of memory")
	}
	preset := C.CString(o.Preset)
	defer C.free(unsafe.Pointer(preset))
	rc := C.vc_enc_open(&e.c, C.int(o.Width), C.int(o.Height), C.int(o.FPS), C.int(o.BitRate), C.int(o.GOP), C.int(o.Threads), preset)
	if rc < 0 {
		e.Close()
		return nil, averr("open libx264", rc)
	}
	return e, nil
}

// Options are the encoder's settings, defaults filled in.
func (e *Encoder) Options() EncoderOptions { return e.opt }

// Packet is one encoded access unit.
type Packet struct {
	Data []byte // Annex-B, SPS and PPS before every keyframe
	Key  bool
	PTS  int64 // ms, as given to Encode
}

// Encode encodes the canvas (of the encoder's size) as the picture at pts
// ms, an IDR if key; it appends what the encoder gives out to pkts (with
// the zerolatency tune, the picture itself).
func (e *Encoder) Encode(pkts []Packet, c *Canvas, pts int64, key bool) ([]Packet, error) {
	if c.w != e.opt.Width || c.h != e.opt.Height {
		return pkts, fmt.Errorf("vcodec: canvas %dx%d for a %dx%d encoder", c.w, c.h, e.opt.Width, e.opt.Height)
	}
	k := C.int(0)
	if key {
		k = 1
	}
	if rc := C.vc_send(e.c, c.f, C.int64_t(pts), k); rc < 0 {
		return pkts, averr("encode", rc)
	}
	for {
		rc := C.vc_receive(e.c, e.pkt)
		if rc == 0 {
			return pkts, nil
		}
		if rc < 0 {
			return pkts, averr("encode", rc)
		}
		pkts = append(pkts, Packet{
			Data: C.GoBytes(unsafe.Pointer(e.pkt.data), e.pkt.size),
			Key:  C.vc_key(e.pkt) != 0,
			PTS:  int64(e.pkt.pts),
		})
		C.av_packet_unref(e.pkt)
	}
}

// Close frees the encoder.
func (e *Encoder) Close() {
	if e.c != nil {
		C.avcodec_free_context(&e.c)
	}
	if e.pkt != nil {
		C.av_packet_free(&e.pkt)
	}
}
