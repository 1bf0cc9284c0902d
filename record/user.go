package record

import (
	"log/slog"
	"time"
)

// A user's goroutine owns everything about that user's recording: its
// tracks' timing, the queues that interleave audio and video by time, and
// the open file. Sinks talk to it through one channel, so the order of a
// track's add, frames and end is kept.
const (
	userQueue = 1024 // messages; at 30 fps + 50 packets/s, ~12 s of media
	// tick drives timers (waits, stalls, flushes) when no media comes.
	tick = 100 * time.Millisecond
	// stallAfter: a track with nothing queued for this long does not hold
	// back the other one's frames (it is muted, or its packets are lost).
	stallAfter = 300 * time.Millisecond
	// A track that is not in the open file keeps at most this much queued
	// (video: from its latest keyframe) while it waits to start a file.
	maxPendingFrames = 600
	maxPendingAudio  = 3 * time.Second
	// idleVideo: a file's video track this quiet no longer gates segment
	// rotation on its keyframes.
	idleVideo = 2 * time.Second
)

type msgKind int

const (
	msgTrackAdd msgKind = iota
	msgFrame
	msgSR
	msgTrackEnd
)

type msg struct {
	kind msgKind
	t    *utrack
	f    frame
	ntp  time.Time
	rtp  uint32
	last bool // msgTrackEnd: the user's last track
}

// utrack is the user goroutine's view of one track.
type utrack struct {
	id       int
	kind     string
	codec    string
	rate     uint32
	channels int
	reqKey   func()

	added      time.Time
	ended      bool
	clock      trackClock
	smooth     smoother // video only
	q          []qframe
	lastEnq    time.Time
	lastKeyReq time.Time
	fileIdx    int // index in the open file's tracks, -1 when not in it

	// catchUp: video frames are being dropped after a sync moved the
	// track earlier (catchEarly: they still fall before the old
	// timeline's end; catchKey: past it, waiting for a keyframe, since
	// the frames after a dropped one cannot be decoded without it).
	catchUp     catchState
	catchFrames int
}

type catchState int

const (
	catchNone catchState = iota
	catchEarly
	catchKey
)

type qframe struct {
	wall   int64
	key    bool
	format *videoFormat
	data   []byte
}

func (t *utrack) requestKey(now time.Time) {
	if now.Sub(t.lastKeyReq) < keyframeRetry || t.reqKey == nil {
		return
	}
	t.lastKeyReq = now
	t.reqKey()
}

// ready reports whether a file can start with t: video needs a keyframe
// with its format at the head of its queue, audio any frame.
func (t *utrack) ready() bool {
	if len(t.q) == 0 {
		return false
	}
	if t.kind == "video" {
		return t.q[0].key && t.q[0].format != nil
	}
	return true
}

type recFile struct {
	path   string
	w      *Writer
	tracks []*utrack
	names  []Track
	origin int64 // wall time of ts 0
	early  int   // frames dropped for coming before origin after the file opened
	video  *utrack
	format *videoFormat
}

type user struct {
	r    *Recorder
	uid  string
	room string
	log  *slog.Logger
	in   chan msg
	done chan struct{}

	live int // tracks not ended; guarded by r.mu

	tracks       []*utrack
	firstTrackAt time.Time
	file         *recFile
	retryAt      time.Time
}

func newUser(r *Recorder, uid, room string) *user {
	return &user{
		r: r, uid: uid, room: room,
		log:  r.log.With("uid", uid),
		in:   make(chan msg, userQueue),
		done: make(chan struct{}),
	}
}

func (u *user) now() time.Time { return u.r.cfg.Now() }

// sendCtl delivers a message that must not be lost (track add and end).
func (u *user) sendCtl(m msg) {
	select {
	case u.in <- m:
	case <-u.done:
	}
}

// sendFrame hands a frame over without blocking the engine's read loop:
// when the user is that far behind, the frame is dropped (false).
func (u *user) sendFrame(t *utrack, f frame) bool {
	m := msg{kind: msgFrame, t: t, f: f}
	if u.r.lossless {
		select {
		case u.in <- m:
			return true
		case <-u.done:
			return false
		}
	}
	select {
	case u.in <- m:
		return true
	default:
		return false
	}
}

func (u *user) sendSR(t *utrack, ntp time.Time, rtp uint32) {
	select {
	case u.in <- msg{kind: msgSR, t: t, ntp: ntp, rtp: rtp}:
	default:
	}
}

