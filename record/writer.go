package record

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/mkv"
	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
)

// TrackSpec describes one track of a file.
type TrackSpec struct {
	Kind  string // "audio" or "video"
	Codec string // CodecVP8, CodecVP9, CodecH264 or CodecOpus

	// Video: the picture size, and for H.264 the avcC record (required).
	Width, Height int
	CodecPrivate  []byte

	// Audio: default 48000 Hz, 2 channels (what Opus in WebRTC declares).
	SampleRate int
	Channels   int
}

// WriterOptions tune a Writer. Zero values take the defaults.
type WriterOptions struct {
	// MaxCluster bounds a cluster's length (default 1 s). A new cluster
	// starts at every video keyframe too, so clusters are keyframe-aligned
	// whenever the publisher's keyframes come at least that often.
	MaxCluster time.Duration
	// FlushAfter is how long whole blocks may wait in memory before they
	// are handed to the OS (default 500 ms), checked on every WriteFrame
	// and Flush. Cluster starts are handed over at once.
	FlushAfter time.Duration
	// CuesSpace is the room reserved after the header for the Cues
	// (default 64 KiB, ~3000 cue points: about 50 minutes of 1-s clusters).
	// If a file outgrows it, ebml-go keeps every other cue point until they fit.
	CuesSpace int
	// Start is written as the segment's DateUTC when not zero.
	Start time.Time
	// Now is the clock of FlushAfter, called from the muxer's goroutine
	// too; nil means time.Now.
	Now func() time.Time
}

// Defaults of WriterOptions.
const (
	DefaultMaxCluster = time.Second
	DefaultFlushAfter = 500 * time.Millisecond
	DefaultCuesSpace  = 64 << 10
)

// Writer writes one WebM (VP8/VP9 + Opus) or Matroska (H.264 + Opus) file
// from whole frames: passthrough, no re-encoding. It is built on ebml-go's
// mkvcore block writer with a seek head, cues and a duration written at
// Close, and short keyframe-aligned clusters that reach the OS as they end,
// so that a file cut short at any moment still decodes.
//
// A Writer is used by one goroutine at a time; Close is idempotent.
type Writer struct {
	mu      sync.Mutex
	bf      *bufFile
	tracks  []TrackSpec
	bws     []mkvcore.BlockWriteCloser
	closed  bool
	flushAt time.Duration

	fatalMu        sync.Mutex
	fatal          error
	droppedByMuxer atomic.Int64

	started       bool
	firstMS       int64
	lastMS        int64
	lastTrackMS   []int64
	trackStarted  []bool
	frames        int64
	clampedFrames int64
}

// ContainerExt is the file extension for a set of tracks: ".mkv" when a
// track is H.264 (WebM does not allow it), ".webm" otherwise.
func ContainerExt(tracks []TrackSpec) string {
	for _, t := range tracks {
		if t.Codec == CodecH264 {
			return ".mkv"
		}
	}
	return ".webm"
}

// NewWriter writes the file header to w and returns a Writer for frames of
// tracks (track i of WriteFrame is tracks[i]). w is closed by Close — or by
// NewWriter when it fails — when it is an io.Closer; an *os.File is also
// synced first.
func NewWriter(w io.WriteSeeker, tracks []TrackSpec, opts WriterOptions) (*Writer, error) {
	wr, err := newWriter(w, tracks, opts)
	if err != nil {
		if c, ok := w.(io.Closer); ok {
			_ = c.Close()
		}
		return nil, err
	}
	return wr, nil
}

