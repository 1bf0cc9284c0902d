package control

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestLineReader(t *testing.T) {
	type read struct {
		line    string
		tooLong bool
	}
	cases := []struct {
		in   string
		max  int
		want []read
	}{
		{"a\nbb\n", 4, []read{{"a", false}, {"bb", false}}},
		{"abcd\nabcde\nabc", 4, []read{{"abcd", false}, {"", true}, {"abc", false}}},
		{"abcd\r\nabcde\r\n\r\n", 4, []read{{"abcd", false}, {"", true}, {"", false}}},
		{"\n\n", 4, []read{{"", false}, {"", false}}},
		{strings.Repeat("x", 100) + "\nok", 4, []read{{"", true}, {"ok", false}}},
		{strings.Repeat("x", 100), 4, []read{{"", true}}},
		{strings.Repeat("y", 30) + "\n" + strings.Repeat("y", 31) + "\n", 30, []read{{strings.Repeat("y", 30), false}, {"", true}}},
		{"", 4, nil},
	}
	for _, c := range cases {
		r := newLineReader(strings.NewReader(c.in), c.max)
		var got []read
		for {
			line, tooLong, err := r.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%q: %v", c.in, err)
			}
			got = append(got, read{string(line), tooLong})
		}
		if len(got) != len(c.want) {
			t.Errorf("%.20q (max %d): read %v, want %v", c.in, c.max, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%.20q (max %d): read %v, want %v", c.in, c.max, got, c.want)
				break
			}
		}
		if _, _, err := r.next(); !errors.Is(err, io.EOF) {
			t.Errorf("%.20q: after the end %v, want EOF again", c.in, err)
		}
	}
}

// xs is an endless input of 'x'.
type xs struct{}

func (xs) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// A long line is skipped through the reader's buffer: reading past 64 MB
// of it takes almost no memory.
func TestLineReaderDoesNotBufferLongLines(t *testing.T) {
	in := io.MultiReader(io.LimitReader(xs{}, 64<<20), strings.NewReader("\nok\n"))
	r := newLineReader(in, 1024)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, tooLong, err := r.next()
	runtime.ReadMemStats(&after)
	if err != nil || !tooLong {
		t.Fatalf("next: tooLong %v, err %v", tooLong, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("skipping a 64 MB line allocated %d bytes", n)
	}
	if line, tooLong, err := r.next(); string(line) != "ok" || tooLong || err != nil {
		t.Fatalf("after the long line: %q %v %v", line, tooLong, err)
	}
}