func (u *user) run(stop <-chan struct{}) {
	defer close(u.done)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for {
		select {
		case m := <-u.in:
			if u.handle(m) {
				u.finish(ReasonStreamEnd)
				return
			}
		case <-tk.C:
		case <-stop:
			// What was already handed over is recorded; sinks still
			// sending are let go when done closes.
			for n := len(u.in); n > 0; n-- {
				if u.handle(<-u.in) {
					break
				}
			}
			u.finish(ReasonStopped)
			return
		}
		u.pump(false)
	}
}

// handle applies one message; it reports whether the user's last track ended.
func (u *user) handle(m msg) bool {
	t := m.t
	switch m.kind {
	case msgTrackAdd:
		now := u.now()
		t.added, t.lastKeyReq = now, now // the Recorder asked for a keyframe already
		if len(u.tracks) == 0 || u.allEnded() {
			u.firstTrackAt = now
		}
		u.tracks = append(u.tracks, t)
		u.log.Debug("track added", "kind", t.kind, "codec", t.codec)
	case msgFrame:
		if t.ended {
			return false
		}
		wall, re, early := t.clock.wall(m.f.ext, m.f.arrival, m.f.restart)
		if re {
			u.log.Debug("timestamps re-anchored", "kind", t.kind)
		}
		now := u.now()
		if u.catchUp(t, early, m.f.key, now) {
			return false
		}
		qf := qframe{wall: wall, key: m.f.key, format: m.f.format, data: m.f.data}
		if t.kind == "video" {
			if out, ok := t.smooth.push(qf, now); ok {
				t.q = append(t.q, out)
			}
		} else {
			t.q = append(t.q, qf)
		}
		t.lastEnq = now
	case msgSR:
		if t.ended {
			return false
		}
		t.clock.senderReport(m.ntp, m.rtp)
		u.resync()
	case msgTrackEnd:
		if f, ok := t.smooth.flush(); ok {
			t.q = append(t.q, f)
		}
		t.ended = true
		return m.last
	}
	return false
}

// catchUp reports whether a frame is dropped because a sync moved its
// track earlier: a frame that would land before the end of the last one
// written on the old timeline (early), and then every frame up to the next
// keyframe, which is asked for as soon as the new timeline has passed the
// old one. Video pauses there for as long as the shift (plus a keyframe's
// round trip) instead of having its frames squeezed 1 ms apart. Only video
// is ever moved earlier (resync); audio is the reference.
func (u *user) catchUp(t *utrack, early, key bool, now time.Time) bool {
	switch {
	case early:
		if t.catchUp == catchNone {
			u.log.Debug("video moved earlier by sender reports: dropping frames until a keyframe after the old timeline")
		}
		t.catchUp = catchEarly
	case t.catchUp == catchNone:
		return false
	case key:
		u.log.Debug("video caught up after a sync", "dropped", t.catchFrames)
		t.catchUp, t.catchFrames = catchNone, 0
		return false
	case t.catchUp == catchEarly:
		t.catchUp = catchKey
		t.lastKeyReq = time.Time{} // at once: the new timeline needs it now
		t.requestKey(now)
	default:
		t.requestKey(now)
	}
	t.catchFrames++
	return true
}

func (u *user) allEnded() bool {
	for _, t := range u.tracks {
		if !t.ended {
			return false
		}
	}
	return true
}

// current returns the tracks a file should have now: the newest live
// track of each kind.
func (u *user) current() (audio, video *utrack) { return u.newest(false) }

// newest returns the newest track of each kind, ended ones too if asked:
// at the end, what they left queued is still recorded.
func (u *user) newest(ended bool) (audio, video *utrack) {
	for _, t := range u.tracks {
		if t.ended && !ended {
			continue
		}
		if t.kind == "audio" {
			audio = t
		} else {
			video = t
		}
	}
	return audio, video
}

// resync aligns video with audio through their sender reports.
func (u *user) resync() {
	var a, v *utrack
	if f := u.file; f != nil {
		for _, t := range f.tracks {
			if t.kind == "audio" {
				a = t
			} else {
				v = t
			}
		}
	} else {
		a, v = u.current()
	}
	if a == nil || v == nil {
		return
	}
	if d := v.clock.syncTo(&a.clock); d != 0 {
		u.log.Debug("lip sync from sender reports", "videoShift", d)
	}
}

