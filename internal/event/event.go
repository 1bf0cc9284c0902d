// Package event is roomctl's output contract: the catalogue of the SDK's
// callbacks (names and payloads), the NDJSON sink that prints them one per
// line, and the JSON Schema of a line.
package event

import "encoding/json"

// The SDK's 28 callbacks, named as on its callback page.
const (
	TokenRequest          = "token_request"
	TokenWillExpire       = "token_will_expire"
	SDKAuthResult         = "sdk_auth_result"
	PublishAuthFail       = "publish_auth_fail"
	AudioTrackEnd         = "audio_track_end"
	VideoTrackEnd         = "video_track_end"
	RemoteStreamAdd       = "remote_stream_add"
	RemoteStreamRemove    = "remote_stream_remove"
	RemoteStreamUpdate    = "remote_stream_update"
	PlayerStateChange     = "player_state_change"
	StreamReconnectStart  = "stream_reconnect_start"
	StreamReconnectEnd    = "stream_reconnect_end"
	FirstAudioFrameDecode = "first_audio_frame_decode"
	FirstVideoFrameDecode = "first_video_frame_decode"
	ActiveSpeaker         = "active_speaker"
	AudioLevelReport      = "audio_level_report"
	AudioInputChanged     = "audio_input_changed"
	VideoInputChanged     = "video_input_changed"
	AudioOutputChanged    = "audio_output_changed"
	AudioMixingPlayed     = "audio_mixing_played"
	AudioMixingFinished   = "audio_mixing_finished"
	NetworkScore          = "network_score"
	Connected             = "connected"
	Reconnect             = "reconnect"
	Exception             = "exception"
	PushStreamStatus      = "push_stream_status"
	MutePlay              = "mute_play"
	MutePlayResume        = "mute_play_resume"
)

// Extensions: events the SDK page does not list. They never reuse a seed
// name with another meaning.
const (
	// ServerListening is printed by `roomctl serve` once it accepts
	// connections: {addr}. Scripts that start it on port 0 read the address here.
	ServerListening = "server_listening"
	// RecordingFileOpened is printed by `roomctl record` when it opens a
	// file: {uid, roomId, path, tracks, start}.
	RecordingFileOpened = "recording_file_opened"
	// RecordingFileClosed is printed when a recording file is finalized:
	// {uid, roomId, path, bytes, durationMs, tracks, reason}; the line a
	// cron script reads to find its files.
	RecordingFileClosed = "recording_file_closed"
	// RecordingError is printed when writing one user's file failed:
	// {uid, roomId, path, error}; other users keep recording.
	RecordingError = "recording_error"
	// StartMixingFail is the SDK's start_mixing_fail (not on its callback
	// page): a file given to mix-audio could not be opened or decoded:
	// {error}. The other file and the microphone go on.
	StartMixingFail = "start_mixing_fail"
	// Device is one line of `roomctl devices`: {kind, deviceId, label},
	// kind "audioinput", "videoinput" or "audiooutput".
	Device = "device"
	// Reply answers one --control request (internal/control): {id, method,
	// result} or {id, method, error: {code, message}}. A script reads its
	// replies whatever --events says: the Sink always prints it.
	Reply = "reply"
	// LoadTick is one second of `roomctl load`: {t, started, joined,
	// failed, receiving, subscribers, packets, kbps, lost, loss, joinMs,
	// firstVideoMs, firstAudioMs} (internal/load.Tick).
	LoadTick = "load_tick"
	// LoadSummary ends `roomctl load` (internal/load.Summary).
	LoadSummary = "load_summary"
)

// SDK lists the 28 callback names of the SDK page, in its order.
var SDK = []string{
	TokenRequest, TokenWillExpire, SDKAuthResult, PublishAuthFail, AudioTrackEnd,
	VideoTrackEnd, RemoteStreamAdd, RemoteStreamRemove, RemoteStreamUpdate,
	PlayerStateChange, StreamReconnectStart, StreamReconnectEnd,
	FirstAudioFrameDecode, FirstVideoFrameDecode, ActiveSpeaker, AudioLevelReport,
	AudioInputChanged, VideoInputChanged, AudioOutputChanged, AudioMixingPlayed,
	AudioMixingFinished, NetworkScore, Connected, Reconnect, Exception,
	PushStreamStatus, MutePlay, MutePlayResume,
}

// Extensions lists roomctl's own event names.
var Extensions = []string{ServerListening, RecordingFileOpened, RecordingFileClosed, RecordingError, StartMixingFail, Device, Reply, LoadTick, LoadSummary}

