package media

import (
	"errors"
	"image"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

func mode(w, h int, fps float32, f frame.Format) prop.Media {
	return prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: fps, FrameFormat: f}}
}

func TestPickCameraMode(t *testing.T) {
	want := prop.Video{Width: 640, Height: 480, FrameRate: 30}
	for _, c := range []struct {
		name  string
		modes []prop.Media
		want  prop.Video
		ok    bool
	}{
		{"exact size wins over a bigger one",
			[]prop.Media{mode(1280, 720, 30, frame.FormatYUYV), mode(640, 480, 30, frame.FormatYUYV)},
			mode(640, 480, 30, frame.FormatYUYV).Video, true},
		{"nearest frame rate at the size",
			[]prop.Media{mode(640, 480, 5, frame.FormatYUYV), mode(640, 480, 25, frame.FormatYUYV), mode(640, 480, 60, frame.FormatYUYV)},
			mode(640, 480, 25, frame.FormatYUYV).Video, true},
		{"raw over MJPEG",
			[]prop.Media{mode(640, 480, 30, frame.FormatMJPEG), mode(640, 480, 30, frame.FormatNV12)},
			mode(640, 480, 30, frame.FormatNV12).Video, true},
		{"MJPEG when that is all",
			[]prop.Media{mode(1920, 1080, 30, frame.FormatMJPEG)},
			mode(1920, 1080, 30, frame.FormatMJPEG).Video, true},
		{"undecodable formats and sizeless modes skipped",
			[]prop.Media{mode(640, 480, 30, frame.Format("XXXX")), mode(0, 0, 30, frame.FormatYUYV), mode(320, 240, 30, frame.FormatI420)},
			mode(320, 240, 30, frame.FormatI420).Video, true},
		{"no usable mode", []prop.Media{mode(640, 480, 30, frame.Format("XXXX"))}, prop.Video{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := pickCameraMode(c.modes, want)
			if ok != c.ok || got != c.want {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, c.want, c.ok)
			}
		})
	}
}

// A camera that fails its reads ends its track (Ended closed, io.EOF to
// mediadevices) after cameraReadTries, or at once when its node is gone;
// reads that recover in time keep the track.
func TestCameraSourceEnds(t *testing.T) {
	node := filepath.Join(t.TempDir(), "video9")
	if err := os.WriteFile(node, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	errGone := errors.New("no such device")
	img := image.NewGray(image.Rect(0, 0, 2, 2))
	newCam := func(results ...error) (*cameraSource, *int) {
		calls := 0
		r := video.ReaderFunc(func() (image.Image, func(), error) {
			i := calls
			calls++
			if i < len(results) && results[i] != nil {
				return nil, func() {}, results[i]
			}
			return img, func() {}, nil
		})
		return &cameraSource{videoDriverSource: &videoDriverSource{r: r}, node: node, ended: make(chan struct{})}, &calls
	}
	isEnded := func(c *cameraSource) bool {
		select {
		case <-c.ended:
			return true
		default:
			return false
		}
	}

	c, calls := newCam(errGone, errGone, nil)
	if got, _, err := c.Read(); err != nil || got != img || *calls != 3 || isEnded(c) {
		t.Fatalf("recovering camera: %v %v after %d reads, ended %v", got, err, *calls, isEnded(c))
	}

	c, calls = newCam(errGone, errGone, errGone, nil)
	if _, _, err := c.Read(); !errors.Is(err, io.EOF) || *calls != cameraReadTries || !isEnded(c) {
		t.Fatalf("failing camera: %v after %d reads, ended %v", err, *calls, isEnded(c))
	}

	if err := os.Remove(node); err != nil {
		t.Fatal(err)
	}
	c, calls = newCam(errGone, nil)
	if _, _, err := c.Read(); !errors.Is(err, io.EOF) || *calls != 1 || !isEnded(c) {
		t.Fatalf("unplugged camera: %v after %d reads, ended %v", err, *calls, isEnded(c))
	}
}

func TestFindCameraNone(t *testing.T) {
	if len(ListCameras()) > 0 {
		t.Skip("this machine has a camera")
	}
	driverMu.Lock()
	defer driverMu.Unlock()
	for _, id := range []string{"", "video0;video0"} {
		if _, err := findCamera(id); !errors.Is(err, ErrNoDevice) {
			t.Errorf("findCamera(%q): %v, want ErrNoDevice", id, err)
		}
	}
}
