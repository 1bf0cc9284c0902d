package server

import (
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fanoutTrack is the track a source is forwarded into: a webrtc.TrackLocal
// bound to every subscriber's sender, as webrtc.TrackLocalStaticRTP is, with
// one difference that makes the fan-out cheaper: it keeps the last
// retransmitRing packets of a video track once, for all its subscribers,
// and answers a subscriber's NACK from there, to that subscriber only.
// The subscribe PeerConnections therefore have no NACK responder
// interceptor, which copied every packet into a buffer per subscriber
// (newSubscribeAPI). A packet no longer in the ring is asked of the
// publisher (source.forwardNack).
type fanoutTrack struct {
	codec    webrtc.RTPCodecCapability
	id       string
	streamID string
	kind     webrtc.RTPCodecType

	mu       sync.RWMutex
	bindings []fanoutBinding
	// reportTo holds, by SSRC, the RTCP writers of senders whose reports
	// this track makes itself (see reportFor); Bind moves one into its
	// binding.
	reportTo map[webrtc.SSRC]func([]rtcp.Packet) error

	// Written by WriteRTP only (one goroutine: the source's forward loop);
	// the header is reused for every binding, as pion's static track does,
	// so that a packet costs no allocation per subscriber.
	hdr rtp.Header

	ringMu sync.Mutex
	ring   []ringSlot // nil for audio

	flush func() // see newFanoutTrack; nil: nothing to flush
}

type fanoutBinding struct {
	id          string
	ssrc        webrtc.SSRC
	payloadType webrtc.PayloadType
	writeStream webrtc.TrackLocalWriter
	sr          *senderReports // nil: the sender's interceptors report
}

// senderReports makes the RTCP sender reports of one binding whose sender
// has no sender-report interceptor: a sender that reuses a subscribe
// transceiver is made with the server's API (subscribe.go,
// subTransceiver), and pion gives such senders no interceptors (those are
// built per PeerConnection, inside NewPeerConnection). Written by WriteRTP
// only (the source's forward loop).
type senderReports struct {
	write   func([]rtcp.Packet) error // the subscribe PeerConnection's WriteRTCP
	packets uint32
	octets  uint32
	last    time.Time // when the last report went
}

// senderReportInterval is how often a binding's report goes, as pion's
// sender-report interceptor sends them (its default interval).
const senderReportInterval = time.Second

// sent counts a packet written to the binding at now, and sends a report
// when one is due: the packet's RTP timestamp at now (as pion's interceptor
// does, from the last packet written), the packets and payload octets
// written so far.
func (r *senderReports) sent(ssrc webrtc.SSRC, p *rtp.Packet, now time.Time) {
	r.packets++
	r.octets += uint32(len(p.Payload))
	if now.Sub(r.last) < senderReportInterval {
		return
	}
	r.last = now
	_ = r.write([]rtcp.Packet{&rtcp.SenderReport{
		SSRC: uint32(ssrc), NTPTime: toNTP(now), RTPTime: p.Timestamp,
		PacketCount: r.packets, OctetCount: r.octets,
	}})
}

// toNTP is t as a 64-bit NTP timestamp (seconds since 1900 . fraction).
func toNTP(t time.Time) uint64 {
	const unixToNTP = 2208988800
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return uint64(t.Unix()+unixToNTP)<<32 | frac
}

// reportFor makes the track send the RTCP sender reports of the sender
// with ssrc itself, through write, once that sender binds.
func (t *fanoutTrack) reportFor(ssrc webrtc.SSRC, write func([]rtcp.Packet) error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reportTo == nil {
		t.reportTo = make(map[webrtc.SSRC]func([]rtcp.Packet) error)
	}
	t.reportTo[ssrc] = write
}

// retransmitRing is how many packets of a video track are kept for
// retransmission: at 1 Mb/s of 1200-byte packets about 5 s, more than
// any NACK waits.
const retransmitRing = 512

type ringSlot struct {
	valid   bool
	hdr     rtp.Header // extensions already stripped by forward
	payload []byte     // reused: grows to the largest packet seen here
}

// flush, when not nil, sends what the writes to the subscribers queued
// (batched UDP sends): called after each packet went to all of them.
func newFanoutTrack(c webrtc.RTPCodecCapability, id, streamID string, flush func()) *fanoutTrack {
	t := &fanoutTrack{codec: c, id: id, streamID: streamID, flush: flush}
	switch {
	case strings.HasPrefix(strings.ToLower(c.MimeType), "video/"):
		t.kind = webrtc.RTPCodecTypeVideo
		t.ring = make([]ringSlot, retransmitRing)
	case strings.HasPrefix(strings.ToLower(c.MimeType), "audio/"):
		t.kind = webrtc.RTPCodecTypeAudio
	}
	return t
}

// Bind implements webrtc.TrackLocal: the subscriber's codec is the one of
// its negotiated codecs that matches ours, exactly (MIME type and fmtp)
// if one does, else by MIME type (pion's static track does the same).
func (t *fanoutTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, ok := matchCodec(t.codec, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := fanoutBinding{id: ctx.ID(), ssrc: ctx.SSRC(), payloadType: codec.PayloadType, writeStream: ctx.WriteStream()}
	if w, ok := t.reportTo[b.ssrc]; ok {
		delete(t.reportTo, b.ssrc)
		b.sr = &senderReports{write: w}
	}
	t.bindings = append(t.bindings, b)
	return codec, nil
}

func matchCodec(want webrtc.RTPCodecCapability, have []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	for _, c := range have {
		if strings.EqualFold(c.MimeType, want.MimeType) && fmtpEqual(c.SDPFmtpLine, want.SDPFmtpLine) {
			return c, true
		}
	}
	for _, c := range have {
		if strings.EqualFold(c.MimeType, want.MimeType) {
			return c, true
		}
	}
	return webrtc.RTPCodecParameters{}, false
}

// fmtpEqual compares two fmtp lines as sets of parameters (any order, keys
// in any case).
func fmtpEqual(a, b string) bool {
	parse := func(s string) map[string]string {
		m := map[string]string{}
		for _, kv := range strings.Split(s, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			if k != "" {
				m[strings.ToLower(k)] = strings.ToLower(v)
			}
		}
		return m
	}
	ma, mb := parse(a), parse(b)
	if len(ma) != len(mb) {
		return false
	}
	for k, v := range ma {
		if mb[k] != v {
			return false
		}
	}
	return true
}

// Unbind implements webrtc.TrackLocal.
func (t *fanoutTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, b := range t.bindings {
		if b.id == ctx.ID() {
			t.bindings[i] = t.bindings[len(t.bindings)-1]
			t.bindings = t.bindings[:len(t.bindings)-1]
			return nil
		}
	}
	return webrtc.ErrUnbindFailed
}

// ID, RID, StreamID, Kind and Codec describe the track (webrtc.TrackLocal).
func (t *fanoutTrack) ID() string                       { return t.id }
func (t *fanoutTrack) RID() string                      { return "" }
func (t *fanoutTrack) StreamID() string                 { return t.streamID }
func (t *fanoutTrack) Kind() webrtc.RTPCodecType        { return t.kind }
func (t *fanoutTrack) Codec() webrtc.RTPCodecCapability { return t.codec }

// WriteRTP keeps p for retransmission (video) and sends it to every
// subscriber. It must be called from one goroutine only. A write fails
// only for subscribers that are going away; those errors are dropped.
func (t *fanoutTrack) WriteRTP(p *rtp.Packet) {
	if t.ring != nil {
		t.ringMu.Lock()
		s := &t.ring[p.SequenceNumber%retransmitRing]
		s.valid, s.hdr = true, p.Header
		s.payload = append(s.payload[:0], p.Payload...)
		t.ringMu.Unlock()
	}
	t.hdr = p.Header
	t.mu.RLock()
	var now time.Time // read once, at the first binding that reports itself
	for _, b := range t.bindings {
		t.hdr.SSRC, t.hdr.PayloadType = uint32(b.ssrc), uint8(b.payloadType)
		_, _ = b.writeStream.WriteRTP(&t.hdr, p.Payload)
		if b.sr != nil {
			if now.IsZero() {
				now = time.Now()
			}
			b.sr.sent(b.ssrc, p, now)
		}
	}
	t.mu.RUnlock()
	if t.flush != nil {
		t.flush()
	}
}

// Resend answers a NACK of the subscriber whose sender has ssrc from the
// ring; it returns the sequence numbers it does not hold (audio: all).
func (t *fanoutTrack) Resend(ssrc uint32, nacks []rtcp.NackPair) (missing []uint16) {
	var b *fanoutBinding
	t.mu.RLock()
	for i := range t.bindings {
		if uint32(t.bindings[i].ssrc) == ssrc {
			bb := t.bindings[i]
			b = &bb
			break
		}
	}
	t.mu.RUnlock()
	for _, n := range nacks {
		for _, seq := range n.PacketList() {
			if b == nil || t.ring == nil {
				missing = append(missing, seq)
				continue
			}
			t.ringMu.Lock()
			s := t.ring[seq%retransmitRing]
			ok := s.valid && s.hdr.SequenceNumber == seq
			var payload []byte
			if ok {
				payload = append([]byte(nil), s.payload...)
			}
			t.ringMu.Unlock()
			if !ok {
				missing = append(missing, seq)
				continue
			}
			hdr := s.hdr
			hdr.SSRC, hdr.PayloadType = uint32(b.ssrc), uint8(b.payloadType)
			_, _ = b.writeStream.WriteRTP(&hdr, payload)
		}
	}
	if t.flush != nil {
		t.flush()
	}
	return missing
}
