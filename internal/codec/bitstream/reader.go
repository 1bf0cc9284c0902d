// Package bitstream reads the bit strings of video headers: fixed-width
// fields most significant bit first, and the Exp-Golomb codes of H.264.
// The H.264 parser (internal/codec/h264) and the recorder's VP9 header
// parser share it.
package bitstream

import "errors"

// Errors a Reader reports through Err.
var (
	// ErrShort is a read past the end of the data.
	ErrShort = errors.New("bitstream: truncated")
	// ErrExpGolomb is an Exp-Golomb code of more than 31 leading zeros,
	// which no H.264 syntax element has.
	ErrExpGolomb = errors.New("bitstream: exp-golomb code too long")
)

// Reader reads b most significant bit first. A read past the end sets
// Err and returns zeros, so a parser checks Err once at the end instead of
// after every field. The zero Reader reads nothing.
type Reader struct {
	b   []byte
	pos int // in bits
	err error
}

// NewReader returns a Reader at the first bit of b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err is the first error met, nil if every read was in bounds.
func (r *Reader) Err() error { return r.err }

// U reads an n-bit unsigned field (n at most 64).
func (r *Reader) U(n int) uint64 {
	var v uint64
	for range n {
		if r.pos >= len(r.b)*8 {
			r.fail(ErrShort)
			return 0
		}
		v = v<<1 | uint64(r.b[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v
}

// Flag reads one bit.
func (r *Reader) Flag() bool { return r.U(1) == 1 }

// UE reads an unsigned Exp-Golomb code, ue(v) (ITU-T H.264 9.1).
func (r *Reader) UE() uint64 {
	zeros := 0
	for !r.Flag() {
		if r.err != nil {
			return 0
		}
		zeros++
		if zeros > 31 {
			r.fail(ErrExpGolomb)
			return 0
		}
	}
	return (1<<zeros - 1) + r.U(zeros)
}

// SE reads a signed Exp-Golomb code, se(v) (ITU-T H.264 9.1.1).
func (r *Reader) SE() int64 {
	v := r.UE()
	if v&1 == 1 {
		return int64(v+1) / 2
	}
	return -int64(v / 2)
}

func (r *Reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}
