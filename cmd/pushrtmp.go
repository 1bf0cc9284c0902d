package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/roomctl/roomctl/internal/control"
	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/ids"
	"github.com/roomctl/roomctl/push"
)

// defaultSourceWait is how long push-rtmp waits for --source-uid to publish
// when --timeout is not given.
const defaultSourceWait = 20 * time.Second

type pushOptions struct {
	roomFlags
	urls      []string
	sourceUID string
	transcode int
	users     []string
	layout    string
}

func newPushRTMPCmd(s Streams) *cobra.Command {
	o := &pushOptions{}
	c := &cobra.Command{
		Use:   "push-rtmp",
		Short: "Join a room and restream a participant, or a layout of several, to RTMP servers (CDN push)",
		Long: `Join a room, subscribe to --source-uid only, and restream its stream to up
to five RTMP URLs (rtmp://host[:port]/app/stream-key, at most 512 characters
each; rtmps is not supported). Prints the room's events and, per URL,
push_stream_status {url, status, reason} whenever the status changes:

  PUSH_STREAM_ONGOING   the server accepted the publication and media flows
  PUSH_STREAM_FAILED    connecting/publishing failed or was refused, or the
                        connection dropped; retried with backoff (0.5 s to 5 s,
                        each retry logged on stderr)
  INTERNEL_ERROR        the source cannot be pulled: --source-uid (or, for a
                        task, any of its users) did not publish within
                        --timeout, its codec cannot be pushed, or the room
                        session ended; exit 1
  PUSH_STREAM_FINISHED  TASK_IS_STOPPED on SIGINT/SIGTERM, --duration or
                        --until; STREAM_IS_UNPUBLISHED when the source left
                        or unpublished (exit 0)

H.264 video is passed through; VP8 video (browsers' default) is transcoded to
H.264 at the source's size (libavcodec decodes, libx264 encodes: veryfast,
zerolatency, no B-frames, CBR-like at about 0.1 bit per pixel, an IDR every
2 s); Opus audio is transcoded to AAC-LC 44.1 kHz stereo 128 kb/s.

--transcode MODE makes a transcoding task (the SDK's live transcoding): the
pictures of the --user uids are composed at the mode's size and frame rate and
their audio is mixed. MODE is one of
` + push.ModesHelp() + `--user uid places a user in the default grid (ceil(sqrt(n)) columns, in
--user order, among the users who publish: the grid changes as they come and
go); --user uid:x,y,w,h[,z] places it at x,y (pixels) with size w x h, higher
z on top. Give every user a position or none. --layout FILE reads the SDK's
userList as JSON ({"userList":[{"uid","layoutX","layoutY","layoutW",
"layoutH","zOrder","crop"}]}; crop 1 fills the cell and cuts the overflow,
0 fits with black bars; alpha must be 1 and audioChannel 0). Without --user
and --layout, every publisher of the room is in the grid, in the order they
came; with only --source-uid, that user fills the picture. A user who
publishes no video is a dark grey cell; a place with no user is black.

--timeout is how long to wait for --source-uid to publish (default 20s); with
--until it also bounds the wait for that event (exit 4).

` + controlHelp + ` push-rtmp offers the session and stats
methods and addPublishOriginStreamUrl {url} / removePublishOriginStreamUrl {url}
(errors HAS_ADD_URL, TOO_MUCH_URLS, URL_NOT_EXIST); a removed URL ends with
PUSH_STREAM_FINISHED / URL_IS_REMOVED, the others go on. With --control, --url
may be left out: the push starts with the first added URL.

` + exitCodesHelp,
		Example: `  roomctl push-rtmp --app-id 1001 --app-secret "$SECRET" --room r1 --source-uid alice \
      --url rtmp://live.example.com/app/KEY --url rtmp://backup.example.com/app/KEY`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cobra.Command) error { return runPushRTMP(c.Context(), o, s) }),
	}
	fs := c.Flags()
	o.roomFlags.register(fs)
	fs.StringArrayVar(&o.urls, "url", nil, "RTMP URL to push to, rtmp://host[:port]/app/stream-key (repeatable, at most 5)")
	fs.StringVar(&o.sourceUID, "source-uid", "", "the participant whose stream is pushed (required without --transcode)")
	fs.IntVar(&o.transcode, "transcode", 0, "transcoding task: compose --user(s) at this mode's size (1-7, 101-107; see above)")
	fs.StringArrayVar(&o.users, "user", nil, "with --transcode: uid or uid:x,y,w,h[,z] (repeatable; default: every publisher)")
	fs.StringVar(&o.layout, "layout", "", "with --transcode: a JSON layout file in the SDK's userList shape")
	if f := fs.Lookup("timeout"); f != nil {
		f.Usage = "how long to wait for --source-uid to publish (default 20s); with --until, exit 4 if it was not reached in this time"
	}
	_ = fs.MarkHidden("subscribe") // push-rtmp subscribes to --source-uid only
	return c
}

