// Package push restreams one participant's stream from a room to up to five
// RTMP servers (a CDN push), as the SDK's addPublishOriginStreamUrl does,
// and reports each URL's state as push_stream_status events.
//
// A Pusher is the engine's TrackHandler for the source participant. H.264
// video is passed through (RTP → access units → AVCC, with an avcC
// sequence header); Opus audio is decoded (pion/opus), resampled to
// 44.1 kHz and encoded to AAC-LC stereo 128 kb/s (push/aac, libavcodec),
// since RTMP/FLV carries H.264 and AAC. VP8 video is transcoded to H.264
// (compose.go, push/vcodec) at the source's size; other codecs are refused
// (ErrUnsupportedCodec, INTERNEL_ERROR).
//
// With a Task (the SDK's live transcoding), several users' pictures are
// composed on a canvas of the task's mode, in a grid or at given cells,
// and encoded on a ticker at the mode's frame rate; their Opus audio is
// decoded, mixed (a small jitter buffer per user, dsp.Limit on the sum)
// and encoded on the wall clock. Users who come and go are drawn and
// removed live; the task ends only when stopped.
//
// Timing: every track's RTP clock is mapped to wall-clock time, through
// RTCP sender reports when all tracks have one within SyncWait, else from
// the arrival of each track's first packet; the mapping is then fixed, and
// the FLV timeline is milliseconds since the first tag. An interleaver
// keeps audio and video tags in timestamp order. Video starts on a
// keyframe, and a keyframe is requested whenever one is needed: at the
// start, after packet loss, when an output (re)connects or dropped tags.
//
// Each URL has its own RTMP connection, goroutine and bounded queue: a slow
// or dead server loses tags (and then waits for a keyframe) without ever
// holding up the others. A URL whose connection fails or is refused is
// retried with exponential backoff (RetryMin to RetryMax).
//
// Statuses, printed only when they change per URL:
//   - PUSH_STREAM_ONGOING: the server accepted the publication
//     (NetStream.Publish.Start) and the first media tag was written;
//   - PUSH_STREAM_FAILED: connecting or publishing failed or was refused,
//     or the connection dropped; a retry follows;
//   - INTERNEL_ERROR (the SDK's spelling): the source cannot be pulled
//     (Fail, an unsupported codec); the push ends;
//   - PUSH_STREAM_FINISHED: the push ended cleanly, reason TASK_IS_STOPPED
//     (Close) or STREAM_IS_UNPUBLISHED (SourceGone, or a source track that
//     ended with engine.ReasonStreamRemoved).
package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/push/aac"
)

// push_stream_status values, spelled as the SDK spells them.
const (
	StatusOngoing  = "PUSH_STREAM_ONGOING"
	StatusFailed   = "PUSH_STREAM_FAILED"
	StatusInternal = "INTERNEL_ERROR"
	StatusFinished = "PUSH_STREAM_FINISHED"

	ReasonNone        = ""
	ReasonUnpublished = "STREAM_IS_UNPUBLISHED"
	ReasonStopped     = "TASK_IS_STOPPED"
	ReasonURLRemoved  = "URL_IS_REMOVED"
)

// The transcoded audio, as the SDK's transcoded pushes have it.
const (
	aacRate     = 44100
	aacChannels = 2
	aacBitRate  = 128000
)

// Config configures a Pusher. Zero durations take the defaults given.
type Config struct {
	// URLs are up to MaxURLs rtmp://host[:port]/app/key URLs of at most
	// MaxURLLen characters each, all different. More can be added and
	// removed while the push runs (AddURL, RemoveURL); with none, the push
	// waits for the first.
	URLs []string
	// Source, when set, is the only uid whose tracks are taken (without
	// a Task).
	Source string
	// Task, when set, makes the push a transcoding task: the pictures of
	// Task.Users (every publisher if none is listed) composed at the
	// mode's size, their audio mixed. Without it, a VP8 source is
	// transcoded to H.264 at its own size and H.264 is passed through.
	Task *Task
	// Events receives push_stream_status. Required.
	Events event.Emitter
	// Logger gets progress, retries and statistics; nil discards.
	Logger *slog.Logger

	// DialTimeout bounds connecting, from TCP to NetStream.Publish.Start;
	// default 10 s.
	DialTimeout time.Duration
	// WriteTimeout bounds one write to a server; default 5 s.
	WriteTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts; default
	// 500 ms and 5 s.
	RetryMin, RetryMax time.Duration
	// SyncWait is how long to wait for sender reports of every track
	// before starting on arrival times; default 2 s.
	SyncWait time.Duration
	// Hold is how long the interleaver holds a tag for the other kind;
	// default 300 ms.
	Hold time.Duration
	// QueueLen is each URL's queue, in tags; default 512 (about 7 s).
	QueueLen int
	// DrainTimeout bounds sending what is queued once the source left;
	// default 3 s.
	DrainTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) withDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, 10*time.Second)
	def(&c.WriteTimeout, 5*time.Second)
	def(&c.RetryMin, 500*time.Millisecond)
	def(&c.RetryMax, 5*time.Second)
	def(&c.SyncWait, 2*time.Second)
	def(&c.Hold, 300*time.Millisecond)
	def(&c.DrainTimeout, 3*time.Second)
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 512
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// ValidateURLs checks URLs as New does, so that a command can refuse bad
// input before it joins a room.
func ValidateURLs(urls []string) error {
	_, err := parseTargets(urls)
	return err
}

