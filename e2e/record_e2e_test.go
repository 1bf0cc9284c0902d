package e2e

// End-to-end tests of `roomctl record`: a real publisher (`join --publish
// test`), a real recorder process, and the files checked with ffprobe,
// ffmpeg and mkvinfo.

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/record"
)

// A publisher (VP8 or H.264 + Opus) recorded for 8 s: one file with both
// tracks in the right container, as long as the events say, that decodes
// without an error and that mkvinfo parses. Audio is decoded for levels
// only with --audio-level-report: without it, no level report and no
// active_speaker for the (loud) publisher.
func TestRecordPublisher(t *testing.T) {
	testutil.Need(t, "ffprobe", "ffmpeg", "mkvinfo")
	for _, c := range []struct {
		codec, ext, probe string
		levels            bool
	}{
		{"vp8", ".webm", "vp8", true},
		{"h264", ".mkv", "h264", false},
	} {
		t.Run(c.codec, func(t *testing.T) {
			url := serve(t)
			out := t.TempDir()
			alice := start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test", "--video-codec", c.codec)...)
			alice.Wait(event.SDKAuthResult, field("result", 0))
			args := recordArgs(url, "r1", "rec", "--out", out, "--duration", "8s")
			if c.levels {
				args = append(args, "--audio-level-report")
			}
			rec := start(t, "rec", args...)
			opened, i := rec.WaitFrom(0, record.EventFileOpened, field("uid", "alice"))
			closed, _ := rec.WaitFrom(i+1, record.EventFileClosed, field("uid", "alice"))
			if code := rec.ExitCode(); code != 0 {
				t.Fatalf("record exit %d", code)
			}
			if c.levels {
				rec.Wait(event.AudioLevelReport, levelOf("alice", 5, 100))
				rec.Wait(event.ActiveSpeaker, speaker("alice"))
			} else if rec.Has(event.AudioLevelReport) || rec.Has(event.ActiveSpeaker) {
				t.Fatal("record printed levels without --audio-level-report")
			}
			op := testutil.DecodeAs[record.FileOpened](t, opened)
			cl := testutil.DecodeAs[record.FileClosed](t, closed)
			if cl.Path != op.Path || filepath.Dir(cl.Path) != out || filepath.Ext(cl.Path) != c.ext ||
				!strings.HasPrefix(filepath.Base(cl.Path), "r1_alice_") || cl.Reason != record.ReasonStopped {
				t.Fatalf("opened %+v, closed %+v", op, cl)
			}
			if len(cl.Tracks) != 2 || cl.Tracks[0].Codec != strings.ToUpper(c.codec) || cl.Tracks[1].Codec != "opus" {
				t.Fatalf("tracks %+v", cl.Tracks)
			}
			st, err := os.Stat(cl.Path)
			if err != nil || st.Size() != cl.Bytes {
				t.Fatalf("file %v, event says %d bytes", err, cl.Bytes)
			}
			recorded := testutil.LineTime(t, closed).Sub(testutil.LineTime(t, opened))
			p := testutil.FFprobe(t, cl.Path)
			d := p.Duration(t)
			if len(p.Streams) != 2 || p.Streams[0].CodecName != c.probe || p.Streams[1].CodecName != "opus" {
				t.Fatalf("ffprobe streams %+v", p.Streams)
			}
			if diff := d - recorded; diff < -500*time.Millisecond || diff > 500*time.Millisecond {
				t.Fatalf("ffprobe duration %s, recorded %s (opened→closed)", d, recorded)
			}
			if ms := time.Duration(cl.DurationMs) * time.Millisecond; ms-d > 2*time.Millisecond || d-ms > 2*time.Millisecond {
				t.Errorf("event durationMs %d, ffprobe %s", cl.DurationMs, d)
			}
			testutil.DecodeClean(t, cl.Path)
			testutil.MKVInfoParses(t, cl.Path)
			t.Logf("%s: %d bytes, ffprobe %s, recorded %s", filepath.Base(cl.Path), cl.Bytes, d, recorded)
		})
	}
}

// kill -9 at a random moment once the file is open: the file decodes and
// holds all but about the last second of what was received.
func TestRecordKilled(t *testing.T) {
	testutil.Need(t, "ffprobe", "ffmpeg")
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RECORD_KILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	delay := 2*time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))
	t.Logf("RECORD_KILL_SEED=%d: SIGKILL %s after the file opened", seed, delay)

	url := serve(t)
	out := t.TempDir()
	start(t, "alice", joinArgs(url, "r1", "alice", "--publish", "test")...)
	rec := start(t, "rec", recordArgs(url, "r1", "rec", "--out", out)...)
	opened := rec.Wait(record.EventFileOpened, field("uid", "alice"))
	op := testutil.DecodeAs[record.FileOpened](t, opened)
	// Not a synchronization: this is the random moment of the crash.
	time.Sleep(delay)
	killedAt := time.Now()
	rec.Kill()
	var ee *exec.ExitError
	if err := rec.WaitExit(); err == nil || !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("record ended with %v, not SIGKILL", err)
	}
	if rec.Has(record.EventFileClosed) {
		t.Fatal("a file was closed before the kill")
	}
	// The file's timeline starts at its first frame (a little before the
	// opened event is printed).
	fileStart, err := time.Parse("2006-01-02T15:04:05.000Z", op.Start)
	if err != nil {
		t.Fatal(err)
	}
	received := killedAt.Sub(fileStart)
	testutil.DecodeClean(t, op.Path)
	got := testutil.LastPacketEnd(t, op.Path)
	lost := received - got
	t.Logf("received %s before the kill, the file holds %s (lost %s)", received, got, lost)
	if lost > time.Second+100*time.Millisecond || got > received+200*time.Millisecond {
		t.Fatalf("the killed file holds %s of %s received", got, received)
	}
}

// A missing or unusable --out is a usage error before anything is sent:
// exit 2, the reason on stderr, nothing on stdout (not even connected).
func TestRecordOutErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Nothing listens here: reaching the server would be exit 5, not 2.
	url := "ws://127.0.0.1:1"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no out", recordArgs(url, "r1", "rec"), "--out is required"},
		{"missing", recordArgs(url, "r1", "rec", "--out", "/nonexistent/rec"), "does not exist"},
		{"not a directory", recordArgs(url, "r1", "rec", "--out", file), "not a directory"},
		{"short segment", recordArgs(url, "r1", "rec", "--out", t.TempDir(), "--segment", "10ms"), "--segment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantUsageError(t, start(t, c.name, c.args...), c.want)
		})
	}
}
