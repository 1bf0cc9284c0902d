package samplebuilder

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media"
	pion "github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// flagDepacketizer: bit 0 of a payload's first byte marks a partition
// head; the marker bit marks the tail.
type flagDepacketizer struct{}

func (flagDepacketizer) Unmarshal(b []byte) ([]byte, error) { return b, nil }
func (flagDepacketizer) IsPartitionHead(b []byte) bool      { return len(b) > 0 && b[0]&1 == 1 }
func (flagDepacketizer) IsPartitionTail(marker bool, _ []byte) bool {
	return marker
}

// stream makes n frames of 1–4 packets from seq start, then loses,
// duplicates and reorders packets (reordering by at most maxShift places).
func stream(r *rand.Rand, start uint16, n int, loss float64, maxShift int) []*rtp.Packet {
	var pkts []*rtp.Packet
	seq, ts := start, r.Uint32()
	for range n {
		parts := 1 + r.IntN(4)
		for j := range parts {
			head := byte(0)
			if j == 0 {
				head = 1
			}
			pkts = append(pkts, &rtp.Packet{
				Header:  rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: j == parts-1},
				Payload: []byte{head, byte(seq), byte(seq >> 8)},
			})
			seq++
		}
		ts += 3000
	}
	var out []*rtp.Packet
	for _, p := range pkts {
		switch x := r.Float64(); {
		case x < loss:
			continue
		case x < 1.5*loss:
			out = append(out, p, p) // duplicate
		default:
			out = append(out, p)
		}
	}
	for i := range out {
		if j := i + r.IntN(maxShift+1); j < len(out) {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// inRing drops the packets that arrive so late that the ring could not
// hold the window back to them: there the ring releases the packet at once
// where pion's builder stores it and purges its window down to it, holding
// back frames that are whole (TestRingJumps). Everything else must match.
func inRing(pkts []*rtp.Packet, maxLate uint16) []*rtp.Packet {
	size := uint16(ringSize(maxLate) - 1) //nolint:gosec // ≤ 65535
	var out []*rtp.Packet
	var highest uint16
	for i, p := range pkts {
		if i == 0 || int16(p.SequenceNumber-highest) > 0 { //nolint:gosec // sequence arithmetic
			highest = p.SequenceNumber
		}
		if highest+1-p.SequenceNumber < size {
			out = append(out, p)
		}
	}
	return out
}

type run struct {
	samples  []media.Sample
	released []uint16
}

// TestRingMatchesPion: on streams whose reordering stays inside the
// window, the ring builder returns pion's samples and releases pion's
// packets, in the same order, also across the sequence number wrap.
func TestRingMatchesPion(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 7))
		maxLate := uint16(8 + r.IntN(200))
		start := uint16(r.IntN(65536))
		if seed%2 == 0 {
			start = uint16(65535 - r.IntN(500)) // across the wrap
		}
		pkts := inRing(stream(r, start, 300, 0.1*r.Float64(), r.IntN(int(maxLate))), maxLate)
		var ours, theirs run
		opts := func(rn *run) (func(*rtp.Packet), time.Duration) {
			return func(p *rtp.Packet) { rn.released = append(rn.released, p.SequenceNumber) }, 100 * time.Millisecond
		}
		h1, d := opts(&ours)
		h2, _ := opts(&theirs)
		a := New(maxLate, flagDepacketizer{}, 90000, WithPacketReleaseHandler(h1), WithMaxTimeDelay(d))
		b := pion.New(maxLate, flagDepacketizer{}, 90000, pion.WithPacketReleaseHandler(h2), pion.WithMaxTimeDelay(d))
		for _, p := range pkts {
			a.Push(p)
			b.Push(p)
			for s := a.Pop(); s != nil; s = a.Pop() {
				ours.samples = append(ours.samples, *s)
			}
			for s := b.Pop(); s != nil; s = b.Pop() {
				theirs.samples = append(theirs.samples, *s)
			}
		}
		if len(ours.samples) == 0 {
			t.Fatalf("seed %d: no samples at all", seed)
		}
		if len(ours.samples) != len(theirs.samples) {
			t.Fatalf("seed %d (maxLate %d): %d samples, pion %d", seed, maxLate, len(ours.samples), len(theirs.samples))
		}
		for i := range ours.samples {
			o, p := ours.samples[i], theirs.samples[i]
			if o.PacketTimestamp != p.PacketTimestamp || string(o.Data) != string(p.Data) ||
				o.PrevDroppedPackets != p.PrevDroppedPackets || o.Duration != p.Duration {
				t.Fatalf("seed %d sample %d: got ts %d dropped %d len %d, pion ts %d dropped %d len %d",
					seed, i, o.PacketTimestamp, o.PrevDroppedPackets, len(o.Data), p.PacketTimestamp, p.PrevDroppedPackets, len(p.Data))
			}
		}
		for i := range min(len(ours.released), len(theirs.released)) {
			if ours.released[i] != theirs.released[i] {
				t.Fatalf("seed %d release %d: %d, pion %d", seed, i, ours.released[i], theirs.released[i])
			}
		}
		if len(ours.released) != len(theirs.released) {
			t.Fatalf("seed %d: %d released, pion %d; %v %v", seed, len(ours.released), len(theirs.released), ours.released[len(ours.released)-5:], theirs.released[len(theirs.released)-3:])
		}
	}
}