func parseTargets(urls []string) ([]target, error) {
	if len(urls) > MaxURLs {
		return nil, fmt.Errorf("%w: got %d", ErrURLCount, len(urls))
	}
	seen := map[string]bool{}
	var ts []target
	for _, u := range urls {
		t, err := parseTarget(u)
		if err != nil {
			return nil, err
		}
		if seen[u] {
			return nil, fmt.Errorf("%w: %q given twice", ErrInvalidURL, redact(u))
		}
		seen[u] = true
		ts = append(ts, t)
	}
	return ts, nil
}

// Pusher restreams one source to its URLs. Create with New; it implements
// engine.TrackHandler. Close it when done.
type Pusher struct {
	cfg Config
	log *slog.Logger

	outsMu sync.Mutex
	outs   []*output // pushed to now, in the order added
	// removing counts removed outputs whose goroutine has not ended.
	removing sync.WaitGroup

	in        chan input    // to the media goroutine
	started   chan struct{} // closed at the first accepted track
	startOnce sync.Once

	stopOnce sync.Once
	stopCh   chan struct{} // closed by the first stop request
	stop     stopRequest

	mediaQuit chan struct{} // media goroutine: stop now
	mediaEnd  chan struct{} // media goroutine: flush, end the outputs, stop
	mediaDone chan struct{}
	draining  chan struct{} // outputs: do not (re)connect any more
	// workCtx ends the outputs' connections and goroutines.
	workCtx    context.Context
	workCancel context.CancelFunc

	// comp is the compositor once the media goroutine started one.
	comp atomic.Pointer[compositor]

	done chan struct{}
	err  error
}

type stopRequest struct {
	status, reason string
	err            error
	drain          bool
}

// New validates cfg and starts the pusher's goroutines; outputs connect
// once the first source track arrives.
func New(cfg Config) (*Pusher, error) {
	targets, err := parseTargets(cfg.URLs)
	if err != nil {
		return nil, err
	}
	if cfg.Events == nil {
		return nil, errors.New("push: Config.Events is required")
	}
	if cfg.Task != nil {
		if err := ValidateLayout(cfg.Task.Mode, cfg.Task.Users); err != nil {
			return nil, err
		}
	}
	cfg.withDefaults()
	enc, err := aac.New(aac.Options{SampleRate: aacRate, Channels: aacChannels, BitRate: aacBitRate})
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	p := &Pusher{
		cfg:       cfg,
		log:       cfg.Logger,
		in:        make(chan input, 1024),
		started:   make(chan struct{}),
		stopCh:    make(chan struct{}),
		mediaQuit: make(chan struct{}),
		mediaEnd:  make(chan struct{}),
		mediaDone: make(chan struct{}),
		draining:  make(chan struct{}),
		done:      make(chan struct{}),
	}
	p.workCtx, p.workCancel = context.WithCancel(context.Background())
	m := newMuxer(p, enc)
	for _, t := range targets {
		o := newOutput(p, t)
		p.outs = append(p.outs, o)
		m.outs = append(m.outs, &outState{o: o})
	}
	go func() {
		defer close(p.mediaDone)
		m.run(p.mediaQuit, p.mediaEnd)
	}()
	for _, o := range p.outs {
		go o.run()
	}
	go p.supervise()
	return p, nil
}

