package engine

import (
	"context"
	"time"

	"github.com/pion/webrtc/v4"
)

// Backend is the engine's view of a room service: roomctl's own server
// (internal/backend/embedded) or another SFU's signalling (LiveKit). It
// speaks in what happens in a room — join and verdict, publish and
// subscribe negotiation, streams added and removed, token renewal, a
// session that ends — never in one service's wire messages, so that every
// command and every callback works the same on each.
//
// An engine makes one Join call at a time: the first from the goroutine
// that runs Engine.Run, a reconnect's from a dialing goroutine of its own
// (the run loop keeps its periodic callbacks meanwhile); a Backend may be
// shared by several engines and must then be safe for concurrent Joins.
type Backend interface {
	// Join connects to req.Server, sends req's credentials and waits for
	// the service's verdict. It blocks until the session is joined, the
	// service refuses it, or ctx ends (the engine bounds ctx with
	// Config.ConnectTimeout).
	//
	// It returns an error wrapping ErrUnreachable when the transport cannot
	// be opened at all; an *AuthError carrying the verdict (10000–10008)
	// when the service refuses the token; any other error (the transport
	// dropped before the verdict, ctx ended) for a failure worth retrying.
	// On error nothing is left open.
	Join(ctx context.Context, req JoinRequest) (Session, *Joined, error)
}

// JoinRequest is what the engine asks a Backend to join with.
type JoinRequest struct {
	Server string // the service's URL, as given in Config.Server
	AppID  string
	RoomID string
	UID    string
	Token  string
	// Resume is the id of the session to resume after the transport
	// dropped (Joined.Session of the previous Join); "" joins anew.
	Resume string
	// Subscribe limits subscriptions to these uids from the start; empty
	// means everyone.
	Subscribe []string
	// Connected is called once the transport is up, before the join is
	// sent, on the goroutine that called Join: the engine prints
	// `connected`. It may be nil.
	Connected func()
}

// Joined is the outcome of an accepted Join.
type Joined struct {
	// Session names the session, for JoinRequest.Resume on a reconnect.
	Session string
	// Resumed is true when the service resumed JoinRequest.Resume: the
	// PeerConnections and streams of the previous transport still hold.
	// False means a new session: everything known before is gone.
	Resumed bool
	// Streams are the other participants' publications at join time.
	Streams []Stream
}

// PC names one of a participant's two PeerConnections.
type PC int

const (
	// PCPublish is the sending PeerConnection; the engine offers on it.
	PCPublish PC = iota + 1
	// PCSubscribe is the receiving PeerConnection; the service offers on it.
	PCSubscribe
)

func (p PC) String() string {
	switch p {
	case PCPublish:
		return "publish"
	case PCSubscribe:
		return "subscribe"
	}
	return "unknown"
}

// Session is one joined session over one transport.
//
// The outbound methods are safe for concurrent use (the run loop and pion's
// callbacks call them). Each sends one request and returns once it is
// written or ctx ends; none waits for the service's reply, which arrives
// as an Event. They return an error once the transport is closed.
type Session interface {
	// Events delivers what the service tells the participant, in order.
	// The channel is closed when the transport ends — dropped, closed by
	// the service, or by Close; the engine then reconnects unless it is
	// leaving. Only one goroutine reads it.
	Events() <-chan Event

	// PublishOffer sends an offer for the publish PeerConnection. tracks
	// declares what is published (kind, codec, dimensions, the track id of
	// the SDP's msid); nil on a renegotiation or ICE restart of the same
	// tracks. The answer comes as PublishAnswer, a refusal as
	// PublishRefused.
	PublishOffer(ctx context.Context, sdp string, tracks []Track) error
	// SubscribeAnswer answers the latest SubscribeOffer.
	SubscribeAnswer(ctx context.Context, sdp string) error
	// Candidate trickles one local ICE candidate of pc.
	Candidate(ctx context.Context, pc PC, c webrtc.ICECandidateInit) error
	// RestartSubscribeICE asks the service for an ICE-restart offer on the
	// subscribe PeerConnection (its transport went disconnected or failed);
	// it comes as SubscribeOffer.
	RestartSubscribeICE(ctx context.Context) error
	// Mute tells the room that the local track of kind ("audio" or
	// "video") is muted or not; others see StreamUpdated.
	Mute(ctx context.Context, kind string, muted bool) error
	// UpdateToken sends a renewed token; the verdict comes as AuthVerdict.
	UpdateToken(ctx context.Context, token string) error
	// SetSubscriptions limits subscriptions to uids (empty: everyone).
	SetSubscriptions(ctx context.Context, uids []string) error
	// Ping probes the transport; the reply comes as Pong with the round
	// trip.
	Ping(ctx context.Context) error
	// Unpublish ends the participant's publication: the others see its
	// stream go. A publish offer after it starts a new one. A service
	// that cannot do it returns an error naming the limitation.
	Unpublish(ctx context.Context) error
	// Leave tells the service the participant leaves for good (no resume).
	Leave(ctx context.Context) error
	// Close closes the transport (reason is for the service's logs) and
	// waits for the session's goroutines; Events is closed. Safe to call
	// more than once; it does not leave the room: a Join with Resume may
	// pick the session up again.
	Close(reason string) error

	// TrackOwner resolves a subscribed track, by the stream id and track id
	// of its msid (webrtc.TrackRemote's StreamID and ID), to its
	// publisher's uid. On roomctl's server the stream id is the uid; on
	// LiveKit it is "PA_xxx|TR_xxx", known from the participants the
	// service described. It is called from pion's track goroutines.
	TrackOwner(streamID, trackID string) (uid string, ok bool)
}

