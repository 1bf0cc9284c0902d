// Package signal is the wire protocol between a roomctl client and the room
// server: JSON messages over one WebSocket per participant at /v1/rtc.
//
// Every message is one JSON object with a "type". Decode checks size and shape
// so that the server can answer a bad message with an error instead of acting
// on it. The protocol is versioned by Version; a join with another version is
// refused.
package signal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/ids"
)

// Version is the protocol version a client sends in join.
const Version = 1

// Path is the HTTP path of the signaling WebSocket.
const Path = "/v1/rtc"

// MaxMessageSize bounds one message; SDPs with many candidates stay well below.
const MaxMessageSize = 64 << 10

// Message types. Client → server unless marked.
const (
	TypeJoin            = "join"
	TypeJoinResult      = "join_result" // server → client
	TypeOffer           = "offer"       // both: client offers on "publish", server on "subscribe"
	TypeAnswer          = "answer"      // both
	TypeCandidate       = "candidate"   // both
	TypeMute            = "mute"
	TypeUpdateToken     = "update_token"
	TypeAuthResult      = "auth_result"       // server → client
	TypeTokenWillExpire = "token_will_expire" // server → client
	TypeTokenRequest    = "token_request"     // server → client
	TypePublishRefused  = "publish_refused"   // server → client
	TypeStreamAdd       = "stream_add"        // server → client
	TypeStreamRemove    = "stream_remove"     // server → client
	TypeStreamUpdate    = "stream_update"     // server → client
	TypeSubscribe       = "subscribe"
	// TypeRestartICE asks the server for an ICE-restart offer on the
	// subscribe pc (the client restarts its publish pc with its own offer).
	TypeRestartICE = "restart_ice"
	// TypeUnpublish ends the client's publication (its publish pc); it
	// may publish again with a new offer.
	TypeUnpublish = "unpublish"
	TypeLeave     = "leave"
	TypePing      = "ping"
	TypePong      = "pong"  // server → client
	TypeError     = "error" // server → client
	TypeBye       = "bye"   // server → client: the server ends the session
)

// Peer connection names: a participant has one of each.
const (
	PCPublish   = "publish"
	PCSubscribe = "subscribe"
)

// Error codes carried by TypeError.
const (
	ErrBadMessage   = 400 // not JSON, wrong shape, too large
	ErrNotJoined    = 401 // a message that needs a joined session before join
	ErrForbidden    = 403 // not allowed by the token's rights
	ErrConflict     = 409 // e.g. a second join on one socket
	ErrUnsupported  = 415 // e.g. a codec the server does not forward
	ErrInternal     = 500
	ErrVersion      = 505 // protocol version not supported
	ErrRateExceeded = 429
	// ErrPayloadTooLarge: an offer or SDP over a size limit (media sections,
	// bytes); the offer is not applied.
	ErrPayloadTooLarge = 413
	// ErrServerClosing in a bye: the server is shutting down; the session is
	// gone but the server may come back, so clients reconnect and rejoin.
	ErrServerClosing = 503
	// ErrReplaced in a bye: the same uid joined again elsewhere.
	ErrReplaced = 410
)

// Track describes one published track, as declared by its publisher.
type Track struct {
	Kind       string `json:"kind"`            // "audio" or "video"
	Codec      string `json:"codec,omitempty"` // "VP8", "H264", "opus"
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	FrameRate  int    `json:"frameRate,omitempty"`
	SampleRate int    `json:"sampleRate,omitempty"`
	Channel    int    `json:"channel,omitempty"`
	Bitrate    int    `json:"bitrate,omitempty"` // kb/s
	Muted      bool   `json:"muted,omitempty"`
}

// Stream is what the server tells others about one participant's publication.
type Stream struct {
	UID    string  `json:"uid"`
	RoomID string  `json:"roomId"`
	Tracks []Track `json:"tracks"`
}

// Track returns the stream's track of that kind, or nil.
func (s *Stream) Track(kind string) *Track {
	for i := range s.Tracks {
		if s.Tracks[i].Kind == kind {
			return &s.Tracks[i]
		}
	}
	return nil
}

