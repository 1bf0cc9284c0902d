package push

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomctl/roomctl/push/vcodec"
)

// Transcoded video. The media goroutine reassembles each source's pictures
// and hands them to the compositor's goroutine, which decodes them
// (libavcodec), draws them onto a canvas (libswscale) and encodes the
// canvas (libx264); the access units come back to the media goroutine as
// if they were an H.264 source's. The media goroutine never waits for the
// compositor: its queue is bounded, and a picture that does not fit is
// dropped (counted, logged) and that source restarts at its next keyframe.
//
// A single restream (no transcoding mode) keeps the source's size (its
// first picture's) and timing: every decoded picture is encoded at once,
// with the source's timestamp. A transcoding task encodes the canvas at
// the mode's size and frame rate on a ticker, with wall-clock timestamps,
// whatever its sources do; a tick that comes while the encoder is still
// busy is skipped and counted (skipped).

// keyEvery is the fixed GOP in time: the encoder is asked for an IDR when
// the last one is this old (in a task, x264's keyint does the same).
const keyEvery = 2 * time.Second

// compQueue is the compositor's input queue, in pictures.
const compQueue = 32

// Colours of the canvas.
var (
	background = vcodec.Black
	// noVideo is the cell of a user who publishes no video (or whose
	// first picture has not been decoded yet): dark grey, so that it can
	// be told from the background.
	noVideo = vcodec.RGB(40, 40, 40)
)

// srcFrame is one compressed picture of a source.
type srcFrame struct {
	uid     string
	codec   string // "VP8" or "H264"
	data    []byte
	key     bool
	wall    time.Time // the picture's time on the push's clock
	arrival time.Time // when its last packet arrived
	// requestKeyframe asks the source for a keyframe.
	requestKeyframe func()
}

// encodedPic is one access unit of the output.
type encodedPic struct {
	annexB  []byte
	key     bool
	wall    time.Time
	arrival time.Time
}

// presence is a user who publishes in the room, for the layout.
type presence struct {
	uid      string
	hasVideo bool
}

// compositor is the transcoding goroutine's state.
type compositor struct {
	log  *slog.Logger
	mode *Mode // nil: single restream
	// users are the listed users, in order; empty: every publisher.
	users []LayoutUser
	in    chan srcFrame
	// out hands an access unit to the media goroutine; false once it
	// stopped.
	out func(encodedPic) bool

	quit  chan struct{}
	done  chan struct{}
	start chan struct{} // closed when the timeline opens (task only)

	forceKey atomic.Bool
	// dropped counts source pictures that did not fit in the queue;
	// skipped, a task's ticks that passed while the encoder was busy.
	dropped atomic.Int64
	skipped atomic.Int64
	encoded atomic.Int64
	// When "behind" was last logged: by the compositor's goroutine
	// (skipped ticks) and by the media goroutine (a full queue).
	lastSkipLog, lastQueuedLog time.Time

	mu       sync.Mutex
	present  []presence
	presGen  uint64
	startOne sync.Once

	// Goroutine-owned.
	srcs    map[string]*compSource
	canvas  *vcodec.Canvas
	enc     *vcodec.Encoder
	epoch   time.Time
	lastKey int64 // pts of the last IDR, ms
	hadKey  bool
	lastPTS int64
	hadPTS  bool
	pkts    []vcodec.Packet
	gen     uint64 // presGen drawn
	dirty   bool
}

// compSource is a source's decoder and latest picture.
type compSource struct {
	uid     string
	codec   string
	dec     *vcodec.Decoder
	frame   *vcodec.Frame // latest decoded picture; nil before the first
	scaler  vcodec.Scaler
	needKey bool
	lastPLI time.Time
	arrival time.Time
}

func newCompositor(log *slog.Logger, mode *Mode, users []LayoutUser, out func(encodedPic) bool) *compositor {
	return &compositor{
		log: log, mode: mode, users: users, out: out,
		in:    make(chan srcFrame, compQueue),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		start: make(chan struct{}),
		srcs:  map[string]*compSource{},
	}
}

// push queues a picture without waiting; false if the queue is full (the
// picture is dropped and counted).
func (c *compositor) push(f srcFrame) bool {
	select {
	case c.in <- f:
		return true
	default:
		c.dropped.Add(1)
		return false
	}
}

// setPresence tells the compositor who publishes, in the order they came.
func (c *compositor) setPresence(p []presence) {
	c.mu.Lock()
	c.present = p
	c.presGen++
	c.mu.Unlock()
}

// open starts a task's ticker (the timeline opened).
func (c *compositor) open() { c.startOne.Do(func() { close(c.start) }) }

// stop ends the goroutine; it does not wait (the goroutine may be handing
// over an access unit to the media goroutine that stops at the same time).
func (c *compositor) stop() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
}

