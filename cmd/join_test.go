package cmd

import (
	"strings"
	"testing"
)

// --control-eof takes stay or leave; anything else is a usage error
// before joining.
func TestControlEOFFlag(t *testing.T) {
	for _, c := range []string{"join", "record", "push-rtmp", "mix-audio"} {
		code, out, errOut := run(t, c, "--app-id", "1", "--room", "r", "--control", "--control-eof", "exit")
		if code != ExitUsage || !strings.Contains(errOut, "--control-eof") || out != "" {
			t.Errorf("%s: exit %d, stderr %q, stdout %q", c, code, errOut, out)
		}
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