func runPushRTMP(ctx context.Context, o *pushOptions, s Streams) error {
	// --timeout bounds the wait for the source; the shared flag check only
	// accepts it together with --until.
	sourceWait := o.timeout
	if o.until == "" {
		o.timeout = 0
	}
	if sourceWait <= 0 {
		sourceWait = defaultSourceWait
	}
	if err := o.validate(); err != nil {
		return err
	}
	task, err := o.task()
	if err != nil {
		return err
	}
	switch {
	case o.sourceUID == "" && task != nil:
	case o.sourceUID == "":
		return usagef("--source-uid is required: the participant whose stream is pushed (or --transcode MODE)")
	case !ids.Valid(o.sourceUID):
		return usagef("invalid --source-uid %q: want %s", o.sourceUID, ids.Rule)
	case o.sourceUID == o.uid:
		return usagef("--source-uid %q is this participant's own --uid", o.sourceUID)
	case len(o.subscribe) > 0:
		return usagef("--subscribe does not apply to push-rtmp: it subscribes to --source-uid only")
	}
	if len(o.urls) == 0 && !o.control {
		return usagef("--url is required (or --control, to add URLs with addPublishOriginStreamUrl)")
	}
	if err := push.ValidateURLs(o.urls); err != nil {
		return usagef("--url: %v", err)
	}
	se, err := o.newSession(ctx, s)
	if err != nil {
		return err
	}
	routeLogrus(se.log)
	p, err := push.New(push.Config{
		URLs: o.urls, Source: o.sourceUID, Task: task, Events: se.sink, Logger: se.log.With("component", "push"),
	})
	if err != nil {
		return err
	}
	defer func() { _ = p.Close() }()

	// The engine runs on its own context so that the push is closed
	// (TASK_IS_STOPPED) before the session is torn down. The pusher learns
	// that the source left from its tracks' end (engine.ReasonStreamRemoved).
	engCtx, engCancel := context.WithCancel(context.WithoutCancel(se.ctx))
	defer engCancel()
	cfg := o.engineConfig(se)
	cfg.Subscribe = []string{o.sourceUID}
	if task != nil {
		cfg.Subscribe = nil // everyone, when no user is listed
		for _, u := range task.Users {
			cfg.Subscribe = append(cfg.Subscribe, u.UID)
		}
	}
	cfg.Tracks = p
	eng, err := engine.New(cfg)
	if err != nil {
		return usagef("%v", err)
	}
	se.serveControl(&o.controlFlags, s, "push-rtmp", eng,
		control.SessionMethods(eng, se.cancel).With(control.PushMethods(p)))
	se.log.Info("joining to push", "server", o.server, "room", o.room, "uid", o.uid, "source", o.sourceUID, "urls", len(o.urls))
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(engCtx) }()

	wait := time.NewTimer(sourceWait)
	defer wait.Stop()
	sourced := p.Sourced()
	var runErr error
	engineEnded := false
loop:
	for {
		select {
		case <-se.ctx.Done():
			break loop
		case <-sourced:
			sourced = nil
			wait.Stop()
		case <-wait.C:
			who := o.sourceUID
			if task != nil {
				who = "no user of the task"
			}
			p.Fail(fmt.Errorf("%s did not publish in room %s within %s", who, o.room, sourceWait))
			<-p.Done()
			runErr = p.Err()
			break loop
		case <-p.Done():
			runErr = p.Err()
			break loop
		case err := <-engDone:
			engineEnded = true
			if err == nil {
				err = engine.ErrSessionEnded
			}
			p.Fail(fmt.Errorf("room session: %w", err))
			<-p.Done()
			runErr = err
			break loop
		}
	}
	_ = p.Close()
	engCancel()
	if !engineEnded {
		if err := <-engDone; runErr == nil && !errors.Is(err, context.Canceled) {
			runErr = err
		}
	}
	return se.finish(runErr)
}

// task builds the transcoding task of --transcode, --user and --layout;
// nil without --transcode.
func (o *pushOptions) task() (*push.Task, error) {
	if o.transcode == 0 {
		if len(o.users) > 0 || o.layout != "" {
			return nil, usagef("--user and --layout need --transcode MODE")
		}
		return nil, nil
	}
	mode, err := push.LookupMode(o.transcode)
	if err != nil {
		return nil, usagef("--transcode: %v", err)
	}
	if len(o.users) > 0 && o.layout != "" {
		return nil, usagef("give --user or --layout, not both")
	}
	t := &push.Task{Mode: mode}
	for _, s := range o.users {
		u, err := push.ParseUser(s)
		if err != nil {
			return nil, usagef("%v", err)
		}
		t.Users = append(t.Users, u)
	}
	if o.layout != "" {
		if t.Users, err = push.LoadLayout(o.layout); err != nil {
			return nil, usagef("--layout: %v", err)
		}
	}
	if len(t.Users) == 0 && o.sourceUID != "" {
		t.Users = []push.LayoutUser{{UID: o.sourceUID}}
	}
	if o.sourceUID != "" && !slices.ContainsFunc(t.Users, func(u push.LayoutUser) bool { return u.UID == o.sourceUID }) {
		return nil, usagef("--source-uid %q is not one of the task's users", o.sourceUID)
	}
	for _, u := range t.Users {
		if u.UID == o.uid {
			return nil, usagef("user %q is this participant's own --uid", u.UID)
		}
	}
	if err := push.ValidateLayout(mode, t.Users); err != nil {
		return nil, usagef("%v", err)
	}
	return t, nil
}

// routeLogrus sends what go-rtmp logs through logrus's process-wide logger
// to our logger at debug level: never to stdout, which is events only.
func routeLogrus(log *slog.Logger) {
	l := logrus.StandardLogger()
	l.SetOutput(io.Discard)
	l.ReplaceHooks(logrus.LevelHooks{})
	l.AddHook(logrusHook{log})
}

type logrusHook struct{ log *slog.Logger }

func (logrusHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h logrusHook) Fire(e *logrus.Entry) error {
	h.log.Debug("go-rtmp: " + e.Message)
	return nil
}
