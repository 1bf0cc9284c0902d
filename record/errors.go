package record

import "errors"

var (
	// ErrClosed is returned for work given to a Recorder or Writer after Close.
	ErrClosed = errors.New("record: closed")
	// ErrDir means Config.Dir is missing, not a directory, or not writable.
	ErrDir = errors.New("record: output directory unusable")
)
