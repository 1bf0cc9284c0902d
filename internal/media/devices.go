package media

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gen2brain/malgo"
	"github.com/pion/mediadevices/pkg/driver/camera"
)

// AudioDevice is an audio device as miniaudio (the backend under
// mediadevices' microphone driver) lists it.
type AudioDevice struct {
	// ID is miniaudio's device id in hex: the PulseAudio source or sink
	// name, or the ALSA PCM name. mediadevices' microphone driver labels a
	// device with the same string.
	ID        string
	Name      string
	IsDefault bool
}

// alsaNullID is ALSA's "null" PCM in hex. miniaudio lists it as a capture
// device when no PulseAudio server answers; it is no microphone: its
// capture callback runs unpaced, thousands of times real time, and
// mediadevices' microphone driver panics on its first read (MEDIA-NOTES).
const alsaNullID = "6e756c6c"

// withAudioContext runs f with a fresh miniaudio context: PulseAudio when
// a server answers, ALSA otherwise. A fresh context each time sees a
// PulseAudio server that started or restarted since the last call.
func withAudioContext(f func(*malgo.AllocatedContext) error) error {
	mctx, err := newAudioContext()
	if err != nil {
		return fmt.Errorf("audio context: %w", err)
	}
	defer func() {
		_ = mctx.Uninit()
		mctx.Free()
	}()
	return f(mctx)
}

// ListAudioDevices lists the audio capture and playback devices present
// now. It opens none of them.
func ListAudioDevices() (capture, playback []AudioDevice, err error) {
	err = withAudioContext(func(mctx *malgo.AllocatedContext) error {
		infos, err := mctx.Devices(malgo.Capture)
		if err != nil {
			return fmt.Errorf("list audio inputs: %w", err)
		}
		capture = audioDevices(infos)
		if infos, err = mctx.Devices(malgo.Playback); err != nil {
			return fmt.Errorf("list audio outputs: %w", err)
		}
		playback = audioDevices(infos)
		return nil
	})
	return capture, playback, err
}

func audioDevices(infos []malgo.DeviceInfo) []AudioDevice {
	ds := make([]AudioDevice, 0, len(infos))
	for i := range infos {
		ds = append(ds, AudioDevice{ID: infos[i].ID.String(), Name: infos[i].Name(), IsDefault: infos[i].IsDefault != 0})
	}
	return ds
}

// pickMic chooses the capture device for id among ds: the one with that
// id, or for "" the default one (else the first that is not ALSA's null).
func pickMic(ds []AudioDevice, id string) (AudioDevice, error) {
	if err := refuseNull(id); err != nil {
		return AudioDevice{}, err
	}
	var first *AudioDevice
	for i := range ds {
		d := &ds[i]
		if d.ID == alsaNullID {
			continue
		}
		switch {
		case id != "" && d.ID == id:
			return *d, nil
		case id == "" && d.IsDefault:
			return *d, nil
		case first == nil:
			first = d
		}
	}
	switch {
	case id != "":
		return AudioDevice{}, fmt.Errorf("%w: no audio input %q (`roomctl devices` lists their ids)", ErrNoDevice, id)
	case first == nil:
		return AudioDevice{}, fmt.Errorf("%w: the machine has no audio input", ErrNoDevice)
	}
	return *first, nil
}

// refuseNull refuses ALSA's null device by name.
func refuseNull(id string) error {
	if id == alsaNullID || strings.EqualFold(id, "null") {
		return fmt.Errorf("%w: %q is ALSA's null device, which produces no audio", ErrNoDevice, id)
	}
	return nil
}

// Camera is a video capture device.
type Camera struct {
	// ID is the label mediadevices' camera driver registers the device
	// under: "NAME;NODE", NAME the first path found for it (a
	// /dev/v4l/by-id or by-path link, else videoN), NODE the videoN it
	// points to.
	ID   string
	Name string // the V4L2 card name, from sysfs
	Path string // /dev/videoN
}

// ListCameras lists video capture devices the way mediadevices' camera
// driver discovers them, without touching its driver registry:
// camera.Initialize, its rescan, first deletes every registered video
// recorder, the VideoTest driver of our test source included.
func ListCameras() []Camera {
	seen := map[string]bool{}
	var out []Camera
	for _, pattern := range []string{"/dev/v4l/by-id/*", "/dev/v4l/by-path/*", "/dev/video*"} {
		paths, _ := filepath.Glob(pattern) // only ErrBadPattern, and ours are good
		for _, p := range paths {
			label := filepath.Base(p)
			node := label
			if l, err := os.Readlink(p); err == nil {
				node = filepath.Base(l)
			}
			if seen[node] {
				continue
			}
			seen[node] = true
			b, _ := os.ReadFile(filepath.Join("/sys/class/video4linux", node, "name"))
			name := strings.TrimSpace(string(b))
			if name == "" {
				name = node
			}
			out = append(out, Camera{
				ID: label + camera.LabelSeparator + node, Name: name,
				Path: filepath.Join("/dev", node),
			})
		}
	}
	return out
}