// AddURL starts pushing to url as well (the SDK's
// addPublishOriginStreamUrl): ErrInvalidURL, ErrURLExists, ErrTooManyURLs
// when MaxURLs are pushed to, ErrClosed once the push ended. The new
// output connects at once if the source is there (else with the others)
// and starts with the sequence headers and a keyframe, which it asks for.
func (p *Pusher) AddURL(url string) error {
	t, err := parseTarget(url)
	if err != nil {
		return err
	}
	p.outsMu.Lock()
	defer p.outsMu.Unlock()
	select {
	case <-p.stopCh:
		return ErrClosed
	default:
	}
	for _, o := range p.outs {
		if o.tgt.raw == url {
			return fmt.Errorf("%w: %s", ErrURLExists, redact(url))
		}
	}
	if len(p.outs) >= MaxURLs {
		return fmt.Errorf("%w: remove one first", ErrTooManyURLs)
	}
	o := newOutput(p, t)
	// The media goroutine learns of it before its goroutine can connect
	// (p.in is in order), so its first connection finds its state.
	if !p.sendCtl(input{kind: inAddOut, out: o}) {
		return ErrClosed
	}
	p.outs = append(p.outs, o)
	go o.run()
	p.log.Info("rtmp url added", "url", redact(url))
	return nil
}

// RemoveURL stops pushing to url (the SDK's removePublishOriginStreamUrl):
// its connection closes and it reports PUSH_STREAM_FINISHED /
// URL_IS_REMOVED once closed; the other URLs go on untouched.
// ErrURLNotExist when url is not pushed to, ErrClosed once the push ended.
// It does not wait for the connection to close.
func (p *Pusher) RemoveURL(url string) error {
	p.outsMu.Lock()
	defer p.outsMu.Unlock()
	select {
	case <-p.stopCh:
		return ErrClosed
	default:
	}
	i := slices.IndexFunc(p.outs, func(o *output) bool { return o.tgt.raw == url })
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrURLNotExist, redact(url))
	}
	o := p.outs[i]
	p.outs = slices.Delete(p.outs, i, i+1)
	p.sendCtl(input{kind: inRemoveOut, out: o})
	o.cancel()
	p.removing.Add(1)
	go func() {
		defer p.removing.Done()
		<-o.exited
		o.setFinal(StatusFinished, ReasonURLRemoved)
		o.logStats()
	}()
	p.log.Info("rtmp url removed", "url", redact(url))
	return nil
}

// URLs are the URLs pushed to, in the order they were added.
func (p *Pusher) URLs() []string {
	p.outsMu.Lock()
	defer p.outsMu.Unlock()
	urls := make([]string, len(p.outs))
	for i, o := range p.outs {
		urls[i] = o.tgt.raw
	}
	return urls
}

// HandleTrack implements engine.TrackHandler: H.264 video and Opus audio
// of the source are taken; any other codec ends the push with
// INTERNEL_ERROR and ErrUnsupportedCodec.
func (p *Pusher) HandleTrack(t *engine.RemoteTrack) engine.PacketSink {
	switch task := p.cfg.Task; {
	case task != nil && !task.wants(t.UID):
		return nil
	case task == nil && p.cfg.Source != "" && t.UID != p.cfg.Source:
		return nil
	}
	select {
	case <-p.stopCh:
		return nil
	default:
	}
	video := t.Kind == "video"
	switch {
	case video && (strings.EqualFold(t.Codec, "H264") || strings.EqualFold(t.Codec, "VP8")),
		t.Kind == "audio" && strings.EqualFold(t.Codec, "opus"):
	default:
		err := fmt.Errorf("%w: %s of %s is %s; roomctl pushes H.264 and VP8 video (VP8 transcoded to H.264) and Opus audio (transcoded to AAC)",
			ErrUnsupportedCodec, t.Kind, t.UID, t.Codec)
		p.log.Error("cannot push the source", "err", err)
		p.requestStop(stopRequest{status: StatusInternal, err: err})
		return nil
	}
	s := &trackSink{p: p, t: t, video: video, requestKeyframe: t.RequestKeyframe}
	if !p.sendCtl(input{kind: inTrack, sink: s}) {
		return nil
	}
	p.log.Info("pushing track", "uid", t.UID, "kind", t.Kind, "codec", t.Codec)
	p.startOnce.Do(func() { close(p.started) })
	return s
}

// Sourced is closed once a track of the source was accepted.
func (p *Pusher) Sourced() <-chan struct{} { return p.started }

// SourceGone ends the push because the source unpublished or left: what
// is queued is sent (up to DrainTimeout), then every URL reports
// PUSH_STREAM_FINISHED / STREAM_IS_UNPUBLISHED and Done is closed. It does
// not wait.
func (p *Pusher) SourceGone() {
	p.requestStop(stopRequest{status: StatusFinished, reason: ReasonUnpublished, drain: true})
}

