package push

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/roomctl/roomctl/push/vcodec"
)

// vp8Frames splits the red test clip (IVF) of push/vcodec into frames
// (pion's ivfreader).
func vp8Frames(t *testing.T) [][]byte {
	t.Helper()
	f, err := os.Open("vcodec/testdata/red.ivf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame)
	}
}

// lastPicture decodes what the compositor encoded and returns the last
// picture drawn on a canvas of its size.
func lastPicture(t *testing.T, pics []encodedPic, w, h int) *vcodec.Canvas {
	t.Helper()
	d, err := vcodec.NewDecoder("h264")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, _ := vcodec.NewCanvas(w, h)
	t.Cleanup(c.Close)
	var s vcodec.Scaler
	defer s.Close()
	got := false
	for _, p := range pics {
		f, err := d.Decode(p.annexB)
		if err != nil {
			t.Fatal(err)
		}
		if f != nil {
			if f.Width() != w || f.Height() != h {
				t.Fatalf("picture %dx%d, want %dx%d", f.Width(), f.Height(), w, h)
			}
			if err := s.Draw(f, c, 0, 0, w, h); err != nil {
				t.Fatal(err)
			}
			got = true
		}
	}
	if !got {
		t.Fatal("nothing decoded")
	}
	return c
}

func near(a, b vcodec.YUV) bool {
	d := func(x, y uint8) bool { return int(x)-int(y) <= 12 && int(y)-int(x) <= 12 }
	return d(a.Y, b.Y) && d(a.U, b.U) && d(a.V, b.V)
}

// A task of mode 1 with two users, one publishing (red VP8) and one
// publishing audio only: the encoded picture has red in the left cell of
// the grid, the grey of a user without video in the right one; then the
// second user goes and the first fills the picture. Keyframes come every
// two seconds of ticks and on request.
func TestCompositorTaskGrid(t *testing.T) {
	mode, _ := LookupMode(1) // 320x180, 15 fps
	pics := make(chan encodedPic, 1024)
	c := newCompositor(slog.New(slog.NewTextHandler(io.Discard, nil)), &mode, nil, func(e encodedPic) bool {
		pics <- e
		return true
	})
	go c.run()
	defer func() { c.stop(); <-c.done }()
	c.setPresence([]presence{{uid: "a", hasVideo: true}, {uid: "b"}})
	c.open()
	var keys atomic.Int32
	for i, f := range vp8Frames(t) {
		c.push(srcFrame{uid: "a", codec: "VP8", data: f, key: i == 0, arrival: time.Now(),
			requestKeyframe: func() { keys.Add(1) }})
	}
	collect := func(n int) []encodedPic {
		var out []encodedPic
		deadline := time.After(10 * time.Second)
		for len(out) < n {
			select {
			case p := <-pics:
				out = append(out, p)
			case <-deadline:
				t.Fatalf("%d of %d pictures encoded", len(out), n)
			}
		}
		return out
	}
	first := collect(8)
	if !first[0].key {
		t.Error("the first picture is not a keyframe")
	}
	pic := lastPicture(t, first, 320, 180)
	if got, want := pic.At(80, 90), vcodec.RGB(255, 0, 0); !near(got, want) {
		t.Errorf("left cell (a): %v, want red %v", got, want)
	}
	if got := pic.At(240, 90); !near(got, noVideo) {
		t.Errorf("right cell (b, no video): %v, want grey %v", got, noVideo)
	}

	// b leaves: a alone fills the picture (4:3 in 16:9: bars at the sides).
	c.setPresence([]presence{{uid: "a", hasVideo: true}})
	c.forceKey.Store(true)
	more := collect(4)
	pic = lastPicture(t, append(first, more...), 320, 180)
	if got, want := pic.At(160, 90), vcodec.RGB(255, 0, 0); !near(got, want) {
		t.Errorf("centre (a alone): %v, want red %v", got, want)
	}
	if got := pic.At(10, 90); !near(got, background) {
		t.Errorf("bar left of a: %v, want black %v", got, background)
	}
	sawKey := false
	for _, p := range more {
		sawKey = sawKey || p.key
	}
	if !sawKey {
		t.Error("a requested keyframe did not come")
	}
	if keys.Load() != 0 {
		t.Errorf("%d keyframe requests to a source that started on a keyframe", keys.Load())
	}
}

