package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/roomctl/roomctl/internal/control"
	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/media"
	"github.com/roomctl/roomctl/mixing"
)

// defaultMicTone is the --mic test frequency: 440 Hz, away from the 1 kHz
// that test files usually carry, so the two are told apart in a recording.
const defaultMicTone = 440

// mixDoneLinger is how long the microphone keeps going after the last
// file finished before the command leaves, so the file's last frames are
// sent, not dropped with the connection.
const mixDoneLinger = 500 * time.Millisecond

type mixAudioOptions struct {
	roomFlags
	deviceWatch
	files      []string
	mic        string
	replace    bool
	cycle      int
	loop       bool
	playTime   int
	volume     int
	bitrate    int
	startAfter time.Duration
}

func newMixAudioCmd(s Streams) *cobra.Command {
	o := &mixAudioOptions{}
	c := &cobra.Command{
		Use:   "mix-audio",
		Short: "Join a room and publish a microphone mixed with up to two audio files (startAudioMixing)",
		Long: `Join a room and publish one Opus audio track: the microphone mixed with up
to two files, as the SDK's startAudioMixing. The first --file is mixing id 0,
the second id 1; both play at once. Files: WAV (integer PCM), MP3 (LAME/Xing
encoder delay and padding removed), Ogg Vorbis, Ogg Opus; any rate and channel
count, converted to 48 kHz mono.

--mic test is a 440 Hz tone at 25% of full scale (not 1 kHz, so that it is
told apart from typical test files); --mic silence mixes the files alone with
a silent microphone; --mic default captures the default audio input and
--mic ID the audio input with that id ("roomctl devices" lists them;
ALSA's "null" device is refused). When a captured microphone goes away
mid-publish, audio_track_end is printed and the files go on over silence.
--replace leaves the microphone out while the file plays (one file only).
--cycle, --loop, --play-time and --volume apply to every file. The sum goes
through a soft limiter (linear to -3 dBFS, a tanh knee above), so it never
clips.

Prints audio_mixing_played {id, fileName} when a file's first samples go into
the track, audio_mixing_finished {id} when its cycles are done (or at the end
of the session), start_mixing_fail {error} when a file cannot be opened or
decoded (the other file and the microphone go on). Without --duration the
command ends when every file has finished; with --loop it runs until a signal
or --duration. When no file can be mixed, the microphone goes on alone until
--duration (without it the command leaves at once), and the exit code is 1.

` + controlHelp + ` mix-audio offers the session, publishing,
subscribing and stats methods and the mixing methods (startAudioMixing,
stop/pause/resumeAudioMixing, setAudioMixingVolume, get/setAudioMixingTime,
getAudioMixingDuration; ids 0 and 1). With --control, --file may be left out,
and the command does not leave when the files finish: it stays until leaveRoom,
--duration or a signal.

` + exitCodesHelp,
		Example: `  roomctl mix-audio --app-id 1001 --app-secret "$SECRET" --room r1 --uid dj --file jingle.mp3 --cycle 2 --volume 80
  roomctl mix-audio --app-id 1001 --app-secret "$SECRET" --room r1 --uid dj --file bed.wav --loop --file voice.ogg`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cobra.Command) error { return runMixAudio(c.Context(), o, s) }),
	}
	fs := c.Flags()
	o.roomFlags.register(fs)
	o.deviceWatch.register(fs)
	fs.StringArrayVar(&o.files, "file", nil, "audio file to mix (WAV, MP3, Ogg Vorbis, Ogg Opus); give twice for ids 0 and 1")
	fs.StringVar(&o.mic, "mic", "test", "microphone: test (a 440 Hz tone), silence, default (the default audio input) or an audio input id")
	fs.BoolVar(&o.replace, "replace", false, "publish the file alone, without the microphone, while it plays (one --file)")
	fs.IntVar(&o.cycle, "cycle", 1, "times each file plays")
	fs.BoolVar(&o.loop, "loop", false, "play the files forever")
	fs.IntVar(&o.playTime, "play-time", 0, "start offset in the files, ms (first cycle)")
	fs.IntVar(&o.volume, "volume", 100, "volume of the files, 0-100 (linear gain in percent)")
	fs.IntVar(&o.bitrate, "bitrate", 64, "Opus bitrate of the published track, kb/s")
	fs.DurationVar(&o.startAfter, "start-after", 0, "start mixing this long after the track goes live (the microphone alone before)")
	return c
}

