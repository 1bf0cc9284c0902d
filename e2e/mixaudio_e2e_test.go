package e2e

// End-to-end tests of `roomctl mix-audio`: a mixer publishing a 1 kHz file
// over a 440 Hz microphone, recorded by `roomctl record`, the recording
// decoded with ffmpeg and searched for both tones in 20-ms windows.

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/dsp/dsptest"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/record"
)

// The file (1 s of 1 kHz, cycle 2) is heard for 2 s over the 440 Hz mic,
// and after audio_mixing_finished only the mic is.
func TestMixAudioRecorded(t *testing.T) {
	testutil.Need(t, "ffmpeg")
	url := serve(t)
	dir, out := t.TempDir(), t.TempDir()
	tone := filepath.Join(dir, "tone1k.wav")
	testutil.Tone(t, tone, 1000, "1")
	rec := start(t, "rec", recordArgs(url, "r1", "rec", "--out", out)...)
	rec.Wait(event.SDKAuthResult, field("result", 0))
	// --start-after leaves the recorder time to subscribe before the file
	// starts; the order is checked below rather than assumed.
	mix := start(t, "mix", mixArgs(url, "r1", "dj", "--file", tone, "--cycle", "2", "--mic", "test",
		"--start-after", "3s", "--duration", "8s")...)
	played := mix.Wait(event.AudioMixingPlayed, both(field("id", 0), field("fileName", "tone1k.wav")))
	finished := mix.Wait(event.AudioMixingFinished, field("id", 0))
	if code := mix.ExitCode(); code != 0 {
		t.Fatalf("mix-audio exit %d", code)
	}
	if d := testutil.LineTime(t, finished).Sub(testutil.LineTime(t, played)); d < 1900*time.Millisecond || d > 2100*time.Millisecond {
		t.Errorf("played → finished %s, want 2s", d)
	}
	opened, i := rec.WaitFrom(0, record.EventFileOpened, field("uid", "dj"))
	if !testutil.LineTime(t, opened).Before(testutil.LineTime(t, played)) {
		t.Fatalf("the recorder opened its file at %s, after the file started at %s", opened.TS, played.TS)
	}
	rec.Signal(syscall.SIGINT)
	closed, _ := rec.WaitFrom(i+1, record.EventFileClosed, field("uid", "dj"))
	if code := rec.ExitCode(); code != 0 {
		t.Fatalf("record exit %d", code)
	}
	x := testutil.DecodePCM(t, testutil.DecodeAs[record.FileClosed](t, closed).Path, "-ac", "1", "-ar", "48000")

	const win = 960 // 20 ms
	n := len(x) / win
	has1k := make([]bool, n)
	has440 := make([]bool, n)
	first, last := -1, -1
	for w := range n {
		seg := x[w*win : (w+1)*win]
		// The file is ffmpeg's sine at 1/8 of full scale (power 0.0039),
		// the mic 440 Hz at 1/4 (0.0156).
		has1k[w] = dsptest.Goertzel(seg, 1000, 48000) > 0.001
		has440[w] = dsptest.Goertzel(seg, 440, 48000) > 0.004
		if has1k[w] {
			if first < 0 {
				first = w
			}
			last = w
		}
	}
	if first < 0 {
		t.Fatalf("no 1 kHz in %d windows", n)
	}
	audible := time.Duration(last-first+1) * 20 * time.Millisecond
	t.Logf("recording %d windows; 1 kHz from window %d to %d: %s", n, first, last, audible)
	if d := audible - 2*time.Second; d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("file audible for %s, want 2 × 1s ± 100ms", audible)
	}
	for w := first; w <= last; w++ {
		if !has1k[w] || !has440[w] {
			t.Errorf("window %d (file playing): 1 kHz %v, 440 Hz %v", w, has1k[w], has440[w])
		}
	}
	after := 0
	for w := last + 2; w < n-2; w++ {
		after++
		if has1k[w] || !has440[w] {
			t.Errorf("window %d (after the file): 1 kHz %v, 440 Hz %v", w, has1k[w], has440[w])
		}
	}
	if after < 50 {
		t.Errorf("only %d windows after the file: want a second of mic alone", after)
	}
	for w := 1; w < first-1; w++ {
		if !has440[w] {
			t.Errorf("window %d (before the file): no 440 Hz", w)
		}
	}
}

// Without --duration the command leaves by itself once every file has
// finished; --mic with a device that is not there is a usage error.
func TestMixAudioEndsWhenFinished(t *testing.T) {
	testutil.Need(t, "ffmpeg")
	url := serve(t)
	tone := filepath.Join(t.TempDir(), "short.wav")
	testutil.Tone(t, tone, 1000, "0.5")
	mix := start(t, "mix", mixArgs(url, "r1", "dj", "--file", tone, "--mic", "silence")...)
	mix.Wait(event.AudioMixingPlayed, field("id", 0))
	mix.Wait(event.AudioMixingFinished, field("id", 0))
	if code := mix.ExitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	bad := start(t, "bad", mixArgs(url, "r1", "dj2", "--file", tone, "--mic", "hw:0")...)
	if code := bad.ExitCode(); code != 2 {
		t.Fatalf("--mic hw:0: exit %d, want 2", code)
	}
}
