package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gen2brain/malgo"
)

// A Mic captures 48 kHz mono PCM from an audio input through miniaudio
// (malgo), the backend under mediadevices' microphone driver. That driver
// itself is not used: its Initialize panics without an audio context and
// registers every device again on each call, and its first read of ALSA's
// null device panics.
//
// Mic is a PCMReader. The device's clock delivers 20-ms periods; the
// reader is paced by the wall clock (NewPCMSource), and a small buffer
// between the two absorbs jitter and drift: a late period is waited for
// briefly, then replaced by silence; a buffer grown past 120 ms is cut
// back to 40 ms.
//
// When the device goes away, ReadPCM returns io.EOF, which ends the track
// (audio_track_end). Linux tells nobody: a watchdog asks miniaudio every
// second whether the device is still listed, and at once when no audio
// arrived for half a second. PulseAudio moves a stream whose source is
// unloaded to another source when module-rescue-streams is loaded; the
// listing check ends the track anyway, as the browser SDK would.
type Mic struct {
	dev    AudioDevice
	buf    *micBuffer
	mctx   *malgo.AllocatedContext
	device *malgo.Device
	halt   func() // stops the device; a callback cannot stop its own

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Mic buffer limits, in samples (mono, 48 kHz).
const (
	micMaxBuffered  = 6 * PCMFrameSamples // 120 ms: cut back beyond this
	micKeepBuffered = 2 * PCMFrameSamples // 40 ms kept by a cut
	micUnderrunWait = 60 * time.Millisecond
	micStaleAfter   = 500 * time.Millisecond
	micCheckEvery   = time.Second
	micWatchTick    = 250 * time.Millisecond
	// micFloodFactor × real time over a second is no clock-driven device.
	micFloodFactor = 10
)

// errMicFlood ends the track of a device that delivers audio far faster
// than real time (a pseudo device such as ALSA's null).
var errMicFlood = errors.New("audio input delivers audio much faster than real time: not a capture device")

// OpenMic opens the audio input id ("" for the default one) and starts
// capturing. Errors wrapping ErrNoDevice mean no such device.
func OpenMic(id string) (*Mic, error) {
	if err := refuseNull(id); err != nil {
		return nil, err
	}
	caps, _, err := ListAudioDevices()
	if err != nil {
		return nil, err
	}
	d, err := pickMic(caps, id)
	if err != nil {
		return nil, err
	}
	mctx, err := malgo.InitContext(nil, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("audio context: %w", err)
	}
	m := &Mic{dev: d, buf: newMicBuffer(time.Now), mctx: mctx, stop: make(chan struct{})}
	if err := m.open(); err != nil {
		_ = mctx.Uninit()
		mctx.Free()
		return nil, err
	}
	m.wg.Add(1)
	go m.watch(presentNow)
	return m, nil
}

func (m *Mic) open() error {
	infos, err := m.mctx.Devices(malgo.Capture)
	if err != nil {
		return fmt.Errorf("list audio inputs: %w", err)
	}
	var id *malgo.DeviceID
	for i := range infos {
		if infos[i].ID.String() == m.dev.ID {
			id = &infos[i].ID
			break
		}
	}
	if id == nil {
		return fmt.Errorf("%w: audio input %q went away", ErrNoDevice, m.dev.ID)
	}
	cfg := malgo.DefaultDeviceConfig(malgo.Capture)
	cfg.Capture.DeviceID = id.Pointer()
	cfg.Capture.Format = malgo.FormatF32
	cfg.Capture.Channels = 1
	cfg.SampleRate = PCMSampleRate
	cfg.PeriodSizeInMilliseconds = uint32(pcmFrame / time.Millisecond)
	dev, err := malgo.InitDevice(m.mctx.Context, cfg, malgo.DeviceCallbacks{
		Data: func(_, in []byte, frames uint32) { m.buf.pushF32LE(in, int(frames)) },
	})
	if err != nil {
		return fmt.Errorf("open audio input %q (%s): %w", m.dev.ID, m.dev.Name, err)
	}
	if err := dev.Start(); err != nil {
		dev.Uninit()
		return fmt.Errorf("start audio input %q: %w", m.dev.ID, err)
	}
	m.device = dev
	m.halt = func() { _ = dev.Stop() }
	return nil
}

// Glitches counts the frames padded with silence because the device was
// late (not counting the silence before its first audio: a PulseAudio
// stream takes 0.5-1 s to start), and the samples dropped because it was
// ahead.
func (m *Mic) Glitches() (underruns, droppedSamples int64) {
	return m.buf.underruns.Load(), m.buf.dropped.Load()
}

// Device is the audio input being captured.
func (m *Mic) Device() AudioDevice { return m.dev }

// ReadPCM fills frame (PCMFrameSamples mono samples) with the next 20 ms.
func (m *Mic) ReadPCM(frame []float32) error { return m.buf.read(frame, m.stop) }

// Close stops capturing; ReadPCM returns ErrClosed from then on.
func (m *Mic) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
		m.buf.end(ErrClosed)
		m.device.Uninit()
		m.closeErr = m.mctx.Uninit()
		m.mctx.Free()
	})
	return m.closeErr
}

