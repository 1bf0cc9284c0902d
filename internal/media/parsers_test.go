package media

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/codec/h264"
)

func TestCodecOf(t *testing.T) {
	for mime, want := range map[string]string{
		webrtc.MimeTypeVP8:  "VP8",
		webrtc.MimeTypeH264: "H264",
		webrtc.MimeTypeOpus: "opus",
		webrtc.MimeTypeVP9:  "VP9",
		"video/vp8":         "VP8", // SDP is case-insensitive
		"audio/OPUS":        "opus",
		webrtc.MimeTypeAV1:  "AV1",
		"":                  "",
	} {
		if got := CodecOf(mime); got != want {
			t.Errorf("CodecOf(%q) = %q, want %q", mime, got, want)
		}
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		head []byte
		want format
	}{
		{[]byte("DKIF\x00\x00 \x00VP80"), formatIVF},
		{[]byte("OggS\x00\x02"), formatOgg},
		{[]byte{0, 0, 0, 1, 0x67, 0x42}, formatH264},
		{[]byte{0, 0, 1, 0x09, 0xf0}, formatH264},
		{[]byte{0, 0, 0, 1, 0x80}, formatUnknown}, // forbidden bit
		{[]byte{0, 0, 1}, formatUnknown},
		{[]byte("\x1aE\xdf\xa3"), formatUnknown}, // Matroska
		{nil, formatUnknown},
	} {
		if got := detect(tc.head); got != tc.want {
			t.Errorf("detect(% x) = %d, want %d", tc.head, got, tc.want)
		}
	}
}

func readAll(t *testing.T, r sampleReader) []sample {
	t.Helper()
	var out []sample
	for {
		s, err := r.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
}

func openReader(t *testing.T, path string) sampleReader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	tr, err := probe(path, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	r, err := tr.newReader(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func total(ss []sample) time.Duration {
	var d time.Duration
	for _, s := range ss {
		d += s.dur
	}
	return d
}

func TestIVFFrames(t *testing.T) {
	ss := readAll(t, openReader(t, vp8File))
	if len(ss) != 60 {
		t.Fatalf("%d frames, want 60", len(ss))
	}
	for i, s := range ss {
		if d := s.dur - time.Second/30; d < -time.Millisecond || d > time.Millisecond {
			t.Fatalf("frame %d lasts %s", i, s.dur)
		}
	}
	if ss[0].data[0]&1 != 0 {
		t.Error("first frame is not a keyframe")
	}
}

func TestH264AccessUnits(t *testing.T) {
	ss := readAll(t, openReader(t, h264File))
	if len(ss) != 60 {
		t.Fatalf("%d access units, want 60", len(ss))
	}
	// The first carries SPS, PPS and the IDR, each behind a start code.
	nals := h264.SplitAnnexB(ss[0].data)
	if !bytes.Equal(h264.AppendAnnexB(nil, nals), ss[0].data) {
		t.Error("first access unit: not every NAL unit behind a 4-byte start code")
	}
	var types []h264.NALType
	for _, nal := range nals {
		types = append(types, h264.TypeOf(nal))
	}
	sps := slices.Index(types, h264.NALSPS)
	if sps < 0 || sps+1 >= len(types) || types[sps+1] != h264.NALPPS || types[len(types)-1] != h264.NALIDR {
		t.Errorf("first access unit NAL types %v", types)
	}
	if d := total(ss); d < 1999*time.Millisecond || d > 2001*time.Millisecond {
		t.Errorf("total %s", d)
	}
}

func TestOggPackets(t *testing.T) {
	// ffmpeg puts about a second of packets in a page: the reader must cut
	// pages into 20-ms packets, never hand out a page.
	ss := readAll(t, openReader(t, opusFile))
	if len(ss) != 101 {
		t.Fatalf("%d packets, want 101", len(ss))
	}
	for i, s := range ss {
		if s.dur != 20*time.Millisecond {
			t.Fatalf("packet %d lasts %s", i, s.dur)
		}
	}
}

func TestOpusPacketDuration(t *testing.T) {
	for _, tc := range []struct {
		p    []byte
		want time.Duration
	}{
		{[]byte{0x08 << 3}, 10 * time.Millisecond},    // SILK 10 ms... config 8 % 4 = 0
		{[]byte{1 << 3}, 20 * time.Millisecond},       // SILK NB 20 ms
		{[]byte{3 << 3}, 60 * time.Millisecond},       // SILK 60 ms
		{[]byte{13 << 3}, 20 * time.Millisecond},      // Hybrid 20 ms
		{[]byte{16 << 3}, 2500 * time.Microsecond},    // CELT 2.5 ms
		{[]byte{31<<3 | 1}, 40 * time.Millisecond},    // two CELT 20-ms frames
		{[]byte{31<<3 | 3, 3}, 60 * time.Millisecond}, // code 3, three frames
		{[]byte{3<<3 | 3, 3}, 0},                      // 180 ms: over the cap
		{[]byte{31<<3 | 3}, 0},                        // code 3 without count
		{nil, 0},
	} {
		if got := opusPacketDuration(tc.p); got != tc.want {
			t.Errorf("% x: %s, want %s", tc.p, got, tc.want)
		}
	}
}

// Fuzz targets for every parser that reads a user's file. Without -fuzz
// they run their seeds (the testdata files) as ordinary tests.

func addSeeds(f *testing.F, paths ...string) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// fuzzReadAll reads at most a bounded number of samples: parsers must end
// (or keep yielding real data) on any input, never spin or panic.
func fuzzReadAll(r sampleReader) {
	for range 10000 {
		if _, err := r.next(); err != nil {
			return
		}
	}
}

func FuzzProbe(f *testing.F) {
	addSeeds(f, vp8File, h264File, opusFile, bframesFile)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "in")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fl, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer fl.Close()
		tr, err := probe(p, fl)
		if err != nil {
			return
		}
		if _, err := fl.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		r, err := tr.newReader(bufio.NewReader(fl))
		if err != nil {
			return
		}
		fuzzReadAll(r)
	})
}

func FuzzOggOpus(f *testing.F) {
	addSeeds(f, opusFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := newOggOpusReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		fuzzReadAll(r)
	})
}

func FuzzH264(f *testing.F) {
	addSeeds(f, h264File, bframesFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := newAUReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		fuzzReadAll(&h264Samples{r: r, dur: time.Second / 30})
	})
}
