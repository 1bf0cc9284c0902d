package record

import "github.com/roomctl/roomctl/internal/event"

// Extension events of the recorder (not on the SDK's callback page). Their
// payloads are the types below; the JSON Schema fragments live with the
// other events in internal/event/schema.json.
const (
	// EventFileOpened: a recording file was created and its header written.
	// The path is where the file is being written; it grows until closed.
	EventFileOpened = event.RecordingFileOpened
	// EventFileClosed: a recording file was finalized (or given up after
	// an error) — the line a cron script reads to find its files.
	EventFileClosed = event.RecordingFileClosed
	// EventError: a file could not be created or written (disk full, I/O
	// error). That user's recording stops and is retried; others go on.
	EventError = event.RecordingError
)

// Why a file was closed (FileClosed.Reason).
const (
	// ReasonSegment: --segment elapsed; the next file starts at this keyframe.
	ReasonSegment = "segment"
	// ReasonTracksChanged: the user's tracks changed (a track arrived after
	// the file was opened, or one was replaced); a new file holds the new set.
	ReasonTracksChanged = "tracks_changed"
	// ReasonStreamEnd: every track of the user ended (unpublished, left).
	ReasonStreamEnd = "stream_end"
	// ReasonStopped: the recorder was closed (--duration, SIGINT/SIGTERM,
	// the session ended).
	ReasonStopped = "stopped"
	// ReasonError: writing failed (see the recording_error before it); the
	// file holds what was written up to the failure and decodes.
	ReasonError = "error"
)

// Track names one track of a file.
type Track struct {
	Kind  string `json:"kind"`  // "audio" or "video"
	Codec string `json:"codec"` // "VP8", "VP9", "H264" or "opus"
}

// FileOpened is the payload of recording_file_opened.
type FileOpened struct {
	UID    string  `json:"uid"`
	RoomID string  `json:"roomId"`
	Path   string  `json:"path"`
	Tracks []Track `json:"tracks"`
	// Start is the wall time (UTC, ms) of the file's first frame: where
	// its timeline starts, to align the files of several users.
	Start string `json:"start"`
}

// FileClosed is the payload of recording_file_closed.
type FileClosed struct {
	UID        string  `json:"uid"`
	RoomID     string  `json:"roomId"`
	Path       string  `json:"path"`
	Bytes      int64   `json:"bytes"`
	DurationMs int64   `json:"durationMs"`
	Tracks     []Track `json:"tracks"`
	Reason     string  `json:"reason"`
}

// Error is the payload of recording_error.
type Error struct {
	UID    string `json:"uid"`
	RoomID string `json:"roomId"`
	// Path is the file that failed, or the directory when no file could
	// be created.
	Path  string `json:"path"`
	Error string `json:"error"`
}
