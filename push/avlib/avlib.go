// Package avlib loads FFmpeg's libavcodec, libavutil and libswscale when
// they are first needed rather than when roomctl starts.
//
// push/vcodec and push/aac call FFmpeg functions by their own names; this
// package defines those names (avlib.c) as forwarders to the libraries,
// which Load opens with dlopen. Linking the libraries instead made every
// roomctl process — a join, a record, a load — map ~95 shared libraries at
// exec (libavcodec's codecs and their dependencies): ~38 ms of CPU and
// ~17 MB of RSS before main (BENCHMARKS.md, "Process start").
//
// Building needs the FFmpeg development headers (Debian: libavcodec-dev,
// libswscale-dev) and running a transcode the libraries of the same major
// versions; the other commands run without them.
package avlib

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "avlib.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"sync"
)

var load = sync.OnceValue(func() error {
	var buf [512]C.char
	if C.avlib_load(&buf[0], C.size_t(len(buf))) != 0 {
		return fmt.Errorf("FFmpeg libraries (%s): %s", strings.Join(Libraries(), ", "), C.GoString(&buf[0]))
	}
	return nil
})

// Load opens the libraries once and lowers libav's process-wide log level
// to errors (x264 and the AAC encoder print settings and statistics at
// info level on stderr); every call returns the first call's result. It
// must succeed before any function of push/vcodec or push/aac that reaches
// FFmpeg runs (their constructors call it).
func Load() error { return load() }

// Libraries are the file names Load opens.
func Libraries() []string {
	var names []string
	for i := 0; ; i++ {
		p := C.avlib_names(C.int(i))
		if p == nil {
			return names
		}
		names = append(names, C.GoString(p))
	}
}
