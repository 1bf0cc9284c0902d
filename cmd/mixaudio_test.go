package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/mixing"
)

type recEmitter struct {
	mu    sync.Mutex
	names []string
	data  []any
}

func (r *recEmitter) Emit(name string, data any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, name)
	r.data = append(r.data, data)
}

// A corrupt file 0 prints start_mixing_fail; file 1 and the mic go on.
func TestStartFilesCorrupt(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ffmpeg is required in CI")
		}
		t.Skip("ffmpeg is not installed")
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.mp3")
	if err := os.WriteFile(bad, []byte("definitely not an mp3 file"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.wav")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100", "-t", "0.1", good).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	em := &recEmitter{}
	mx, err := newMixer(em, mixing.Config{MicTone: defaultMicTone})
	if err != nil {
		t.Fatal(err)
	}
	if n := startFiles(mixStarter{Mixer: mx, em: em}, []string{bad, good}, mixing.PlayConfig{Cycle: 1, Volume: 100}); n != 1 {
		t.Fatalf("%d files started, want 1", n)
	}
	frame := make([]float32, mixing.FrameSamples)
	for range 10 {
		if err := mx.ReadPCM(frame); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{event.StartMixingFail, event.AudioMixingPlayed, event.AudioMixingFinished}
	if len(em.names) != len(want) {
		t.Fatalf("events %v, want %v", em.names, want)
	}
	for i := range want {
		if em.names[i] != want[i] {
			t.Fatalf("events %v, want %v", em.names, want)
		}
	}
	if f, ok := em.data[0].(event.MixingFail); !ok || f.Error == "" {
		t.Errorf("start_mixing_fail payload %#v", em.data[0])
	}
	if p := em.data[1].(event.MixingPlayed); p.ID != 1 || p.FileName != "good.wav" {
		t.Errorf("played %+v", p)
	}
	if f := em.data[2].(event.MixingFinished); f.ID != 1 {
		t.Errorf("finished %+v", f)
	}
	select {
	case <-mx.Done():
	default:
		t.Error("mixer not done after the one good file finished")
	}
}

func TestMixAudioUsage(t *testing.T) {
	base := func() *mixAudioOptions {
		o := &mixAudioOptions{files: []string{"a.wav"}, mic: "test", cycle: 1, volume: 100}
		o.appID, o.room, o.server, o.ttl = "1001", "r1", DefaultServer, time.Hour
		return o
	}
	for name, mod := range map[string]func(*mixAudioOptions){
		"no file":      func(o *mixAudioOptions) { o.files = nil },
		"three files":  func(o *mixAudioOptions) { o.files = []string{"a", "b", "c"} },
		"empty mic":    func(o *mixAudioOptions) { o.mic = "" },
		"volume":       func(o *mixAudioOptions) { o.volume = 101 },
		"cycle":        func(o *mixAudioOptions) { o.cycle = 0 },
		"replace two":  func(o *mixAudioOptions) { o.replace = true; o.files = []string{"a", "b"} },
		"negative pos": func(o *mixAudioOptions) { o.playTime = -1 },
	} {
		o := base()
		mod(o)
		if err := o.validate(); ExitCode(err) != ExitUsage {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := base().validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
	// With --control the files may come later (startAudioMixing).
	o := base()
	o.files, o.control, o.controlEOF = nil, true, "stay"
	if err := o.validate(); err != nil {
		t.Errorf("--control without --file: %v", err)
	}
}
