package push

import "errors"

// Limits of the SDK's addPublishOriginStreamUrl.
const (
	MaxURLs   = 5
	MaxURLLen = 512
)

var (
	// ErrInvalidURL is returned by New for a URL that is not rtmp://host/app/key
	// or is longer than MaxURLLen.
	ErrInvalidURL = errors.New("invalid RTMP URL")
	// ErrURLCount is returned by New for more than MaxURLs.
	ErrURLCount = errors.New("want at most 5 RTMP URLs")
	// ErrTooManyURLs is returned by AddURL when MaxURLs are pushed to
	// already (the SDK's TOO_MUCH_URLS).
	ErrTooManyURLs = errors.New("already pushing to 5 RTMP URLs")
	// ErrURLExists is returned by AddURL for a URL pushed to already
	// (HAS_ADD_URL).
	ErrURLExists = errors.New("the URL is pushed to already")
	// ErrURLNotExist is returned by RemoveURL for a URL not pushed to
	// (URL_NOT_EXIST).
	ErrURLNotExist = errors.New("the URL is not pushed to")
	// ErrClosed is returned by AddURL and RemoveURL once the push ended.
	ErrClosed = errors.New("the push has ended")
	// ErrUnsupportedCodec is the Err of a push whose source is not H.264
	// video or Opus audio: RTMP/FLV carries H.264 and AAC, and the pusher
	// transcodes audio only.
	ErrUnsupportedCodec = errors.New("source codec cannot be pushed over RTMP")
	// ErrSourceUnavailable is the Err of a push whose source could not be
	// pulled (Fail).
	ErrSourceUnavailable = errors.New("source stream cannot be pulled")
	// errRefused is wrapped by errors where the RTMP server answered no.
	errRefused = errors.New("refused by the RTMP server")
	// errConnClosed: the RTMP connection is gone.
	errConnClosed = errors.New("rtmp connection closed")
)
