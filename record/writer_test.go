package record

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/testutil"
)

// clip is known frames of one video codec and Opus, with the track specs
// of a file holding them.
type clip struct {
	name   string
	ext    string
	video  [][]byte // whole frames, as the sink hands them over (H.264: AVCC)
	keys   []bool
	specs  []TrackSpec
	codecs [2]string // Matroska codec ids
	probe  [2]string // ffprobe codec names
}

func vp8Clip(t testing.TB, loops int) clip {
	frames := repeat(vp8Frames(t), loops)
	keys := make([]bool, len(frames))
	var w, h int
	for i, f := range frames {
		var k bool
		k, fw, fh := vp8Keyframe(f)
		keys[i] = k
		if k && fw > 0 {
			w, h = fw, fh
		}
	}
	return clip{
		name: "vp8", ext: ".webm", video: frames, keys: keys,
		specs:  []TrackSpec{{Kind: "video", Codec: CodecVP8, Width: w, Height: h}, {Kind: "audio", Codec: CodecOpus}},
		codecs: [2]string{codecIDVP8, codecIDOpus}, probe: [2]string{"vp8", "opus"},
	}
}

func h264Clip(t testing.TB, loops int) clip {
	aus := repeat(h264AUs(t), loops)
	var frames [][]byte
	var keys []bool
	var cp []byte
	var w, h int
	for _, au := range aus {
		f := annexBToAVCC(au)
		info, ok := inspectH264(f)
		if !ok {
			t.Fatal("bad test access unit")
		}
		if info.IDR && cp == nil {
			c, sps, err := avcC(info.SPS, info.PPS)
			if err != nil {
				t.Fatal(err)
			}
			cp, w, h = c, sps.Width, sps.Height
		}
		frames = append(frames, f)
		keys = append(keys, info.IDR)
	}
	return clip{
		name: "h264", ext: ".mkv", video: frames, keys: keys,
		specs:  []TrackSpec{{Kind: "video", Codec: CodecH264, Width: w, Height: h, CodecPrivate: cp}, {Kind: "audio", Codec: CodecOpus}},
		codecs: [2]string{codecIDH264, codecIDOpus}, probe: [2]string{"h264", "opus"},
	}
}

// writeClip writes the clip's video (30 fps) and as much Opus (20 ms) as
// lasts as long, interleaved by time, and returns the last timestamp.
func writeClip(t testing.TB, w *Writer, c clip, audio [][]byte) time.Duration {
	t.Helper()
	const vdur, adur = time.Second / 30, 20 * time.Millisecond
	end := time.Duration(len(c.video)) * vdur
	vi, ai := 0, 0
	var last time.Duration
	for {
		vt, at := time.Duration(vi)*vdur, time.Duration(ai)*adur
		if vi >= len(c.video) && at >= end {
			return last
		}
		if vi < len(c.video) && vt <= at {
			if err := w.WriteFrame(0, c.keys[vi], vt, c.video[vi]); err != nil {
				t.Fatalf("video frame %d: %v", vi, err)
			}
			vi, last = vi+1, max(last, vt)
			continue
		}
		if err := w.WriteFrame(1, true, at, audio[ai%len(audio)]); err != nil {
			t.Fatalf("audio frame %d: %v", ai, err)
		}
		ai, last = ai+1, max(last, at)
	}
}

