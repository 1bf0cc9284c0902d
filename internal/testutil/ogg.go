package testutil

import (
	"bytes"
	"os"
	"testing"
)

// OggPackets reads an Ogg file packet by packet (not page by page):
// each page's segment table (RFC 3533 lacing) cuts its data into
// packets, and a packet whose last segment is 255 bytes long continues
// in the next segment, on this page or the next. It is the tests' own
// walker, independent of the parser under test; it ignores the stream
// serial (the test files hold one stream).
func OggPackets(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	size := len(b)
	var out [][]byte
	var cur []byte
	for len(b) > 0 {
		if len(b) < 27 || string(b[:4]) != "OggS" {
			t.Fatalf("%s: not an Ogg page at byte %d", path, size-len(b))
		}
		nseg := int(b[26])
		if len(b) < 27+nseg {
			t.Fatalf("%s: truncated page", path)
		}
		lacing := b[27 : 27+nseg]
		data := b[27+nseg:]
		for _, l := range lacing {
			if len(data) < int(l) {
				t.Fatalf("%s: truncated page", path)
			}
			cur = append(cur, data[:l]...)
			data = data[l:]
			if l < 255 {
				out = append(out, cur)
				cur = nil
			}
		}
		b = data
	}
	return out
}

// OpusPackets are the audio packets of an Ogg Opus file: OggPackets
// without the OpusHead and OpusTags header packets.
func OpusPackets(t testing.TB, path string) [][]byte {
	t.Helper()
	pkts := OggPackets(t, path)
	if len(pkts) < 3 || !bytes.HasPrefix(pkts[0], []byte("OpusHead")) || !bytes.HasPrefix(pkts[1], []byte("OpusTags")) {
		t.Fatalf("%s: no Opus packets", path)
	}
	return pkts[2:]
}
