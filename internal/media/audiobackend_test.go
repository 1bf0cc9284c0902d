package media

import (
	"net"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gen2brain/malgo"
)

func TestAudioBackends(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "native")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	for _, c := range []struct {
		name, server, runtime string
		want                  []malgo.Backend
	}{
		{"PULSE_SERVER unix: answering", "unix:" + sock, "", []malgo.Backend{malgo.BackendPulseaudio}},
		{"PULSE_SERVER path with machine id", "{0123abcd}" + sock, "", []malgo.Backend{malgo.BackendPulseaudio}},
		{"PULSE_SERVER not answering", "unix:" + filepath.Join(dir, "nothing"), "", []malgo.Backend{malgo.BackendAlsa}},
		{"PULSE_SERVER over tcp: miniaudio decides", "tcp:localhost:4713", "", nil},
		{"PULSE_RUNTIME_PATH answering", "", dir, []malgo.Backend{malgo.BackendPulseaudio}},
		{"nothing answers", "", filepath.Join(dir, "none"), []malgo.Backend{malgo.BackendAlsa}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("PULSE_SERVER", c.server)
			t.Setenv("PULSE_RUNTIME_PATH", c.runtime)
			t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "xdg"))
			if c.want == nil || c.want[0] == malgo.BackendAlsa {
				paths, _ := pulseSockets()
				for _, p := range paths {
					if conn, err := net.Dial("unix", p); err == nil {
						_ = conn.Close()
						t.Skipf("a PulseAudio server answers at %s on this machine", p)
					}
				}
			}
			if got := audioBackends(); !slices.Equal(got, c.want) {
				t.Fatalf("backends %v, want %v", got, c.want)
			}
		})
	}
}
