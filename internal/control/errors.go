package control

import (
	"errors"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/mixing"
	"github.com/roomctl/roomctl/push"
)

// The error names a reply carries: the SDK's where it has one.
const (
	// CodeBadRequest: the line is not a request (not UTF-8, not JSON nor a
	// text alias, not an object, method not a string, params not an
	// object, a field other than id, method and params).
	CodeBadRequest = "BAD_REQUEST"
	// CodeLineTooLong: the line is longer than Config.MaxLine.
	CodeLineTooLong = "LINE_TOO_LONG"
	// CodeUnknownMethod: no SDK method has that name.
	CodeUnknownMethod = "UNKNOWN_METHOD"
	// CodeNotSupported: an SDK method this command does not offer.
	CodeNotSupported = "NOT_SUPPORTED"
	// CodeInvalidParam: a param is missing, unknown, ill-typed or out of
	// range.
	CodeInvalidParam = "INVALID_PARAM"
	// CodeHasNotJoin: the method needs the session, not joined yet (or
	// ended).
	CodeHasNotJoin = "HAS_NOT_JOIN"
	// CodeInvalidOperation: the method asks for the state that already is,
	// or cannot be done now.
	CodeInvalidOperation = "INVALID_OPERATION"
	// CodeInvalidMixID: a mixing id other than 0 and 1.
	CodeInvalidMixID = "INVALID_MIX_ID"
	// CodeMixAudioNotExisted: the mixing id is not playing.
	CodeMixAudioNotExisted = "MIX_AUDIO_NOT_EXISTED"
	// CodeInvalidVolume: a mixing volume outside 0-100.
	CodeInvalidVolume = "INVALID_VOLUME"
	// CodeSourceLoadError: the mixing file cannot be opened or decoded.
	CodeSourceLoadError = "SOURCE_LOAD_ERROR"
	// CodeHasAddURL: the RTMP URL is pushed to already.
	CodeHasAddURL = "HAS_ADD_URL"
	// CodeTooMuchURLs: a sixth RTMP URL.
	CodeTooMuchURLs = "TOO_MUCH_URLS"
	// CodeURLNotExist: the RTMP URL is not pushed to.
	CodeURLNotExist = "URL_NOT_EXIST"
	// CodeError is roomctl's own, for an error no SDK name fits (the
	// command stopping while the method ran, a failure of the engine);
	// its message says what happened.
	CodeError = "ERROR"
)

// codes names the errors of the engine, the mixer and the pusher by
// their sentinels, in the order they are tried.
var codes = []struct {
	err  error
	code string
}{
	{engine.ErrNotJoined, CodeHasNotJoin},
	{engine.ErrInvalidOperation, CodeInvalidOperation},
	{mixing.ErrInvalidID, CodeInvalidMixID},
	{mixing.ErrNotPlaying, CodeMixAudioNotExisted},
	{mixing.ErrInvalidVolume, CodeInvalidVolume},
	{mixing.ErrLoad, CodeSourceLoadError},
	{mixing.ErrInvalidParam, CodeInvalidParam},
	{mixing.ErrBusy, CodeInvalidOperation},
	{mixing.ErrPaused, CodeInvalidOperation},
	{mixing.ErrNotPaused, CodeInvalidOperation},
	{push.ErrURLExists, CodeHasAddURL},
	{push.ErrTooManyURLs, CodeTooMuchURLs},
	{push.ErrURLNotExist, CodeURLNotExist},
	{push.ErrInvalidURL, CodeInvalidParam},
	{push.ErrClosed, CodeInvalidOperation},
}

// codeOf names err for a reply: an *Error names itself, a sentinel of
// codes its code, and anything else is CodeError; the message is the
// error's text.
func codeOf(err error) (code, message string) {
	code = CodeError
	var e *Error
	if errors.As(err, &e) {
		code, message = e.Code, e.Message
	} else {
		message = err.Error()
		for _, c := range codes {
			if errors.Is(err, c.err) {
				code = c.code
				break
			}
		}
	}
	if message == "" { // the schema wants a message
		message = "failed"
	}
	return code, message
}
