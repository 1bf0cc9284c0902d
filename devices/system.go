package devices

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/gen2brain/malgo"
	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/driver/camera"
)

// System enumerates the machine's devices: audio inputs and outputs through
// malgo (miniaudio: PulseAudio when a server is reachable, else ALSA), video
// inputs through mediadevices' camera driver.
//
// Audio does not go through mediadevices' microphone driver on purpose: its
// Initialize panics when no audio context can be made, leaks the previous
// malgo context and registers every device again on each call, and
// mediadevices has no playback enumeration at all. The deviceId of an audio
// input here is the label that driver registers the same device under
// (malgo's device id in hex), so the two name a device alike.
//
// Enumeration never opens an audio device: ALSA's "null" capture device is
// listed like any other, and only opening and reading it is harmful.
//
// camera.Initialize drops every video recorder from mediadevices'
// process-wide registry, the VideoTest driver included: use System only in
// a process that does not publish the test pattern (roomctl devices).
type System struct {
	// NoVideo skips the camera driver.
	NoVideo bool

	mu sync.Mutex // camera.Initialize mutates a global registry
}

// Enumerate lists the devices present now.
func (s *System) Enumerate(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ds, err := audioDevices()
	if err != nil {
		return nil, err
	}
	if !s.NoVideo {
		ds = append(ds, s.videoDevices()...)
	}
	return ds, nil
}

func audioDevices() ([]Device, error) {
	mctx, err := malgo.InitContext(nil, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("audio context: %w", err)
	}
	defer func() {
		_ = mctx.Uninit()
		mctx.Free()
	}()
	var ds []Device
	for _, k := range []struct {
		typ  malgo.DeviceType
		kind Kind
	}{{malgo.Capture, AudioInput}, {malgo.Playback, AudioOutput}} {
		infos, err := mctx.Devices(k.typ)
		if err != nil {
			return nil, fmt.Errorf("list %s devices: %w", k.kind, err)
		}
		for i := range infos {
			ds = append(ds, Device{Kind: k.kind, DeviceID: infos[i].ID.String(), Label: infos[i].Name()})
		}
	}
	return ds, nil
}

func (s *System) videoDevices() []Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	camera.Initialize()
	var ds []Device
	for _, d := range driver.GetManager().Query(driver.FilterVideoRecorder()) {
		info := d.Info()
		// mediadevices' own DeviceID is a random UUID made at each
		// registration; the label (node;real node) is what stays.
		ds = append(ds, Device{Kind: VideoInput, DeviceID: info.Label, Label: strings.Trim(info.Name, " ;")})
	}
	return ds
}
