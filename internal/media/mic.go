package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
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
// briefly, then replaced by silence; until audio comes again (and before
// the first), frames are silence at once, so the track keeps its pace; a
// buffer grown past 120 ms is cut back to 40 ms.
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
	giveUp time.Duration

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
	micGiveUpAfter  = 3 * time.Second // listing failing and no audio
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
	mctx, err := newAudioContext()
	if err != nil {
		return nil, fmt.Errorf("audio context: %w", err)
	}
	m := &Mic{buf: newMicBuffer(time.Now), mctx: mctx, stop: make(chan struct{}), giveUp: micGiveUpAfter}
	if err := m.open(id); err != nil {
		_ = mctx.Uninit()
		mctx.Free()
		return nil, err
	}
	m.wg.Add(1)
	go m.watch(m.listed)
	return m, nil
}

// open picks the audio input id on the capture's own context and starts it.
func (m *Mic) open(id string) error {
	infos, err := m.mctx.Devices(malgo.Capture)
	if err != nil {
		return fmt.Errorf("list audio inputs: %w", err)
	}
	if m.dev, err = pickMic(audioDevices(infos), id); err != nil {
		return err
	}
	i := slices.IndexFunc(infos, func(in malgo.DeviceInfo) bool { return in.ID.String() == m.dev.ID })
	cfg := malgo.DefaultDeviceConfig(malgo.Capture)
	// Pointer copies the id into C memory that nobody frees: a few hundred
	// bytes per OpenMic, once per process.
	cfg.Capture.DeviceID = infos[i].ID.Pointer()
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
// stream can take up to 2 s to start), and the samples dropped because it was
// ahead.
func (m *Mic) Glitches() (underruns, droppedSamples int64) {
	return m.buf.underruns.Load(), m.buf.dropped.Load()
}

// StartUp is how long the device took from opening to its first audio;
// ok is false while none came.
func (m *Mic) StartUp() (d time.Duration, ok bool) {
	m.buf.mu.Lock()
	defer m.buf.mu.Unlock()
	return m.buf.firstAudio.Sub(m.buf.created), m.buf.started
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

// listed reports whether the device is listed now, asking the capture's
// own context: a fresh one would fall back to ALSA when PulseAudio does not
// answer (a restart, its client limit) and list other devices without an
// error. The watchdog is the only caller once open has returned, and a
// device runs on a PulseAudio connection of its own, so the context's
// listing (unsafe only against itself) is free to use.
func (m *Mic) listed(id string) (bool, error) {
	infos, err := m.mctx.Devices(malgo.Capture)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(audioDevices(infos), func(d AudioDevice) bool { return d.ID == id }), nil
}

// watch ends the capture when the device is no longer listed, when the
// listing has failed and no audio came for giveUp, or when it floods; and
// stops the device then.
func (m *Mic) watch(present func(string) (bool, error)) {
	defer m.wg.Done()
	t := time.NewTicker(micWatchTick)
	defer t.Stop()
	var lastCheck, failingSince time.Time
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
		silent := now.Sub(m.buf.lastPush())
		if silent < micStaleAfter && now.Sub(lastCheck) < micCheckEvery {
			continue
		}
		lastCheck = now
		ok, err := present(m.dev.ID)
		switch {
		case err == nil && !ok:
		case err == nil:
			failingSince = time.Time{}
			continue
		case failingSince.IsZero():
			failingSince = now
			continue
		case silent < m.giveUp || now.Sub(failingSince) < m.giveUp:
			continue // a failed listing alone proves nothing
		}
		m.buf.end(io.EOF)
		m.halt()
		return
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

	mu         sync.Mutex
	started    bool // audio came at least once
	created    time.Time
	firstAudio time.Time // when it first came
	starved    bool      // a wait for audio ran out; cleared by the next push
	samples    []float32
	err        error // set once: io.EOF (gone), errMicFlood, ErrClosed
	winStart   time.Time
	winCount   int
}

func newMicBuffer(now func() time.Time) *micBuffer {
	b := &micBuffer{now: now, ready: make(chan struct{}, 1), created: now()}
	b.last.Store(now().UnixNano())
	return b
}

func (b *micBuffer) lastPush() time.Time { return time.Unix(0, b.last.Load()) }

// pushF32LE appends frames little-endian float32 mono samples.
func (b *micBuffer) pushF32LE(p []byte, frames int) {
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
	if !b.started {
		b.firstAudio = now
	}
	b.started, b.starved = true, false
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
			b.take(frame)
			b.mu.Unlock()
			return nil
		case b.err != nil:
			b.mu.Unlock()
			return io.EOF
		case !b.started || b.starved:
			// No audio yet (a stream starting), or none since the last
			// wait ran out: silence at once, so that the track keeps its
			// pace instead of slowing to one frame per wait.
			b.takePadded(frame)
			b.mu.Unlock()
			return nil
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
			if len(b.samples) >= len(frame) { // came as the wait ran out
				b.take(frame)
			} else {
				b.starved = true
				b.takePadded(frame)
			}
			b.mu.Unlock()
			return nil
		}
	}
}

// take moves the first len(frame) samples (or all there are) into frame,
// padding with silence. Call with mu held.
func (b *micBuffer) take(frame []float32) {
	k := copy(frame, b.samples)
	clear(frame[k:])
	b.samples = append(b.samples[:0], b.samples[k:]...)
}

// takePadded is take for a frame the device was too late for: counted as
// an underrun once the device has started. Call with mu held.
func (b *micBuffer) takePadded(frame []float32) {
	if b.started {
		b.underruns.Add(1)
	}
	b.take(frame)
}
