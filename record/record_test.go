package record

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/roomctl/roomctl/internal/engine"
)

// base is the wall time test media starts at.
var base = time.Date(2026, 11, 25, 17, 3, 4, 0, time.UTC)

func newTestRecorder(t *testing.T, cfg Config) (*Recorder, *events) {
	t.Helper()
	ev := newEvents()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.Events = ev
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.lossless = true
	t.Cleanup(func() { _ = r.Close() })
	return r, ev
}

// userMedia is one user's audio and video as timed RTP packets (track 0
// video, track 1 audio).
func userMedia(t *testing.T, codec string, loops int, mtu uint16) []timedPacket {
	t.Helper()
	var video []timedPacket
	switch codec {
	case CodecVP8:
		video = packetize(0, vp8Payloader(), 90000, mtu, repeat(vp8Frames(t), loops), time.Second/30, 0)
	case CodecH264:
		video = packetize(0, &codecs.H264Payloader{}, 90000, mtu, repeat(h264AUs(t), loops), time.Second/30, 0)
	}
	opus := opusPackets(t)
	n := loops * 2 * 50
	var frames [][]byte
	for i := range n {
		frames = append(frames, opus[i%len(opus)])
	}
	audio := packetize(1, &codecs.OpusPayloader{}, 48000, 1200, frames, 20*time.Millisecond, 0)
	return merge(video, audio)
}

func split(pkts []timedPacket) (video, audio []timedPacket) {
	for _, p := range pkts {
		if p.track == 0 {
			video = append(video, p)
		} else {
			audio = append(audio, p)
		}
	}
	return video, audio
}

func closedOf(d any) FileClosed { return d.(FileClosed) }

// Reordered, duplicated and lost packets: the jitter buffer puts them in
// order, drops duplicates, and video resumes at a keyframe after a loss,
// so the file decodes without a single error and timestamps only go forward.
func TestImpairedRTP(t *testing.T) {
	cases := []struct {
		codec               string
		reorder, dup, drop  float64
		minVideo, minFrames int
	}{
		{CodecVP8, 0, 0, 0, 180, 0},
		{CodecVP8, 0.1, 0.05, 0, 180, 0},
		{CodecVP8, 0.1, 0.05, 0.01, 60, 0},
		{CodecH264, 0.1, 0.05, 0, 180, 0},
		{CodecH264, 0.1, 0.05, 0.01, 60, 0},
	}
	for i, c := range cases {
		name := fmt.Sprintf("%s/reorder%.2f/dup%.2f/drop%.2f", c.codec, c.reorder, c.dup, c.drop)
		t.Run(name, func(t *testing.T) {
			r, ev := newTestRecorder(t, Config{})
			pkts := userMedia(t, c.codec, 3, 300)
			video, audio := split(pkts)
			seed := uint64(1000 + i)
			video = impair(t, video, seed, c.reorder, c.dup, c.drop)
			audio = impair(t, audio, seed+1, c.reorder, c.dup, c.drop)
			sinks := []engine.PacketSink{
				r.HandleTrack(track("alice", "video", c.codec)),
				r.HandleTrack(track("alice", "audio", CodecOpus)),
			}
			feed(sinks, merge(video, audio), base)
			for _, s := range sinks {
				s.Close(engine.ReasonStreamRemoved)
			}
			cl := closedOf(ev.wait(t, EventFileClosed, 1, nil))
			if cl.Reason != ReasonStreamEnd || len(cl.Tracks) != 2 {
				t.Fatalf("closed %+v", cl)
			}
			p := parseFile(t, cl.Path)
			times := p.blockTimes()
			if n := len(times[1]); n < c.minVideo {
				t.Errorf("%d video frames, want at least %d", n, c.minVideo)
			}
			if n := len(times[2]); n < 250 {
				t.Errorf("%d audio frames", n)
			}
			for tr, ts := range times {
				for i := 1; i < len(ts); i++ {
					if ts[i] <= ts[i-1] {
						t.Fatalf("track %d goes back: %d after %d", tr, ts[i], ts[i-1])
					}
				}
			}
			first := p.Segment.Cluster[0].SimpleBlock[0]
			if first.TrackNumber != 1 || !first.Keyframe {
				t.Errorf("file does not start with a video keyframe: %+v", first)
			}
			decodeClean(t, cl.Path)
			t.Logf("%s: %d video, %d audio frames, %d bytes, %d ms", filepath.Base(cl.Path), len(times[1]), len(times[2]), cl.Bytes, cl.DurationMs)
		})
	}
}

