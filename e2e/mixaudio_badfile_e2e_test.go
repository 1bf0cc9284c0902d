package e2e

// `roomctl mix-audio` with files it cannot use (issue 15, item 1): an
// empty, a missing and corrupt WAV/MP3/Ogg files. Each prints
// start_mixing_fail and ends with exit 1 ("no file could be mixed"), at once
// without --duration, at --duration with it (the microphone goes on
// meanwhile, as the SDK stays in the room), and at once on a signal. It
// used to hang forever in PeerConnection.Close, signals ignored.

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
)

// badFiles writes files mix-audio cannot mix into a new directory and
// returns their paths; "missing.wav" is not there at all.
func badFiles(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	good := t.TempDir()
	prefix := func(src string, n int) []byte {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) <= n {
			t.Fatalf("%s has %d bytes, want more than %d", src, len(b), n)
		}
		return b[:n]
	}
	wav := filepath.Join(good, "tone.wav")
	testutil.Tone(t, wav, 1000, "1")
	ogg := filepath.Join(good, "tone.ogg")
	testutil.Tone(t, ogg, 1000, "1")
	opus := filepath.Join(good, "tone.opus")
	testutil.Tone(t, opus, 1000, "1")
	random := make([]byte, 8192)
	r := rand.New(rand.NewPCG(15, 1)) // seeded: the same bytes every run
	for i := range random {
		random[i] = byte(r.UintN(256))
	}
	files := map[string][]byte{
		"empty.wav":       nil,
		"header-cut.wav":  prefix(wav, 30),  // RIFF/WAVE and half a fmt chunk
		"no-samples.wav":  prefix(wav, 44),  // a whole header, no sample
		"random.mp3":      random,           // no frame sync, no ID3
		"truncated.ogg":   prefix(ogg, 120), // a cut Vorbis identification page
		"truncated.opus":  prefix(opus, 60), // OggS, OpusHead cut
		"random-riff.wav": append([]byte("RIFF\xff\xff\xff\x7fWAVE"), random[:512]...),
		"ogg-garbage.ogg": append([]byte("OggS\x00\x02"), random[:1024]...),
	}
	var paths []string
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return append(paths, filepath.Join(dir, "missing.wav"))
}

// failed waits for start_mixing_fail and checks its payload.
func failed(t *testing.T, p *proc) event.Line {
	t.Helper()
	l := p.Wait(event.StartMixingFail, nil)
	if f := testutil.DecodeAs[event.MixingFail](t, l); f.Error == "" {
		t.Fatalf("%s: start_mixing_fail without an error: %s", p.Name(), l.Data)
	}
	return l
}

// Every bad file: start_mixing_fail, then exit 1 at once (nothing to play,
// no --duration), with and without --replace.
func TestMixAudioBadFiles(t *testing.T) {
	url := serve(t)
	for i, f := range badFiles(t) {
		args := []string{"--file", f, "--mic", "test", "--device-interval", "0"}
		if i%2 == 1 {
			args = append(args, "--replace")
		}
		t0 := time.Now()
		mix := start(t, filepath.Base(f), mixArgs(url, "r1", "dj"+strconv.Itoa(i), args...)...)
		fail := testutil.DecodeAs[event.MixingFail](t, failed(t, mix))
		if code := mix.ExitCode(); code != 1 {
			t.Fatalf("%s: exit %d, want 1\n%s", f, code, testutil.Tail(mix.Stderr(), 2000))
		}
		if mix.Has(event.AudioMixingPlayed) {
			t.Errorf("%s: audio_mixing_played for a file that failed", f)
		}
		t.Logf("%s (replace %v): %q, exit 1 after %s", filepath.Base(f), i%2 == 1, fail.Error, time.Since(t0).Round(time.Millisecond))
	}
}

// With --duration the microphone goes on after start_mixing_fail (with
// --replace too: nothing replaces it) and a subscriber hears it; the
// command leaves at --duration, exit 1.
func TestMixAudioBadFileMicGoesOn(t *testing.T) {
	url := serve(t)
	empty := filepath.Join(t.TempDir(), "empty.wav")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ear := start(t, "ear", joinArgs(url, "r1", "ear", "--audio-level-report", "--device-interval", "0")...)
	ear.Wait(event.SDKAuthResult, field("result", 0))
	const duration = 6 * time.Second
	t0 := time.Now()
	mix := start(t, "mix", mixArgs(url, "r1", "dj", "--file", empty, "--replace", "--mic", "test",
		"--duration", duration.String(), "--device-interval", "0")...)
	failed(t, mix)
	ear.Wait(event.RemoteStreamAdd, field("uid", "dj"))
	heard := ear.Wait(event.AudioLevelReport, levelOf("dj", 1, 100))
	if code := mix.ExitCode(); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, testutil.Tail(mix.Stderr(), 2000))
	}
	took := time.Since(t0)
	t.Logf("ear heard dj at %s (%s); mix-audio exit 1 after %s", heard.TS, heard.Data, took.Round(time.Millisecond))
	if took < duration {
		t.Errorf("mix-audio left after %s, before --duration %s", took, duration)
	}
	ear.Signal(syscall.SIGINT)
	if code := ear.ExitCode(); code != 0 {
		t.Fatalf("ear exit %d", code)
	}
}

// SIGTERM and SIGINT end a run whose file failed, long before --duration:
// SIGTERM as soon as start_mixing_fail is out, SIGINT after a while of the
// microphone alone.
func TestMixAudioBadFileSignal(t *testing.T) {
	url := serve(t)
	bad := filepath.Join(t.TempDir(), "random.mp3")
	if err := os.WriteFile(bad, []byte("definitely not an mp3 file, nor anything else"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		mix := start(t, "mix-"+sig.String(), mixArgs(url, "r1", "dj", "--file", bad, "--mic", "test",
			"--duration", "10m", "--device-interval", "0")...)
		failed(t, mix)
		if sig == syscall.SIGINT {
			mix.Wait(event.NetworkScore, nil) // joined and publishing for a while
		}
		t0 := time.Now()
		mix.Signal(sig)
		if code := mix.ExitCode(); code != 1 {
			t.Fatalf("%s: exit %d, want 1\n%s", sig, code, testutil.Tail(mix.Stderr(), 2000))
		}
		t.Logf("%s: exit 1 after %s", sig, time.Since(t0).Round(time.Millisecond))
	}
}
