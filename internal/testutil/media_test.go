package testutil

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// oggPage is an Ogg page around the segments of the given lengths (CRC
// and granule left 0: the walker does not read them).
func oggPage(segs ...int) []byte {
	b := make([]byte, 27, 27+len(segs))
	copy(b, "OggS")
	binary.LittleEndian.PutUint32(b[14:], 1) // serial
	b[26] = byte(len(segs))
	var data []byte
	for i, n := range segs {
		b = append(b, byte(n))
		data = append(data, bytes.Repeat([]byte{byte('a' + i)}, n)...)
	}
	return append(b, data...)
}

// Packets end at a segment shorter than 255, also across pages and at a
// zero-length segment.
func TestOggPackets(t *testing.T) {
	file := slices.Concat(oggPage(3, 255, 10), oggPage(255), oggPage(255, 0, 1))
	path := filepath.Join(t.TempDir(), "x.ogg")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	var lens []int
	for _, p := range OggPackets(t, path) {
		lens = append(lens, len(p))
	}
	if want := []int{3, 265, 510, 1}; !slices.Equal(lens, want) {
		t.Fatalf("packet lengths %v, want %v", lens, want)
	}
}

// The 2-s Opus clip: 101 packets (what the media package's own parser
// finds too), each one 20-ms frame.
func TestOpusPackets(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	pkts := OpusPackets(t, filepath.Join(root, "internal", "media", "testdata", "opus.ogg"))
	if len(pkts) != 101 {
		t.Fatalf("%d packets, want 101", len(pkts))
	}
	for i, p := range pkts {
		if len(p) == 0 || !oneFrameOf20ms(p[0]) {
			t.Fatalf("packet %d: TOC % x, want one 20-ms frame", i, p[:min(1, len(p))])
		}
	}
}

// A tone written with Tone is probed, decoded and measured back.
func TestFFmpegHelpers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tone.wav")
	Tone(t, path, 1000, "1")
	p := FFprobe(t, path)
	if c := p.Codecs(); !slices.Equal(c, []string{"pcm_s16le"}) || p.Streams[0].CodecType != "audio" {
		t.Fatalf("streams %+v", p.Streams)
	}
	if d := p.Duration(t); d != time.Second {
		t.Errorf("duration %s", d)
	}
	if d := LastPacketEnd(t, path); d < 990*time.Millisecond || d > time.Second {
		t.Errorf("last packet ends at %s", d)
	}
	DecodeClean(t, path)
	x := DecodePCM(t, path, "-ar", "48000")
	if len(x) != 48000 {
		t.Fatalf("%d samples", len(x))
	}
	var peak float32
	for _, v := range x {
		peak = max(peak, v)
	}
	if peak < 0.12 || peak > 0.13 {
		t.Errorf("peak %.3f, want 1/8", peak)
	}
	if out := RunTool(t, "ffprobe", "-v", "error", "-show_entries", "stream=sample_rate", "-of", "csv=p=0", path); out != "44100\n" {
		t.Errorf("ffprobe sample rate %q", out)
	}
}

// The root is found from anywhere.
func TestRepoRoot(t *testing.T) {
	t.Chdir(t.TempDir())
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testutil", "root.go")); err != nil {
		t.Fatalf("root %s: %v", root, err)
	}
}

func TestFreeAddrs(t *testing.T) {
	if a := FreeTCPAddr(t); !bytes.HasPrefix([]byte(a), []byte("127.0.0.1:")) {
		t.Errorf("FreeTCPAddr %s", a)
	}
	if p := FreeUDPPort(t); p <= 0 || p > 65535 {
		t.Errorf("FreeUDPPort %d", p)
	}
}

// oneFrameOf20ms reads an Opus TOC byte (RFC 6716 3.1): frame count code
// 0, and a configuration whose frames last 20 ms.
func oneFrameOf20ms(toc byte) bool {
	config := toc >> 3
	switch {
	case toc&3 != 0:
		return false
	case config < 12: // SILK: 10, 20, 40, 60 ms
		return config%4 == 1
	case config < 16: // Hybrid: 10, 20 ms
		return config%2 == 1
	default: // CELT: 2.5, 5, 10, 20 ms
		return config%4 == 3
	}
}