// TestRingJumps: packets far ahead of the window (a restarted stream) or
// far behind it neither overwrite what the window holds nor get lost
// silently: the new stream's frames come out whole, the old one's last
// whole frame before them, and a packet too old is released at once.
func TestRingJumps(t *testing.T) {
	var released []uint16
	b := New(16, flagDepacketizer{}, 90000, WithPacketReleaseHandler(func(p *rtp.Packet) { released = append(released, p.SequenceNumber) }))
	if len(b.buffer) != 64 {
		t.Fatalf("ring of %d slots for maxLate 16, want 64", len(b.buffer))
	}
	push := func(seq uint16, ts uint32, head, marker bool) {
		h := byte(0)
		if head {
			h = 1
		}
		b.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: []byte{h, byte(seq)}})
	}
	var got []uint32
	pop := func() {
		for s := b.Pop(); s != nil; s = b.Pop() {
			got = append(got, s.PacketTimestamp)
		}
	}
	push(100, 1000, true, true)
	push(101, 2000, true, false)
	push(102, 2000, false, true)
	pop()
	// 100+64+1 lands on 101's slot: it must not replace it.
	push(165, 9000, true, true)
	push(166, 10000, true, true)
	pop()
	want := []uint32{1000, 2000, 9000}
	if len(got) != len(want) {
		t.Fatalf("samples %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("samples %v, want %v", got, want)
		}
	}
	// 166-70 is behind the window by more than the ring: released unused.
	n := len(released)
	push(96, 500, true, true)
	if len(released) != n+1 || released[n] != 96 {
		t.Fatalf("released %v after a packet far behind", released)
	}
}

// TestRingSize: the ring is a power of two holding twice maxLate+1.
func TestRingSize(t *testing.T) {
	for _, c := range []struct {
		maxLate uint16
		want    int
	}{{0, 64}, {31, 64}, {32, 128}, {128, 512}, {512, 2048}, {65535, 65536}} {
		if got := ringSize(c.maxLate); got != c.want {
			t.Errorf("ringSize(%d) = %d, want %d", c.maxLate, got, c.want)
		}
	}
}

// BenchmarkVideoFrames: frames of 3 packets of 1100 bytes, as a 1 Mb/s
// 30-fps stream has; one op is one packet.
func BenchmarkVideoFrames(b *testing.B) {
	sb := New(512, flagDepacketizer{}, 90000)
	payload := make([]byte, 1100)
	b.ReportAllocs()
	for i := range b.N {
		seq := uint16(i) //nolint:gosec // wraps on purpose
		p := append([]byte(nil), payload...)
		p[0] = 0
		if i%3 == 0 {
			p[0] = 1
		}
		sb.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(i / 3 * 3000), Marker: i%3 == 2}, Payload: p}) //nolint:gosec // wraps on purpose
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			_ = s
		}
	}
}