// presentNow reports whether the audio input id is listed now.
func presentNow(id string) (bool, error) {
	caps, _, err := ListAudioDevices()
	if err != nil {
		return false, err
	}
	for _, d := range caps {
		if d.ID == id {
			return true, nil
		}
	}
	return false, nil
}

// watch ends the capture when the device is gone or floods, and stops the
// device then.
func (m *Mic) watch(present func(string) (bool, error)) {
	defer m.wg.Done()
	t := time.NewTicker(micWatchTick)
	defer t.Stop()
	lastCheck := time.Now()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		if m.buf.ended() {
			m.halt()
			return
		}
		now := time.Now()
		if now.Sub(m.buf.lastPush()) < micStaleAfter && now.Sub(lastCheck) < micCheckEvery {
			continue
		}
		lastCheck = now
		// A failed listing (the audio server restarting) proves nothing.
		if ok, err := present(m.dev.ID); err == nil && !ok {
			m.buf.end(io.EOF)
			m.halt()
			return
		}
	}
}

// micBuffer passes PCM from the device's callback thread to ReadPCM.
type micBuffer struct {
	now   func() time.Time
	ready chan struct{} // poked on every push and on end
	last  atomic.Int64  // UnixNano of the last push

	// Counters, for logs and benchmarks: frames padded with silence, and
	// samples dropped by latency cuts.
	underruns atomic.Int64
	dropped   atomic.Int64

	mu       sync.Mutex
	started  bool // audio came at least once
	samples  []float32
	err      error // set once: io.EOF (gone), errMicFlood, ErrClosed
	winStart time.Time
	winCount int
}

func newMicBuffer(now func() time.Time) *micBuffer {
	b := &micBuffer{now: now, ready: make(chan struct{}, 1)}
	b.last.Store(now().UnixNano())
	return b
}

func (b *micBuffer) lastPush() time.Time { return time.Unix(0, b.last.Load()) }

// pushF32LE appends frames little-endian float32 mono samples.
func (b *micBuffer) pushF32LE(p []byte, frames int) {
	if b.ended() {
		return
	}
	frames = min(frames, len(p)/4)
	s := make([]float32, frames)
	for i := range s {
		s[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	b.push(s)
}

func (b *micBuffer) push(s []float32) {
	now := b.now()
	b.last.Store(now.UnixNano())
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return
	}
	if b.winStart.IsZero() {
		b.winStart = now
	}
	b.winCount += len(s)
	if el := now.Sub(b.winStart); el >= time.Second {
		if float64(b.winCount) > micFloodFactor*PCMSampleRate*el.Seconds() {
			b.err = errMicFlood
		}
		b.winStart, b.winCount = now, 0
	}
	b.started = true
	b.samples = append(b.samples, s...)
	if n := len(b.samples); n > micMaxBuffered {
		b.dropped.Add(int64(n - micKeepBuffered))
		b.samples = append(b.samples[:0], b.samples[n-micKeepBuffered:]...)
	}
	b.mu.Unlock()
	b.poke()
}

func (b *micBuffer) poke() {
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// end makes reads fail with err once what is buffered was read (io.EOF)
// or at once (other errors). The first end wins.
func (b *micBuffer) end(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
	b.poke()
}

func (b *micBuffer) ended() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err != nil
}

// read fills frame: from the buffer when a whole frame is there, else
// after waiting up to micUnderrunWait with what came, padded with silence.
func (b *micBuffer) read(frame []float32, stop <-chan struct{}) error {
	var timeout <-chan time.Time
	for {
		b.mu.Lock()
		n := len(b.samples)
		switch {
		case b.err != nil && !errors.Is(b.err, io.EOF):
			err := b.err
			b.mu.Unlock()
			return err
		case n >= len(frame) || (n > 0 && b.err != nil):
			k := copy(frame, b.samples)
			clear(frame[k:])
			b.samples = append(b.samples[:0], b.samples[k:]...)
			b.mu.Unlock()
			return nil
		case b.err != nil:
			b.mu.Unlock()
			return io.EOF
		}
		b.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(micUnderrunWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-b.ready:
		case <-stop:
			return ErrClosed
		case <-timeout:
			b.mu.Lock()
			if b.started { // not the device's start-up
				b.underruns.Add(1)
			}
			k := copy(frame, b.samples)
			clear(frame[k:])
			b.samples = b.samples[:0]
			b.mu.Unlock()
			return nil
		}
	}
}
