package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/roomctl/roomctl/internal/control"
	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/procs"
	"github.com/roomctl/roomctl/record"
)

type recordOptions struct {
	roomFlags
	out     string
	segment time.Duration
	pacing  time.Duration
}

// maxReadPacing bounds --read-pacing (record, load): more would only
// delay packets.
const maxReadPacing = 200 * time.Millisecond

func checkReadPacing(d time.Duration) error {
	if d < 0 || d > maxReadPacing {
		return usagef("--read-pacing %v: want 0 to %v", d, maxReadPacing)
	}
	return nil
}

func newRecordCmd(s Streams) *cobra.Command {
	o := &recordOptions{}
	c := &cobra.Command{
		Use:   "record",
		Short: "Join a room and record every remote user's audio and video to files",
		Long: `Join a room and write each remote user's streams to a file in --out: audio
and video of one user together and in sync, passed through without
re-encoding — VP8/VP9 + Opus as WebM (.webm), H.264 + Opus as Matroska (.mkv).
--subscribe limits the recording to some users.

Files are named {room}_{uid}_{start}.webm (or .mkv), start being the UTC time
of the first frame (20261125T170304Z); an existing file is never overwritten
(-1, -2, ... is added). A file opens once the user's audio and video are both
there (or 1 s after the first, with what there is) at a video keyframe. With
--segment DUR a new file starts at the first keyframe after DUR.

Files are written in clusters of at most 1 s that reach the disk as they end:
a recorder killed at any moment leaves files that play, missing at most about
the last second. --duration, SIGINT and SIGTERM finalize every file (duration
and seek index written) before roomctl exits.

Besides the SDK callbacks, stdout carries three extension events:
  recording_file_opened  {uid, roomId, path, tracks, start}
  recording_file_closed  {uid, roomId, path, bytes, durationMs, tracks, reason}
                         reason: segment, tracks_changed, stream_end, stopped, error
  recording_error        {uid, roomId, path, error}   (disk full, I/O error: that
                         user's recording pauses 10 s, others go on)
A script finds its files in the recording_file_closed lines:
  roomctl record ... | jq -r 'select(.event=="recording_file_closed") | .data.path'

record decodes no audio, except each track's first packet (for
first_audio_frame_decode), unless --audio-level-report (or the control method
enableAudioLevelReport) asks for levels: without it record prints no
active_speaker and no remote levels.

record runs on one scheduler thread (GOMAXPROCS) per 48 recorded tracks
(24 users), not one per CPU: it uses less CPU that way (README "Recording").
GOMAXPROCS set in the environment wins. It reads its UDP socket paced
(--read-pacing, 20 ms by default): once a read found no more datagrams, the
next one waits that long and takes everything queued in one system call, so
packets reach the recorder in bursts instead of waking it once each — half of
record's CPU at 10 users. Packets arrive up to that much later (the RTT in
network stats grows by as much; the first 64 datagrams of a connection, its
handshakes, are read on arrival); --read-pacing 0 reads each on arrival.

A missing or unwritable --out is a usage error (exit 2) before joining. When a
recording_error was printed, roomctl exits 1 at the end.

` + controlHelp + ` record offers the session, subscribing and
stats methods: unsubscribe(uid) closes that user's file (stream_end), subscribe(uid)
opens a new one.

` + exitCodesHelp,
		Example: `  roomctl record --server ws://127.0.0.1:8890 --app-id 1001 --token-cmd ./get-token \
      --room r1 --out /var/rec --duration 1h
  roomctl record ... --segment 10m --subscribe alice`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cobra.Command) error { return runRecord(c.Context(), o, s) }),
	}
	fs := c.Flags()
	o.roomFlags.register(fs)
	fs.StringVar(&o.out, "out", "", "directory to write the recordings to (must exist and be writable)")
	fs.DurationVar(&o.segment, "segment", 0, "start a new file at the first keyframe after this long (0: one file per user)")
	fs.DurationVar(&o.pacing, "read-pacing", 20*time.Millisecond,
		"after a read drained the UDP socket, wait this long before the next (batched) read; 0 reads each packet on arrival (at most 200ms)")
	return c
}

func runRecord(ctx context.Context, o *recordOptions, s Streams) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.out == "" {
		return usagef("--out is required")
	}
	if err := checkReadPacing(o.pacing); err != nil {
		return err
	}
	se, err := o.newSession(ctx, s)
	if err != nil {
		return err
	}
	rec, err := record.New(record.Config{
		Dir: o.out, Segment: o.segment, Events: se.sink, Logger: se.log,
		ExpectedFileDuration: o.duration,
	})
	if err != nil {
		se.cancel()
		if errors.Is(err, record.ErrDir) {
			return usagef("--out: %w", err)
		}
		if errors.Is(err, record.ErrSegment) {
			return usagef("--segment: %w", err) // record.New holds the rule
		}
		return fmt.Errorf("record: %w", err)
	}
	cfg := o.engineConfig(se)
	cfg.Tracks = scaledTracks{rec, procs.New(recordTracksPerProc, 0, se.log)}
	// A recorder plays nothing: remote audio is decoded for levels only
	// when --audio-level-report (or enableAudioLevelReport) asks for them.
	cfg.NoRemoteLevels = true
	cfg.ICE.ReadEvery = o.pacing
	eng, err := engine.New(cfg)
	if err != nil {
		se.cancel()
		_ = rec.Close()
		return usage(err)
	}
	// When the session is told to end (signal, --duration, --until) the
	// files are finalized first (reason "stopped"), then the engine leaves:
	// leaving ends every track, which would read as the streams ending.
	engCtx, leave := context.WithCancel(context.WithoutCancel(se.ctx))
	defer leave()
	stop := context.AfterFunc(se.ctx, func() {
		_ = rec.Close()
		leave()
	})
	defer stop()
	se.serveControl(&o.controlFlags, s, "record", eng,
		control.SessionMethods(eng, se.cancel).With(control.SubscribeMethods(eng)))
	se.log.Info("recording", "server", o.server, "app", o.appID, "room", o.room, "uid", o.uid, "out", o.out)
	runErr := eng.Run(engCtx)
	_ = rec.Close()
	if err := se.finish(runErr); err != nil {
		return err
	}
	if n := rec.Failures(); n > 0 {
		return fmt.Errorf("%d recording error(s); see the recording_error events", n)
	}
	return nil
}

// recordTracksPerProc is how many recorded tracks one scheduler thread
// carries: about a third of a core at 24 users of 1 Mb/s VP8 + Opus
// (~15 ms per user-second with one P, BENCHMARKS.md).
const recordTracksPerProc = 48

// scaledTracks counts the tracks being recorded for the scheduler's size.
type scaledTracks struct {
	h engine.TrackHandler
	s *procs.Scaler
}

func (t scaledTracks) HandleTrack(rt *engine.RemoteTrack) engine.PacketSink {
	sink := t.h.HandleTrack(rt)
	if sink == nil {
		return nil
	}
	t.s.Add(1)
	return &scaledSink{PacketSink: sink, s: t.s}
}

type scaledSink struct {
	engine.PacketSink
	s *procs.Scaler
}

func (k *scaledSink) Close(reason engine.EndReason) {
	k.PacketSink.Close(reason)
	k.s.Add(-1)
}