func (o *mixAudioOptions) validate() error {
	if err := o.roomFlags.validate(); err != nil {
		return err
	}
	switch {
	case len(o.files) == 0 && !o.control:
		return usagef("--file is required (or --control, to start files with startAudioMixing)")
	case len(o.files) > mixing.MaxPlayers:
		return usagef("at most %d --file (mixing ids 0 and 1)", mixing.MaxPlayers)
	case o.replace && len(o.files) > 1:
		return usagef("--replace publishes one file: give one --file")
	case o.mic == "":
		return usagef("--mic: want test, silence, default or an audio input id")
	case o.cycle < 1:
		return usagef("--cycle %d: want 1 or more", o.cycle)
	case o.volume < 0 || o.volume > 100:
		return usagef("--volume %d: want 0 to 100", o.volume)
	case o.playTime < 0:
		return usagef("--play-time %d: want 0 or more ms", o.playTime)
	case o.startAfter < 0:
		return usagef("--start-after must not be negative")
	}
	return nil
}

func (o *mixAudioOptions) playConfig() mixing.PlayConfig {
	return mixing.PlayConfig{Cycle: o.cycle, Loop: o.loop, PlayTime: time.Duration(o.playTime) * time.Millisecond,
		Volume: o.volume, Replace: o.replace}
}

// newMixer builds the mixer of cfg whose played/finished events go to em.
func newMixer(em event.Emitter, cfg mixing.Config) (*mixing.Mixer, error) {
	cfg.OnPlayed = func(id int, name string) {
		em.Emit(event.AudioMixingPlayed, event.MixingPlayed{ID: id, FileName: name})
	}
	cfg.OnFinished = func(id int) {
		em.Emit(event.AudioMixingFinished, event.MixingFinished{ID: id})
	}
	mx, err := mixing.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("mixer: %w", err)
	}
	return mx, nil
}

// mixerConfig is the mixer's microphone: the test tone, silence, or the
// captured dev, whose end is reported as audio_track_end of who.
func (o *mixAudioOptions) mixerConfig(se *session, dev *media.Mic) mixing.Config {
	var cfg mixing.Config
	switch {
	case dev != nil:
		cfg.Mic = dev
		cfg.OnMicEnded = func(err error) {
			if errors.Is(err, media.ErrClosed) {
				return // the session is ending: no device went away
			}
			se.log.Warn("microphone ended: mixing on over silence", "deviceId", dev.Device().ID, "err", err)
			se.sink.Emit(event.AudioTrackEnd, event.UIDRoom{UID: o.uid, RoomID: o.room})
		}
	case o.mic == "test":
		cfg.MicTone = defaultMicTone
	}
	return cfg
}

// mixStarter starts files on the mixer and prints start_mixing_fail for a
// file that cannot be loaded, whether --file or startAudioMixing gave it.
type mixStarter struct {
	*mixing.Mixer
	em event.Emitter
}

func (m mixStarter) Start(id int, path string, pc mixing.PlayConfig) error {
	err := m.Mixer.Start(id, path, pc)
	if errors.Is(err, mixing.ErrLoad) {
		m.em.Emit(event.StartMixingFail, event.MixingFail{Error: err.Error()})
	}
	return err
}

