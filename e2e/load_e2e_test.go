package e2e

// End-to-end test of roomctl load against roomctl serve: real participants
// over loopback WebRTC, one process.

import (
	"testing"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
)

// One publisher of the committed test clips and three counting
// subscribers: every second a load_tick (schema-checked by the harness),
// all three receive, and the summary counts four joined, none failed,
// packets without loss and three first-video latencies.
func TestLoad(t *testing.T) {
	url := serve(t)
	files := repoPath("internal", "media", "testdata", "vp8.ivf") + "," + repoPath("internal", "media", "testdata", "opus.ogg")
	p := start(t, "load", "load", "--server", url, "--app-id", testApp, "--app-secret", testSecret, "--room", "lr",
		"--publish", files, "--publishers", "1", "--subscribers", "3", "--ramp", "20", "--duration", "6s")
	p.Wait(event.LoadTick, field("receiving", 3))
	l := p.Wait(event.LoadSummary, nil)
	if code := p.ExitCode(); code != 0 {
		t.Fatalf("load exit %d", code)
	}
	type pctl struct{ N int }
	s := testutil.DecodeAs[struct {
		Joined, Failed int
		Packets, Lost  int64
		Kbps           float64
		FirstVideoMs   *pctl
		FirstAudioMs   *pctl
	}](t, l)
	if s.Joined != 4 || s.Failed != 0 || s.Packets == 0 || s.Kbps <= 0 || s.FirstVideoMs == nil || s.FirstVideoMs.N != 3 ||
		s.FirstAudioMs == nil || s.FirstAudioMs.N != 3 {
		t.Errorf("summary %v", l.Data)
	}
	if n := p.Count(event.LoadTick); n < 4 {
		t.Errorf("%d load_tick lines in 6 s", n)
	}
	t.Logf("%s", l.Data)
}

// Bad input is refused before anyone joins: exit 2.
func TestLoadUsage(t *testing.T) {
	base := []string{"load", "--server", "ws://127.0.0.1:1", "--app-id", testApp, "--app-secret", testSecret}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no files", append(base, "--publishers", "1"), "--publish FILES is required"},
		{"bad file", append(base, "--publish", "/nonexistent.ivf"), "--publish"},
		{"nobody", append(base, "--publishers", "0", "--subscribers", "0"), "at least one participant"},
		{"no secret", []string{"load", "--server", "ws://127.0.0.1:1", "--app-id", testApp, "--subscribers", "1", "--publishers", "0"}, "--app-secret is required"},
		{"ramp", append(base, "--publishers", "0", "--ramp", "0"), "--ramp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantUsageError(t, start(t, c.name, c.args...), c.want)
		})
	}
}
