// Package record writes the streams of a room's remote users to files:
// one file per user per segment, that user's audio and video together and
// in sync — VP8/VP9 + Opus as WebM, H.264 + Opus as Matroska. Media is
// passed through, never re-encoded.
//
// A Recorder is an engine.TrackHandler: the engine hands it every
// subscribed track, and it groups the tracks of one uid into one file.
//
// # File names
//
// Files are named {room}_{uid}_{start}.webm (or .mkv for H.264), where
// start is the UTC wall time of the file's first frame as 20261125T170304Z.
// An existing file is never overwritten: -1, -2, … is added before the
// extension. Room and uid are restricted to A-Z a-z 0-9 _ - (the protocol's
// ids), so names are safe as they are; a track whose uid is not is ignored.
//
// # When a file opens and closes
//
// A user's audio and video arrive as two tracks, not always together. The
// file opens when both kinds are there, or TrackWait (1 s) after the first
// track with what there is; a video track must also deliver a keyframe
// (asked for at once and every second; the file starts on it) — after
// KeyframeWait (3 s) without one, the file opens with the audio alone.
// Audio from before the first video keyframe is not recorded. A track that
// arrives after the file opened (or replaces one) starts a new file
// (reason tracks_changed), as does a change of picture size. With Segment
// set, a new file starts at the first video keyframe after Segment (a
// keyframe is requested when it is due). A file closes when all of its
// user's tracks end (stream_end) or the Recorder is closed (stopped).
//
// # Timing
//
// A jitter buffer per track (pion's samplebuilder, behind a filter that
// drops duplicates and packets too late to use) reorders packets and lets
// only whole frames through; video starts at a keyframe and, after a loss,
// waits for the next one (requested at once). A track's timestamps follow
// its RTP clock and never go backwards; audio and video are aligned by
// arrival until both have an RTCP sender report, then by the sender's
// clock. A sync never squeezes frames: when it moves video earlier, the
// video frames that would fall before the last one written, and those up to
// the next keyframe (asked for at once), are dropped — a pause about as long
// as the shift. A mute or a publisher restart (the RTP clock standing still or
// jumping) is a gap in the file, not a shift. Video frames a publisher
// stamped unevenly (late, then a few ms before the next) are moved earlier,
// by less than a frame period, so that no two share one (see clock.go).
//
// # Durability
//
// Clusters start at every video keyframe and are at most 1 s long; whole
// blocks reach the OS within 0.5 s and every cluster start at once, so a
// process killed at any moment leaves a file that decodes and misses at most
// about the last second. Close finalizes every file: duration and cues are
// written and the file is synced.
//
// # Events
//
// recording_file_opened, recording_file_closed and recording_error (see
// events.go) go to Config.Events next to the engine's callbacks.
package record

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/ids"
)

// File is where a recording goes. *os.File is one; Config.Create may give
// others (tests, other storage). If it also has WriteAt, Truncate or Sync,
// they are used: to keep the duration current while recording, to cut a
// failed write back to a whole element, and to sync at the end.
type File interface {
	io.Writer
	io.Seeker
	io.Closer
}

// Config configures a Recorder. Zero values take the documented defaults.
type Config struct {
	// Dir is where files are written. Required: it must exist and be a
	// writable directory (New checks by creating and removing a file).
	Dir string
	// Segment, when > 0, starts a new file at the first keyframe after
	// this much recording (at least 1 s). 0 means one file per user.
	Segment time.Duration
	// Events receives recording_file_opened/_closed and recording_error.
	// nil drops them.
	Events event.Emitter
	// Logger gets debug and warning logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of file names and timers (called from several
	// goroutines); nil means time.Now.
	Now func() time.Time

	// TrackWait is how long the first track of a user waits for the other
	// kind before the file opens with what there is. Default 1 s.
	TrackWait time.Duration
	// KeyframeWait is how long a new video track may take to deliver a
	// keyframe before the file opens without it. Default 3 s.
	KeyframeWait time.Duration
	// RetryAfter is how long a user's recording pauses after a write or
	// create error before a new file is tried. Default 10 s.
	RetryAfter time.Duration
	// ExpectedFileDuration sizes the space reserved for cues (about 24
	// bytes a second; 4 KiB to 1 MiB). Default: Segment if set, else 1 h.
	// A longer file still gets cues, thinned to fit.
	ExpectedFileDuration time.Duration
	// Create creates a new file, failing with an fs.ErrExist error when the
	// path exists. nil: os.OpenFile with O_CREATE|O_EXCL, mode 0644.
	Create func(path string) (File, error)
}

// Defaults of Config.
const (
	DefaultTrackWait    = time.Second
	DefaultKeyframeWait = 3 * time.Second
	DefaultRetryAfter   = 10 * time.Second
)

// Recorder records every track it is handed. It implements
// engine.TrackHandler. Close finalizes everything.
type Recorder struct {
	cfg       Config
	log       *slog.Logger
	ev        event.Emitter
	cuesSpace int

	mu     sync.Mutex
	users  map[string]*user
	nextID int
	closed bool

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closedCh  chan struct{}
	failures  atomic.Int64

	// lossless makes frame hand-off block instead of dropping when a user
	// falls behind: for tests and benchmarks that feed faster than real time.
	lossless bool
}

var _ engine.TrackHandler = (*Recorder)(nil)

