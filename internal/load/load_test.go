package load

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestPctl(t *testing.T) {
	if pctl(nil) != nil {
		t.Error("percentiles of nothing")
	}
	var v []float64
	for i := 100; i >= 1; i-- {
		v = append(v, float64(i))
	}
	p := pctl(v)
	if p.N != 100 || p.P50 != 50 || p.P90 != 90 || p.P99 != 99 || p.Max != 100 {
		t.Errorf("1..100: %+v", p)
	}
	if v[0] != 100 {
		t.Error("pctl sorted its input")
	}
}

// Gaps count as lost, duplicates and late packets are ignored, the first
// video packet's latency is taken once.
func TestCountSink(t *testing.T) {
	r := &runner{}
	m := &member{started: time.Now().Add(-50 * time.Millisecond)}
	s := &countSink{r: r, m: m, video: true}
	for _, seq := range []uint16{65534, 65535, 0, 3, 3, 1, 4} {
		s.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: make([]byte, 100)}, time.Now())
	}
	if got := m.packets.Load(); got != 5 {
		t.Errorf("%d packets counted, want 5 (65534, 65535, 0, 3, 4)", got)
	}
	if got := m.lost.Load(); got != 2 {
		t.Errorf("%d lost, want 2 (1 and 2)", got)
	}
	if got := m.bytes.Load(); got != 5*112 {
		t.Errorf("%d bytes, want %d", got, 5*112)
	}
	if len(r.firstMs) != 1 || r.firstMs[0] < 50 {
		t.Errorf("first video %v, want one value ≥ 50 ms", r.firstMs)
	}
	if len(r.firstAudioMs) != 0 {
		t.Errorf("first audio %v from video packets", r.firstAudioMs)
	}
	a := &countSink{r: r, m: m}
	for seq := range uint16(3) {
		a.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: make([]byte, 10)}, time.Now())
	}
	if len(r.firstAudioMs) != 1 || r.firstAudioMs[0] < 50 || len(r.firstMs) != 1 {
		t.Errorf("first audio %v, first video %v: want one value each", r.firstAudioMs, r.firstMs)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{
		{},
		{Rooms: []string{"r"}, Ramp: 1, Duration: time.Second},
		{Rooms: []string{"r"}, Subscribers: 1, Duration: time.Second},
		{Rooms: []string{"r"}, Subscribers: 1, Ramp: 1},
	} {
		if err := Run(context.Background(), c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", c, err)
		}
	}
}
