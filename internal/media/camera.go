package media

import (
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/driver/camera"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/prop"
)

// cameraReadTries is how many reads in a row may fail before a camera
// whose device node is still there counts as gone. A read fails after the
// driver's own timeout (PION_MEDIADEVICES_CAMERA_READ_TIMEOUT, 5 s by default)
// or at once with ENODEV when the camera was unplugged.
const cameraReadTries = 3

// openCamera opens the camera id ("" for the first one) through
// mediadevices' camera driver (V4L2) in the mode nearest to want.
//
// The driver registers the cameras present when the process starts. A
// camera plugged in later is found by a rescan (camera.Initialize), which
// also drops mediadevices' VideoTest driver from its registry: a process
// publishing a camera cannot open the test source afterwards.
func openCamera(id string, want prop.Video) (*cameraSource, prop.Video, error) {
	driverMu.Lock()
	defer driverMu.Unlock()
	d, err := findCamera(id)
	if errors.Is(err, ErrNoDevice) && id != "" && cameraListed(id) {
		camera.Initialize()
		d, err = findCamera(id)
	}
	if err != nil {
		return nil, prop.Video{}, err
	}
	rec, ok := d.(driver.VideoRecorder)
	if !ok {
		return nil, prop.Video{}, fmt.Errorf("camera %q records no video", d.Info().Label)
	}
	if err := d.Open(); err != nil {
		return nil, prop.Video{}, fmt.Errorf("open camera %q: %w", d.Info().Label, err)
	}
	p, ok := pickCameraMode(d.Properties(), want)
	if !ok {
		_ = d.Close()
		return nil, prop.Video{}, fmt.Errorf("camera %q: no mode in a pixel format mediadevices decodes", d.Info().Label)
	}
	r, err := rec.VideoRecord(prop.Media{Video: p})
	if err != nil {
		// VideoRecord closes the driver itself when it fails.
		return nil, prop.Video{}, fmt.Errorf("record camera %q: %w", d.Info().Label, err)
	}
	node := "" // the label is NAME;NODE
	if i := strings.LastIndex(d.Info().Label, camera.LabelSeparator); i >= 0 {
		node = "/dev/" + d.Info().Label[i+len(camera.LabelSeparator):]
	}
	src := &cameraSource{
		videoDriverSource: &videoDriverSource{driverSource: driverSource{d: d}, r: r},
		node:              node, ended: make(chan struct{}),
	}
	return src, p, nil
}

// cameraListed reports whether ListCameras sees the camera id.
func cameraListed(id string) bool {
	return slices.ContainsFunc(ListCameras(), func(c Camera) bool { return c.ID == id })
}

// findCamera returns the registered camera labelled id, or for "" the
// first one by label. Call with driverMu held.
func findCamera(id string) (driver.Driver, error) {
	ds := driver.GetManager().Query(driver.FilterAnd(
		driver.FilterVideoRecorder(), driver.FilterDeviceType(driver.Camera),
		func(d driver.Driver) bool { return d.Info().Label != videoTestLabel },
	))
	sort.Slice(ds, func(i, j int) bool { return ds[i].Info().Label < ds[j].Info().Label })
	for _, d := range ds {
		if id != "" && d.Info().Label != id {
			continue
		}
		if d.Status() != driver.StateClosed {
			return nil, fmt.Errorf("%w: camera %q is %s", ErrDeviceBusy, d.Info().Label, d.Status())
		}
		return d, nil
	}
	if id == "" {
		return nil, fmt.Errorf("%w: the machine has no camera", ErrNoDevice)
	}
	return nil, fmt.Errorf("%w: no camera %q (`roomctl devices` lists their ids)", ErrNoDevice, id)
}

// pickCameraMode chooses among a camera's modes the one nearest to want:
// the picture size first (by area ratio), then the frame rate, and raw
// formats over MJPEG, which costs a decode per frame. Modes in formats
// mediadevices cannot decode, or without a size, are skipped.
func pickCameraMode(modes []prop.Media, want prop.Video) (prop.Video, bool) {
	best, bestCost := prop.Video{}, math.Inf(1)
	for _, m := range modes {
		v := m.Video
		if v.Width <= 0 || v.Height <= 0 {
			continue
		}
		if _, err := frame.NewDecoder(v.FrameFormat); err != nil {
			continue
		}
		cost := 10 * math.Abs(math.Log(float64(v.Width*v.Height)/float64(want.Width*want.Height)))
		if v.FrameRate > 0 && want.FrameRate > 0 {
			cost += math.Abs(float64(v.FrameRate-want.FrameRate)) / float64(want.FrameRate)
		}
		if v.FrameFormat == frame.FormatMJPEG {
			cost += 0.01
		}
		if cost < bestCost {
			best, bestCost = v, cost
		}
	}
	return best, !math.IsInf(bestCost, 1)
}

// cameraSource is an opened camera that ends its track when the camera
// goes away: reads keep failing, or its device node is gone.
type cameraSource struct {
	*videoDriverSource
	node    string // /dev/videoN, "" if unknown
	ended   chan struct{}
	endOnce sync.Once
}

// Read retries a failed read up to cameraReadTries times while the device
// node exists (mediadevices ends the track at the first error it sees),
// then reports io.EOF and closes ended.
func (c *cameraSource) Read() (image.Image, func(), error) {
	for try := 1; ; try++ {
		img, release, err := c.videoDriverSource.Read()
		if err == nil {
			return img, release, nil
		}
		if c.isClosed() {
			return nil, func() {}, io.EOF // Close: the owner ended it
		}
		if try >= cameraReadTries || !nodeExists(c.node) {
			c.endOnce.Do(func() { close(c.ended) })
			return nil, func() {}, io.EOF
		}
	}
}

// stopped reports that Read returns no more frames: the camera ended or
// was closed.
func (c *cameraSource) stopped() bool {
	select {
	case <-c.ended:
		return true
	default:
		return c.isClosed()
	}
}

func nodeExists(path string) bool {
	if path == "" {
		return true
	}
	_, err := os.Stat(path)
	return err == nil
}
