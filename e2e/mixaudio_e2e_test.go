package e2e

// End-to-end tests of `roomctl mix-audio`: a mixer publishing a 1 kHz file
// over a 440 Hz microphone, recorded by `roomctl record`, the recording
// decoded with ffmpeg and searched for both tones in 20-ms windows.

import (
	"encoding/binary"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/record"
)

func mixArgs(url, room, uid string, extra ...string) []string {
	args := joinArgs(url, room, uid, extra...)
	args[0] = "mix-audio"
	return args
}

func ffmpegTone(t *testing.T, path string, hz int, secs string) {
	t.Helper()
	src := "sine=frequency=" + strconv.Itoa(hz) + ":sample_rate=44100"
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", src, "-t", secs, path).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
}

// decodeF32 decodes a file to 48 kHz mono float samples.
func decodeF32(t *testing.T, path string) []float32 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "f32le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg decode %s: %v", path, err)
	}
	x := make([]float32, len(out)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:]))
	}
	return x
}

// tonePower is the Goertzel power of hz in x (48 kHz); a sine of peak A
// gives about A²/4.
func tonePower(x []float32, hz float64) float64 {
	c := 2 * math.Cos(2*math.Pi*hz/48000)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+c*s1-s2, s1
	}
	n := float64(len(x))
	return (s1*s1 + s2*s2 - c*s1*s2) / (n * n)
}

// The file (1 s of 1 kHz, cycle 2) is heard for 2 s over the 440 Hz mic,
// and after audio_mixing_finished only the mic is.
func TestMixAudioRecorded(t *testing.T) {
	needTools(t, "ffmpeg")
	url := serve(t)
	dir, out := t.TempDir(), t.TempDir()
	tone := filepath.Join(dir, "tone1k.wav")
	ffmpegTone(t, tone, 1000, "1")
	rec := start(t, "rec", recordArgs(url, "r1", "rec", "--out", out)...)
	rec.wait(event.SDKAuthResult, field("result", 0))
	// --start-after leaves the recorder time to subscribe before the file
	// starts; the order is checked below rather than assumed.
	mix := start(t, "mix", mixArgs(url, "r1", "dj", "--file", tone, "--cycle", "2", "--mic", "test",
		"--start-after", "3s", "--duration", "8s")...)
	played := mix.wait(event.AudioMixingPlayed, both(field("id", 0), field("fileName", "tone1k.wav")))
	finished := mix.wait(event.AudioMixingFinished, field("id", 0))
	if code := mix.exitCode(); code != 0 {
		t.Fatalf("mix-audio exit %d", code)
	}
	if d := lineTime(t, finished).Sub(lineTime(t, played)); d < 1900*time.Millisecond || d > 2100*time.Millisecond {
		t.Errorf("played → finished %s, want 2s", d)
	}
	opened, i := rec.waitFrom(0, record.EventFileOpened, field("uid", "dj"))
	if !lineTime(t, opened).Before(lineTime(t, played)) {
		t.Fatalf("the recorder opened its file at %s, after the file started at %s", opened.TS, played.TS)
	}
	rec.signal(syscall.SIGINT)
	closed, _ := rec.waitFrom(i+1, record.EventFileClosed, field("uid", "dj"))
	if code := rec.exitCode(); code != 0 {
		t.Fatalf("record exit %d", code)
	}
	x := decodeF32(t, decodeAs[record.FileClosed](t, closed).Path)

	const win = 960 // 20 ms
	n := len(x) / win
	has1k := make([]bool, n)
	has440 := make([]bool, n)
	first, last := -1, -1
	for w := range n {
		seg := x[w*win : (w+1)*win]
		// The file is ffmpeg's sine at 1/8 of full scale (power 0.0039),
		// the mic 440 Hz at 1/4 (0.0156).
		has1k[w] = tonePower(seg, 1000) > 0.001
		has440[w] = tonePower(seg, 440) > 0.004
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
	needTools(t, "ffmpeg")
	url := serve(t)
	tone := filepath.Join(t.TempDir(), "short.wav")
	ffmpegTone(t, tone, 1000, "0.5")
	mix := start(t, "mix", mixArgs(url, "r1", "dj", "--file", tone, "--mic", "silence")...)
	mix.wait(event.AudioMixingPlayed, field("id", 0))
	mix.wait(event.AudioMixingFinished, field("id", 0))
	if code := mix.exitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	bad := start(t, "bad", mixArgs(url, "r1", "dj2", "--file", tone, "--mic", "hw:0")...)
	if code := bad.exitCode(); code != 2 {
		t.Fatalf("--mic hw:0: exit %d, want 2", code)
	}
}
