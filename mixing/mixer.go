package mixing

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/roomctl/roomctl/internal/dsp"
)

// FrameSamples is one 20-ms frame at 48 kHz mono, what ReadPCM fills.
const FrameSamples = SampleRate / 50

// IDs of the two mixing players, as the SDK's startAudioMixing id.
const (
	MaxPlayers = 2
)

// Errors of Play and of the run-time controls (Start, Stop, Pause,
// Resume, SetVolume, Seek, Position, Duration); internal/control names
// them with the SDK's error codes.
var (
	// ErrBadID: the id is not 0 or 1 (INVALID_MIX_ID).
	ErrBadID = errors.New("mixing id must be 0 or 1")
	// ErrPlaying: the id plays already; stop it first.
	ErrPlaying = errors.New("mixing id is already playing")
	// ErrNotPlaying: nothing plays as that id (MIX_AUDIO_NOT_EXISTED).
	ErrNotPlaying = errors.New("nothing is mixing as this id")
	// ErrInvalidVolume: a volume outside 0-100 (INVALID_VOLUME).
	ErrInvalidVolume = errors.New("volume must be 0 to 100")
	// ErrLoad: the file cannot be opened or decoded (SOURCE_LOAD_ERROR).
	ErrLoad = errors.New("cannot load the file")
	// ErrInvalidParam: a cycle, start or seek position out of range.
	ErrInvalidParam = errors.New("invalid mixing parameter")
	// ErrPaused: pausing a paused player; ErrNotPaused: resuming a
	// playing one.
	ErrPaused    = errors.New("mixing is paused already")
	ErrNotPaused = errors.New("mixing is not paused")
)

// The contract's names for the same errors.
var (
	ErrInvalidID = ErrBadID
	ErrBusy      = ErrPlaying
)

// PlayConfig is startAudioMixing's options for one file.
type PlayConfig struct {
	// Cycle is how many times the file plays; 0 means 1.
	Cycle int
	// Loop plays it forever (Cycle is ignored).
	Loop bool
	// PlayTime is where the first cycle starts in the file; later cycles
	// start at 0. At or past the end, the first cycle is empty.
	PlayTime time.Duration
	// Volume is a linear gain in percent, 0 to 100.
	Volume int
	// Replace leaves the microphone out of the mix while this file plays
	// (not while it is paused), as the SDK's replace.
	Replace bool
}

// Config configures a Mixer.
type Config struct {
	// MicTone is the frequency of the synthetic microphone in Hz; 0 is a
	// silent microphone.
	MicTone float64
	// MicLevel is the microphone tone's peak, 0 to 1; 0 means 0.25.
	MicLevel float64
	// Mic, when set, is a real microphone (media.Mic) read for every frame
	// instead of the tone: it fills the frame with 20 ms of mono 48 kHz
	// audio. When it fails (io.EOF: the device went away) the mixer goes
	// on with a silent microphone and calls OnMicEnded once.
	Mic PCMReader
	// Replace makes every file replace the microphone, as
	// PlayConfig.Replace does for one: before the first Play, after the
	// files have finished and when no Play succeeded, the microphone is
	// heard.
	Replace bool
	// OnMicEnded is called from ReadPCM, without the lock, when Mic ends.
	OnMicEnded func(err error)
	// OnPlayed is called when a file's first samples go into a frame;
	// OnFinished when its cycles are done or the mixer is closed while it
	// plays. Both are called from ReadPCM (or Stop/Close), never with the
	// mixer's lock held.
	OnPlayed   func(id int, fileName string)
	OnFinished func(id int)
}

type player struct {
	clip     *Clip
	pos      int
	cycles   int // left, counting the current one; <0 loops
	gain     float32
	replace  bool
	paused   bool
	started  bool
	finished bool
}

// replacing reports whether p keeps the microphone out of the mix now.
func (p *player) replacing() bool { return p != nil && p.replace && !p.finished && !p.paused }

// PCMReader is a source of 20-ms frames (media.PCMReader).
type PCMReader interface {
	ReadPCM(frame []float32) error
}

// Mixer sums a microphone and up to two clips into 20-ms frames.
// It is a media.PCMReader; Play and Stop may be called concurrently
// with ReadPCM.
type Mixer struct {
	cfg Config

	mu      sync.Mutex
	players [MaxPlayers]*player
	phase   float64 // of the mic tone, radians
	micEnd  bool    // Mic failed; read by ReadPCM only
	played  int     // Play calls that succeeded
	active  int
	done    chan struct{}
	closed  bool
}

