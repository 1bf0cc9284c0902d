package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomctl/roomctl/internal/event"
)

// qItem is what the media goroutine queues for an output: a tag of
// connection gen, or the end of the stream.
type qItem struct {
	gen uint64
	t   *tag
	end bool
}

// errEnded: the stream ended normally (the source left).
var errEnded = errors.New("stream ended")

// ongoingAfter is how long a publication must survive before it counts as
// ONGOING (with media written). nginx-rtmp answers NetStream.Publish.Start
// even to a publisher its access rules refuse, and drops the connection
// right after: without the wait, a refused URL would flap between
// ONGOING and FAILED on every retry.
const ongoingAfter = 250 * time.Millisecond

// output is one URL: its connection, retries and status. Its goroutine
// (run) is the only writer of its connection.
type output struct {
	p      *Pusher
	tgt    target
	log    *slog.Logger
	q      chan qItem
	exited chan struct{}
	// ctx ends this output's connection and goroutine: the push's work
	// context, or RemoveURL (cancel).
	ctx     context.Context
	cancel  context.CancelFunc
	dropped atomic.Int64 // tags the queue had no room for (media goroutine)

	mu     sync.Mutex
	status string
	reason string
	final  bool

	// Owned by run.
	written  int64
	attempts int
	latency  [2]latencyRing // audio, video: RTP arrival → tag written
}

// latencyRing keeps the newest latencySamples latencies.
type latencyRing struct {
	d    []time.Duration
	next int
}

const latencySamples = 8192

func (r *latencyRing) add(d time.Duration) {
	if len(r.d) < latencySamples {
		r.d = append(r.d, d)
		return
	}
	r.d[r.next] = d
	r.next = (r.next + 1) % latencySamples
}

// percentiles returns the 50th and 99th percentile, or false without samples.
func (r *latencyRing) percentiles() (p50, p99 time.Duration, ok bool) {
	n := len(r.d)
	if n == 0 {
		return 0, 0, false
	}
	l := slices.Clone(r.d)
	slices.Sort(l)
	return l[n/2], l[min(n-1, n*99/100)], true
}

func newOutput(p *Pusher, t target) *output {
	o := &output{
		p:      p,
		tgt:    t,
		log:    p.log.With("url", redact(t.raw)),
		q:      make(chan qItem, p.cfg.QueueLen),
		exited: make(chan struct{}),
	}
	o.ctx, o.cancel = context.WithCancel(p.workCtx)
	return o
}

// setStatus prints push_stream_status when the status changes, unless the
// push already ended for this URL.
func (o *output) setStatus(status, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.final {
		return
	}
	o.emit(status, reason)
}

// setFinal sets the last status; later changes are ignored.
func (o *output) setFinal(status, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.final {
		return
	}
	o.final = true
	o.emit(status, reason)
}

func (o *output) emit(status, reason string) {
	if o.status == status && o.reason == reason {
		return
	}
	o.status, o.reason = status, reason
	o.p.cfg.Events.Emit(event.PushStreamStatus, event.PushStatus{URL: o.tgt.raw, Status: status, Reason: reason})
}

// run connects, streams, and reconnects with backoff until the push ends.
func (o *output) run() {
	defer close(o.exited)
	defer o.cancel()
	ctx := o.ctx
	select {
	case <-o.p.started:
	case <-o.p.draining:
		return
	case <-ctx.Done():
		return
	}
	backoff := o.p.cfg.RetryMin
	for gen := uint64(1); ; gen++ {
		o.attempts++
		ongoing, err := o.session(ctx, gen)
		if errors.Is(err, errEnded) || ctx.Err() != nil {
			return
		}
		if ongoing {
			backoff = o.p.cfg.RetryMin
		}
		o.setStatus(StatusFailed, ReasonNone)
		o.log.Warn("rtmp push failed; retrying", "err", err, "attempt", o.attempts, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-o.p.draining:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, o.p.cfg.RetryMax)
	}
}

// session is one connection: publish, then write what the media goroutine
// queues until the connection fails or the push ends. ongoing reports
// whether it reached PUSH_STREAM_ONGOING.
func (o *output) session(ctx context.Context, gen uint64) (ongoing bool, err error) {
	conn, err := dialRTMP(ctx, o.tgt, o.p.cfg.DialTimeout, o.p.cfg.WriteTimeout)
	if err != nil {
		return false, err
	}
	defer func() { _ = conn.Close() }()
	o.log.Info("rtmp publish accepted", "attempt", o.attempts)
	if !o.p.sendCtl(input{kind: inLive, out: o, gen: gen, live: true}) {
		return false, errEnded
	}
	defer o.p.sendCtl(input{kind: inLive, out: o, gen: gen, live: false})
	confirm := time.NewTimer(ongoingAfter)
	defer confirm.Stop()
	confirmed, wrote := false, false
	for {
		if confirmed && wrote && !ongoing {
			select {
			case <-conn.Done(): // a close that is already there comes first
				return false, fmt.Errorf("server closed the connection: %w", conn.err())
			default:
			}
			ongoing = true
			o.setStatus(StatusOngoing, ReasonNone)
		}
		select {
		case <-confirm.C:
			confirmed = true
		case <-ctx.Done():
			return ongoing, ctx.Err()
		case <-conn.Done():
			return ongoing, fmt.Errorf("server closed the connection: %w", conn.err())
		case it := <-o.q:
			if it.gen != gen {
				continue // queued for an earlier connection
			}
			if it.end {
				conn.finish()
				return ongoing, errEnded
			}
			if err := conn.writeTag(it.t); err != nil {
				return ongoing, fmt.Errorf("write: %w", err)
			}
			if !it.t.media() {
				continue
			}
			o.record(it.t)
			wrote = true
		}
	}
}

func (o *output) record(t *tag) {
	o.written++
	if t.arrival.IsZero() {
		return
	}
	o.latency[kindIndex(t.typ)].add(o.p.cfg.Now().Sub(t.arrival))
}

// logStats logs what this output did; called once its goroutine ended.
func (o *output) logStats() {
	args := []any{"tags", o.written, "dropped", o.dropped.Load(), "connections", o.attempts}
	for i, kind := range []string{"audio", "video"} {
		if p50, p99, ok := o.latency[i].percentiles(); ok {
			args = append(args, kind+"_latency_p50", p50.Round(10*time.Microsecond), kind+"_latency_p99", p99.Round(10*time.Microsecond))
		}
	}
	o.log.Info("rtmp push stats", args...)
}