// The sink on its own: what comes out for a stream with loss.
func TestSinkKeyframeGating(t *testing.T) {
	r, _ := newTestRecorder(t, Config{})
	u := newUser(r, "alice", "r1")
	close(u.done) // no goroutine: the test reads u.in itself
	u.in = make(chan msg, 10000)
	r.lossless = false
	var requests atomic.Int32
	ut := &utrack{kind: "video", codec: CodecVP8}
	s := newTrackSink(u, ut, func() { requests.Add(1) })

	pkts := packetize(0, vp8Payloader(), 90000, 300, repeat(vp8Frames(t), 2), time.Second/30, 0)
	ts0 := pkts[0].p.Timestamp
	frameOf := func(p timedPacket) int { return int((p.p.Timestamp - ts0) / 3000) }
	// Start at frame 10, in the middle of a GOP, and lose the first
	// packet of frame 40.
	dropped := false
	for _, p := range pkts {
		if frameOf(p) < 10 {
			continue
		}
		if !dropped && frameOf(p) == 40 {
			dropped = true
			continue
		}
		s.WriteRTP(p.p, base.Add(p.at))
	}
	s.mu.Lock()
	s.drain(0)
	s.mu.Unlock()
	var got []frame
	for len(u.in) > 0 {
		if m := <-u.in; m.kind == msgFrame {
			got = append(got, m.f)
		}
	}
	if len(got) == 0 || !got[0].key || got[0].format == nil || got[0].format.width != 160 {
		t.Fatalf("first frame out is not a usable keyframe: %+v", got[:min(1, len(got))])
	}
	// Frames 10..29 wait for the keyframe at 30; 40 is lost, 41..59 wait
	// for the keyframe at 60; 60..119 are whole.
	want := (40 - 30) + (120 - 60)
	if len(got) != want {
		t.Errorf("%d frames out, want %d", len(got), want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ext <= got[i-1].ext {
			t.Fatalf("frame %d at %d after %d", i, got[i].ext, got[i-1].ext)
		}
	}
	if n := requests.Load(); n < 2 {
		t.Errorf("%d keyframe requests, want one at the start and one after the loss", n)
	}
}

// Duplicates and late packets never produce a frame twice or go back.
func TestSinkDuplicatesAndLate(t *testing.T) {
	r, _ := newTestRecorder(t, Config{})
	u := newUser(r, "bob", "r1")
	close(u.done)
	u.in = make(chan msg, 10000)
	r.lossless = false
	ut := &utrack{kind: "audio", codec: CodecOpus}
	s := newTrackSink(u, ut, nil)
	opus := opusPackets(t)
	pkts := packetize(1, &codecs.OpusPayloader{}, 48000, 1200, opus, 20*time.Millisecond, 0)
	for i, p := range pkts {
		s.WriteRTP(p.p, base.Add(p.at))
		s.WriteRTP(p.p, base.Add(p.at)) // duplicate at once
		if i >= 10 {
			s.WriteRTP(pkts[i-10].p, base.Add(p.at)) // and very late
		}
	}
	s.Close(engine.ReasonStreamRemoved)
	var n int
	var last int64
	for len(u.in) > 0 {
		m := <-u.in
		if m.kind != msgFrame {
			continue
		}
		if n > 0 && m.f.ext <= last {
			t.Fatalf("frame at %d after %d", m.f.ext, last)
		}
		last = m.f.ext
		n++
	}
	if n != len(pkts) {
		t.Fatalf("%d frames for %d packets", n, len(pkts))
	}
	if s.stats.duplicates+s.stats.late < len(pkts) {
		t.Errorf("stats %+v", s.stats)
	}
}

// A publisher that restarts (new sequence and timestamp bases) continues
// in the same file, after a keyframe, without breaking it.
func TestPublisherRestart(t *testing.T) {
	r, ev := newTestRecorder(t, Config{})
	sinks := []engine.PacketSink{
		r.HandleTrack(track("alice", "video", CodecVP8)),
		r.HandleTrack(track("alice", "audio", CodecOpus)),
	}
	first := userMedia(t, CodecVP8, 1, 1200)
	feed(sinks, first, base)
	// The same media again from a new encoder: other SSRC-side numbering,
	// 500 ms later.
	second := userMedia(t, CodecVP8, 1, 1200)
	for _, p := range second {
		p.p.SequenceNumber += 20000
		p.p.Timestamp += 123456789
	}
	feed(sinks, second, base.Add(2500*time.Millisecond))
	for _, s := range sinks {
		s.Close(engine.ReasonStreamRemoved)
	}
	cl := closedOf(ev.wait(t, EventFileClosed, 1, nil))
	if got := len(ev.all(EventFileOpened)); got != 1 {
		t.Errorf("%d files for one publisher", got)
	}
	if cl.DurationMs < 4300 || cl.DurationMs > 4700 {
		t.Errorf("duration %d ms, want about 4.5 s (2 s, a 0.5 s gap, 2 s)", cl.DurationMs)
	}
	decodeClean(t, cl.Path)
}

// A new encoder whose frames arrive while the old one's timeline is still
// running (its last frames came in a burst): the new frames follow the old
// ones' end instead of overlapping them, and the file decodes cleanly.
func TestPublisherRestartOverlapping(t *testing.T) {
	for _, at := range []time.Duration{1900 * time.Millisecond, 1950 * time.Millisecond} {
		t.Run(at.String(), func(t *testing.T) {
			r, ev := newTestRecorder(t, Config{})
			sinks := []engine.PacketSink{
				r.HandleTrack(track("alice", "video", CodecVP8)),
				r.HandleTrack(track("alice", "audio", CodecOpus)),
			}
			feed(sinks, userMedia(t, CodecVP8, 1, 1200), base)
			second := userMedia(t, CodecVP8, 1, 1200)
			for _, p := range second {
				p.p.SequenceNumber += 20000
				p.p.Timestamp += 123456789
			}
			feed(sinks, second, base.Add(at))
			for _, s := range sinks {
				s.Close(engine.ReasonStreamRemoved)
			}
			decodeClean(t, closedOf(ev.wait(t, EventFileClosed, 1, nil)).Path)
		})
	}
}

// A mute with the RTP clock standing still: the gap stays a gap, and audio
// and video stay aligned after it.
func TestMuteGapKeepsSync(t *testing.T) {
	r, ev := newTestRecorder(t, Config{})
	sinks := []engine.PacketSink{
		r.HandleTrack(track("alice", "video", CodecVP8)),
		r.HandleTrack(track("alice", "audio", CodecOpus)),
	}
	pkts := userMedia(t, CodecVP8, 2, 1200)
	// Everything after 1 s arrives 3 s later with unchanged RTP
	// timestamps: the sender stopped its clock while muted.
	for i := range pkts {
		if pkts[i].at >= time.Second {
			pkts[i].at += 3 * time.Second
		}
	}
	feed(sinks, pkts, base)
	for _, s := range sinks {
		s.Close(engine.ReasonStreamRemoved)
	}
	cl := closedOf(ev.wait(t, EventFileClosed, 1, nil))
	p := parseFile(t, cl.Path)
	times := p.blockTimes()
	// The first frame after the gap, per track.
	after := func(ts []int64) int64 {
		for i := 1; i < len(ts); i++ {
			if ts[i]-ts[i-1] > 2000 {
				return ts[i]
			}
		}
		return -1
	}
	va, aa := after(times[1]), after(times[2])
	if va < 3900 || aa < 3900 || va-aa > 40 || aa-va > 40 {
		t.Fatalf("after the gap video resumes at %d ms and audio at %d ms; want both at ~4000 ms", va, aa)
	}
	decodeClean(t, cl.Path)
}

// Sender reports move video into sync with audio when arrival times
// misled the first anchoring.
func TestSenderReportSync(t *testing.T) {
	r, ev := newTestRecorder(t, Config{})
	sinks := []engine.PacketSink{
		r.HandleTrack(track("alice", "video", CodecVP8)),
		r.HandleTrack(track("alice", "audio", CodecOpus)),
	}
	pkts := userMedia(t, CodecVP8, 2, 1200)
	// Video arrives 200 ms late all along (a slower path); the sender's
	// clock says both were captured together.
	var vts0, ats0 uint32
	seenV, seenA := false, false
	for i := range pkts {
		p := &pkts[i]
		if p.track == 0 {
			p.at += 200 * time.Millisecond
			if !seenV {
				vts0, seenV = p.p.Timestamp, true
			}
		} else if !seenA {
			ats0, seenA = p.p.Timestamp, true
		}
	}
	sent := false
	for _, p := range pkts {
		sinks[p.track].WriteRTP(p.p, base.Add(p.at))
		if !sent && p.at > 500*time.Millisecond {
			sent = true
			// Reports for media time 0.4 s of each track.
			ntp := base.Add(400 * time.Millisecond)
			sinks[0].SenderReport(ntp, vts0+uint32(90000*4/10))
			sinks[1].SenderReport(ntp, ats0+uint32(48000*4/10))
		}
	}
	for _, s := range sinks {
		s.Close(engine.ReasonStreamRemoved)
	}
	cl := closedOf(ev.wait(t, EventFileClosed, 1, nil))
	times := parseFile(t, cl.Path).blockTimes()
	// Frames captured at media time 3 s (video frame 90 of 120, audio
	// frame 150 of 200) must be written at the same time.
	v, a := times[1], times[2]
	vAt := v[len(v)-30]
	aAt := a[len(a)-50]
	if d := vAt - aAt; d < -35 || d > 35 {
		t.Fatalf("video frame at %d ms, audio at %d ms: %d ms apart after sender reports", vAt, aAt, d)
	}
}

// Segments: a new file at the first keyframe after Segment, each one
// decodable and starting with a keyframe; names never collide.
func TestSegments(t *testing.T) {
	dir := t.TempDir()
	// A file of the name the first segment will want exists already.
	taken := filepath.Join(dir, "r1_alice_20261125T170304Z.webm")
	if err := os.WriteFile(taken, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, ev := newTestRecorder(t, Config{Dir: dir, Segment: 2 * time.Second})
	sinks := []engine.PacketSink{
		r.HandleTrack(track("alice", "video", CodecVP8)),
		r.HandleTrack(track("alice", "audio", CodecOpus)),
	}
	feed(sinks, userMedia(t, CodecVP8, 4, 1200), base) // 8 s, keyframes every second
	for _, s := range sinks {
		s.Close(engine.ReasonStreamRemoved)
	}
	ev.wait(t, EventFileClosed, 1, func(d any) bool { return closedOf(d).Reason == ReasonStreamEnd })
	closed := ev.all(EventFileClosed)
	if len(closed) != 4 {
		t.Fatalf("%d files, want 4: %s", len(closed), ev.dump())
	}
	if b, _ := os.ReadFile(taken); string(b) != "keep me" {
		t.Fatal("an existing file was overwritten")
	}
	if got := closedOf(closed[0]).Path; !strings.HasSuffix(got, "r1_alice_20261125T170304Z-1.webm") {
		t.Errorf("first segment %s, want the -1 name", got)
	}
	var total int64
	for i, d := range closed {
		c := closedOf(d)
		if i < 3 && (c.Reason != ReasonSegment || c.DurationMs < 1900 || c.DurationMs > 2100) {
			t.Errorf("segment %d: %+v", i, c)
		}
		total += c.DurationMs
		p := parseFile(t, c.Path)
		if b := p.Segment.Cluster[0].SimpleBlock[0]; b.TrackNumber != 1 || !b.Keyframe {
			t.Errorf("segment %d does not start with a keyframe", i)
		}
		decodeClean(t, c.Path)
	}
	if total < 7700 {
		t.Errorf("segments hold %d ms of 8 s", total)
	}
}

// A user who publishes audio first gets an audio-only file after
// TrackWait; the video arriving later starts a file with both.
func TestLateVideoStartsNewFile(t *testing.T) {
	r, ev := newTestRecorder(t, Config{TrackWait: 50 * time.Millisecond})
	media := userMedia(t, CodecVP8, 2, 1200)
	video, audio := split(media)
	as := r.HandleTrack(track("carol", "audio", CodecOpus))
	at := time.Now()
	sinks := []engine.PacketSink{nil, as}
	feed(sinks, audio[:50], at)
	op := ev.wait(t, EventFileOpened, 1, nil).(FileOpened)
	if len(op.Tracks) != 1 || op.Tracks[0].Kind != "audio" {
		t.Fatalf("first file %+v", op)
	}
	sinks[0] = r.HandleTrack(track("carol", "video", CodecVP8))
	feed(sinks, merge(video, audio[50:]), at)
	for _, s := range sinks {
		s.Close(engine.ReasonStreamRemoved)
	}
	cl := closedOf(ev.wait(t, EventFileClosed, 1, nil))
	if cl.Reason != ReasonTracksChanged {
		t.Errorf("first file closed for %q", cl.Reason)
	}
	op2 := ev.wait(t, EventFileOpened, 2, nil).(FileOpened)
	if len(op2.Tracks) != 2 {
		t.Errorf("second file %+v", op2)
	}
	cl2 := closedOf(ev.wait(t, EventFileClosed, 2, nil))
	decodeClean(t, cl.Path)
	decodeClean(t, cl2.Path)
}

// flakyCreate gives uid "bob" files that fail after limit bytes.
func flakyCreate(limit int64) func(string) (File, error) {
	return func(path string) (File, error) {
		f, err := createExclusive(path)
		if err != nil || !strings.Contains(filepath.Base(path), "_bob_") {
			return f, err
		}
		return &failingFile{File: f.(*os.File), limit: limit}, nil
	}
}

// One user's disk write fails: a recording_error for that user, its file
// is closed and decodes; the other user's recording is not disturbed.
func TestWriteErrorOneStream(t *testing.T) {
	r, ev := newTestRecorder(t, Config{Create: flakyCreate(DefaultCuesSpace + 60_000), ExpectedFileDuration: time.Hour})
	var sinks []engine.PacketSink
	for _, uid := range []string{"alice", "bob"} {
		sinks = append(sinks,
			r.HandleTrack(track(uid, "video", CodecVP8)),
			r.HandleTrack(track(uid, "audio", CodecOpus)))
	}
	media := userMedia(t, CodecVP8, 4, 1200)
	for _, p := range media {
		sinks[p.track].WriteRTP(p.p, base.Add(p.at))
		c := *p.p
		sinks[2+p.track].WriteRTP(&c, base.Add(p.at))
	}
	e := ev.wait(t, EventError, 1, nil).(Error)
	if e.UID != "bob" || !strings.Contains(e.Error, "no space") {
		t.Fatalf("error event %+v", e)
	}
	for _, s := range sinks {
		s.Close(engine.ReasonStreamRemoved)
	}
	bob := closedOf(ev.wait(t, EventFileClosed, 1, func(d any) bool { return closedOf(d).UID == "bob" }))
	alice := closedOf(ev.wait(t, EventFileClosed, 1, func(d any) bool { return closedOf(d).UID == "alice" }))
	if bob.Reason != ReasonError || alice.Reason != ReasonStreamEnd {
		t.Fatalf("bob %+v, alice %+v", bob, alice)
	}
	if alice.DurationMs < 7800 {
		t.Errorf("alice recorded %d ms of 8 s", alice.DurationMs)
	}
	if r.Failures() != 1 {
		t.Errorf("%d failures", r.Failures())
	}
	decodeClean(t, bob.Path)
	decodeClean(t, alice.Path)
}

// Close finalizes open files (reason stopped), is idempotent and safe from
// several goroutines, and the sinks are inert afterwards.
func TestCloseFinalizes(t *testing.T) {
	r, ev := newTestRecorder(t, Config{})
	sinks := []engine.PacketSink{
		r.HandleTrack(track("alice", "video", CodecH264)),
		r.HandleTrack(track("alice", "audio", CodecOpus)),
	}
	media := userMedia(t, CodecH264, 1, 1200)
	feed(sinks, media, base)
	ev.wait(t, EventFileOpened, 1, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Close()
	}()
	_ = r.Close()
	<-done
	cl := closedOf(ev.wait(t, EventFileClosed, 1, nil))
	if cl.Reason != ReasonStopped || !strings.HasSuffix(cl.Path, ".mkv") || cl.DurationMs < 1500 {
		t.Fatalf("closed %+v", cl)
	}
	// After Close: nothing happens, nothing panics.
	feed(sinks, media[:10], base)
	for _, s := range sinks {
		s.Close(engine.ReasonStreamRemoved)
	}
	if s := r.HandleTrack(track("dave", "audio", CodecOpus)); s != nil {
		t.Fatal("a sink after Close")
	}
	p := parseFile(t, cl.Path)
	if p.Segment.Cues == nil || p.Segment.Info.Duration == 0 {
		t.Fatalf("not finalized: cues %v, duration %v", p.Segment.Cues, p.Segment.Info.Duration)
	}
	decodeClean(t, cl.Path)
	mkvinfoOK(t, cl.Path)
}

func TestNewValidates(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no dir", Config{}, "no directory"},
		{"missing", Config{Dir: "/nonexistent/rec"}, "does not exist"},
		{"a file", Config{Dir: file}, "not a directory"},
		{"short segment", Config{Dir: t.TempDir(), Segment: time.Millisecond}, "segment"},
	}
	for _, c := range cases {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if c.name != "short segment" && !errors.Is(err, ErrDir) {
			t.Errorf("%s: %v is not ErrDir", c.name, err)
		}
	}
	if os.Geteuid() != 0 {
		ro := t.TempDir()
		if err := os.Chmod(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		if _, err := New(Config{Dir: ro}); !errors.Is(err, ErrDir) {
			t.Errorf("read-only dir: %v", err)
		}
	}
}

func TestHandleTrackIgnores(t *testing.T) {
	r, _ := newTestRecorder(t, Config{})
	for _, tr := range []*engine.RemoteTrack{
		track("../etc", "audio", CodecOpus),
		track("alice", "audio", "G722"),
		track("alice", "video", "AV1"),
		track("alice", "audio", CodecVP8),
	} {
		if s := r.HandleTrack(tr); s != nil {
			t.Errorf("sink for %+v", tr)
		}
	}
	if r.HandleTrack(nil) != nil {
		t.Error("sink for nil")
	}
}

// A publisher that stamps frames as its encoder finishes them (intervals
// recorded from the test publisher): the file decodes without ffmpeg
// finding two frames in one frame period.
func TestJitteryPublisherTimestamps(t *testing.T) {
	r, ev := newTestRecorder(t, Config{})
	aus := repeat(h264AUs(t), 3)
	deltas := publisherIntervals[1]
	pk := rtp.NewPacketizer(1200, 96, 0x1000, &codecs.H264Payloader{}, rtp.NewFixedSequencer(100), 90000)
	var video []timedPacket
	at := time.Duration(0)
	for i, d := range deltas {
		for _, p := range pk.Packetize(aus[i], uint32(d*90)) {
			video = append(video, timedPacket{track: 0, p: p, at: at})
		}
		at += time.Duration(d) * time.Millisecond
	}
	opus := opusPackets(t)
	var frames [][]byte
	for i := range int(at / (20 * time.Millisecond)) {
		frames = append(frames, opus[i%len(opus)])
	}
	audio := packetize(1, &codecs.OpusPayloader{}, 48000, 1200, frames, 20*time.Millisecond, 0)
	sinks := []engine.PacketSink{
		r.HandleTrack(track("alice", "video", CodecH264)),
		r.HandleTrack(track("alice", "audio", CodecOpus)),
	}
	feed(sinks, merge(video, audio), base)
	for _, s := range sinks {
		s.Close(engine.ReasonStreamRemoved)
	}
	cl := closedOf(ev.wait(t, EventFileClosed, 1, nil))
	if n := len(parseFile(t, cl.Path).blockTimes()[1]); n != len(deltas)-1 && n != len(deltas) {
		t.Errorf("%d video frames of %d", n, len(deltas))
	}
	decodeClean(t, cl.Path)
}

// VP9 (not what roomctl publishes, but what browsers may): generated by
// ffmpeg, through RTP and the sink into WebM.
func TestVP9(t *testing.T) {
	needTool(t, "ffmpeg")
	ivf := filepath.Join(t.TempDir(), "vp9.ivf")
	gen := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=176x144:rate=30", "-t", "2",
		"-c:v", "libvpx-vp9", "-g", "30", "-deadline", "realtime", "-b:v", "200k", "-y", ivf)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Skipf("ffmpeg cannot encode VP9 here: %v %s", err, out)
	}
	f, err := os.Open(ivf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for {
		fr, _, err := rd.ParseNextFrame()
		if err != nil {
			break
		}
		frames = append(frames, fr)
	}
	if key, w, h := vp9Keyframe(frames[0]); !key || w != 176 || h != 144 {
		t.Fatalf("VP9 first frame: key %v %dx%d", key, w, h)
	}
	r, ev := newTestRecorder(t, Config{})
	video := packetize(0, &codecs.VP9Payloader{}, 90000, 600, frames, time.Second/30, 0)
	_, audio := split(userMedia(t, CodecVP8, 1, 1200))
	sinks := []engine.PacketSink{
		r.HandleTrack(track("vera", "video", CodecVP9)),
		r.HandleTrack(track("vera", "audio", CodecOpus)),
	}
	feed(sinks, merge(video, audio), base)
	for _, s := range sinks {
		s.Close(engine.ReasonStreamRemoved)
	}
	cl := closedOf(ev.wait(t, EventFileClosed, 1, nil))
	if !strings.HasSuffix(cl.Path, ".webm") || len(cl.Tracks) != 2 || cl.Tracks[0].Codec != CodecVP9 {
		t.Fatalf("closed %+v", cl)
	}
	p := parseFile(t, cl.Path)
	if e := p.Segment.Tracks.TrackEntry[0]; e.CodecID != "V_VP9" || e.Video.PixelWidth != 176 {
		t.Fatalf("track %+v", e)
	}
	if n := len(p.blockTimes()[1]); n < len(frames)-1 {
		t.Errorf("%d of %d frames", n, len(frames))
	}
	decodeClean(t, cl.Path)
}

// A user who leaves before the file would have opened (audio only, gone
// within TrackWait) still gets what was received.
func TestShortPublisher(t *testing.T) {
	r, ev := newTestRecorder(t, Config{})
	_, audio := split(userMedia(t, CodecVP8, 1, 1200))
	s := r.HandleTrack(track("quick", "audio", CodecOpus))
	feed([]engine.PacketSink{nil, s}, audio[:25], base)
	s.Close(engine.ReasonStreamRemoved)
	cl := closedOf(ev.wait(t, EventFileClosed, 1, nil))
	if cl.Reason != ReasonStreamEnd || len(cl.Tracks) != 1 || cl.DurationMs < 450 {
		t.Fatalf("closed %+v", cl)
	}
	decodeClean(t, cl.Path)
}

// A starved recorder reads the audio it received before the file's start
// only after the file opened (its audio reader stalled 400 ms while the
// first video keyframe came through): those frames are dropped, as open
// drops the ones already queued, instead of being squeezed into the file's
// first milliseconds, where their overlap made ffmpeg report audio time
// going backwards ("non monotonically increasing dts … 336 >= 48").
func TestStarvedAudioBeforeFileStart(t *testing.T) {
	r, ev := newTestRecorder(t, Config{})
	sinks := []engine.PacketSink{
		r.HandleTrack(track("alice", "video", CodecVP8)),
		r.HandleTrack(track("alice", "audio", CodecOpus)),
	}
	video, audio := split(userMedia(t, CodecVP8, 1, 1200))
	for i := range video {
		video[i].at += 300 * time.Millisecond // the first keyframe comes at 300 ms
	}
	for i := range audio {
		if a := audio[i].at; a >= 100*time.Millisecond && a < 500*time.Millisecond {
			audio[i].at = 500 * time.Millisecond // read late, in a burst
		}
	}
	feed(sinks, merge(video, audio), base)
	for _, s := range sinks {
		s.Close(engine.ReasonStreamRemoved)
	}
	cl := closedOf(ev.wait(t, EventFileClosed, 1, nil))
	times := parseFile(t, cl.Path).blockTimes()[2]
	if len(times) < 50 {
		t.Fatalf("%d audio blocks", len(times))
	}
	for i := 1; i < len(times); i++ {
		if d := times[i] - times[i-1]; d < 19 {
			t.Fatalf("audio blocks %d and %d are %d ms apart (at %d and %d ms): 20-ms Opus packets overlap", i-1, i, d, times[i-1], times[i])
		}
	}
	decodeClean(t, cl.Path)
}
