package engine

import (
	"testing"
	"time"
)

// The traffic meter: rates over the interval, the loss of the last
// interval that expected packets, and totals that keep the tracks gone.
func TestTrafficMeter(t *testing.T) {
	var m trafficMeter
	t0 := time.Unix(1000, 0)
	a := &sendCounters{kind: "video"} // a published track
	b := &rxTrack{kind: "video"}      // a subscribed one
	sample := func(at time.Duration, send, recv trafficCount) {
		a.bytes.Store(send.bytes)
		b.bytes.Store(recv.bytes)
		m.sample(t0.Add(at), []trafficSample{{key: a, send: true, count: send}, {key: b, count: recv}})
	}
	sample(0, trafficCount{}, trafficCount{})
	if m.track(a).bitrate != 0 || m.sendRate != 0 || m.track(b).lossKnown {
		t.Fatalf("rates after one sample: %+v %+v", *m.track(a), m)
	}
	sample(time.Second, trafficCount{bytes: 1000, frames: 25, received: 90},
		trafficCount{bytes: 2000, frames: 30, received: 95, lost: 5})
	ta, tb := m.track(a), m.track(b)
	if ta.bitrate != 8 || ta.frameRate != 25 || m.sendRate != 8 || tb.bitrate != 16 || m.recvRate != 16 {
		t.Errorf("rates %+v %+v, meter %+v", *ta, *tb, m)
	}
	if !tb.lossKnown || tb.loss != 0.05 || !ta.lossKnown || ta.loss != 0 {
		t.Errorf("loss %+v %+v", *ta, *tb)
	}
	// Nothing expected over the next interval (muted, no report): the loss
	// stays; a jump of numbering is not loss.
	sample(2*time.Second, trafficCount{bytes: 1000, frames: 25, received: 90},
		trafficCount{bytes: 2000, frames: 30, received: 95, lost: 5 + maxJump + 1})
	if tb.loss != 0.05 || ta.bitrate != 0 {
		t.Errorf("after a still interval: %+v %+v", *ta, *tb)
	}

	// b goes away after 500 more bytes; the totals keep all of it, before
	// the next sample and after.
	b.bytes.Store(2500)
	if s, r := m.totals([]trafficSample{{key: a, send: true}}); s != 1000 || r != 2500 {
		t.Errorf("totals %d %d, want 1000 2500", s, r)
	}
	m.sample(t0.Add(3*time.Second), []trafficSample{{key: a, send: true, count: trafficCount{bytes: 1000}}})
	c := &rxTrack{kind: "video"} // its successor, not sampled yet
	c.bytes.Store(100)
	if s, r := m.totals([]trafficSample{{key: a, send: true}, {key: c}}); s != 1000 || r != 2600 {
		t.Errorf("totals %d %d, want 1000 2600", s, r)
	}
	if m.track(b) != nil || m.recvRate != 4 {
		t.Errorf("after b went: kept %v, receive rate %v, want 4 (its last 500 bytes)", m.track(b), m.recvRate)
	}
}
