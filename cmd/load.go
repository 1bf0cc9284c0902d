package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/ids"
	"github.com/roomctl/roomctl/internal/load"
	"github.com/roomctl/roomctl/internal/media"
	"github.com/roomctl/roomctl/internal/procs"
	"github.com/roomctl/roomctl/internal/token"
)

type loadOptions struct {
	backend     backendKind
	server      string
	appID       string
	appSecret   string
	ttl         time.Duration
	room        string
	rooms       int
	publishers  int
	subscribers int
	publish     []string
	ramp        float64
	duration    time.Duration
	pacing      time.Duration
	ice         iceFlags
	logFlags
}

// nobody is the uid a publisher of the load subscribes to: no one.
const nobody = "roomctl-load-nobody"

func newLoadCmd(s Streams) *cobra.Command {
	o := &loadOptions{}
	c := &cobra.Command{
		Use:   "load",
		Short: "Load a room service: many publishers and subscribers in one process, a summary every second",
		Long: `Start --publishers publishers and --subscribers subscribers in each of --rooms
rooms, --ramp participants per second (publishers first), each a real participant
with its own signaling connection and PeerConnections, and run for --duration
(ramp included). Publishers send --publish files in a loop (IVF VP8, H.264
Annex-B, Ogg Opus; what join --publish takes); subscribers subscribe to their
room's publishers and only count what arrives (no decoding).

Every second one load_tick line goes to stdout:
  {t, started, joined, failed, receiving, subscribers, packets, kbps, lost, loss,
   joinMs: {n, p50, p90, p99, max}, firstVideoMs: {…}, firstAudioMs: {…}}
receiving: subscribers that got media in that second; packets, kbps, lost: what
all subscribers received in that second; loss: lost / (packets + lost), from
gaps in sequence numbers as packets arrive (a retransmission that fills a gap
later is not subtracted); joinMs: engine start to connected; firstVideoMs,
firstAudioMs: a subscriber's engine start to its first video (audio) packet
(all over the run so far).
At the end one load_summary line: {seconds, rooms, publishers, subscribers,
joined, failed, packets, bytes, lost, loss, kbps (mean once all had started),
joinMs, firstVideoMs, firstAudioMs}. A table of the same goes to stderr (not with -q).

Rooms are --room when --rooms is 1, else --room-1 … --room-N; uids are pub1…
and sub1…. roomctl serve takes at most 100 participants per room: a participant
beyond is refused and counted as failed; use --rooms for more. Tokens are minted with --app-secret (--backend livekit: the API
secret). It uses the engine every room command uses, so it loads livekit-server
as well (--backend livekit).

load runs on one scheduler thread (GOMAXPROCS) per 100 participants, not one
per CPU: it uses less CPU per subscriber that way (README "Load and the
SFU's cost").
GOMAXPROCS set in the environment wins.

` + exitCodesHelp,
		Example: `  roomctl load --app-id 1001 --app-secret "$SECRET" --room bench --publish v.ivf,a.ogg \
      --publishers 1 --subscribers 50 --ramp 10 --duration 60s | jq -c 'select(.event=="load_summary")'`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cobra.Command) error { return runLoad(c.Context(), o, s) }),
	}
	fs := c.Flags()
	registerBackend(fs, &o.backend)
	fs.StringVar(&o.server, "server", "", "room server URL (default "+DefaultServer+"; with --backend livekit "+DefaultLiveKitServer+")")
	fs.StringVar(&o.appID, "app-id", "", "application id (--backend livekit: the API key)")
	fs.StringVar(&o.appSecret, "app-secret", "", "mint every participant's token with this secret (--backend livekit: the API secret)")
	fs.DurationVar(&o.ttl, "ttl", time.Hour, "lifetime of the minted tokens")
	fs.StringVar(&o.room, "room", "load", "room id, or the prefix of the room ids with --rooms > 1")
	fs.IntVar(&o.rooms, "rooms", 1, "number of rooms")
	fs.IntVar(&o.publishers, "publishers", 1, "publishers per room")
	fs.IntVar(&o.subscribers, "subscribers", 10, "subscribers per room")
	fs.StringSliceVar(&o.publish, "publish", nil, "the files every publisher sends, looped (IVF VP8, H.264 Annex-B .h264, Ogg Opus)")
	fs.Float64Var(&o.ramp, "ramp", 10, "participants started per second")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long the whole run lasts, ramp included")
	fs.DurationVar(&o.pacing, "read-pacing", 0,
		"subscribers wait this long after a read drained their UDP socket before the next (batched) read, from their 65th datagram on (at most 200ms; README \"Load and the SFU's cost\")")
	o.ice.register(fs, false)
	o.logFlags.register(fs)
	return c
}

