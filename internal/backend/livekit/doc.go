// Package livekit is the engine's backend for LiveKit (livekit-server,
// one node or a cluster sharing Redis): roomctl joins LiveKit rooms as one
// of its clients, speaking its signalling protocol 17 (LiveKit's own
// generated types, github.com/livekit/protocol/livekit: binary protobuf
// SignalRequest/SignalResponse over one WebSocket to /rtc) with two
// PeerConnections, the server offering on the subscriber one first. It
// translates the engine's requests into LiveKit's and LiveKit's messages
// into engine.Events, and nothing else, as internal/backend/embedded does
// for roomctl serve; tokens are LiveKit's (MintToken, over its auth
// package), the app id is the API key.
//
// # Join and verdicts
//
// Join dials ws(s)://host/rtc?protocol=17&sdk=go&auto_subscribe=1 (0 when
// JoinRequest.Subscribe is set) with the token in the Authorization header
// (never in a URL), and reads the first message: JoinResponse, or on a
// resume (reconnect=1&sid=PA_…) ReconnectResponse. LiveKit refuses a token
// at the upgrade with an HTTP status and a text body; Connected is called
// then too, since the server was reached and answered (roomctl serve also
// prints connected before a refused sdk_auth_result). The bodies map to
// the SDK's verdicts, as roomctl serve gives them:
//
//	LiveKit's answer                              verdict
//	401 "… signature is invalid"                  10002 bad signature
//	401 "invalid authorization token" (no JWT)    10002
//	401 "… token is not valid yet" (nbf)          10002 (serve's verdict for nbf)
//	401 "invalid API key: …"                      10006 unknown app
//	401 "… token is expired" / no exp             10005 expired (60 s leeway on LiveKit's side)
//	401 "no permissions …", empty token           10001 no token
//	401 "no permissions …" (no roomJoin grant)    10004
//	400 "identity cannot be empty"                10004
//	token's iss ≠ JoinRequest.AppID               10003 app mismatch (API key = app id)
//	token's sub ≠ UID, video.room ≠ RoomID        10004 uid or room mismatch
//	JoinResponse room/identity ≠ the request's    10004 (then LeaveRequest, closed)
//	any other status (404, 5xx, …)                10000, the body as the reason
//	no HTTP answer at all                         engine.ErrUnreachable, no Connected
//
// LiveKit's v0 endpoint takes room and identity from the token alone, so a
// token for another room or identity would silently join that room as
// that identity (and replace a session of it there). Join reads the
// token's claims (unverified: they are the holder's own) and refuses such
// a token without joining: it asks /rtc/validate first, which checks the
// token as the upgrade does and joins nothing, so that a token LiveKit
// refuses gets LiveKit's verdict, as serve checks the signature before the
// claims; Connected is called once validate answered. The 401 bodies echo
// the whole token: every reason is redacted (redact) before it is returned
// or logged.
//
// A resume that LiveKit cannot honour (LeaveRequest{STATE_MISMATCH,
// action RECONNECT}, e.g. the room's node died) is followed at once by a
// fresh join in the same Join: Joined.Resumed is false and the engine
// starts over, as after roomctl serve answered with a new session.
//
// # Messages
//
//	LiveKit → engine
//	JoinResponse.other_participants           Joined.Streams
//	ParticipantUpdate (others)                StreamAdded / StreamUpdated / StreamRemoved
//	ParticipantUpdate (self, canPublish lost) PublishRefused{10009}
//	offer (subscriber)                        SubscribeOffer (its id kept for the answer)
//	answer (publisher)                        PublishAnswer
//	trickle{candidateInit, target}            RemoteCandidate (subscriber ones held until the first offer)
//	request_response NOT_ALLOWED to add_track PublishRefused{10009}
//	request_response, other reasons           ServerError{404/403/429/415/400/409/500}
//	refresh_token                             TokenRefreshed
//	pong_resp                                 Pong{RTT}
//	leave                                     SessionEnded (table below), or a dropped socket
//	reconnect, room_update, speakers, quality, stream_state, track_subscribed, …  nothing (logged at debug)
//
//	engine → LiveKit
//	PublishOffer(sdp, tracks)   add_track per track (cid = Track.ID, CAMERA/MICROPHONE,
//	                            width/height), then, once every track_published came, offer
//	PublishOffer(sdp, nil)      offer (a renegotiation or ICE restart)
//	SubscribeAnswer             answer{id: the offer's}
//	Candidate                   trickle{candidateInit: JSON, target}; publisher ones wait for the offer
//	Mute(kind)                  mute{sid: our track of kind}
//	SetSubscriptions(uids)      subscription{track_sids, subscribe} both ways; kept for new tracks
//	Ping                        ping_req{timestamp, rtt}
//	Leave                       leave{CLIENT_INITIATED, DISCONNECT}
//	UpdateToken                 GET /rtc/validate → AuthVerdict (see below)
//	RestartSubscribeICE         a resume on a new socket (see below)
//
// A participant's stream is its audio and video tracks: StreamAdded when
// the first appears, StreamUpdated when one is added, removed or (un)muted,
// StreamRemoved when none is left or it is DISCONNECTED — as roomctl serve
// tells only of participants that publish. LiveKit lists a track once its
// media reached the SFU, so StreamAdded may carry one track and a
// StreamUpdated the other tens of milliseconds later. Track.ID is the
// track sid (TR_…); Codec comes from the mime type ("VP8", "H264",
// "opus"); Opus is 48 kHz, stereo when LiveKit says so. TrackOwner maps a
// subscribed track (msid "PA_xxx|TR_xxx") to its publisher's identity.
//
// A LeaveRequest from LiveKit:
//
//	action / reason                      SessionEnded
//	RESUME                               none: the socket is dropped, the engine resumes
//	RECONNECT (e.g. STATE_MISMATCH)      Restart: true (a fresh join)
//	DISCONNECT, SERVER_SHUTDOWN          Restart: true, Reason "server closing" (as serve)
//	DISCONNECT, MIGRATION                Restart: true
//	DISCONNECT, DUPLICATE_IDENTITY       Reason "replaced" (as serve): Run ends
//	DISCONNECT, any other                Reason: the lower-case name (participant_removed,
//	                                     room_deleted, room_closed, …): Run ends
//
// Result is 0 in every case; the echo of our own leave is not reported.
//
// # Tokens
//
// LiveKit renews the token itself: refresh_token right after every join
// and resume, every 5 minutes and when the grants change, each valid at
// least 10 minutes; an expired token never ends a connected session, it
// only fails the next connection. So token_will_expire and token_request
// never come from LiveKit while connected (TokenExpiring and
// TokenRequested are not emitted); every refresh becomes TokenRefreshed,
// which the engine keeps for its next Join, and the session for its own
// resumes. At a (re)connection an expired token is 10005, on which the
// engine prints token_request and tries once more with a fresh one.
//
// LiveKit has no request that replaces the token of a live session.
// UpdateToken therefore checks the token as LiveKit checks one at a
// connection — GET /rtc/validate, which joins nothing — plus roomctl's
// room and identity check, and answers AuthVerdict with that verdict; an
// accepted token is what the session presents at its next resume. The
// verdict is LiveKit's word on the token, not a change to the session.
//
// # ICE
//
// LiveKit restarts the subscriber's ICE only on a resume, so
// RestartSubscribeICE resumes on a new socket inside the session
// (reconnect=1, reconnect_reason=RR_SUBSCRIBER_FAILED, the newest token)
// and swaps it in: the engine gets the ICE-restart offer as a
// SubscribeOffer and sees no signalling reconnect; after a ReconnectResponse,
// the streams of those no longer in the room are removed. If that resume
// fails, the socket is dropped and the engine reconnects.
//
// JoinResponse.ice_servers is ignored: the engine owns its PeerConnections
// and their ICE configuration (iceopt), and a LiveKit without
// rtc.stun_servers advertises public STUN servers, which would take a test
// off loopback.
package livekit