// pump moves frames from the queues into the file, opening, rotating and
// closing files as needed. final writes everything queued for the file
// without waiting for interleaving, and opens a file if frames are waiting.
func (u *user) pump(final bool) {
	now := u.now()
	for _, t := range u.tracks {
		if final || t.smooth.due(now) {
			if f, ok := t.smooth.flush(); ok {
				t.q = append(t.q, f)
			}
		}
	}
	for u.file != nil || u.open(final) {
		t := u.next(final)
		if t == nil {
			if !final && u.file != nil && u.reopenPoint(nil) {
				u.closeFile(ReasonTracksChanged)
				continue
			}
			break
		}
		h := t.q[0]
		if !final {
			if reason := u.rotation(t, h); reason != "" {
				u.closeFile(reason)
				continue
			}
		}
		t.q[0] = qframe{}
		t.q = t.q[1:]
		if h.wall < u.file.origin {
			// A frame from before the file's start that reached us after it
			// opened (a starved recorder read its audio late: the RTP clock
			// placed it in the past). open drops such frames; written, it
			// would be squeezed 1 ms after the file's first block and overlap
			// the frames after it, which decoders take for time going
			// backwards.
			u.file.early++
			continue
		}
		ts := time.Duration(h.wall - u.file.origin)
		if err := u.file.w.WriteFrame(t.fileIdx, h.key, ts, h.data); err != nil {
			u.fail(err)
		}
	}
	if u.file != nil {
		u.file.w.Flush()
		if err := u.file.w.Err(); err != nil {
			u.fail(err)
		}
	}
	u.trim()
}

// next returns the file's track whose head frame is due: the earliest of
// the heads, once every other track of the file either has a frame queued
// or is stalled or ended — so the file's blocks are in time order.
func (u *user) next(final bool) *utrack {
	if u.file == nil {
		return nil
	}
	var best *utrack
	for _, t := range u.file.tracks {
		if len(t.q) > 0 && (best == nil || t.q[0].wall < best.q[0].wall) {
			best = t
		}
	}
	if best == nil || final {
		return best
	}
	now := u.now()
	for _, t := range u.file.tracks {
		if t != best && len(t.q) == 0 && !t.ended && now.Sub(t.lastEnq) < stallAfter {
			return nil // it may still bring an earlier frame
		}
	}
	return best
}

// rotation tells whether the file ends before head frame h of track t,
// and why.
func (u *user) rotation(t *utrack, h qframe) string {
	f := u.file
	now := u.now()
	if v := f.video; v != nil && t == v && h.key && h.format != nil &&
		(h.format.width != f.format.width || h.format.height != f.format.height) {
		return ReasonTracksChanged
	}
	if u.reopenPoint(&h) {
		return ReasonTracksChanged
	}
	seg := u.r.cfg.Segment
	if seg <= 0 || time.Duration(h.wall-f.origin) < seg {
		return ""
	}
	v := f.video
	if v == nil || v.ended || now.Sub(v.lastEnq) > idleVideo {
		return ReasonSegment
	}
	if t == v && h.key && h.format != nil {
		return ReasonSegment
	}
	v.requestKey(now)
	return ""
}

// reopenPoint reports whether a track that is not in the file is ready to
// join it, and the file has reached the point where it starts (h is the
// next frame to write; nil when none is due).
func (u *user) reopenPoint(h *qframe) bool {
	a, v := u.current()
	for _, t := range []*utrack{a, v} {
		if t == nil || t.fileIdx >= 0 || !t.ready() {
			continue
		}
		if h == nil || h.wall >= t.q[0].wall {
			return true
		}
	}
	return false
}

