package control

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lineReader splits its input into lines of at most max bytes, the
// newline (and a carriage return before it) not counted. A longer line
// is reported as too long and skipped up to its newline through a buffer
// of max+2 bytes: it is never held in memory whole.
type lineReader struct {
	r   *bufio.Reader
	max int
	err error // the read error that ended the input, returned from then on
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, max+len("\r\n")), max: max}
}

// next returns the next line, valid until the next call, or tooLong for
// a line longer than max. At the end it returns io.EOF, after a last line
// without a newline if there is one; a line cut by another read error is
// dropped and the error returned.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	if l.err != nil {
		return nil, false, l.err
	}
	line, err = l.r.ReadSlice('\n')
	tooLong = errors.Is(err, bufio.ErrBufferFull)
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = l.r.ReadSlice('\n') // discard, a buffer at a time
	}
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) && (tooLong || len(line) > 0):
		l.err = err // the last line, without a newline: answer it first
	default:
		l.err = err
		return nil, false, err
	}
	if tooLong {
		return nil, true, nil
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) > l.max {
		return nil, true, nil
	}
	return line, false, nil
}
