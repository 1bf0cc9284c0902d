package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// bufFile sits between ebml-go's muxer and the real file. It keeps what
// the muxer writes in memory and hands it to the OS only at block
// boundaries (a cluster start, or complete blocks older than the flush
// interval), so that a process killed at any moment leaves a file that ends
// on a whole element and decodes.
//
// It never returns a write error to the muxer: ebml-go's fatal path ends
// its writer goroutine, after which a Write blocks forever. The first error
// is kept (Err), later data is dropped, and when the file can be truncated
// it is cut back to the last whole element.
type bufFile struct {
	mu sync.Mutex
	w  io.WriteSeeker
	at io.WriterAt // w as a WriterAt, when it is one

	buf      []byte
	complete int       // buf[:complete] ends on a whole element
	since    time.Time // when buf[:complete] became non-empty
	off      int64     // file offset of buf[0]
	size     int64     // bytes in the file
	err      error
	closed   bool
	now      func() time.Time

	// Live duration: the Duration element of Info is rewritten at every
	// flush, so that a file cut short still reports roughly how long it is.
	durPos     int64 // offset of the Duration element, -1 when unknown
	headerSeen bool
	final      bool
	lastMS     int64 // end of the last whole block, in ms from the first
	clusterMS  int64
}

// maxBuffered forces a flush of even an incomplete element: a frame this
// large is already pathological, and memory must stay bounded.
const maxBuffered = 16 << 20

func newBufFile(w io.WriteSeeker, now func() time.Time) *bufFile {
	f := &bufFile{w: w, durPos: -1, now: now}
	f.at, _ = w.(io.WriterAt)
	return f
}

// Write is the muxer's output.
func (f *bufFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil || f.closed {
		return len(p), nil
	}
	f.buf = append(f.buf, p...)
	if len(f.buf) > maxBuffered {
		f.complete = len(f.buf)
		f.flushLocked(len(f.buf))
	}
	return len(p), nil
}

// WriteAt rewrites data already in the file (cues, duration) at finalization.
func (f *bufFile) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushLocked(len(f.buf))
	f.final = true // from now on the muxer owns Duration
	f.writeAtLocked(p, off)
	return len(p), nil
}

func (f *bufFile) writeAtLocked(p []byte, off int64) {
	if f.err != nil {
		return
	}
	if off+int64(len(p)) > f.size {
		f.fail(fmt.Errorf("write at %d beyond the end %d", off, f.size))
		return
	}
	if f.at != nil {
		if _, err := f.at.WriteAt(p, off); err != nil {
			f.fail(err)
		}
		return
	}
	if _, err := f.w.Seek(off, io.SeekStart); err != nil {
		f.fail(err)
		return
	}
	if _, err := f.w.Write(p); err != nil {
		f.fail(err)
		return
	}
	if _, err := f.w.Seek(0, io.SeekEnd); err != nil {
		f.fail(err)
	}
}

// elementDone is called (on the muxer's goroutine, through ebml-go's write
// hooks) after each whole top-level element: a cluster header or a block.
func (f *bufFile) elementDone(name string, clusterMS int64, blockMS int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.complete == 0 && len(f.buf) > 0 {
		f.since = f.now()
	}
	f.complete = len(f.buf)
	switch name {
	case "Cluster":
		f.clusterMS = clusterMS
		if !f.headerSeen {
			f.headerSeen = true
			f.findDuration()
		}
		// A cluster starts: the previous one is whole. Hand it to the OS.
		f.flushLocked(f.complete)
	case "SimpleBlock":
		if ms := f.clusterMS + blockMS; ms > f.lastMS {
			f.lastMS = ms
		}
	}
}

// findDuration locates Info's Duration in the header, as ebml-go does:
// ID 44 89, size 88, then an 8-byte float.
func (f *bufFile) findDuration() {
	if f.off != 0 {
		return
	}
	if i := bytes.Index(f.buf, []byte{0x44, 0x89, 0x88}); i >= 0 {
		f.durPos = int64(i) + 3
	}
}

// flushOld hands whole elements to the OS when the oldest of them has
// waited longer than maxAge.
func (f *bufFile) flushOld(maxAge time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.complete > 0 && f.now().Sub(f.since) >= maxAge {
		f.flushLocked(f.complete)
	}
}

// flushLocked writes buf[:n] to the file; n is a whole-element boundary
// unless the file is being finalized.
func (f *bufFile) flushLocked(n int) {
	if n == 0 || f.err != nil {
		return
	}
	written, err := f.w.Write(f.buf[:n])
	if err != nil || written != n {
		if err == nil {
			err = io.ErrShortWrite
		}
		// Cut a partial write back to the last whole element, so what is
		// on disk stays decodable (and the space comes back).
		if t, ok := f.w.(interface{ Truncate(int64) error }); ok {
			_ = t.Truncate(f.off)
		}
		f.fail(err)
		return
	}
	f.off += int64(n)
	f.size = f.off
	rest := copy(f.buf, f.buf[n:])
	f.buf = f.buf[:rest]
	f.complete -= n
	if f.complete < 0 {
		f.complete = 0
	}
	if f.complete > 0 {
		f.since = f.now()
	}
	f.updateDuration()
}

// updateDuration rewrites Duration with what the file holds now. ebml-go
// writes the real value at finalization; this is for a file that never
// gets there (SIGKILL, power loss).
func (f *bufFile) updateDuration() {
	if f.durPos < 0 || f.at == nil || f.final || f.durPos+8 > f.size {
		return
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], math.Float64bits(float64(f.lastMS)))
	if _, err := f.at.WriteAt(b[:], f.durPos); err != nil {
		f.fail(err)
	}
}

func (f *bufFile) fail(err error) {
	if f.err == nil {
		f.err = err
	}
	f.buf = f.buf[:0]
	f.complete = 0
}

// Err is the first write error.
func (f *bufFile) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Size is the number of bytes in the file.
func (f *bufFile) Size() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size
}

// Close is called by the muxer once it has written everything: flush,
// sync to disk and close the file.
func (f *bufFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.flushLocked(len(f.buf))
	f.closed = true
	if s, ok := f.w.(interface{ Sync() error }); ok && f.err == nil {
		if err := s.Sync(); err != nil {
			f.fail(err)
		}
	}
	if c, ok := f.w.(io.Closer); ok {
		if err := c.Close(); err != nil {
			f.fail(err)
		}
	}
	return nil
}