func (c *compositor) run() {
	defer close(c.done)
	defer c.free()
	if c.mode == nil {
		c.runSingle()
		return
	}
	select {
	case <-c.quit:
		return
	case <-c.start:
	}
	if err := c.openCanvas(c.mode.Width, c.mode.Height, c.mode.FPS, c.mode.Kbps*1000, 2*c.mode.FPS); err != nil {
		c.log.Error("transcoding cannot start", "err", err)
		return
	}
	period := time.Second / time.Duration(c.mode.FPS)
	c.epoch = time.Now()
	tick := time.NewTicker(period)
	defer tick.Stop()
	frames := int64(0) // the tick last encoded
	for {
		select {
		case <-c.quit:
			return
		case f := <-c.in:
			c.decode(f)
		case now := <-tick.C:
			// Ticks the encoder missed (time.Ticker drops them) count as
			// skipped pictures.
			due := int64((now.Sub(c.epoch) + period/2) / period) // this tick's number
			if skipped := due - frames - 1; skipped > 0 {
				c.skipped.Add(skipped)
				logEvery(&c.lastSkipLog, now, func() {
					c.log.Warn("the encoder is behind: pictures skipped", "skipped", c.skipped.Load(), "encoded", c.encoded.Load())
				})
			}
			frames = due
			c.compose()
			c.encode(now.Sub(c.epoch).Milliseconds(), now, c.latestArrival())
		}
	}
}

// runSingle encodes every picture of the one source as it is decoded.
func (c *compositor) runSingle() {
	for {
		select {
		case <-c.quit:
			return
		case f := <-c.in:
			s := c.decode(f)
			if s == nil || s.frame == nil {
				continue
			}
			if c.canvas == nil {
				w, h := s.frame.Width()&^1, s.frame.Height()&^1
				// About 0.1 bit per pixel at 30 fps: 920 kb/s at 640x480.
				rate := min(6_000_000, max(150_000, w*h*3))
				if err := c.openCanvas(w, h, 30, rate, 10*30); err != nil {
					c.log.Error("transcoding cannot start", "err", err)
					return
				}
				c.epoch = f.wall
				c.log.Info("transcoding to H.264", "width", w, "height", h, "kbps", rate/1000)
			}
			src, dst := fit(s.frame.Width(), s.frame.Height(), rect{0, 0, c.canvas.Width(), c.canvas.Height()}, false)
			if dst.w != c.canvas.Width() || dst.h != c.canvas.Height() {
				c.canvas.Fill(0, 0, c.canvas.Width(), c.canvas.Height(), background)
			}
			if err := s.scaler.DrawPart(s.frame, src.x, src.y, src.w, src.h, c.canvas, dst.x, dst.y, dst.w, dst.h); err != nil {
				c.log.Warn("scaling a picture", "err", err)
				continue
			}
			c.encode(f.wall.Sub(c.epoch).Milliseconds(), f.wall, f.arrival)
		}
	}
}

func (c *compositor) openCanvas(w, h, fps, rate, gop int) error {
	canvas, err := vcodec.NewCanvas(w, h)
	if err != nil {
		return err
	}
	threads := 1
	if w*h > 1280*720 {
		threads = 2
	}
	enc, err := vcodec.NewEncoder(vcodec.EncoderOptions{Width: w, Height: h, FPS: fps, BitRate: rate, GOP: gop, Threads: threads})
	if err != nil {
		canvas.Close()
		return fmt.Errorf("H.264 encoder: %w", err)
	}
	c.canvas, c.enc = canvas, enc
	return nil
}

// decode decodes a picture into its source's latest; nil if the source is
// not drawn.
func (c *compositor) decode(f srcFrame) *compSource {
	s := c.srcs[f.uid]
	if s != nil && s.codec != f.codec {
		c.drop(s)
		s = nil
	}
	if s == nil {
		dec, err := vcodec.NewDecoder(f.codec)
		if err != nil {
			c.log.Error("video decoder", "uid", f.uid, "err", err)
			return nil
		}
		s = &compSource{uid: f.uid, codec: f.codec, dec: dec, needKey: true}
		c.srcs[f.uid] = s
	}
	if s.needKey && !f.key {
		c.askKey(s, f)
		return s
	}
	fr, err := s.dec.Decode(f.data)
	if err != nil {
		c.log.Debug("video decode", "uid", f.uid, "err", err)
		s.needKey = true
		c.askKey(s, f)
		return s
	}
	s.needKey = false
	if fr != nil {
		s.frame = fr
		s.arrival = f.arrival
		c.dirty = true
	}
	return s
}

func (c *compositor) askKey(s *compSource, f srcFrame) {
	now := time.Now()
	if f.requestKeyframe != nil && now.Sub(s.lastPLI) >= keyframeInterval {
		s.lastPLI = now
		f.requestKeyframe()
	}
}