func (o *loadOptions) validate() error {
	if o.server == "" {
		o.server = o.backend.defaultServer()
	}
	switch {
	case o.appID == "":
		return usagef("--app-id is required")
	case o.appSecret == "":
		return usagef("--app-secret is required: every participant's token is minted")
	case o.backend != backendLiveKit && len(o.appSecret) < token.MinSecretLen:
		return usagef("--app-secret is shorter than %d bytes", token.MinSecretLen)
	case o.rooms < 1 || o.rooms > 1000:
		return usagef("--rooms %d: want 1 to 1000", o.rooms)
	case o.publishers < 0 || o.subscribers < 0 || o.publishers+o.subscribers == 0:
		return usagef("--publishers and --subscribers: want at least one participant per room")
	case o.publishers > 0 && len(o.publish) == 0:
		return usagef("--publish FILES is required for publishers")
	case !(o.ramp > 0) || o.ramp > 1000:
		return usagef("--ramp %v: want more than 0 and at most 1000 per second", o.ramp)
	case o.duration <= 0:
		return usagef("--duration must be positive")
	}
	if err := checkReadPacing(o.pacing); err != nil {
		return err
	}
	if err := ids.CheckServerURL(o.server); err != nil {
		return usagef("--server: %w", err)
	}
	for _, r := range o.roomIDs() {
		if err := ids.Check("room", r); err != nil {
			return usagef("--room: %w", err)
		}
	}
	if o.publishers > 0 {
		// Opened once here so that a bad file is a usage error before
		// anyone joins.
		src, err := media.NewFileSource(o.publish, media.FileConfig{Loop: true})
		if err != nil {
			return usagef("--publish: %w", err)
		}
		_ = src.Close()
	}
	return nil
}

func (o *loadOptions) roomIDs() []string {
	if o.rooms == 1 {
		return []string{o.room}
	}
	rs := make([]string, o.rooms)
	for i := range rs {
		rs[i] = fmt.Sprintf("%s-%d", o.room, i+1)
	}
	return rs
}

func runLoad(ctx context.Context, o *loadOptions, s Streams) error {
	if err := o.validate(); err != nil {
		return err
	}
	iceCfg, err := o.ice.config()
	if err != nil {
		return err
	}
	log, err := o.logger(s.ErrOut)
	if err != nil {
		return err
	}
	logICE(log, iceCfg)
	// The participants' own logs: warnings and errors only, each with its
	// room and uid (a thousand engines at info level would drown stderr).
	plog, err := o.loggerAtLeast(s.ErrOut, slog.LevelWarn)
	if err != nil {
		return err
	}
	sink := event.NewSink(s.Out, event.SinkConfig{})
	table := s.ErrOut
	if o.quiet {
		table = io.Discard
	}
	fmt.Fprintf(table, "%6s %8s %7s %6s %9s %9s %10s %7s %10s %11s %11s\n",
		"t(s)", "started", "joined", "failed", "receiving", "packets/s", "kb/s", "loss", "join p50", "1st vid p50", "1st aud p50")
	cfg := load.Config{
		Rooms: o.roomIDs(), Publishers: o.publishers, Subscribers: o.subscribers,
		Ramp: o.ramp, Duration: o.duration, Logger: log,
		NewEngine: func(p load.Participant) (*engine.Engine, error) {
			lf := roomFlags{backend: o.backend, appID: o.appID, appSecret: o.appSecret, ttl: o.ttl, room: p.Room, uid: p.UID}
			ec := engine.Config{
				Backend: o.backend.engineBackend(plog), Server: o.server, AppID: o.appID, RoomID: p.Room, UID: p.UID,
				Tokens: lf.tokenSource(), Events: p.Events, Logger: plog.With("room", p.Room, "uid", p.UID), ICE: iceCfg,
			}
			switch p.Role {
			case load.Publisher:
				src, err := media.NewFileSource(o.publish, media.FileConfig{Loop: true})
				if err != nil {
					return nil, err
				}
				ec.Publish = src
				ec.Subscribe = []string{nobody}
			default:
				ec.Tracks = p.Tracks
				ec.Subscribe = p.Publishers
				ec.CountOnly = true // counting subscribers: no decoding, no frames, no stats
				ec.ICE.ReadEvery = o.pacing
			}
			return engine.New(ec)
		},
		Tick: func(t load.Tick) {
			sink.Emit(event.LoadTick, t)
			fmt.Fprintf(table, "%6.1f %8d %7d %6d %9d %9d %10.1f %6.2f%% %10s %11s %11s\n",
				t.T, t.Started, t.Joined, t.Failed, t.Receiving, t.Packets, t.Kbps, 100*t.Loss, p50(t.JoinMs), p50(t.FirstVideoMs), p50(t.FirstAudioMs))
		},
		Summary: func(sm load.Summary) {
			sink.Emit(event.LoadSummary, sm)
			fmt.Fprintf(table, "summary: %.1f s, %d/%d joined, %d failed, %d packets, %.1f kb/s once all started, loss %.2f%%, join p50 %s, first video p50 %s, first audio p50 %s\n",
				sm.Seconds, sm.Joined, sm.Publishers+sm.Subscribers, sm.Failed, sm.Packets, sm.Kbps, 100*sm.Loss, p50(sm.JoinMs), p50(sm.FirstVideoMs), p50(sm.FirstAudioMs))
		},
	}
	procs.New(loadParticipantsPerProc, len(cfg.Rooms)*(o.publishers+o.subscribers), log)
	if err := load.Run(ctx, cfg); err != nil {
		return err
	}
	if werr := sink.Err(); werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		return werr
	}
	return nil
}

// loadParticipantsPerProc is how many participants one scheduler thread
// carries: about 0.45 core at 100 counting subscribers of a 1 Mb/s stream
// (~4.6 ms per subscriber-second with one P, BENCHMARKS.md).
const loadParticipantsPerProc = 100

func p50(p *load.Pctl) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.0fms", p.P50)
}