func newWriter(w io.WriteSeeker, tracks []TrackSpec, opts WriterOptions) (*Writer, error) {
	if len(tracks) == 0 {
		return nil, errors.New("no tracks")
	}
	if opts.MaxCluster <= 0 {
		opts.MaxCluster = DefaultMaxCluster
	}
	if opts.MaxCluster >= 0x7fff*time.Millisecond {
		return nil, fmt.Errorf("max cluster %s: want less than 32 s", opts.MaxCluster)
	}
	if opts.FlushAfter <= 0 {
		opts.FlushAfter = DefaultFlushAfter
	}
	if opts.CuesSpace <= 0 {
		opts.CuesSpace = DefaultCuesSpace
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	entries := make([]mkvcore.TrackDescription, 0, len(tracks))
	main := uint64(0)
	for i, t := range tracks {
		e, err := trackEntry(uint64(i+1), t)
		if err != nil {
			return nil, err
		}
		if t.Kind == "video" && main == 0 {
			main = uint64(i + 1)
		}
		entries = append(entries, mkvcore.TrackDescription{TrackNumber: uint64(i + 1), TrackEntry: e})
	}
	maxMS := opts.MaxCluster.Milliseconds()
	minMS := int64(0) // every video keyframe starts a cluster
	if main == 0 {
		main, minMS = 1, maxMS // audio only: every frame is a keyframe
	}
	var header any = &webm.EBMLHeader{
		EBMLVersion: 1, EBMLReadVersion: 1, EBMLMaxIDLength: 4, EBMLMaxSizeLength: 8,
		DocType: "webm", DocTypeVersion: 4, DocTypeReadVersion: 2,
	}
	if ContainerExt(tracks) == ".mkv" {
		header = &mkv.EBMLHeader{
			EBMLVersion: 1, EBMLReadVersion: 1, EBMLMaxIDLength: 4, EBMLMaxSizeLength: 8,
			DocType: "matroska", DocTypeVersion: 4, DocTypeReadVersion: 2,
		}
	}
	// Our own Info: ebml-go's webm.DefaultSegmentInfo is shared and
	// SetDuration mutates it.
	info := &webm.Info{TimecodeScale: 1_000_000, MuxingApp: "roomctl", WritingApp: "roomctl"}
	if !opts.Start.IsZero() {
		info.DateUTC = opts.Start.UTC()
	}
	wr := &Writer{
		bf:           newBufFile(w, opts.Now),
		tracks:       append([]TrackSpec(nil), tracks...),
		flushAt:      opts.FlushAfter,
		lastTrackMS:  make([]int64, len(tracks)),
		trackStarted: make([]bool, len(tracks)),
	}
	bws, err := mkvcore.NewSimpleBlockWriter(wr.bf, entries,
		mkvcore.WithEBMLHeader(header),
		mkvcore.WithSegmentInfo(info),
		mkvcore.WithSeekHead(true),
		mkvcore.WithCues(opts.CuesSpace),
		mkvcore.WithMinMaxClusterDuration(main, minMS, maxMS),
		mkvcore.WithMarshalOptions(ebml.WithElementWriteHooks(wr.hook)),
		mkvcore.WithOnFatalHandler(wr.setFatal),
		// The only non-fatal error is a frame too old for its cluster,
		// which WriteFrame's clamping rules out; it is counted, not fatal.
		mkvcore.WithOnErrorHandler(func(error) { wr.droppedByMuxer.Add(1) }),
	)
	if err != nil {
		return nil, fmt.Errorf("write header: %w", err)
	}
	wr.bws = bws
	// The header is whole: put it on disk now, so the file is a valid
	// (empty) recording from the start.
	wr.bf.mu.Lock()
	wr.bf.complete = len(wr.bf.buf)
	wr.bf.findDuration()
	wr.bf.headerSeen = true
	wr.bf.flushLocked(wr.bf.complete)
	err = wr.bf.err
	wr.bf.mu.Unlock()
	if err != nil {
		_ = wr.Close()
		return nil, fmt.Errorf("write header: %w", err)
	}
	return wr, nil
}

func trackEntry(n uint64, t TrackSpec) (webm.TrackEntry, error) {
	e := webm.TrackEntry{TrackNumber: n, TrackUID: rand.Uint64() | 1}
	switch t.Codec {
	case CodecVP8, CodecVP9, CodecH264:
		if t.Kind != "video" {
			return e, fmt.Errorf("track %d: %s is a video codec", n, t.Codec)
		}
		if t.Width <= 0 || t.Height <= 0 {
			return e, fmt.Errorf("track %d: video size %dx%d", n, t.Width, t.Height)
		}
		e.TrackType = 1
		e.Video = &webm.Video{PixelWidth: uint64(t.Width), PixelHeight: uint64(t.Height)}
		e.Name = "video"
		switch t.Codec {
		case CodecVP8:
			e.CodecID = codecIDVP8
		case CodecVP9:
			e.CodecID = codecIDVP9
		default:
			if len(t.CodecPrivate) < 7 {
				return e, fmt.Errorf("track %d: H.264 needs its avcC record", n)
			}
			e.CodecID = codecIDH264
			e.CodecPrivate = t.CodecPrivate
		}
	case CodecOpus:
		if t.Kind != "audio" {
			return e, fmt.Errorf("track %d: opus is an audio codec", n)
		}
		rate, ch := t.SampleRate, t.Channels
		if rate == 0 {
			rate = 48000
		}
		if ch == 0 {
			ch = 2
		}
		e.TrackType = 2
		e.Name = "audio"
		e.CodecID = codecIDOpus
		e.CodecPrivate = opusHead(ch, rate)
		e.CodecDelay = opusCodecDelay
		e.SeekPreRoll = opusSeekPreRoll
		e.Audio = &webm.Audio{SamplingFrequency: float64(rate), Channels: uint64(ch)}
	default:
		return e, fmt.Errorf("track %d: unsupported codec %q", n, t.Codec)
	}
	return e, nil
}

// hook sees every element ebml-go has written; top-level clusters and
// blocks mark the points where the output may be cut.
func (w *Writer) hook(e *ebml.Element) {
	if e.Parent != nil {
		return
	}
	switch e.Name {
	case "Cluster":
		var tc int64
		if v := reflect.ValueOf(e.Value); v.Kind() == reflect.Struct {
			if f := v.FieldByName("Timecode"); f.IsValid() && f.CanUint() {
				tc = int64(f.Uint())
			}
		}
		w.bf.elementDone("Cluster", tc, 0)
	case "SimpleBlock":
		var rel int64
		if b, ok := e.Value.(ebml.Block); ok {
			rel = int64(b.Timecode)
		}
		w.bf.elementDone("SimpleBlock", 0, rel)
	}
}

func (w *Writer) setFatal(err error) {
	w.fatalMu.Lock()
	defer w.fatalMu.Unlock()
	if w.fatal == nil {
		w.fatal = err
	}
}

// Err is the first error the file met (a failed write: disk full, I/O
// error). After it, frames are dropped; what was written stays readable.
func (w *Writer) Err() error {
	if err := w.bf.Err(); err != nil {
		return err
	}
	w.fatalMu.Lock()
	defer w.fatalMu.Unlock()
	return w.fatal
}

// WriteFrame writes one whole frame of track (an index into the tracks
// given to NewWriter) at ts from the start of the recording. Audio frames
// are all keyframes. A track's timestamps (in ms) strictly increase in the
// file: a ts at or before the track's last one is written 1 ms after it.
// The frame's bytes must not change after the call.
func (w *Writer) WriteFrame(track int, keyframe bool, ts time.Duration, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if track < 0 || track >= len(w.bws) {
		return fmt.Errorf("no track %d", track)
	}
	if err := w.Err(); err != nil {
		// ebml-go's writer goroutine may be gone: never Write after an error.
		return err
	}
	ms := (ts + time.Millisecond/2).Milliseconds()
	if ms < 0 {
		ms = 0
	}
	// Decoders (ffmpeg's H.264 for one) reject two frames of a track at
	// the same millisecond: a track's timestamps strictly increase.
	if w.trackStarted[track] && ms <= w.lastTrackMS[track] {
		ms = w.lastTrackMS[track] + 1
		w.clampedFrames++
	}
	if !w.started {
		w.started, w.firstMS = true, ms
	}
	if ms < w.firstMS {
		ms = w.firstMS // ebml-go measures the file from its first block
	}
	w.trackStarted[track] = true
	w.lastTrackMS[track] = ms
	w.lastMS = ms
	w.frames++
	if w.tracks[track].Kind == "audio" {
		keyframe = true
	}
	if _, err := w.bws[track].Write(keyframe, ms, data); err != nil {
		return err
	}
	w.bf.flushOld(w.flushAt)
	return w.Err()
}

// Flush hands whole blocks that waited longer than FlushAfter to the OS;
// an owner calls it on a timer so that a quiet stream still reaches disk.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.bf.flushOld(w.flushAt)
	}
}

// Close finalizes the file (last cluster, cues, duration), syncs and closes
// it. It returns the first write error, if any; calling it again returns
// the same.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		// Every track writer must be closed: the last Close finalizes the
		// file and returns once ebml-go has closed bufFile.
		for _, bw := range w.bws {
			_ = bw.Close()
		}
	}
	return w.Err()
}

// Size is the number of bytes in the file so far.
func (w *Writer) Size() int64 { return w.bf.Size() }

// Duration is the time between the first and the last frame written (what
// Close writes as the segment's Duration).
func (w *Writer) Duration() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Duration(w.lastMS-w.firstMS) * time.Millisecond
}

// Frames is the number of frames written.
func (w *Writer) Frames() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frames
}