func (c *compositor) drop(s *compSource) {
	s.scaler.Close()
	s.dec.Close()
	delete(c.srcs, s.uid)
}

// cell is a user's place in the picture.
type cell struct {
	uid  string
	r    rect
	z    int
	crop bool
}

// layout is where the users who publish go now.
func (c *compositor) layout(present []presence) []cell {
	in := map[string]bool{}
	for _, p := range present {
		in[p.uid] = true
	}
	var cells []cell
	if len(c.users) > 0 {
		var grid []LayoutUser
		for _, u := range c.users {
			switch {
			case !in[u.UID]:
			case u.Placed:
				cells = append(cells, cell{uid: u.UID, r: rect{u.X, u.Y, u.W, u.H}, z: u.Z, crop: u.Crop})
			default:
				grid = append(grid, u)
			}
		}
		for i, r := range gridCells(len(grid), c.canvas.Width(), c.canvas.Height()) {
			cells = append(cells, cell{uid: grid[i].UID, r: r, z: grid[i].Z, crop: grid[i].Crop})
		}
		sortByZ(cells, func(x cell) int { return x.z })
		return cells
	}
	for i, r := range gridCells(len(present), c.canvas.Width(), c.canvas.Height()) {
		cells = append(cells, cell{uid: present[i].uid, r: r})
	}
	return cells
}

// compose redraws the canvas when a picture or the layout changed.
func (c *compositor) compose() {
	c.mu.Lock()
	present, gen := c.present, c.presGen
	c.mu.Unlock()
	if gen != c.gen {
		c.gen, c.dirty = gen, true
		video := map[string]bool{}
		for _, p := range present {
			video[p.uid] = p.hasVideo
		}
		for uid, s := range c.srcs {
			if !video[uid] {
				c.drop(s) // its video ended: the cell turns grey
			}
		}
	}
	if !c.dirty {
		return
	}
	c.dirty = false
	c.canvas.Fill(0, 0, c.canvas.Width(), c.canvas.Height(), background)
	for _, cl := range c.layout(present) {
		s := c.srcs[cl.uid]
		if s == nil || s.frame == nil {
			c.canvas.Fill(cl.r.x, cl.r.y, cl.r.w, cl.r.h, noVideo)
			continue
		}
		src, dst := fit(s.frame.Width(), s.frame.Height(), cl.r, cl.crop)
		if !cl.crop {
			c.canvas.Fill(cl.r.x, cl.r.y, cl.r.w, cl.r.h, background)
		}
		if err := s.scaler.DrawPart(s.frame, src.x, src.y, src.w, src.h, c.canvas, dst.x, dst.y, dst.w, dst.h); err != nil {
			c.log.Warn("scaling a picture", "uid", cl.uid, "err", err)
		}
	}
}

// latestArrival is when the newest picture on the canvas arrived.
func (c *compositor) latestArrival() time.Time {
	var t time.Time
	for _, s := range c.srcs {
		if s.arrival.After(t) {
			t = s.arrival
		}
	}
	return t
}

// encode encodes the canvas as the picture at pts ms and hands the access
// units over. An IDR is asked for every keyEvery of timestamps (x264's
// keyint, in pictures, does the same for a task while no tick is skipped;
// when the encoder falls behind, the GOP stays 2 s long in time, which
// is what players joining the stream wait for), and when an output needs
// one (forceKey).
func (c *compositor) encode(pts int64, wall, arrival time.Time) {
	if c.hadPTS && pts <= c.lastPTS {
		pts = c.lastPTS + 1 // x264 wants increasing timestamps
	}
	c.lastPTS, c.hadPTS = pts, true
	key := c.forceKey.Swap(false)
	if !c.hadKey || time.Duration(pts-c.lastKey)*time.Millisecond >= keyEvery {
		key = true
	}
	var err error
	c.pkts, err = c.enc.Encode(c.pkts[:0], c.canvas, pts, key)
	if err != nil {
		c.log.Warn("H.264 encoding", "err", err)
		return
	}
	for _, p := range c.pkts {
		if p.Key {
			c.lastKey, c.hadKey = p.PTS, true
		}
		c.encoded.Add(1)
		if !c.out(encodedPic{annexB: p.Data, key: p.Key, wall: wall, arrival: arrival}) {
			return
		}
	}
}

// logEvery calls log unless it was called less than 5 s before now
// (*last keeps when).
func logEvery(last *time.Time, now time.Time, log func()) {
	if now.Sub(*last) >= 5*time.Second {
		*last = now
		log()
	}
}

func (c *compositor) free() {
	for _, s := range c.srcs {
		c.drop(s)
	}
	if c.enc != nil {
		c.enc.Close()
	}
	if c.canvas != nil {
		c.canvas.Close()
	}
}
