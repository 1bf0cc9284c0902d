package cmd

import (
	"context"
	"fmt"
	"image/color"
	"strings"

	"github.com/spf13/cobra"

	"github.com/roomctl/roomctl/internal/control"
	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/media"
)

type joinOptions struct {
	roomFlags
	deviceWatch
	publish    []string
	videoCodec string
	loop       bool
	test       testOptions
}

// testOptions shape --publish test.
type testOptions struct {
	volume int
	hz     int
	colour string
}

func newJoinCmd(s Streams) *cobra.Command {
	o := &joinOptions{}
	c := &cobra.Command{
		Use:   "join",
		Short: "Join a room, optionally publish, subscribe to everyone, print events",
		Long: `Join a room and print every SDK callback as one JSON line on stdout until
--until, --duration, a signal (SIGINT/SIGTERM leave cleanly) or the session ends.

--publish test publishes a moving test pattern and a tone (--test-colour: one
colour instead, --tone-hz: another frequency); --publish FILE...
publishes media files in real time (IVF with VP8, H.264 Annex-B .h264, Ogg
Opus), at most one audio and one video file; when a file ends without --loop,
audio_track_end / video_track_end is printed.

--publish mic[:ID] and/or camera[:ID] publish capture devices (ids as
"roomctl devices" prints them; without an id, or with "default", the default
audio input and the first camera). The microphone is captured at 48 kHz mono through
miniaudio (PulseAudio, else ALSA; ALSA's "null" device is refused) and sent
as Opus; the camera through V4L2 in its mode nearest to 640x480 at 30 fps,
encoded with --video-codec. When a device goes away mid-publish,
audio_track_end / video_track_end is printed and the session stays up. A
device that is not there exits 2 before joining. The device watcher
(--device-interval) prints audio_input_changed / video_input_changed /
audio_output_changed while joined.

` + controlHelp + ` join offers the session, publishing,
subscribing and stats methods, and setToneVolume with --publish test.

--audio-level-report prints audio_level_report every 2 s; active_speaker,
network_score and exception are always printed.

` + exitCodesHelp,
		Example: `  roomctl join --app-id 1001 --app-secret "$SECRET" --room r1 --uid alice --publish test
  roomctl join --app-id 1001 --token-cmd ./get-token --room r1 --uid bob \
      --until first_video_frame_decode --timeout 20s && echo "room works"`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cobra.Command) error { return runJoin(c.Context(), o, s) }),
	}
	fs := c.Flags()
	o.roomFlags.register(fs)
	o.deviceWatch.register(fs)
	fs.StringSliceVar(&o.publish, "publish", nil, "publish: test (pattern + tone), media files (.ivf, .h264, .ogg), or capture devices mic[:ID], camera[:ID]")
	fs.StringVar(&o.videoCodec, "video-codec", "vp8", "codec of the published test or camera video: vp8 or h264")
	fs.BoolVar(&o.loop, "loop", false, "with --publish FILE: start the files again at their end")
	fs.IntVar(&o.test.volume, "tone-volume", defaultToneVolume, "with --publish test: peak of the tone in percent of full scale (0-100)")
	fs.IntVar(&o.test.hz, "tone-hz", 0, "with --publish test: the tone's frequency, 20-20000 Hz (default 480)")
	fs.StringVar(&o.test.colour, "test-colour", "", "with --publish test: one colour instead of the moving pattern (red, green, blue, yellow, cyan, magenta, white, or #RRGGBB)")
	return c
}

// defaultToneVolume is the test tone's own level (media.TestConfig's default).
const defaultToneVolume = 25

// toneVolumer is the test source's volume knob.
type toneVolumer interface{ SetToneVolume(v int) }