// New returns a mixer that plays only the microphone until Play.
func New(cfg Config) (*Mixer, error) {
	if cfg.MicTone < 0 || cfg.MicTone >= SampleRate/2 {
		return nil, fmt.Errorf("mic tone %g Hz: want 0 to %d", cfg.MicTone, SampleRate/2)
	}
	if cfg.MicLevel == 0 {
		cfg.MicLevel = 0.25
	}
	if cfg.MicLevel < 0 || cfg.MicLevel > 1 {
		return nil, fmt.Errorf("mic level %g: want 0 to 1", cfg.MicLevel)
	}
	return &Mixer{cfg: cfg, done: make(chan struct{})}, nil
}

// Play starts clip c as player id with pc.
func (m *Mixer) Play(id int, c *Clip, pc PlayConfig) error {
	if id < 0 || id >= MaxPlayers {
		return ErrBadID
	}
	if pc.Volume < 0 || pc.Volume > 100 {
		return fmt.Errorf("%w: got %d", ErrInvalidVolume, pc.Volume)
	}
	if pc.Cycle < 0 || pc.PlayTime < 0 {
		return fmt.Errorf("%w: cycle %d (want >= 0), play time %s (want >= 0)", ErrInvalidParam, pc.Cycle, pc.PlayTime)
	}
	if c == nil || c.Len() == 0 {
		return fmt.Errorf("%w: empty clip", ErrInvalidParam)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.players[id]; p != nil && !p.finished {
		return ErrPlaying
	}
	cycles := max(pc.Cycle, 1)
	if pc.Loop {
		cycles = -1
	}
	start := int(pc.PlayTime.Milliseconds() * SampleRate / 1000)
	m.players[id] = &player{clip: c, pos: start, cycles: cycles, gain: float32(pc.Volume) / 100,
		replace: pc.Replace || m.cfg.Replace}
	m.played++
	m.active++
	return nil
}

// Done is closed the first time every file played so far has finished,
// once at least one was played. It stays closed: a file started after
// that (Start, Play) plays, but Done does not tell of its end.
func (m *Mixer) Done() <-chan struct{} { return m.done }

// ReadPCM fills frame (FrameSamples mono samples) with the next 20 ms.
func (m *Mixer) ReadPCM(frame []float32) error {
	var played, finished []int
	// The device read may wait (up to a frame or so): outside the lock.
	fromMic := m.cfg.Mic != nil && !m.micEnd
	if fromMic {
		if err := m.cfg.Mic.ReadPCM(frame); err != nil {
			m.micEnd, fromMic = true, false
			if m.cfg.OnMicEnded != nil {
				m.cfg.OnMicEnded(err)
			}
		}
	}
	m.mu.Lock()
	switch {
	case m.players[0].replacing() || m.players[1].replacing() || (!fromMic && (m.cfg.Mic != nil || m.cfg.MicTone == 0)):
		clear(frame)
	case !fromMic:
		w := 2 * math.Pi * m.cfg.MicTone / SampleRate
		for i := range frame {
			frame[i] = float32(m.cfg.MicLevel * math.Sin(m.phase))
			m.phase += w
		}
		m.phase = math.Mod(m.phase, 2*math.Pi)
	}
	for id, p := range m.players {
		if p == nil || p.finished || p.paused {
			continue
		}
		wrote := p.mix(frame)
		if wrote && !p.started {
			p.started = true
			played = append(played, id)
		}
		if p.finished {
			finished = append(finished, id)
			m.active--
		}
	}
	for i, v := range frame {
		frame[i] = dsp.Limit(v)
	}
	allDone := m.played > 0 && m.active == 0
	m.mu.Unlock()
	m.notify(played, finished)
	if allDone {
		m.closeDone()
	}
	return nil
}

// mix adds the player into frame and reports whether any sample was added.
func (p *player) mix(frame []float32) bool {
	wrote := false
	n := len(p.clip.Samples)
	for i := 0; i < len(frame); {
		if p.pos >= n {
			if p.cycles > 0 {
				p.cycles--
			}
			if p.cycles == 0 {
				p.finished = true
				return wrote
			}
			p.pos = 0
		}
		k := min(len(frame)-i, n-p.pos)
		for j, v := range p.clip.Samples[p.pos : p.pos+k] {
			frame[i+j] += v * p.gain
		}
		i += k
		p.pos += k
		wrote = true
	}
	// A cycle ending exactly at the frame's end finishes now, not one
	// frame late.
	if p.pos >= n && p.cycles == 1 {
		p.cycles = 0
		p.finished = true
	}
	return wrote
}

func (m *Mixer) notify(played, finished []int) {
	for _, id := range played {
		if m.cfg.OnPlayed != nil {
			m.cfg.OnPlayed(id, m.clipName(id))
		}
	}
	for _, id := range finished {
		if m.cfg.OnFinished != nil {
			m.cfg.OnFinished(id)
		}
	}
}

func (m *Mixer) clipName(id int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.players[id].clip.Name
}

func (m *Mixer) closeDone() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.done)
	}
}

