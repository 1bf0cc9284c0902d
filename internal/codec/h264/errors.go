package h264

import "errors"

// Errors of the parsers and builders.
var (
	// ErrNotSPS is returned for a NAL unit that is not a sequence
	// parameter set, or too short to be one.
	ErrNotSPS = errors.New("h264: not an SPS")
	// ErrNotPPS is returned for a NAL unit that is not a picture parameter set.
	ErrNotPPS = errors.New("h264: not a PPS")
	// ErrBadSPS is an SPS whose syntax does not parse or whose picture
	// size is implausible.
	ErrBadSPS = errors.New("h264: malformed sequence parameter set")
	// ErrBadAVCC is an AVCC access unit with a length prefix that is zero
	// or runs past its end.
	ErrBadAVCC = errors.New("h264: malformed length-prefixed access unit")
	// ErrTooLong is a parameter set too long for a 16-bit length field.
	ErrTooLong = errors.New("h264: parameter set too long")
)
