// Package devices lists the machine's capture and playback devices and
// watches them for changes. Linux gives no hot-plug notification to
// mediadevices (its camera observer is unimplemented), so the Watcher polls
// an Enumerator and diffs snapshots.
package devices

import (
	"context"
	"sort"
)

// Kind is a device's kind, named as the browser's MediaDeviceInfo.kind.
type Kind string

// The kinds a Device can have.
const (
	AudioInput  Kind = "audioinput"
	VideoInput  Kind = "videoinput"
	AudioOutput Kind = "audiooutput"
)

// Device is one capture or playback device. DeviceID is stable across
// enumerations of the same device; Label is for humans.
type Device struct {
	Kind     Kind   `json:"kind"`
	DeviceID string `json:"deviceId"`
	Label    string `json:"label"`
}

// Enumerator lists the devices present now. Implementations may return
// duplicates; callers normalize with Dedupe.
type Enumerator interface {
	Enumerate(ctx context.Context) ([]Device, error)
}

// testLabels are the mediadevices test drivers that importing package media
// registers; they are not devices of the machine.
var testLabels = map[string]bool{"VideoTest": true, "AudioTest": true}

// Dedupe returns ds without test drivers and without repeats of a
// (kind, deviceId) pair, sorted by kind then id so that output is stable.
// mediadevices' microphone.Initialize registers every device again on each
// call, and a device listed twice is still one device.
func Dedupe(ds []Device) []Device {
	type key struct {
		k  Kind
		id string
	}
	seen := make(map[key]bool, len(ds))
	out := make([]Device, 0, len(ds))
	for _, d := range ds {
		k := key{d.Kind, d.DeviceID}
		if seen[k] || testLabels[d.Label] || testLabels[d.DeviceID] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].DeviceID < out[j].DeviceID
	})
	return out
}