// Stop ends player id as the SDK's stopAudioMixing: OnFinished is called
// once. ErrBadID, or ErrNotPlaying when nothing plays as id.
func (m *Mixer) Stop(id int) error {
	if id < 0 || id >= MaxPlayers {
		return ErrBadID
	}
	m.mu.Lock()
	p := m.players[id]
	stopped := p != nil && !p.finished
	if stopped {
		p.finished = true
		m.active--
	}
	allDone := m.played > 0 && m.active == 0
	m.mu.Unlock()
	if stopped {
		m.notify(nil, []int{id})
	}
	if allDone {
		m.closeDone()
	}
	if !stopped {
		return fmt.Errorf("%w: id %d", ErrNotPlaying, id)
	}
	return nil
}

// Close stops every player still playing.
func (m *Mixer) Close() {
	for id := range MaxPlayers {
		_ = m.Stop(id) // ErrNotPlaying for an idle id: nothing to stop
	}
}

// Start decodes the file at path and plays it as id (the SDK's
// startAudioMixing). A file that cannot be opened or decoded is ErrLoad,
// naming the file and the cause.
func (m *Mixer) Start(id int, path string, pc PlayConfig) error {
	if id < 0 || id >= MaxPlayers {
		return ErrBadID
	}
	if path == "" {
		return fmt.Errorf("%w: no file given", ErrInvalidParam)
	}
	if m.playing(id) {
		return fmt.Errorf("%w: id %d", ErrPlaying, id) // before a long decode
	}
	c, err := DecodeFile(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLoad, err)
	}
	return m.Play(id, c, pc)
}

func (m *Mixer) playing(id int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.players[id]
	return p != nil && !p.finished
}

// with runs f on player id under the lock: ErrBadID, or ErrNotPlaying
// when nothing plays as id.
func (m *Mixer) with(id int, f func(p *player) error) error {
	if id < 0 || id >= MaxPlayers {
		return ErrBadID
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.players[id]
	if p == nil || p.finished {
		return fmt.Errorf("%w: id %d", ErrNotPlaying, id)
	}
	return f(p)
}

// Pause holds player id where it is: it adds nothing to the frames from
// the next one on until Resume, which goes on from the same sample.
func (m *Mixer) Pause(id int) error {
	return m.with(id, func(p *player) error {
		if p.paused {
			return fmt.Errorf("%w: id %d", ErrPaused, id)
		}
		p.paused = true
		return nil
	})
}

// Resume goes on with a paused player.
func (m *Mixer) Resume(id int) error {
	return m.with(id, func(p *player) error {
		if !p.paused {
			return fmt.Errorf("%w: id %d", ErrNotPaused, id)
		}
		p.paused = false
		return nil
	})
}

// SetVolume sets player id's linear gain in percent, 0 to 100, from the
// next frame on.
func (m *Mixer) SetVolume(id, volume int) error {
	if volume < 0 || volume > 100 {
		return fmt.Errorf("%w: got %d", ErrInvalidVolume, volume)
	}
	return m.with(id, func(p *player) error {
		p.gain = float32(volume) / 100
		return nil
	})
}

// Position is where player id is in the current cycle of its file.
func (m *Mixer) Position(id int) (time.Duration, error) {
	var pos int
	err := m.with(id, func(p *player) error {
		pos = min(p.pos, p.clip.Len())
		return nil
	})
	return samplesToDuration(pos), err
}

// Seek moves player id to d in its file (the current cycle); d must be
// within the file.
func (m *Mixer) Seek(id int, d time.Duration) error {
	return m.with(id, func(p *player) error {
		n := int(d.Milliseconds() * SampleRate / 1000)
		if d < 0 || n >= p.clip.Len() {
			return fmt.Errorf("%w: position %d ms, the file has %d ms", ErrInvalidParam, d.Milliseconds(),
				samplesToDuration(p.clip.Len()).Milliseconds())
		}
		p.pos = n
		return nil
	})
}

// Duration is the length of player id's file.
func (m *Mixer) Duration(id int) (time.Duration, error) {
	var n int
	err := m.with(id, func(p *player) error {
		n = p.clip.Len()
		return nil
	})
	return samplesToDuration(n), err
}

func samplesToDuration(n int) time.Duration {
	return time.Duration(n) * time.Second / SampleRate
}