// open starts a file when the user's tracks are ready (see the package
// documentation for the waits). force opens with whatever is ready.
func (u *user) open(force bool) bool {
	now := u.now()
	if now.Before(u.retryAt) {
		return false
	}
	a, v := u.newest(force)
	if a == nil && v == nil {
		return false
	}
	if !force && (a == nil || v == nil) && now.Sub(u.firstTrackAt) < u.r.cfg.TrackWait {
		return false
	}
	if v != nil && !v.ready() {
		v.requestKey(now)
		if !force && now.Sub(v.added) < u.r.cfg.KeyframeWait {
			return false
		}
		v = nil
	}
	if a != nil && !a.ready() {
		if !force && now.Sub(a.added) < u.r.cfg.TrackWait {
			return false
		}
		// No audio yet (muted): it joins the file if it comes later.
	}
	if v == nil && (a == nil || !a.ready()) {
		return false
	}
	var tracks []*utrack
	var specs []TrackSpec
	var origin int64
	f := &recFile{}
	if v != nil {
		kf := v.q[0]
		origin = kf.wall
		f.video, f.format = v, kf.format
		tracks = append(tracks, v)
		specs = append(specs, TrackSpec{Kind: "video", Codec: v.codec, Width: kf.format.width, Height: kf.format.height, CodecPrivate: kf.format.codecPrivate})
	} else {
		origin = a.q[0].wall
	}
	if a != nil {
		// Audio from before the video keyframe is not recorded.
		i := 0
		for i < len(a.q) && a.q[i].wall < origin {
			i++
		}
		a.q = a.q[i:]
		tracks = append(tracks, a)
		specs = append(specs, TrackSpec{Kind: "audio", Codec: a.codec, SampleRate: int(a.rate), Channels: a.channels})
	}
	start := time.Unix(0, origin)
	path, file, err := u.r.createFile(u.room, u.uid, start, ContainerExt(specs))
	if err == nil {
		f.w, err = NewWriter(file, specs, WriterOptions{Start: start, CuesSpace: u.r.cuesSpace, Now: u.r.cfg.Now})
	}
	if err != nil {
		u.reportError(path, err)
		u.retryAt = now.Add(u.r.cfg.RetryAfter)
		return false
	}
	f.path, f.tracks, f.origin = path, tracks, origin
	for i, t := range tracks {
		t.fileIdx = i
		f.names = append(f.names, Track{Kind: t.kind, Codec: t.codec})
	}
	u.file = f
	u.log.Debug("recording file opened", "path", path)
	u.r.ev.Emit(EventFileOpened, FileOpened{
		UID: u.uid, RoomID: u.room, Path: path, Tracks: f.names,
		Start: start.UTC().Format("2006-01-02T15:04:05.000Z"),
	})
	return true
}

func (u *user) reportError(path string, err error) {
	u.r.failures.Add(1)
	u.log.Warn("recording error", "path", path, "err", err)
	u.r.ev.Emit(EventError, Error{UID: u.uid, RoomID: u.room, Path: path, Error: err.Error()})
}

// fail ends the file after a write error; a new one is tried after RetryAfter.
func (u *user) fail(err error) {
	if u.file == nil {
		return
	}
	u.reportError(u.file.path, err)
	u.closeFile(ReasonError)
	u.retryAt = u.now().Add(u.r.cfg.RetryAfter)
}

func (u *user) closeFile(reason string) {
	f := u.file
	if f == nil {
		return
	}
	u.file = nil
	for _, t := range f.tracks {
		t.fileIdx = -1
	}
	if err := f.w.Close(); err != nil && reason != ReasonError {
		u.reportError(f.path, err)
		reason = ReasonError
		u.retryAt = u.now().Add(u.r.cfg.RetryAfter)
	}
	u.log.Debug("recording file closed", "path", f.path, "reason", reason, "frames", f.w.Frames(), "lateBeforeStart", f.early)
	u.r.ev.Emit(EventFileClosed, FileClosed{
		UID: u.uid, RoomID: u.room, Path: f.path, Bytes: f.w.Size(),
		DurationMs: f.w.Duration().Milliseconds(), Tracks: f.names, Reason: reason,
	})
}

// trim bounds the queues of tracks that are not in the open file: video
// keeps its latest keyframe onwards (where a file can start), audio its
// last seconds; ended tracks nothing.
func (u *user) trim() {
	for _, t := range u.tracks {
		if t.fileIdx >= 0 {
			continue
		}
		if t.ended {
			t.q = nil
			continue
		}
		if t.kind == "video" {
			k := -1
			for i := len(t.q) - 1; i >= 0; i-- {
				if t.q[i].key && t.q[i].format != nil {
					k = i
					break
				}
			}
			switch {
			case k < 0:
				t.q = nil
			case k > 0:
				t.q = append(t.q[:0:0], t.q[k:]...)
			}
			if len(t.q) > maxPendingFrames {
				t.q = nil
				t.requestKey(u.now())
			}
			continue
		}
		if n := len(t.q); n > 0 {
			newest := t.q[n-1].wall
			i := 0
			for i < n && newest-t.q[i].wall > int64(maxPendingAudio) {
				i++
			}
			if i > 0 {
				t.q = append(t.q[:0:0], t.q[i:]...)
			}
		}
	}
}

// finish records what is left and closes the file.
func (u *user) finish(reason string) {
	u.pump(true)
	u.closeFile(reason)
}
