package aac

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/roomctl/roomctl/internal/dsp/dsptest"
)

// adtsHeader is the 7-byte ADTS header of one AAC-LC frame of n bytes.
func adtsHeader(n, freqIndex, channels int) []byte {
	l := n + 7
	return []byte{
		0xFF, 0xF1, // sync, MPEG-4, layer 0, no CRC
		byte(1<<6 | freqIndex<<2 | channels>>2), // profile LC (object type 2 - 1)
		byte((channels&3)<<6 | l>>11),
		byte(l >> 3),
		byte((l&7)<<5 | 0x1F),
		0xFC,
	}
}

func TestASC(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	asc := e.AudioSpecificConfig()
	// AAC-LC (2), 44100 Hz (index 4), 2 channels: 00010 0100 0010 000.
	if len(asc) < 2 || asc[0] != 0x12 || asc[1] != 0x10 {
		t.Fatalf("AudioSpecificConfig % x, want 12 10 ...", asc)
	}
	if e.FrameSize() != 1024 {
		t.Fatalf("frame size %d", e.FrameSize())
	}
	e.Close()
	e.Close() // idempotent
	if _, err := e.Encode(nil, make([]float32, 2048), 0); err == nil {
		t.Fatal("Encode after Close succeeded")
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []Options{{Channels: 3}, {SampleRate: 1000}, {BitRate: 1 << 30}} {
		if e, err := New(o); err == nil {
			e.Close()
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// A 1 kHz tone goes through the encoder, into an ADTS file, and comes
// back out of ffmpeg's decoder as a 1 kHz tone at the level it went in.
func TestToneRoundTrip(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ffmpeg not installed")
		}
		t.Skip("ffmpeg not installed")
	}
	const rate, seconds, amp = 44100, 2, 0.5
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var adts bytes.Buffer
	var pkts []Packet
	fs := e.FrameSize()
	tone := dsptest.Tone{Freq: 1000, Amp: amp, Rate: rate}
	for i := 0; i < rate*seconds/fs; i++ {
		left := tone.Samples(i*fs, fs)
		pcm := append(left, left...) // same on both channels
		if pkts, err = e.Encode(pkts[:0], pcm, int64(i*fs)); err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			adts.Write(adtsHeader(len(p.Data), 4, 2))
			adts.Write(p.Data)
		}
	}
	if pkts, err = e.Flush(pkts[:0]); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		adts.Write(adtsHeader(len(p.Data), 4, 2))
		adts.Write(p.Data)
	}
	// 128 kb/s over 2 s is about 32 kB.
	if n := adts.Len(); n < 20000 || n > 45000 {
		t.Errorf("encoded %d bytes for %d s at 128 kb/s", n, seconds)
	}
	path := filepath.Join(t.TempDir(), "tone.aac")
	if err := os.WriteFile(path, adts.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "f32le", "-ac", "2", "-ar", "44100", "-")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, errOut.String())
	}
	if errOut.Len() > 0 {
		t.Errorf("ffmpeg complained: %s", errOut.String())
	}
	raw := out.Bytes()
	inter := make([]float32, len(raw)/4)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, inter); err != nil {
		t.Fatal(err)
	}
	left := make([]float32, len(inter)/2)
	for i := range left {
		left[i] = inter[2*i]
	}
	if len(left) < rate*seconds*9/10 {
		t.Fatalf("decoded %d samples, want about %d", len(left), rate*seconds)
	}
	mid := left[rate/4 : len(left)-rate/4] // skip priming and tail
	p1k := dsptest.Goertzel(mid, 1000, rate)
	for _, f := range []float64{500, 800, 1200, 2000} {
		if p := dsptest.Goertzel(mid, f, rate); p*1000 > p1k {
			t.Errorf("power at %g Hz is %.3g of the 1 kHz power", f, p/p1k)
		}
	}
	var sum float64
	for _, v := range mid {
		sum += float64(v) * float64(v)
	}
	rms := math.Sqrt(sum / float64(len(mid)))
	if want := amp / math.Sqrt2; math.Abs(rms-want) > 0.05*want {
		t.Errorf("decoded RMS %.4f, want %.4f (±5%%)", rms, want)
	}
}

func BenchmarkEncode(b *testing.B) {
	e, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	left := dsptest.Tone{Freq: 1000, Amp: 0.5, Rate: 44100}.Samples(0, e.FrameSize())
	pcm := append(left, left...)
	var pkts []Packet
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if pkts, err = e.Encode(pkts[:0], pcm, int64(i*e.FrameSize())); err != nil {
			b.Fatal(err)
		}
	}
}
