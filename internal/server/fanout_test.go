package server

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fakeBinding is a subscriber's side of a binding: it records what is
// written to it.
type fakeBinding struct {
	id     string
	ssrc   webrtc.SSRC
	codecs []webrtc.RTPCodecParameters
	mu     sync.Mutex
	got    []rtp.Header
}

func (f *fakeBinding) CodecParameters() []webrtc.RTPCodecParameters { return f.codecs }
func (f *fakeBinding) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter {
	return nil
}
func (f *fakeBinding) SSRC() webrtc.SSRC                       { return f.ssrc }
func (f *fakeBinding) SSRCRetransmission() webrtc.SSRC         { return 0 }
func (f *fakeBinding) SSRCForwardErrorCorrection() webrtc.SSRC { return 0 }
func (f *fakeBinding) WriteStream() webrtc.TrackLocalWriter    { return f }
func (f *fakeBinding) ID() string                              { return f.id }
func (f *fakeBinding) RTCPReader() interceptor.RTCPReader      { return nil }
func (f *fakeBinding) Write(b []byte) (int, error)             { return len(b), nil }
func (f *fakeBinding) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	f.mu.Lock()
	f.got = append(f.got, *h)
	f.mu.Unlock()
	return len(p), nil
}

var vp8 = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}

func bind(t *testing.T, tr *fanoutTrack, id string, ssrc webrtc.SSRC, pt webrtc.PayloadType) *fakeBinding {
	t.Helper()
	f := &fakeBinding{id: id, ssrc: ssrc, codecs: []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111},
		{RTPCodecCapability: vp8, PayloadType: pt},
	}}
	c, err := tr.Bind(f)
	if err != nil || c.PayloadType != pt {
		t.Fatalf("bind %s: %v %+v", id, err, c)
	}
	return f
}

// Every subscriber gets every packet with its own SSRC and payload type; a
// NACK is answered to the subscriber that sent it only, from the ring, and
// what the ring no longer holds is returned (for the publisher).
func TestFanoutResendsFromSharedRing(t *testing.T) {
	tr := newFanoutTrack(vp8, "a-video", "a", nil)
	a, b := bind(t, tr, "a", 1111, 96), bind(t, tr, "b", 2222, 100)
	for seq := range uint16(600) {
		tr.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 9}, Payload: []byte{byte(seq)}})
	}
	if len(a.got) != 600 || len(b.got) != 600 {
		t.Fatalf("a got %d, b got %d packets, want 600 each", len(a.got), len(b.got))
	}
	if h := b.got[7]; h.SSRC != 2222 || h.PayloadType != 100 || h.SequenceNumber != 7 {
		t.Errorf("b's packet 7: %+v", h)
	}
	missing := tr.Resend(2222, rtcp.NackPairsFromSequenceNumbers([]uint16{10, 598, 599}))
	if !slices.Equal(missing, []uint16{10}) {
		t.Errorf("missing %v, want [10] (overwritten: the ring holds %d)", missing, retransmitRing)
	}
	if len(a.got) != 600 {
		t.Errorf("a got %d packets: another subscriber's NACK reached it", len(a.got)-600)
	}
	if len(b.got) != 602 || b.got[600].SequenceNumber != 598 || b.got[601].SequenceNumber != 599 || b.got[601].SSRC != 2222 {
		t.Errorf("b's resent packets: %+v", b.got[600:])
	}
	// Unknown sender: everything is missing.
	if m := tr.Resend(3333, rtcp.NackPairsFromSequenceNumbers([]uint16{599})); !slices.Equal(m, []uint16{599}) {
		t.Errorf("unknown ssrc: %v", m)
	}
	if err := tr.Unbind(a); err != nil {
		t.Fatal(err)
	}
	tr.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: 600}})
	if len(a.got) != 600 || len(b.got) != 603 {
		t.Errorf("after unbinding a: a %d, b %d", len(a.got), len(b.got))
	}
}

// Audio keeps no ring: every NACKed packet is the publisher's to resend.
func TestFanoutAudioHasNoRing(t *testing.T) {
	tr := newFanoutTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a-audio", "a", nil)
	if tr.ring != nil || tr.Kind() != webrtc.RTPCodecTypeAudio {
		t.Fatal("audio track with a ring")
	}
	if m := tr.Resend(1, rtcp.NackPairsFromSequenceNumbers([]uint16{1})); !slices.Equal(m, []uint16{1}) {
		t.Errorf("audio resend: %v", m)
	}
}

