package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/roomctl/roomctl/internal/devices"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/media"
)

type devicesOptions struct {
	logFlags
	watch    bool
	interval time.Duration
	duration time.Duration
	noVideo  bool
	// enum is the device enumerator; nil means the machine's (tests inject).
	enum devices.Enumerator
}

func newDevicesCmd(s Streams) *cobra.Command {
	o := &devicesOptions{}
	c := &cobra.Command{
		Use:   "devices",
		Short: "List capture and playback devices, or watch them for changes",
		Long: `List the machine's audio inputs, video inputs and audio outputs, one
extension event per device on stdout:
  device  {kind: audioinput|videoinput|audiooutput, deviceId, label}
No line at all when there is no device.

With --watch, the current devices are printed as device lines first, then
every change as the SDK's callbacks, polling every --interval (Linux has no
hot-plug notification):
  audio_input_changed / video_input_changed / audio_output_changed  {state: added|removed, deviceId}
until SIGINT/SIGTERM or --duration.

Audio devices come from miniaudio (PulseAudio when a server is reachable,
ALSA otherwise, where plugin PCMs such as "null" and "pulse" are listed as
devices); cameras are found as mediadevices' camera driver finds them
(/dev/v4l/by-id, /dev/v4l/by-path, /dev/video*). Devices are listed, never
opened. The deviceIds are what join --publish mic:ID / camera:ID and
mix-audio --mic ID take.

` + exitCodesHelp,
		Example: `  roomctl devices | jq -r 'select(.data.kind=="audioinput") | .data.label'
  roomctl devices --watch --interval 500ms`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cobra.Command) error { return runDevices(c.Context(), o, s) }),
	}
	fs := c.Flags()
	o.logFlags.register(fs)
	fs.BoolVar(&o.watch, "watch", false, "keep running and print device changes")
	fs.DurationVar(&o.interval, "interval", devices.DefaultInterval, "with --watch: how often to poll")
	fs.DurationVar(&o.duration, "duration", 0, "with --watch: stop after this long (0: until a signal)")
	fs.BoolVar(&o.noVideo, "no-video", false, "skip video inputs (cameras)")
	return c
}

func runDevices(ctx context.Context, o *devicesOptions, s Streams) error {
	log, err := o.logger(s.ErrOut)
	if err != nil {
		return err
	}
	if o.interval <= 0 {
		return usagef("--interval %s: want a positive duration", o.interval)
	}
	if o.duration < 0 {
		return usagef("--duration must not be negative")
	}
	if (o.duration > 0 || o.interval != devices.DefaultInterval) && !o.watch {
		return usagef("--interval and --duration need --watch")
	}
	enum := o.enum
	if enum == nil {
		enum = &devices.System{NoVideo: o.noVideo}
	}
	sink := event.NewSink(s.Out, event.SinkConfig{})
	printAll := func(ds []devices.Device) {
		for _, d := range ds {
			sink.Emit(event.Device, d)
		}
	}
	if !o.watch {
		ds, err := enum.Enumerate(ctx)
		if err != nil {
			return err
		}
		printAll(devices.Dedupe(ds))
		return sink.Err()
	}

	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	w, err := devices.New(devices.Config{
		Enumerator: enum, Interval: o.interval, Events: sink, Logger: log,
		Baseline: func(ds []devices.Device) {
			printAll(ds)
			log.Info("watching devices", "devices", len(ds), "interval", o.interval)
		},
	})
	if err != nil {
		return err
	}
	defer func() { _ = w.Close() }()
	if err := w.Run(ctx); err != nil {
		return err
	}
	return sink.Err()
}

// deviceWatch is the device watcher of a joined session (join, mix-audio):
// the SDK reports device changes after joining too.
type deviceWatch struct {
	interval time.Duration
	// enum is the device enumerator; nil means the machine's (tests inject).
	enum devices.Enumerator
}

func (d *deviceWatch) register(fs *pflag.FlagSet) {
	fs.DurationVar(&d.interval, "device-interval", devices.DefaultInterval,
		"how often to poll devices for audio_input_changed/video_input_changed/audio_output_changed (0: do not watch)")
}

func (d *deviceWatch) check() error {
	if d.interval < 0 {
		return usagef("--device-interval must not be negative")
	}
	return nil
}

// start runs the watcher until se ends or the returned stop is called;
// its changes go to se's sink. stop waits for the watcher to return.
func (d *deviceWatch) start(se *session) (stop func()) {
	if d.interval == 0 {
		return func() {}
	}
	enum := d.enum
	if enum == nil {
		enum = &devices.System{}
	}
	w, err := devices.New(devices.Config{
		Enumerator: enum, Interval: d.interval, Events: se.sink, Logger: se.log,
		Baseline: func(ds []devices.Device) {
			se.log.Debug("watching devices", "devices", len(ds), "interval", d.interval)
		},
	})
	if err != nil {
		se.log.Error("device watcher", "err", err)
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(se.ctx)
	}()
	return func() {
		_ = w.Close()
		<-done
	}
}

// captureError maps an error opening a capture device to the command's
// error: a device that is not there is a bad flag (exit 2).
func captureError(flag string, err error) error {
	if errors.Is(err, media.ErrNoDevice) {
		return usagef("%s: %w", flag, err)
	}
	return fmt.Errorf("%s: %w", flag, err)
}

// logCapture tells on stderr which devices a capture source opened.
func logCapture(se *session, c *media.CaptureSource) {
	if m := c.Mic(); m != nil {
		logMicOpened(se, m)
	}
	if id, mode := c.CameraID(); id != "" {
		se.log.Info("capturing camera", "deviceId", id, "size", fmt.Sprintf("%dx%d", mode.Width, mode.Height),
			"fps", mode.FrameRate, "format", mode.FrameFormat)
	}
}

// logMicOpened tells on stderr which audio input is captured.
func logMicOpened(se *session, m *media.Mic) {
	se.log.Info("capturing audio input", "deviceId", m.Device().ID, "label", m.Device().Name)
}

// logMicGlitches tells on stderr how often the microphone's clock and ours
// disagreed: frames padded with silence, audio dropped to cut latency.
func logMicGlitches(se *session, m *media.Mic) {
	if m == nil {
		return
	}
	u, d := m.Glitches()
	startUp, ok := m.StartUp()
	if !ok {
		startUp = -1
	}
	se.log.Info("audio input done", "deviceId", m.Device().ID, "startUpMs", startUp.Milliseconds(),
		"silencePaddedFrames", u, "droppedMs", d*1000/media.PCMSampleRate)
}