// startFiles plays the files as ids 0, 1, ...; a file that fails prints
// start_mixing_fail and is skipped. It returns how many play.
func startFiles(m mixStarter, files []string, pc mixing.PlayConfig) int {
	n := 0
	for id, f := range files {
		if err := m.Start(id, f, pc); err != nil {
			if !errors.Is(err, mixing.ErrLoad) {
				m.em.Emit(event.StartMixingFail, event.MixingFail{Error: err.Error()})
			}
			continue
		}
		n++
	}
	return n
}

// liveReader tells when the track first pulls a frame.
type liveReader struct {
	media.PCMReader
	once sync.Once
	live chan struct{}
}

func (l *liveReader) ReadPCM(frame []float32) error {
	l.once.Do(func() { close(l.live) })
	return l.PCMReader.ReadPCM(frame)
}

var errNoFileMixed = errors.New("no file could be mixed")

func runMixAudio(ctx context.Context, o *mixAudioOptions, s Streams) error {
	if err := o.validate(); err != nil {
		return err
	}
	if err := o.deviceWatch.check(); err != nil {
		return err
	}
	se, err := o.newSession(ctx, s)
	if err != nil {
		return err
	}
	var mic *media.Mic
	if o.mic != "test" && o.mic != "silence" {
		id := o.mic
		if id == "default" {
			id = ""
		}
		if mic, err = media.OpenMic(id); err != nil {
			return captureError("--mic", err)
		}
		defer closeLogged(se.log, "microphone", mic)
		defer logMicGlitches(se, mic)
		logMicOpened(se, mic)
	}
	mx, err := newMixer(se.sink, o.mixerConfig(se, mic))
	if err != nil {
		return usage(err)
	}
	lr := &liveReader{PCMReader: mx, live: make(chan struct{})}
	src, err := media.NewPCMSource(lr, media.PCMConfig{Channels: 1, Bitrate: o.bitrate})
	if err != nil {
		return usage(err)
	}
	defer closeLogged(se.log, "media source", src)
	cfg := o.engineConfig(se)
	cfg.Publish = src
	eng, err := engine.New(cfg)
	if err != nil {
		return usage(err)
	}

	starter := mixStarter{Mixer: mx, em: se.sink}
	se.serveControl(&o.controlFlags, s, "mix-audio", eng, control.SessionMethods(eng, se.cancel).With(
		control.PublishMethods(eng), control.SubscribeMethods(eng), control.MixingMethods(starter)))

	var failed error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-lr.live:
		case <-se.ctx.Done():
			return
		}
		if o.startAfter > 0 {
			t := time.NewTimer(o.startAfter)
			select {
			case <-t.C:
			case <-se.ctx.Done():
				t.Stop()
				return
			}
		}
		if len(o.files) == 0 {
			return // --control starts them
		}
		if startFiles(starter, o.files, o.playConfig()) == 0 {
			// As the SDK stays in the room when startAudioMixing fails,
			// the microphone goes on until --duration (or, with
			// --control, until leaveRoom); without either there is
			// nothing to wait for. Either way the exit is 1.
			failed = errNoFileMixed
			if o.duration == 0 && !o.control {
				se.cancel()
			}
			return
		}
		if o.control {
			return // the session goes on until leaveRoom, --duration or a signal
		}
		select {
		case <-mx.Done():
		case <-se.ctx.Done():
			return
		}
		if o.duration > 0 {
			return // --duration decides the end
		}
		t := time.NewTimer(mixDoneLinger)
		defer t.Stop()
		select {
		case <-t.C:
			se.log.Info("every file finished: leaving")
			se.cancel()
		case <-se.ctx.Done():
		}
	}()
	se.log.Info("joining", "server", o.server, "app", o.appID, "room", o.room, "uid", o.uid,
		"files", strings.Join(o.files, ","))
	stopWatch := o.deviceWatch.start(se)
	runErr := eng.Run(se.ctx)
	se.cancel()
	stopWatch()
	wg.Wait()
	mx.Close() // audio_mixing_finished for what still plays
	if failed != nil && runErr == nil {
		runErr = failed
	}
	return se.finish(runErr)
}