// Message is the one envelope of every message; which fields are set depends
// on Type (see Validate).
type Message struct {
	Type string `json:"type"`

	// join
	AppID   string `json:"appId,omitempty"`
	RoomID  string `json:"roomId,omitempty"`
	UID     string `json:"uid,omitempty"`
	Token   string `json:"token,omitempty"` // join, update_token, token_will_expire
	Version int    `json:"version,omitempty"`
	// Session resumes a session whose socket dropped (join), or names the new
	// session (join_result).
	Session string `json:"session,omitempty"`

	// join_result, auth_result, publish_refused, bye
	Result       int      `json:"result,omitempty"`
	Participants []string `json:"participants,omitempty"`
	Streams      []Stream `json:"streams,omitempty"`

	// offer, answer, candidate
	PC        string                   `json:"pc,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Tracks    []Track                  `json:"tracks,omitempty"` // publish offer: what is published
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`

	// mute
	Kind  string `json:"kind,omitempty"`
	Muted bool   `json:"muted,omitempty"`

	// stream_add, stream_remove, stream_update
	Stream *Stream `json:"stream,omitempty"`

	// subscribe: the uids to receive; empty means everyone
	UIDs []string `json:"uids,omitempty"`

	// ping, pong: the sender's clock in Unix milliseconds, echoed back
	TS int64 `json:"ts,omitempty"`

	// error, bye
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// ErrTooLarge is returned by Decode for a message over MaxMessageSize.
var ErrTooLarge = errors.New("message too large")

// Decode parses and validates one message.
func Decode(data []byte) (*Message, error) {
	if len(data) > MaxMessageSize {
		return nil, ErrTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Message
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode message: trailing data")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Encode marshals a message.
func Encode(m *Message) ([]byte, error) {
	return json.Marshal(m)
}

// Validate checks that the fields a type needs are present and well formed.
func (m *Message) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", m.Type, fmt.Sprintf(format, args...))
	}
	switch m.Type {
	case TypeJoin:
		if m.AppID == "" || len(m.AppID) > 64 {
			return bad("appId must be 1-64 characters")
		}
		if !ids.Valid(m.RoomID) {
			return bad("invalid roomId %q", m.RoomID)
		}
		if !ids.Valid(m.UID) {
			return bad("invalid uid %q", m.UID)
		}
		if len(m.Token) > 4096 {
			return bad("token longer than 4096 bytes")
		}
	case TypeOffer, TypeAnswer:
		if m.PC != PCPublish && m.PC != PCSubscribe {
			return bad("pc must be %q or %q", PCPublish, PCSubscribe)
		}
		if m.SDP == "" {
			return bad("missing sdp")
		}
		if len(m.Tracks) > 4 {
			return bad("at most 4 tracks")
		}
		for _, t := range m.Tracks {
			if t.Kind != "audio" && t.Kind != "video" {
				return bad("track kind must be audio or video")
			}
		}
	case TypeCandidate:
		if m.PC != PCPublish && m.PC != PCSubscribe {
			return bad("pc must be %q or %q", PCPublish, PCSubscribe)
		}
		if m.Candidate == nil {
			return bad("missing candidate")
		}
	case TypeMute:
		if m.Kind != "audio" && m.Kind != "video" {
			return bad("kind must be audio or video")
		}
	case TypeUpdateToken:
		if m.Token == "" || len(m.Token) > 4096 {
			return bad("token must be 1-4096 bytes")
		}
	case TypeSubscribe:
		if len(m.UIDs) > 256 {
			return bad("at most 256 uids")
		}
		for _, u := range m.UIDs {
			if !ids.Valid(u) {
				return bad("invalid uid %q", u)
			}
		}
	case TypeRestartICE:
		if m.PC != PCSubscribe {
			return bad("pc must be %q", PCSubscribe)
		}
	case TypeStreamAdd, TypeStreamRemove, TypeStreamUpdate:
		if m.Stream == nil || m.Stream.UID == "" {
			return bad("missing stream")
		}
	case TypeJoinResult, TypeAuthResult, TypeTokenWillExpire, TypeTokenRequest,
		TypePublishRefused, TypeUnpublish, TypeLeave, TypePing, TypePong, TypeError, TypeBye:
	case "":
		return errors.New("missing type")
	default:
		return fmt.Errorf("unknown type %q", m.Type)
	}
	return nil
}