// Stream is what the service tells about one participant's publication.
type Stream struct {
	UID    string
	RoomID string
	Tracks []Track
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

// Track describes a published track: one the engine publishes
// (PublishOffer) or one of another participant's Stream.
type Track struct {
	// ID is, for a track the engine publishes, the track id of its msid in
	// the offer; for a remote track, the service's id of it where it has
	// one (LiveKit's TR_xxx), else "".
	ID         string
	Kind       string // "audio" or "video"
	Codec      string // "VP8", "H264", "opus"
	Width      int
	Height     int
	FrameRate  int
	SampleRate int
	Channel    int
	Bitrate    int // kb/s, 0 if unknown
	Muted      bool
}

// Event is one thing a Session tells the engine: one of the types below.
type Event interface{ isEvent() }

// StreamAdded tells that a participant published.
type StreamAdded struct{ Stream Stream }

// StreamUpdated tells that a publication changed its tracks or their mute
// state.
type StreamUpdated struct{ Stream Stream }

// StreamRemoved tells that a participant unpublished or left.
type StreamRemoved struct{ UID string }

// SubscribeOffer is the service offering (or renegotiating) the subscribe
// PeerConnection; the engine answers with Session.SubscribeAnswer.
type SubscribeOffer struct{ SDP string }

// PublishAnswer answers the engine's PublishOffer.
type PublishAnswer struct{ SDP string }

// RemoteCandidate is one ICE candidate of the service's side of PC.
type RemoteCandidate struct {
	PC        PC
	Candidate webrtc.ICECandidateInit
}

// AuthVerdict is the service's verdict on a token sent with UpdateToken
// (0, or 10000–10008; 10007 asks for renewal soon).
type AuthVerdict struct{ Result int }

// TokenExpiring tells that the token expires soon; the engine prints
// token_will_expire and renews it.
type TokenExpiring struct{}

// TokenRefreshed carries a token the service renewed itself (LiveKit's
// RefreshToken); the engine keeps it for later joins and asks its token
// source for nothing.
type TokenRefreshed struct{ Token string }

// TokenRequested tells that the token has expired; the engine prints
// token_request and renews it.
type TokenRequested struct{}

// PublishRefused tells that the token forbids publishing, or that the
// right was revoked; the service stopped the publication.
type PublishRefused struct{ Result int }

// SessionEnded tells that the service ended the session. With Restart,
// the service is going down for a restart: the engine reconnects and joins
// a new session. Otherwise Run ends: with an *AuthError when Result is a
// verdict (≥ 10000), else ErrSessionEnded.
type SessionEnded struct {
	Result  int
	Reason  string
	Restart bool
}

// Pong answers Session.Ping with the measured round trip.
type Pong struct{ RTT time.Duration }

// ServerError tells that the service could not act on a request; the
// session goes on.
type ServerError struct {
	Code   int
	Reason string
}

func (StreamAdded) isEvent()     {}
func (StreamUpdated) isEvent()   {}
func (StreamRemoved) isEvent()   {}
func (SubscribeOffer) isEvent()  {}
func (PublishAnswer) isEvent()   {}
func (RemoteCandidate) isEvent() {}
func (AuthVerdict) isEvent()     {}
func (TokenExpiring) isEvent()   {}
func (TokenRefreshed) isEvent()  {}
func (TokenRequested) isEvent()  {}
func (PublishRefused) isEvent()  {}
func (SessionEnded) isEvent()    {}
func (Pong) isEvent()            {}
func (ServerError) isEvent()     {}
