package cmd

import (
	"context"
	"strings"
	"testing"
)

type volumeRecorder struct{ got []int }

func (v *volumeRecorder) SetToneVolume(n int) { v.got = append(v.got, n) }

// "tone-volume N" reaches the test source; bad values are warned about,
// not applied.
func TestReadControlToneVolume(t *testing.T) {
	var v volumeRecorder
	var warned []string
	in := strings.NewReader("tone-volume 90\ntone-volume 101\ntone-volume x\ntone-volume 0\n")
	readControl(context.Background(), in, nil, &v, func() {}, func(msg string, _ ...any) { warned = append(warned, msg) })
	if len(v.got) != 2 || v.got[0] != 90 || v.got[1] != 0 {
		t.Fatalf("volumes set: %v, want [90 0]", v.got)
	}
	if len(warned) != 2 {
		t.Fatalf("warnings: %v, want 2", warned)
	}
	// Without the test source there is nothing to set.
	warned = nil
	readControl(context.Background(), strings.NewReader("tone-volume 50\n"), nil, nil, func() {}, func(msg string, _ ...any) { warned = append(warned, msg) })
	if len(warned) != 1 {
		t.Fatalf("tone-volume without a test source: warnings %v", warned)
	}
}

func TestToneVolumeFlag(t *testing.T) {
	code, out, errOut := run(t, "join", "--app-id", "1", "--room", "r", "--publish", "test", "--tone-volume", "101")
	if code != ExitUsage || !strings.Contains(errOut, "--tone-volume") || out != "" {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, errOut, out)
	}
}

func TestCaptureConfig(t *testing.T) {
	for _, c := range []struct {
		publish  []string
		mic, cam bool
		micID    string
		camID    string
		files    int
		err      string
	}{
		{publish: []string{"mic"}, mic: true},
		{publish: []string{"mic:70756c7365"}, mic: true, micID: "70756c7365"},
		{publish: []string{"mic:default"}, mic: true},
		{publish: []string{"camera:video0;video0", "mic"}, mic: true, cam: true, camID: "video0;video0"},
		{publish: []string{"a.ivf", "b.ogg"}, files: 2},
		{publish: []string{"./mic"}, files: 1},
		{publish: []string{"camera.ivf"}, files: 1},
		{publish: []string{"mic", "mic:x"}, err: "one mic at most"},
		{publish: []string{"camera", "a.ivf"}, err: "cannot be combined with files"},
		{publish: []string{"mic", "test"}, err: "cannot be combined"},
	} {
		cfg, files, err := captureConfig(c.publish, "vp8")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || ExitCode(err) != ExitUsage {
				t.Errorf("%v: error %v, want a usage error with %q", c.publish, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.publish, err)
			continue
		}
		if len(files) != c.files {
			t.Errorf("%v: files %v", c.publish, files)
		}
		if c.files > 0 {
			if cfg != nil {
				t.Errorf("%v: capture %+v for files", c.publish, cfg)
			}
			continue
		}
		if cfg == nil || cfg.Mic != c.mic || cfg.Camera != c.cam || cfg.MicID != c.micID || cfg.CameraID != c.camID {
			t.Errorf("%v: capture %+v", c.publish, cfg)
		}
	}
}