type discard struct{}

func (discard) Emit(string, any) {}

// New validates cfg and returns a Recorder. An unusable Dir is an error
// wrapping ErrDir.
func New(cfg Config) (*Recorder, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: no directory given", ErrDir)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDir, cfg.Dir, err)
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	cfg.Dir = dir
	if cfg.Segment < 0 || (cfg.Segment > 0 && cfg.Segment < time.Second) {
		return nil, fmt.Errorf("%w, not %s", ErrSegment, cfg.Segment)
	}
	if cfg.TrackWait < 0 || cfg.KeyframeWait < 0 || cfg.RetryAfter < 0 || cfg.ExpectedFileDuration < 0 {
		return nil, errors.New("negative durations in record config")
	}
	if cfg.Events == nil {
		cfg.Events = discard{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TrackWait == 0 {
		cfg.TrackWait = DefaultTrackWait
	}
	if cfg.KeyframeWait == 0 {
		cfg.KeyframeWait = DefaultKeyframeWait
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	expected := cfg.ExpectedFileDuration
	if expected == 0 {
		expected = cfg.Segment
	}
	if expected == 0 {
		expected = time.Hour
	}
	if cfg.Create == nil {
		cfg.Create = createExclusive
	}
	return &Recorder{
		cfg:       cfg,
		log:       cfg.Logger,
		ev:        cfg.Events,
		cuesSpace: min(max(int(expected/time.Second)*24, 4<<10), 1<<20),
		users:     map[string]*user{},
		stop:      make(chan struct{}),
		closedCh:  make(chan struct{}),
	}, nil
}

// checkDir makes sure dir is a directory we can create files in.
func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s does not exist", ErrDir, dir)
		}
		return fmt.Errorf("%w: %w", ErrDir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrDir, dir)
	}
	f, err := os.CreateTemp(dir, ".roomctl-write-check-*")
	if err != nil {
		return fmt.Errorf("%w: %s is not writable: %w", ErrDir, dir, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrDir, dir, err)
	}
	return nil
}

func createExclusive(path string) (File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

// HandleTrack implements engine.TrackHandler: it returns the sink of a
// track to record, or nil for one it cannot (an unsupported codec, an
// invalid uid, after Close).
func (r *Recorder) HandleTrack(t *engine.RemoteTrack) engine.PacketSink {
	if t == nil {
		return nil
	}
	if !ids.Valid(t.UID) || !ids.Valid(t.RoomID) {
		r.log.Warn("not recording a track with an invalid uid or room", "uid", t.UID, "room", t.RoomID)
		return nil
	}
	switch {
	case t.Kind == "video" && (t.Codec == CodecVP8 || t.Codec == CodecVP9 || t.Codec == CodecH264):
	case t.Kind == "audio" && t.Codec == CodecOpus:
	default:
		r.log.Warn("not recording a track with an unsupported codec", "uid", t.UID, "kind", t.Kind, "codec", t.Codec)
		return nil
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	u := r.users[t.UID]
	if u == nil {
		u = newUser(r, t.UID, t.RoomID)
		r.users[t.UID] = u
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			u.run(r.stop)
		}()
	}
	u.live++
	r.nextID++
	ut := &utrack{
		id: r.nextID, kind: t.Kind, codec: t.Codec, rate: t.ClockRate, channels: int(t.Channels),
		reqKey: t.RequestKeyframe, clock: newTrackClock(t.ClockRate), fileIdx: -1,
	}
	r.mu.Unlock()
	u.sendCtl(msg{kind: msgTrackAdd, t: ut})
	if ut.kind == "video" {
		t.RequestKeyframe()
	}
	return newTrackSink(u, ut, t.RequestKeyframe)
}

// trackEnded is called once per track by its sink's Close.
func (r *Recorder) trackEnded(u *user, t *utrack) {
	r.mu.Lock()
	u.live--
	last := u.live == 0
	if last && r.users[u.uid] == u {
		// A later track of this uid starts a new user (and new files).
		delete(r.users, u.uid)
	}
	r.mu.Unlock()
	u.sendCtl(msg{kind: msgTrackEnd, t: t, last: last})
}

// Failures is the number of recording_error events so far.
func (r *Recorder) Failures() int { return int(r.failures.Load()) }

// Close finalizes every open file and stops recording: tracks handed over
// later are ignored. It is safe to call more than once and from several
// goroutines; every call returns once all files are closed.
func (r *Recorder) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		close(r.stop)
		r.wg.Wait()
		close(r.closedCh)
	})
	<-r.closedCh
	return nil
}

// createFile creates a new file for uid's recording starting at start,
// never overwriting one.
func (r *Recorder) createFile(room, uid string, start time.Time, ext string) (string, File, error) {
	base := room + "_" + uid + "_" + start.UTC().Format("20060102T150405Z")
	for n := 0; n < 1000; n++ {
		name := base
		if n > 0 {
			name += "-" + strconv.Itoa(n)
		}
		path := filepath.Join(r.cfg.Dir, name+ext)
		f, err := r.cfg.Create(path)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return path, nil, fmt.Errorf("create %s: %w", path, err)
		}
		return path, f, nil
	}
	return filepath.Join(r.cfg.Dir, base+ext), nil, fmt.Errorf("create %s: too many files of that name", base)
}