// sourceFor builds the media source of --publish.
func sourceFor(publish []string, videoCodec string, loop bool, test testOptions) (media.Source, error) {
	toneVolume := test.volume
	if toneVolume < 0 || toneVolume > 100 {
		return nil, usagef("--tone-volume %d: want 0 to 100", toneVolume)
	}
	if test.hz != 0 && (test.hz < 20 || test.hz > 20000) {
		return nil, usagef("--tone-hz %d: want 20 to 20000", test.hz)
	}
	colour, err := parseColour(test.colour)
	if err != nil {
		return nil, err
	}
	isTest := len(publish) == 1 && publish[0] == "test"
	if !isTest && (test.hz != 0 || colour != nil) {
		return nil, usagef("--tone-hz and --test-colour apply to --publish test only")
	}
	if len(publish) == 0 {
		return nil, nil
	}
	vc := strings.ToLower(videoCodec)
	if vc != "vp8" && vc != "h264" {
		return nil, usagef("--video-codec %q: want vp8 or h264", videoCodec)
	}
	if len(publish) == 1 && publish[0] == "test" {
		src, err := media.NewTestSource(media.TestConfig{VideoCodec: vc, ToneVolume: toneVolume, ToneHz: test.hz, Colour: colour})
		if err != nil {
			return nil, fmt.Errorf("test source: %w", err)
		}
		if toneVolume == 0 { // TestConfig's 0 is "default"; silence is set on the source
			if v, ok := src.(toneVolumer); ok {
				v.SetToneVolume(0)
			}
		}
		return src, nil
	}
	capture, files, err := captureConfig(publish, vc)
	if err != nil {
		return nil, err
	}
	if capture != nil {
		src, err := media.NewCaptureSource(*capture)
		if err != nil {
			return nil, captureError("--publish", err)
		}
		return src, nil
	}
	src, err := media.NewFileSource(files, media.FileConfig{Loop: loop})
	if err != nil {
		return nil, usagef("--publish: %w", err)
	}
	return src, nil
}

// colours are the names --test-colour knows.
var colours = map[string]color.RGBA{
	"red": {255, 0, 0, 255}, "green": {0, 255, 0, 255}, "blue": {0, 0, 255, 255},
	"yellow": {255, 255, 0, 255}, "cyan": {0, 255, 255, 255}, "magenta": {255, 0, 255, 255},
	"white": {255, 255, 255, 255},
}

// parseColour parses --test-colour: a name or #RRGGBB; nil for "".
func parseColour(s string) (*color.RGBA, error) {
	if s == "" {
		return nil, nil
	}
	if c, ok := colours[strings.ToLower(s)]; ok {
		return &c, nil
	}
	var r, g, b uint8
	if len(s) == 7 && s[0] == '#' {
		if _, err := fmt.Sscanf(s[1:], "%02x%02x%02x", &r, &g, &b); err == nil {
			return &color.RGBA{r, g, b, 255}, nil
		}
	}
	return nil, usagef("--test-colour %q: want red, green, blue, yellow, cyan, magenta, white or #RRGGBB", s)
}

// captureConfig splits --publish into capture devices (mic, mic:ID, camera,
// camera:ID) and files; a file named like a device is given as ./mic.
func captureConfig(publish []string, videoCodec string) (*media.CaptureConfig, []string, error) {
	var c media.CaptureConfig
	var files []string
	for _, p := range publish {
		kind, id, _ := strings.Cut(p, ":")
		if id == "default" {
			id = "" // as mix-audio --mic default
		}
		switch {
		case p == "test":
			return nil, nil, usagef("--publish test cannot be combined with files or devices")
		case kind == "mic" && c.Mic, kind == "camera" && c.Camera:
			return nil, nil, usagef("--publish %s: one %s at most", p, kind)
		case kind == "mic":
			c.Mic, c.MicID = true, id
		case kind == "camera":
			c.Camera, c.CameraID = true, id
		default:
			files = append(files, p)
		}
	}
	switch {
	case !c.Mic && !c.Camera:
		return nil, files, nil
	case len(files) > 0:
		return nil, nil, usagef("--publish: capture devices cannot be combined with files (%s)", strings.Join(files, ", "))
	}
	c.VideoCodec = videoCodec
	return &c, nil, nil
}

func runJoin(ctx context.Context, o *joinOptions, s Streams) error {
	if err := o.validate(); err != nil {
		return err
	}
	if err := o.deviceWatch.check(); err != nil {
		return err
	}
	src, err := sourceFor(o.publish, o.videoCodec, o.loop, o.test)
	if err != nil {
		return err
	}
	se, err := o.newSession(ctx, s)
	if err != nil {
		return err
	}
	if src != nil {
		defer closeLogged(se.log, "media source", src)
	}
	if c, ok := src.(*media.CaptureSource); ok {
		logCapture(se, c)
		defer logMicGlitches(se, c.Mic())
	}
	cfg := o.engineConfig(se)
	cfg.Publish = src
	eng, err := engine.New(cfg)
	if err != nil {
		return usage(err)
	}
	methods := control.SessionMethods(eng, se.cancel).With(control.PublishMethods(eng), control.SubscribeMethods(eng))
	if tone, ok := src.(toneVolumer); ok {
		methods = methods.With(control.ToneMethods(tone))
	}
	se.serveControl(&o.controlFlags, s, "join", eng, methods)
	se.log.Info("joining", "server", o.server, "app", o.appID, "room", o.room, "uid", o.uid)
	stopWatch := o.deviceWatch.start(se)
	err = eng.Run(se.ctx)
	se.cancel()
	stopWatch()
	return se.finish(err)
}
