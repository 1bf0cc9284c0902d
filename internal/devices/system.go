package devices

import (
	"context"

	"github.com/roomctl/roomctl/internal/media"
)

// System enumerates the machine's devices: audio inputs and outputs through
// miniaudio (malgo, the backend under mediadevices' microphone driver:
// PulseAudio when a server is reachable, else ALSA), video inputs the way
// mediadevices' camera driver discovers them (media.ListCameras).
//
// Audio does not go through mediadevices' microphone driver on purpose: its
// Initialize panics when no audio context can be made, leaks the previous
// malgo context and registers every device again on each call, and
// mediadevices has no playback enumeration at all. The deviceId of an audio
// input here is the label that driver registers the same device under
// (malgo's device id in hex), so the two name a device alike; the deviceId
// of a camera is its label in mediadevices' camera driver.
//
// Enumeration never opens a device: ALSA's "null" capture device is listed
// like any other, and only opening and reading it is harmful. Nor does it
// touch mediadevices' driver registry, so a watcher can run in a process
// that publishes the test pattern.
type System struct {
	// NoVideo skips cameras.
	NoVideo bool
}

// Enumerate lists the devices present now.
func (s *System) Enumerate(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	capture, playback, err := media.ListAudioDevices()
	if err != nil {
		return nil, err
	}
	ds := make([]Device, 0, len(capture)+len(playback))
	for _, d := range capture {
		ds = append(ds, Device{Kind: AudioInput, DeviceID: d.ID, Label: d.Name})
	}
	for _, d := range playback {
		ds = append(ds, Device{Kind: AudioOutput, DeviceID: d.ID, Label: d.Name})
	}
	if !s.NoVideo {
		for _, c := range media.ListCameras() {
			ds = append(ds, Device{Kind: VideoInput, DeviceID: c.ID, Label: c.Name})
		}
	}
	return ds, nil
}
