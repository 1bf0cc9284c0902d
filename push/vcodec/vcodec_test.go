package vcodec

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// near reports whether two colours differ by at most tol in every
// component (lossy codecs and chroma subsampling move them a little).
func near(a, b YUV, tol int) bool {
	d := func(x, y uint8) bool { return abs(int(x)-int(y)) <= tol }
	return d(a.Y, b.Y) && d(a.U, b.U) && d(a.V, b.V)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// ivfFrames splits an IVF file into its frames (pion's ivfreader).
func ivfFrames(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out [][]byte
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, frame)
	}
}

func TestDecodeVP8ScaleOntoCanvas(t *testing.T) {
	d, err := NewDecoder("vp8")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := NewCanvas(640, 360)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var s Scaler
	defer s.Close()
	frames := ivfFrames(t, "testdata/red.ivf")
	decoded := 0
	for _, data := range frames {
		f, err := d.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if f == nil {
			continue
		}
		decoded++
		if f.Width() != 160 || f.Height() != 120 {
			t.Fatalf("decoded %dx%d, want 160x120", f.Width(), f.Height())
		}
		if err := s.Draw(f, c, 320, 0, 320, 240); err != nil {
			t.Fatal(err)
		}
	}
	if decoded != len(frames) {
		t.Fatalf("decoded %d of %d frames", decoded, len(frames))
	}
	red := RGB(255, 0, 0)
	if got := c.At(480, 120); !near(got, red, 12) {
		t.Errorf("inside the drawn cell: %v, want red %v", got, red)
	}
	if got := c.At(160, 120); got != Black {
		t.Errorf("left of the cell: %v, want black %v", got, Black)
	}
	if got := c.At(480, 300); got != Black {
		t.Errorf("below the cell: %v, want black %v", got, Black)
	}
}

func TestDecodeRefusesUnknownCodec(t *testing.T) {
	if _, err := NewDecoder("AV1"); err == nil {
		t.Fatal("AV1 decoder opened; want ErrCodec")
	}
}

// TestEncodeDecodeRoundTrip encodes a canvas of four colours and decodes
// it with libavcodec's H.264 decoder: the colours come back where they were,
// keyframes come every GOP and where forced, and SPS/PPS precede them.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	const w, h, fps = 320, 180, 15
	e, err := NewEncoder(EncoderOptions{Width: w, Height: h, FPS: fps, BitRate: 300_000})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.Options().GOP; got != 2*fps {
		t.Fatalf("GOP %d, want two seconds (%d)", got, 2*fps)
	}
	c, err := NewCanvas(w, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cols := []YUV{RGB(255, 0, 0), RGB(0, 255, 0), RGB(0, 0, 255), RGB(255, 255, 0)}
	c.Fill(0, 0, w/2, h/2, cols[0])
	c.Fill(w/2, 0, w/2, h/2, cols[1])
	c.Fill(0, h/2, w/2, h/2, cols[2])
	c.Fill(w/2, h/2, w/2, h/2, cols[3])

	var pkts []Packet
	const n = 75
	for i := range n {
		var err error
		pkts, err = e.Encode(pkts, c, int64(i*1000/fps), i == 40)
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(pkts) != n {
		t.Fatalf("%d packets for %d pictures: the encoder delays (zerolatency not in effect?)", len(pkts), n)
	}
	var keys []int
	for i, p := range pkts {
		if p.Key {
			keys = append(keys, i)
			if !bytes.Contains(p.Data[:min(len(p.Data), 64)], []byte{0, 0, 0, 1, 0x67}) &&
				!bytes.Contains(p.Data[:min(len(p.Data), 64)], []byte{0, 0, 1, 0x67}) {
				t.Errorf("keyframe %d has no SPS in front", i)
			}
		}
	}
	// Every GOP (0, 30), the forced one at 40, and the GOP counts again
	// from there: 40 + 30 = 70.
	if want := []int{0, 30, 40, 70}; !equalInts(keys, want) {
		t.Errorf("keyframes at %v, want %v (fixed GOP, forced IDR)", keys, want)
	}

	d, err := NewDecoder("h264")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, _ := NewCanvas(w, h)
	defer out.Close()
	var s Scaler
	defer s.Close()
	got := 0
	for _, p := range pkts {
		f, err := d.Decode(p.Data)
		if err != nil {
			t.Fatal(err)
		}
		if f != nil {
			got++
			if err := s.Draw(f, out, 0, 0, w, h); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got < n-2 {
		t.Fatalf("decoded %d of %d pictures", got, n)
	}
	for i, pt := range [][2]int{{w / 4, h / 4}, {3 * w / 4, h / 4}, {w / 4, 3 * h / 4}, {3 * w / 4, 3 * h / 4}} {
		if px := out.At(pt[0], pt[1]); !near(px, cols[i], 10) {
			t.Errorf("quadrant %d: %v, want %v", i, px, cols[i])
		}
	}
}

func TestBadSizesRefused(t *testing.T) {
	if _, err := NewCanvas(321, 180); err == nil {
		t.Error("odd canvas width accepted")
	}
	if _, err := NewEncoder(EncoderOptions{Width: 320, Height: 0, FPS: 15, BitRate: 1}); err == nil {
		t.Error("zero height accepted")
	}
	e, err := NewEncoder(EncoderOptions{Width: 320, Height: 180, FPS: 15, BitRate: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, _ := NewCanvas(640, 360)
	defer c.Close()
	if _, err := e.Encode(nil, c, 0, false); err == nil {
		t.Error("a 640x360 canvas encoded by a 320x180 encoder")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// BenchmarkEncode640x480 is the encoder's cost per picture of a single
// restream (the canvas changes every picture, as a camera's does).
func BenchmarkEncode640x480(b *testing.B) { benchEncode(b, 640, 480, 30, 1_000_000) }

// BenchmarkEncode1280x720 is the encoder's cost per picture of mode 6.
func BenchmarkEncode1280x720(b *testing.B) { benchEncode(b, 1280, 720, 30, 1_600_000) }

func benchEncode(b *testing.B, w, h, fps, rate int) {
	e, err := NewEncoder(EncoderOptions{Width: w, Height: h, FPS: fps, BitRate: rate})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	c, _ := NewCanvas(w, h)
	defer c.Close()
	var pkts []Packet
	b.ResetTimer()
	for i := range b.N {
		// A moving bar keeps the encoder busy like real video does.
		c.Fill(0, 0, w, h, Black)
		c.Fill((i*8)%w, 0, 64, h, RGB(200, 100, 50))
		c.Fill(0, (i*4)%h, w, 32, RGB(50, 100, 200))
		pkts, err = e.Encode(pkts[:0], c, int64(i*1000/fps), false)
		if err != nil {
			b.Fatal(err)
		}
	}
}
