package control

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/roomctl/roomctl/internal/event"
)

// benchServe runs Serve over b.N copies of line into a real NDJSON sink
// writing to io.Discard: the cost per request of reading, decoding,
// dispatching and printing the reply. Run:
//
//	go test -run '^$' -bench Serve -benchmem ./internal/control/
func benchServe(b *testing.B, line string) {
	in := strings.NewReader(strings.Repeat(line+"\n", b.N))
	sink := event.NewSink(io.Discard, event.SinkConfig{})
	methods := Methods{"getSessionStats": {Handle: func(context.Context, json.RawMessage) (any, error) {
		return map[string]int{"duration": 3}, nil
	}}}
	b.ReportAllocs()
	b.ResetTimer()
	if err := Serve(context.Background(), Config{In: in, Events: sink, Methods: methods}); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkServeRequest(b *testing.B) {
	benchServe(b, `{"id":7,"method":"getSessionStats","params":{}}`)
}

func BenchmarkServeGarbage(b *testing.B) {
	benchServe(b, `{"id":7,"method":`+"\x00garbage")
}

// A line over the bound costs its reading, never its buffering.
func BenchmarkServeLongLine(b *testing.B) {
	long := bytes.Repeat([]byte("x"), 1<<20)
	in := io.MultiReader(func() []io.Reader {
		rs := make([]io.Reader, 0, 2*b.N)
		for range b.N {
			rs = append(rs, bytes.NewReader(long), strings.NewReader("\n"))
		}
		return rs
	}()...)
	var out bytes.Buffer
	sink := event.NewSink(&out, event.SinkConfig{})
	b.SetBytes(int64(len(long)))
	b.ReportAllocs()
	b.ResetTimer()
	if err := Serve(context.Background(), Config{In: in, Events: sink, Methods: Methods{}}); err != nil {
		b.Fatal(err)
	}
	if n := strings.Count(out.String(), "LINE_TOO_LONG"); n != b.N {
		b.Fatalf("%d LINE_TOO_LONG replies, want %d", n, b.N)
	}
}