// Known frames in, parsed back with ebml-go, ffprobe, ffmpeg and mkvinfo.
func TestWriterRoundTrip(t *testing.T) {
	audio := opusPackets(t)
	for _, c := range []clip{vp8Clip(t, 3), h264Clip(t, 3)} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out"+c.ext)
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if ext := ContainerExt(c.specs); ext != c.ext {
				t.Fatalf("container %s, want %s", ext, c.ext)
			}
			start := time.Date(2026, 11, 25, 17, 3, 4, 0, time.UTC)
			w, err := NewWriter(f, c.specs, WriterOptions{Start: start})
			if err != nil {
				t.Fatal(err)
			}
			last := writeClip(t, w, c, audio)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil { // idempotent
				t.Fatal(err)
			}
			if err := w.WriteFrame(0, true, last+time.Second, c.video[0]); !errors.Is(err, ErrClosed) {
				t.Fatalf("write after close: %v, want ErrClosed", err)
			}
			st, _ := os.Stat(path)
			if w.Size() != st.Size() || w.Duration() != last {
				t.Fatalf("size %d (file %d), duration %s (want %s)", w.Size(), st.Size(), w.Duration(), last)
			}

			p := parseFile(t, path)
			wantDoc := map[string]string{".webm": "webm", ".mkv": "matroska"}[c.ext]
			if p.Header.DocType != wantDoc {
				t.Errorf("DocType %q, want %q", p.Header.DocType, wantDoc)
			}
			seg := p.Segment
			if n := len(seg.Tracks.TrackEntry); n != 2 {
				t.Fatalf("%d tracks", n)
			}
			v, a := seg.Tracks.TrackEntry[0], seg.Tracks.TrackEntry[1]
			if v.CodecID != c.codecs[0] || a.CodecID != c.codecs[1] {
				t.Errorf("codec ids %q %q", v.CodecID, a.CodecID)
			}
			if v.Video == nil || v.Video.PixelWidth != 160 || v.Video.PixelHeight != 120 {
				t.Errorf("video element %+v", v.Video)
			}
			if c.name == "h264" && (len(v.CodecPrivate) < 8 || v.CodecPrivate[0] != 1 || !bytes.Equal(v.CodecPrivate, c.specs[0].CodecPrivate)) {
				t.Errorf("avcC % x", v.CodecPrivate)
			}
			if !bytes.HasPrefix(a.CodecPrivate, []byte("OpusHead")) || len(a.CodecPrivate) != 19 {
				t.Errorf("Opus CodecPrivate % x", a.CodecPrivate)
			}
			if a.CodecDelay != opusCodecDelay || a.SeekPreRoll != opusSeekPreRoll {
				t.Errorf("CodecDelay %d SeekPreRoll %d", a.CodecDelay, a.SeekPreRoll)
			}
			if a.Audio == nil || a.Audio.SamplingFrequency != 48000 || a.Audio.Channels != 2 {
				t.Errorf("audio element %+v", a.Audio)
			}
			if seg.Info.TimecodeScale != 1_000_000 || time.Duration(seg.Info.Duration)*time.Millisecond != last {
				t.Errorf("info %+v, want duration %s", seg.Info, last)
			}
			if !seg.Info.DateUTC.Equal(start) {
				t.Errorf("DateUTC %s", seg.Info.DateUTC)
			}
			if seg.Cues == nil || len(seg.Cues.CuePoint) < len(seg.Cluster)/2 {
				t.Errorf("cues missing: %v for %d clusters", seg.Cues, len(seg.Cluster))
			}
			times := p.blockTimes()
			if len(times[1]) != len(c.video) {
				t.Errorf("%d video blocks, want %d", len(times[1]), len(c.video))
			}
			for tr, ts := range times {
				for i := 1; i < len(ts); i++ {
					if ts[i] <= ts[i-1] {
						t.Fatalf("track %d: timestamp %d after %d", tr, ts[i], ts[i-1])
					}
				}
			}
			// Clusters: at most 1 s long, and every keyframe starts one.
			for i, cl := range seg.Cluster {
				if i+1 < len(seg.Cluster) {
					if d := seg.Cluster[i+1].Timecode - cl.Timecode; d > 1000 {
						t.Errorf("cluster %d lasts %d ms", i, d)
					}
				}
				for j, b := range cl.SimpleBlock {
					if j > 0 && b.TrackNumber == 1 && b.Keyframe {
						t.Errorf("cluster %d: keyframe at block %d, not at the start", i, j)
					}
				}
			}

			pr := testutil.FFprobe(t, path)
			if len(pr.Streams) != 2 || pr.Streams[0].CodecName != c.probe[0] || pr.Streams[1].CodecName != c.probe[1] {
				t.Errorf("ffprobe streams %+v", pr.Streams)
			}
			if d := pr.Duration(t); d < last-50*time.Millisecond || d > last+50*time.Millisecond {
				t.Errorf("ffprobe duration %s, want %s", d, last)
			}
			decodeClean(t, path)
			mkvinfoOK(t, path)
		})
	}
}