// Known reports whether name is an SDK callback or a documented extension.
func Known(name string) bool {
	for _, n := range SDK {
		if n == name {
			return true
		}
	}
	for _, n := range Extensions {
		if n == name {
			return true
		}
	}
	return false
}

// UIDRoom is the payload of connected, reconnect, audio_track_end,
// video_track_end, stream_reconnect_start/_end and first_*_frame_decode.
type UIDRoom struct {
	UID    string `json:"uid"`
	RoomID string `json:"roomId"`
}

// AuthResult is the payload of sdk_auth_result and publish_auth_fail.
type AuthResult struct {
	UID    string `json:"uid"`
	Result int    `json:"result"`
}

// TokenWill is the payload of token_will_expire.
type TokenWill struct {
	UID   string `json:"uid"`
	Token string `json:"token"`
}

// UID is the payload of token_request, mute_play and mute_play_resume.
type UID struct {
	UID string `json:"uid"`
}

// RemoteStream is the SDK's RemoteStream: the payload of remote_stream_add,
// remote_stream_remove and remote_stream_update.
type RemoteStream struct {
	UID         string       `json:"uid"`
	RoomID      string       `json:"roomId"`
	Audio       *RemoteAudio `json:"audio,omitempty"`
	Video       *RemoteVideo `json:"video,omitempty"`
	HasLowVideo bool         `json:"hasLowVideo,omitempty"`
}

// RemoteAudio describes a remote stream's audio.
type RemoteAudio struct {
	SampleRate int `json:"sampleRate"`
	Channel    int `json:"channel"`
	Bitrate    int `json:"bitrate"`
}

// RemoteVideo describes a remote stream's video; Codec is "VP8", "H264" or "H265".
type RemoteVideo struct {
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Bitrate   int    `json:"bitrate"`
	FrameRate int    `json:"frameRate"`
	Codec     string `json:"codec"`
}

// Player states and reasons of player_state_change.
const (
	StatePlay  = "play"
	StatePause = "pause"
	StateEnd   = "end"
)

// PlayerState is the payload of player_state_change.
type PlayerState struct {
	UID    string `json:"uid"`
	Reason string `json:"reason"`
	State  string `json:"state"`
}

// AudioLevel is one element of audio_level_report's array.
type AudioLevel struct {
	UID        string `json:"uid"`
	AudioLevel int    `json:"audioLevel"`
}

// DeviceChange is the payload of audio_input_changed, video_input_changed
// and audio_output_changed.
type DeviceChange struct {
	State    string `json:"state"` // "added" | "removed"
	DeviceID string `json:"deviceId"`
}

// MixingPlayed is the payload of audio_mixing_played.
type MixingPlayed struct {
	ID       int    `json:"id"`
	FileName string `json:"fileName"`
}

// MixingFinished is the payload of audio_mixing_finished.
type MixingFinished struct {
	ID int `json:"id"`
}

// MixingFail is the payload of start_mixing_fail.
type MixingFail struct {
	Error string `json:"error"`
}

// DeviceInfo is the payload of device.
type DeviceInfo struct {
	Kind     string `json:"kind"`
	DeviceID string `json:"deviceId"`
	Label    string `json:"label"`
}

// Score is the payload of network_score.
type Score struct {
	Uplink   int `json:"uplinkNetworkScore"`
	Downlink int `json:"downlinkNetworkScore"`
}

// ExceptionData is the payload of exception.
type ExceptionData struct {
	UID    string `json:"uid"`
	RoomID string `json:"roomId"`
	Error  string `json:"error"`
}

// PushStatus is the payload of push_stream_status.
type PushStatus struct {
	URL    string `json:"url"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// Listening is the payload of server_listening.
type Listening struct {
	Addr string `json:"addr"`
	URL  string `json:"url"`
}

// ReplyData is the payload of reply: the answer to one control request,
// with exactly one of Result and Error.
type ReplyData struct {
	// ID echoes the request's id, any JSON value; null (a nil ID) when the
	// request had none or could not be read.
	ID json.RawMessage `json:"id"`
	// Method echoes the request's method (a text alias's method); empty,
	// and left out, when it could not be read.
	Method string `json:"method,omitempty"`
	// Result is what the method returned, {} when nothing.
	Result json.RawMessage `json:"result,omitempty"`
	// Error says why the request failed.
	Error *ReplyError `json:"error,omitempty"`
}

// ReplyError is a failed request's error: Code is the SDK's error name
// (INVALID_PARAM, HAS_NOT_JOIN, …), Message names the problem.
type ReplyError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
