package record

import "errors"

var (
	// ErrClosed is returned for work given to a Recorder or Writer after Close.
	ErrClosed = errors.New("record: closed")
	// ErrDir means Config.Dir is missing, not a directory, or not writable.
	ErrDir = errors.New("record: output directory unusable")
	// ErrSegment means Config.Segment is negative or under a second.
	ErrSegment = errors.New("record: segment must be 0 (off) or at least 1s")
)