// A single restream starts at the source's first keyframe, keeps its size
// and its timestamps.
func TestCompositorSingle(t *testing.T) {
	pics := make(chan encodedPic, 64)
	c := newCompositor(slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil, func(e encodedPic) bool {
		pics <- e
		return true
	})
	go c.run()
	defer func() { c.stop(); <-c.done }()
	frames := vp8Frames(t)
	var asked atomic.Int32
	t0 := time.Now()
	// An inter frame first: dropped, and a keyframe asked for.
	c.push(srcFrame{uid: "a", codec: "VP8", data: frames[1], wall: t0, requestKeyframe: func() { asked.Add(1) }})
	for i, f := range frames {
		c.push(srcFrame{uid: "a", codec: "VP8", data: f, key: i == 0, wall: t0.Add(time.Duration(i+1) * 33 * time.Millisecond)})
	}
	var got []encodedPic
	deadline := time.After(10 * time.Second)
	for len(got) < len(frames) {
		select {
		case p := <-pics:
			got = append(got, p)
		case <-deadline:
			t.Fatalf("%d of %d pictures encoded", len(got), len(frames))
		}
	}
	if asked.Load() != 1 {
		t.Errorf("%d keyframe requests for a stream that began with an inter frame, want 1", asked.Load())
	}
	for i, p := range got {
		if want := t0.Add(time.Duration(i+1) * 33 * time.Millisecond); !p.wall.Equal(want) {
			t.Errorf("picture %d at %v, want the source's %v", i, p.wall.Sub(t0), want.Sub(t0))
		}
	}
	pic := lastPicture(t, got, 160, 120)
	if px, want := pic.At(80, 60), vcodec.RGB(255, 0, 0); !near(px, want) {
		t.Errorf("restreamed picture: %v, want red %v", px, want)
	}
}

// Placed users are drawn in zOrder: a (z 1) covers the whole picture and
// hides b (z 0) under it; c is listed but absent and has no cell.
func TestCompositorPlacedZOrder(t *testing.T) {
	mode, _ := LookupMode(1) // 320x180
	users := []LayoutUser{
		{UID: "a", Placed: true, X: 0, Y: 0, W: 320, H: 180, Z: 1, Crop: true},
		{UID: "b", Placed: true, X: 0, Y: 0, W: 160, H: 90},
		{UID: "c", Placed: true, X: 160, Y: 90, W: 160, H: 90, Z: 5},
	}
	if err := ValidateLayout(mode, users); err != nil {
		t.Fatal(err)
	}
	pics := make(chan encodedPic, 1024)
	c := newCompositor(slog.New(slog.NewTextHandler(io.Discard, nil)), &mode, users, func(e encodedPic) bool {
		pics <- e
		return true
	})
	present := []presence{{uid: "b"}, {uid: "a", hasVideo: true}}
	canvas, _ := vcodec.NewCanvas(320, 180)
	c.canvas = canvas
	cells := c.layout(present)
	c.canvas = nil
	canvas.Close()
	if len(cells) != 2 || cells[0].uid != "b" || cells[1].uid != "a" {
		t.Fatalf("cells %+v, want b then a (z order), no c", cells)
	}
	go c.run()
	defer func() { c.stop(); <-c.done }()
	c.setPresence(present)
	c.open()
	for i, f := range vp8Frames(t) {
		c.push(srcFrame{uid: "a", codec: "VP8", data: f, key: i == 0, arrival: time.Now()})
	}
	var got []encodedPic
	deadline := time.After(10 * time.Second)
	for len(got) < 8 {
		select {
		case p := <-pics:
			got = append(got, p)
		case <-deadline:
			t.Fatalf("%d pictures encoded", len(got))
		}
	}
	pic := lastPicture(t, got, 320, 180)
	red := vcodec.RGB(255, 0, 0)
	for _, pt := range [][2]int{{80, 45}, {240, 135}, {4, 4}} {
		if px := pic.At(pt[0], pt[1]); !near(px, red) {
			t.Errorf("at %v: %v, want a's red on top (cropped to fill)", pt, px)
		}
	}
}
