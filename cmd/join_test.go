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