func TestMatchCodec(t *testing.T) {
	h264 := func(fmtp string, pt webrtc.PayloadType) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp}, PayloadType: pt}
	}
	have := []webrtc.RTPCodecParameters{
		h264("level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f", 100),
		h264("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 102),
	}
	want := webrtc.RTPCodecCapability{MimeType: "video/h264", SDPFmtpLine: "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1"}
	if c, ok := matchCodec(want, have); !ok || c.PayloadType != 102 {
		t.Errorf("exact fmtp in another order: %v %+v", ok, c)
	}
	want.SDPFmtpLine = "packetization-mode=1;profile-level-id=640c1f"
	if c, ok := matchCodec(want, have); !ok || c.PayloadType != 100 {
		t.Errorf("no exact match falls back to the first H264: %v %+v", ok, c)
	}
	if _, ok := matchCodec(vp8, have); ok {
		t.Error("VP8 matched an H.264 subscriber")
	}
}

// The fan-out allocates nothing per packet per subscriber.
func TestFanoutWriteAllocs(t *testing.T) {
	tr := newFanoutTrack(vp8, "a-video", "a", nil)
	for i := range 20 {
		f := &fakeBinding{id: string(rune('a' + i)), ssrc: webrtc.SSRC(i + 1), codecs: []webrtc.RTPCodecParameters{{RTPCodecCapability: vp8, PayloadType: 96}}}
		f.got = make([]rtp.Header, 0, 4096)
		if _, err := tr.Bind(f); err != nil {
			t.Fatal(err)
		}
	}
	pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: 1}, Payload: make([]byte, 1200)}
	for range retransmitRing { // grow every slot's buffer once
		pkt.SequenceNumber++
		tr.WriteRTP(pkt)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		pkt.SequenceNumber++
		tr.WriteRTP(pkt)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet to 20 subscribers, want 0", allocs)
	}
}

// BenchmarkFanoutWrite is one packet to 50 subscribers (the writers only
// record the header: the cost of the fan-out itself, not of SRTP and UDP).
func BenchmarkFanoutWrite(b *testing.B) {
	tr := newFanoutTrack(vp8, "a-video", "a", nil)
	for i := range 50 {
		f := &fakeBinding{id: string(rune('A' + i)), ssrc: webrtc.SSRC(i + 1), codecs: []webrtc.RTPCodecParameters{{RTPCodecCapability: vp8, PayloadType: 96}}}
		if _, err := tr.Bind(f); err != nil {
			b.Fatal(err)
		}
		f.got = make([]rtp.Header, 0, 1)
	}
	pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: 1}, Payload: make([]byte, 1200)}
	b.ReportAllocs()
	for b.Loop() {
		pkt.SequenceNumber++
		tr.WriteRTP(pkt)
		for _, bd := range tr.bindings {
			bd.writeStream.(*fakeBinding).got = bd.writeStream.(*fakeBinding).got[:0]
		}
	}
}

// With batched sends, the fan-out flushes once per packet, after it went
// to every subscriber, and once per answered NACK.
func TestFanoutFlushesAfterEachPacket(t *testing.T) {
	var flushes int
	var seenAtFlush []int
	var a, b *fakeBinding
	tr := newFanoutTrack(vp8, "a-video", "a", func() {
		flushes++
		seenAtFlush = append(seenAtFlush, len(a.got)+len(b.got))
	})
	a, b = bind(t, tr, "a", 1111, 96), bind(t, tr, "b", 2222, 96)
	for seq := range uint16(3) {
		tr.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: []byte{1}})
	}
	if !slices.Equal(seenAtFlush, []int{2, 4, 6}) {
		t.Fatalf("packets written at each flush %v, want [2 4 6]", seenAtFlush)
	}
	tr.Resend(1111, rtcp.NackPairsFromSequenceNumbers([]uint16{1, 2}))
	if flushes != 4 || len(a.got) != 5 {
		t.Fatalf("%d flushes, a got %d packets after a NACK of 2; want 4 and 5", flushes, len(a.got))
	}
}

func TestToNTP(t *testing.T) {
	got := toNTP(time.Unix(1, int64(500*time.Millisecond)))
	if want := uint64(2208988801)<<32 | 1<<31; got != want {
		t.Fatalf("toNTP(1.5 s after 1970) = %#x, want %#x", got, want)
	}
	// The engine reads it back (engine.ntpTime does the inverse).
	now := time.Date(2026, 12, 3, 17, 30, 0, 250_000_000, time.UTC)
	n := toNTP(now)
	back := time.Unix(int64(n>>32)-2208988800, int64((n&0xFFFFFFFF)*uint64(time.Second)>>32))
	if d := back.Sub(now); d < -time.Microsecond || d > time.Microsecond {
		t.Fatalf("round trip of %v: %v", now, back)
	}
}