// A file whose writer never got to Close (the process was killed) is
// still readable: it ends on a whole element and holds all but the last
// flush interval.
func TestWriterCutShort(t *testing.T) {
	c := vp8Clip(t, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "live.webm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// The test moves the clock; the muxer's goroutine reads it.
	var nowNS atomic.Int64
	clock := func() time.Time { return time.Unix(0, nowNS.Load()) }
	w, err := NewWriter(f, c.specs, WriterOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	audio := opusPackets(t)
	// Write in real-time order with a clock that follows the media.
	const vdur, adur = time.Second / 30, 20 * time.Millisecond
	vi, ai := 0, 0
	var last time.Duration
	for vi < len(c.video) {
		vt, at := time.Duration(vi)*vdur, time.Duration(ai)*adur
		if vt <= at {
			nowNS.Store(int64(vt))
			if err := w.WriteFrame(0, c.keys[vi], vt, c.video[vi]); err != nil {
				t.Fatal(err)
			}
			vi, last = vi+1, vt
		} else {
			nowNS.Store(int64(at))
			if err := w.WriteFrame(1, true, at, audio[ai%len(audio)]); err != nil {
				t.Fatal(err)
			}
			ai, last = ai+1, at
		}
	}
	// What is on disk now is what a SIGKILL would leave.
	snap := filepath.Join(dir, "killed.webm")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snap, b, 0o644); err != nil {
		t.Fatal(err)
	}
	decodeClean(t, snap)
	got := testutil.LastPacketEnd(t, snap)
	if lost := last - got; lost > DefaultFlushAfter+100*time.Millisecond || lost < 0 {
		t.Fatalf("cut-short file ends at %s, %s before the last frame written (%s)", got, lost, last)
	}
	// The live duration is close to it too.
	if d := testutil.FFprobe(t, snap).Duration(t); d < got-DefaultMaxCluster || d > got {
		t.Errorf("cut-short file says it lasts %s, holds %s", d, got)
	}
	t.Logf("cut short after %s of media: file holds %s", last, got)
}

// failingFile fails every write after limit bytes, like a full disk: a
// short write, then ENOSPC.
type failingFile struct {
	*os.File
	limit int64
	n     int64
}

func (f *failingFile) Write(p []byte) (int, error) {
	if f.n+int64(len(p)) > f.limit {
		k := max(f.limit-f.n, 0)
		w, _ := f.File.Write(p[:k])
		f.n += int64(w)
		return w, syscall.ENOSPC
	}
	w, err := f.File.Write(p)
	f.n += int64(w)
	return w, err
}

// A full disk: the error surfaces (never a panic or a hang), later frames
// are dropped, and what was written decodes.
func TestWriterDiskFull(t *testing.T) {
	c := vp8Clip(t, 3)
	path := filepath.Join(t.TempDir(), "full.webm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(&failingFile{File: f, limit: DefaultCuesSpace + 40_000}, c.specs, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for i, fr := range c.video {
		if werr = w.WriteFrame(0, c.keys[i], time.Duration(i)*time.Second/30, fr); werr != nil {
			break
		}
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("write error %v, want ENOSPC", werr)
	}
	if err := w.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("close: %v", err)
	}
	st, _ := os.Stat(path)
	if st.Size() > DefaultCuesSpace+40_000 || st.Size() < DefaultCuesSpace+10_000 {
		t.Fatalf("file size %d", st.Size())
	}
	decodeClean(t, path)
}

// An io.WriteSeeker that is not a file (no WriterAt): cues and duration
// are still written through Seek.
func TestWriterOnWriteSeeker(t *testing.T) {
	c := vp8Clip(t, 1)
	var ws memFile
	w, err := NewWriter(&ws, c.specs[:1], WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, fr := range c.video {
		if err := w.WriteFrame(0, c.keys[i], time.Duration(i)*time.Second/30, fr); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mem.webm")
	if err := os.WriteFile(path, ws.b, 0o644); err != nil {
		t.Fatal(err)
	}
	p := parseFile(t, path)
	if p.Segment.Cues == nil || p.Segment.Info.Duration < 1900 {
		t.Fatalf("cues %v, duration %v", p.Segment.Cues, p.Segment.Info.Duration)
	}
	decodeClean(t, path)
}

// memFile is an in-memory io.WriteSeeker.
type memFile struct {
	b   []byte
	off int64
}

func (m *memFile) Write(p []byte) (int, error) {
	if need := m.off + int64(len(p)); need > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, need-int64(len(m.b)))...)
	}
	copy(m.b[m.off:], p)
	m.off += int64(len(p))
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		m.off = off
	case io.SeekCurrent:
		m.off += off
	case io.SeekEnd:
		m.off = int64(len(m.b)) + off
	}
	return m.off, nil
}

func TestWriterRejects(t *testing.T) {
	cases := []struct {
		name   string
		tracks []TrackSpec
	}{
		{"no tracks", nil},
		{"h264 without avcC", []TrackSpec{{Kind: "video", Codec: CodecH264, Width: 16, Height: 16}}},
		{"no size", []TrackSpec{{Kind: "video", Codec: CodecVP8}}},
		{"opus as video", []TrackSpec{{Kind: "video", Codec: CodecOpus, Width: 16, Height: 16}}},
		{"unknown codec", []TrackSpec{{Kind: "audio", Codec: "G722"}}},
	}
	for _, c := range cases {
		if _, err := NewWriter(&memFile{}, c.tracks, WriterOptions{}); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

// Two frames of a track within one millisecond: the file still has
// strictly increasing timestamps. (Frames that close still collide on
// ffmpeg's frame-rate grid; the Recorder's smoother keeps them apart.)
func TestWriterSameMillisecond(t *testing.T) {
	c := h264Clip(t, 1)
	path := filepath.Join(t.TempDir(), "close.mkv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f, c.specs[:1], WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Duration(0)
	for i, fr := range c.video {
		if i%10 == 5 {
			ts += 300 * time.Microsecond // same millisecond as the frame before
		} else if i > 0 {
			ts += time.Second / 30
		}
		if err := w.WriteFrame(0, c.keys[i], ts, fr); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	times := parseFile(t, path).blockTimes()[1]
	for i := 1; i < len(times); i++ {
		if times[i] <= times[i-1] {
			t.Fatalf("block %d at %d ms after %d ms", i, times[i], times[i-1])
		}
	}
}
