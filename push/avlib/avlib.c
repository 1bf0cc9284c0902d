// Forwarders for the FFmpeg functions roomctl calls (push/vcodec, push/aac).
//
// roomctl is not linked against libavcodec, libavutil and libswscale:
// linking them made every roomctl process load ~95 shared libraries
// (libavcodec's codecs and their dependencies) at exec — ~38 ms of CPU and
// ~17 MB of RSS before main, paid by join, record and load as much as by a
// transcoding push-rtmp. Instead each function below has the library's own
// name and signature (declared by the headers) and calls the library's
// function through a pointer that avlib_load fills with dlsym after
// dlopen-ing the libraries, on the first use (Load in avlib.go). Calling one
// before that is a programming error: it aborts with the function's name.
//
// dlsym with a library's handle finds that library's definition, not these
// forwarders, even though the executable exports them (-rdynamic) and the
// libraries' own calls between each other may bind to them.

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <libavcodec/avcodec.h>
#include <libavcodec/version.h>
#include <libavutil/avutil.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <libswscale/version.h>

#include "avlib.h"

static void avlib_unloaded(const char *name) {
	fprintf(stderr, "roomctl: %s called before push/avlib.Load\n", name);
	abort();
}

#define PTR(name) static __typeof__(&name) p_##name;
#define FWD(ret, name, params, args) \
	PTR(name) \
	ret name params { \
		if (!p_##name) avlib_unloaded(#name); \
		return p_##name args; \
	}
#define FWDV(name, params, args) \
	PTR(name) \
	void name params { \
		if (!p_##name) avlib_unloaded(#name); \
		p_##name args; \
	}

// libavutil
FWD(int, av_channel_layout_copy, (AVChannelLayout *dst, const AVChannelLayout *src), (dst, src))
FWDV(av_channel_layout_default, (AVChannelLayout *l, int n), (l, n))
FWD(AVFrame *, av_frame_alloc, (void), ())
FWDV(av_frame_free, (AVFrame **f), (f))
FWD(int, av_frame_get_buffer, (AVFrame *f, int align), (f, align))
FWD(int, av_frame_make_writable, (AVFrame *f), (f))
FWDV(av_free, (void *p), (p))
FWDV(av_log_set_level, (int level), (level))
FWD(void *, av_mallocz, (size_t size), (size))
FWD(int, av_opt_set, (void *obj, const char *name, const char *val, int flags), (obj, name, val, flags))
FWD(int, av_opt_set_int, (void *obj, const char *name, int64_t val, int flags), (obj, name, val, flags))
FWD(int, av_strerror, (int errnum, char *buf, size_t size), (errnum, buf, size))
// libswscale
FWDV(sws_freeContext, (struct SwsContext *c), (c))
FWD(struct SwsContext *, sws_getCachedContext,
	(struct SwsContext *c, int srcW, int srcH, enum AVPixelFormat srcFormat, int dstW, int dstH,
		enum AVPixelFormat dstFormat, int flags, SwsFilter *srcFilter, SwsFilter *dstFilter, const double *param),
	(c, srcW, srcH, srcFormat, dstW, dstH, dstFormat, flags, srcFilter, dstFilter, param))
FWD(int, sws_scale,
	(struct SwsContext *c, const uint8_t *const src[], const int srcStride[], int y, int h,
		uint8_t *const dst[], const int dstStride[]),
	(c, src, srcStride, y, h, dst, dstStride))
// libavcodec
FWD(AVPacket *, av_packet_alloc, (void), ())
FWDV(av_packet_free, (AVPacket **p), (p))
FWDV(av_packet_unref, (AVPacket *p), (p))
FWD(AVCodecContext *, avcodec_alloc_context3, (const AVCodec *codec), (codec))
FWD(const AVCodec *, avcodec_find_decoder, (enum AVCodecID id), (id))
FWD(const AVCodec *, avcodec_find_encoder_by_name, (const char *name), (name))
FWDV(avcodec_free_context, (AVCodecContext **c), (c))
FWD(int, avcodec_open2, (AVCodecContext *c, const AVCodec *codec, AVDictionary **opts), (c, codec, opts))
FWD(int, avcodec_receive_frame, (AVCodecContext *c, AVFrame *f), (c, f))
FWD(int, avcodec_receive_packet, (AVCodecContext *c, AVPacket *p), (c, p))
FWD(int, avcodec_send_frame, (AVCodecContext *c, const AVFrame *f), (c, f))
FWD(int, avcodec_send_packet, (AVCodecContext *c, const AVPacket *p), (c, p))

struct sym {
	const char *name;
	void **p;
};
#define SYM(name) {#name, (void **)&p_##name}

static const struct sym avutil_syms[] = {
	SYM(av_channel_layout_copy), SYM(av_channel_layout_default), SYM(av_frame_alloc),
	SYM(av_frame_free), SYM(av_frame_get_buffer), SYM(av_frame_make_writable), SYM(av_free),
	SYM(av_log_set_level), SYM(av_mallocz), SYM(av_opt_set), SYM(av_opt_set_int), SYM(av_strerror),
	{NULL, NULL},
};
static const struct sym swscale_syms[] = {
	SYM(sws_freeContext), SYM(sws_getCachedContext), SYM(sws_scale),
	{NULL, NULL},
};
static const struct sym avcodec_syms[] = {
	SYM(av_packet_alloc), SYM(av_packet_free), SYM(av_packet_unref), SYM(avcodec_alloc_context3),
	SYM(avcodec_find_decoder), SYM(avcodec_find_encoder_by_name), SYM(avcodec_free_context),
	SYM(avcodec_open2), SYM(avcodec_receive_frame), SYM(avcodec_receive_packet),
	SYM(avcodec_send_frame), SYM(avcodec_send_packet),
	{NULL, NULL},
};

static const struct {
	const char *file;
	const struct sym *syms;
} libs[] = {
	// Dependencies first: each library's functions are set before the next
	// library is opened.
	{"libavutil.so." AV_STRINGIFY(LIBAVUTIL_VERSION_MAJOR), avutil_syms},
	{"libswscale.so." AV_STRINGIFY(LIBSWSCALE_VERSION_MAJOR), swscale_syms},
	{"libavcodec.so." AV_STRINGIFY(LIBAVCODEC_VERSION_MAJOR), avcodec_syms},
};

const char *avlib_names(int i) {
	return i >= 0 && i < (int)(sizeof libs / sizeof libs[0]) ? libs[i].file : NULL;
}

int avlib_load(char *err, size_t n) {
	for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
		void *h = dlopen(libs[i].file, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			snprintf(err, n, "%s", dlerror());
			return -1;
		}
		for (const struct sym *s = libs[i].syms; s->name; s++) {
			void *p = dlsym(h, s->name);
			if (!p) {
				snprintf(err, n, "%s: no %s", libs[i].file, s->name);
				return -1;
			}
			*s->p = p;
		}
	}
	// libav logs through a process-wide logger; x264 prints its settings
	// and the AAC encoder its statistics at info level on stderr.
	av_log_set_level(AV_LOG_ERROR);
	return 0;
}
