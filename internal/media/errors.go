package media

import "errors"

// Errors returned by this package, wrapped with the file or setting they
// concern; test them with errors.Is.
var (
	// ErrUnknownFormat: a file is none of IVF, H.264 Annex-B or Ogg Opus.
	ErrUnknownFormat = errors.New("unknown media format")
	// ErrUnsupportedCodec: the container is known but its codec or layout
	// cannot be published (VP9 in IVF, Vorbis in Ogg, H.264 with B-frames).
	ErrUnsupportedCodec = errors.New("unsupported codec")
	// ErrTooManyTracks: more than one audio or more than one video file.
	ErrTooManyTracks = errors.New("at most one audio and one video track")
	// ErrInvalidConfig: a TestConfig or file list that cannot work.
	ErrInvalidConfig = errors.New("invalid media config")
	// ErrDeviceBusy: a mediadevices driver (a test driver, a camera) is
	// already open; for a test driver most
	// likely by another test source in this process (the driver registry
	// is process-global and holds one instance of each test driver).
	ErrDeviceBusy = errors.New("capture device busy")
	// ErrNoDevice: no capture device with the asked id, or none at all.
	ErrNoDevice = errors.New("no such capture device")
	// ErrAlreadyStarted: Start called a second time.
	ErrAlreadyStarted = errors.New("source already started")
	// ErrClosed: the source was closed.
	ErrClosed = errors.New("source closed")
)