// Fail ends the push because the source cannot be pulled: every URL
// reports INTERNEL_ERROR and Err returns ErrSourceUnavailable wrapping
// cause. It does not wait.
func (p *Pusher) Fail(cause error) {
	p.requestStop(stopRequest{status: StatusInternal, err: fmt.Errorf("%w: %w", ErrSourceUnavailable, cause)})
}

// Close stops the push (PUSH_STREAM_FINISHED / TASK_IS_STOPPED for every
// URL not already ended) and waits until every goroutine has returned.
// It is safe to call more than once, and after the push ended by itself.
func (p *Pusher) Close() error {
	p.requestStop(stopRequest{status: StatusFinished, reason: ReasonStopped})
	<-p.done
	return nil
}

// Done is closed when the push has ended, by Close, SourceGone or a failure.
func (p *Pusher) Done() <-chan struct{} { return p.done }

// Err is why the push ended, once Done is closed: nil for Close and
// SourceGone, else ErrUnsupportedCodec or ErrSourceUnavailable.
func (p *Pusher) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

func (p *Pusher) requestStop(r stopRequest) {
	p.stopOnce.Do(func() {
		p.stop = r
		close(p.stopCh)
	})
}

// supervise ends everything in order once a stop is requested: media
// first (flushed when draining), then the outputs, then the statuses.
func (p *Pusher) supervise() {
	defer close(p.done)
	<-p.stopCh
	r := p.stop
	// No URL is added or removed after stopCh (AddURL, RemoveURL).
	p.outsMu.Lock()
	outs := slices.Clone(p.outs)
	p.outsMu.Unlock()
	if r.drain {
		close(p.draining)
		close(p.mediaEnd)
		<-p.mediaDone
		deadline := time.NewTimer(p.cfg.DrainTimeout)
	wait:
		for _, o := range outs {
			select {
			case <-o.exited:
			case <-deadline.C:
				break wait
			}
		}
		deadline.Stop()
	} else {
		close(p.mediaQuit)
		<-p.mediaDone
	}
	if c := p.comp.Load(); c != nil {
		<-c.done
		p.log.Info("transcoding statistics", "encoded", c.encoded.Load(), "skipped", c.skipped.Load(), "source_pictures_dropped", c.dropped.Load())
	}
	p.workCancel()
	for _, o := range outs {
		<-o.exited
	}
	for _, o := range outs {
		o.setFinal(r.status, r.reason)
		o.logStats()
	}
	p.removing.Wait()
	p.err = r.err
}

// sendCtl hands the media goroutine something it must not miss; false if
// it has stopped.
func (p *Pusher) sendCtl(in input) bool {
	select {
	case <-p.mediaDone:
		return false // do not let a free slot in the buffer decide
	default:
	}
	select {
	case p.in <- in:
		return true
	case <-p.mediaDone:
		return false
	}
}

// trackSink is the engine's PacketSink of one source track. Its methods
// only hand over to the media goroutine, so the engine is never held up.
type trackSink struct {
	p               *Pusher
	t               *engine.RemoteTrack
	video           bool
	requestKeyframe func() // t.RequestKeyframe; tests count the calls
}

// WriteRTP implements engine.PacketSink. When the media goroutine is
// behind by a whole queue, the packet is dropped and counts as lost.
func (s *trackSink) WriteRTP(pkt *rtp.Packet, arrival time.Time) {
	in := input{kind: inPacket, sink: s, at: arrival}
	in.pkt.SequenceNumber = pkt.SequenceNumber
	in.pkt.Timestamp = pkt.Timestamp
	in.pkt.Marker = pkt.Marker
	in.pkt.Payload = append([]byte(nil), pkt.Payload...)
	select {
	case s.p.in <- in:
	default:
	}
}

// SenderReport implements engine.PacketSink.
func (s *trackSink) SenderReport(ntp time.Time, rtpTime uint32) {
	s.p.sendCtl(input{kind: inSR, sink: s, at: ntp, rtpTime: rtpTime})
}

// Close implements engine.PacketSink. A source that unpublished or left
// (engine.ReasonStreamRemoved) ends the push, as SourceGone does; any other
// end only ends the track: after our session was lost the source comes
// back as new tracks, and when the engine stops the command ends the push.
func (s *trackSink) Close(reason engine.EndReason) {
	s.p.sendCtl(input{kind: inTrackEnd, sink: s})
	switch {
	case s.p.cfg.Task != nil:
		// A task goes on when a user leaves: its cell goes or turns grey.
	case reason == engine.ReasonStreamRemoved:
		s.p.SourceGone()
	case reason == engine.ReasonSessionLost:
		s.p.log.Warn("room session lost; the push waits for the source to come back", "source", s.t.UID)
	}
}
