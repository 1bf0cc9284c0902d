package engine

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/webrtc/v4"
)

// rtpStats is the stats interceptor of one PeerConnection: per SSRC, what
// was sent and received (inbound-rtp) and what the far end reported in its
// RTCP receiver reports (remote-inbound-rtp: loss, RTT). pion's GetStats
// has no sender side, and reading RTCP from the publish senders ourselves
// would steal it from the tracks (PLI), so the engine registers its own
// interceptor, which sees RTCP as it passes.
type rtpStats struct {
	g atomic.Value // stats.Getter, set while the PeerConnection is built
}

func (s *rtpStats) get(ssrc uint32) *stats.Stats {
	g, ok := s.g.Load().(stats.Getter)
	if !ok || ssrc == 0 {
		return nil
	}
	return g.Get(ssrc)
}

// registerInterceptors is webrtc.RegisterDefaultInterceptors (NACK, RTCP
// reports, simulcast header extensions, stats, TWCC) with the stats
// interceptor being ours — registering the default one as well would
// record every packet twice — and first: an interceptor sees the RTCP that
// the ones registered after it write, and the stats need our own sender
// reports to turn the far end's receiver reports into an RTT (LSR/DLSR).
func registerInterceptors(me *webrtc.MediaEngine, ir *interceptor.Registry, withStats bool) (*rtpStats, error) {
	rs := &rtpStats{}
	if withStats {
		sf, err := stats.NewInterceptor()
		if err != nil {
			return nil, fmt.Errorf("stats: %w", err)
		}
		sf.OnNewPeerConnection(func(_ string, g stats.Getter) { rs.g.Store(g) })
		ir.Add(sf)
	}
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		return nil, fmt.Errorf("nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("rtcp reports: %w", err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, fmt.Errorf("simulcast headers: %w", err)
	}
	if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
		return nil, fmt.Errorf("twcc: %w", err)
	}
	return rs, nil
}

// streamCount is one RTP stream's cumulative reception counters, as its
// receiver counts them (our inbound-rtp, or the far end's receiver report).
type streamCount struct {
	ssrc     uint32
	lost     int64
	received uint64
	// repaired: lost packets of this stream are retransmitted on NACK
	// with their own sequence numbers, and a receiver counts a repaired
	// packet as received.
	repaired bool
	muted    bool // sends nothing by design
}

// maxJump: more packets than this "lost" between two samples of a stream
// is a sequence discontinuity, not loss (a track bound again after an
// unmute starts at a random sequence number); that sample is skipped.
const maxJump = 500

// lossMeter turns a direction's cumulative counters into the fraction lost
// over the last second. Owned by the run loop.
//
// Loss is taken from the unmuted streams that are not repaired by
// retransmission (audio here) when there are any: a receiver counts a
// packet that NACK brought back as received, so a repaired stream (video)
// shows what the repair left over, not what the network dropped. (A
// browser behind an SFU reports the network's loss for video as well: its
// repairs come on a separate RTX stream, while pion's keep the sequence
// numbers.) Only without such a stream — audio muted or absent — the
// repaired streams' residual loss is used.
type lossMeter struct {
	last  map[uint32]streamCount
	loss  float64
	known bool
}

// update takes one sample of every stream of the direction and returns the
// loss of the last second; with no packets expected since the last sample
// (no new receiver report, say) it returns the previous value.
func (m *lossMeter) update(streams []streamCount) (float64, bool) {
	useRepaired := true
	for _, s := range streams {
		if !s.repaired && !s.muted {
			useRepaired = false
		}
	}
	var lost, expected int64
	next := make(map[uint32]streamCount, len(streams))
	for _, s := range streams {
		next[s.ssrc] = s
		prev, ok := m.last[s.ssrc]
		if !ok || s.muted || (s.repaired && !useRepaired) {
			continue
		}
		dl := s.lost - prev.lost
		dr := int64(s.received) - int64(prev.received)
		if dr < 0 || dl > maxJump {
			continue
		}
		lost += dl
		expected += dl + dr
	}
	m.last = next
	if expected > 0 {
		m.loss = min(1, max(0, float64(lost)/float64(expected)))
		m.known = true
	}
	return m.loss, m.known
}

// hasNACK reports whether a negotiated codec has NACK feedback.
func hasNACK(fb []webrtc.RTCPFeedback) bool {
	for _, f := range fb {
		if f.Type == webrtc.TypeRTCPFBNACK && f.Parameter == "" {
			return true
		}
	}
	return false
}

// pcDown: the PeerConnection's transport is closed, failed or disconnected.
func pcDown(pc *webrtc.PeerConnection) bool {
	switch pc.ConnectionState() {
	case webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateDisconnected:
		return true
	}
	return isDown(pc.ICEConnectionState())
}

// iceRTT is the current RTT of the PeerConnection's selected ICE candidate
// pair (STUN consent checks), if measured.
func iceRTT(pc *webrtc.PeerConnection) (time.Duration, bool) {
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return 0, false
	}
	st, ok := sctp.Transport().ICETransport().GetSelectedCandidatePairStats()
	if !ok || st.CurrentRoundTripTime <= 0 {
		return 0, false
	}
	return time.Duration(st.CurrentRoundTripTime * float64(time.Second)), true
}

// byteCounter is a track whose bytes the engine counts: a published
// track's *sendCounters or a subscribed track's *rxTrack.
type byteCounter interface{ byteCount() uint64 }

func (c *sendCounters) byteCount() uint64 { return c.bytes.Load() }

func (t *rxTrack) byteCount() uint64 { return t.bytes.Load() }

// trafficCount is one track's cumulative counters at a sample.
type trafficCount struct {
	bytes  uint64 // RTP payload bytes
	frames uint64 // video frames (sent: marker packets; received: complete frames)
	// lost and received are the track's packets as its receiver counts
	// them (our inbound-rtp; for a sent track the far end's receiver
	// reports).
	lost     int64
	received uint64
}

// trafficSample is one track at a sample.
type trafficSample struct {
	key   byteCounter
	send  bool
	count trafficCount
}

// trafficMeter turns the cumulative counters of the tracks the engine
// sends and receives into rates over the last stats second and into
// totals over the session (getSessionStats, get*Stats). It keeps every
// track it has seen by its counters' pointer, so a track that went away (a
// publication closed, a subscription ended) is counted to its last byte
// at the next sample: its counters stop with it. Owned by the run loop.
type trafficMeter struct {
	at     time.Time // the last sample; zero before the first
	tracks map[byteCounter]*trackTraffic
	// doneSent, doneRecv: bytes of the tracks gone.
	doneSent, doneRecv uint64
	// sendRate, recvRate: kb/s of every track over the last interval.
	sendRate, recvRate float64
}

// trackTraffic is one track's counters at the last sample and its rates
// over the interval before it.
type trackTraffic struct {
	send      bool
	last      trafficCount
	bitrate   float64 // kb/s; 0 until the track was at two samples
	frameRate float64 // frames/s
	// loss is the fraction lost over the last interval in which packets
	// were expected (as lossMeter); lossKnown once there was one.
	loss      float64
	lossKnown bool
}

// sample takes the counters of the tracks there are now.
func (m *trafficMeter) sample(now time.Time, cur []trafficSample) {
	if m.tracks == nil {
		m.tracks = map[byteCounter]*trackTraffic{}
	}
	var secs float64
	if !m.at.IsZero() {
		secs = now.Sub(m.at).Seconds()
	}
	m.at = now
	var sent, recv uint64
	seen := make(map[byteCounter]bool, len(cur))
	for _, s := range cur {
		seen[s.key] = true
		t, known := m.tracks[s.key]
		if !known {
			t = &trackTraffic{send: s.send}
			m.tracks[s.key] = t
		}
		d := s.count.bytes - t.last.bytes
		if s.send {
			sent += d
		} else {
			recv += d
		}
		if known && secs > 0 {
			t.bitrate = kbps(d, secs)
			t.frameRate = float64(s.count.frames-t.last.frames) / secs
			dl := s.count.lost - t.last.lost
			dr := int64(s.count.received) - int64(t.last.received)
			if dr >= 0 && dl <= maxJump && dl+dr > 0 {
				t.loss = min(1, max(0, float64(dl)/float64(dl+dr)))
				t.lossKnown = true
			}
		}
		t.last = s.count
	}
	for k, t := range m.tracks {
		if seen[k] {
			continue
		}
		n := k.byteCount()
		if t.send {
			sent += n - t.last.bytes
			m.doneSent += n
		} else {
			recv += n - t.last.bytes
			m.doneRecv += n
		}
		delete(m.tracks, k)
	}
	if secs > 0 {
		m.sendRate, m.recvRate = kbps(sent, secs), kbps(recv, secs)
	}
}

// totals returns the bytes sent and received over the session: the tracks
// gone, those the meter keeps, and those of cur it has not seen yet.
func (m *trafficMeter) totals(cur []trafficSample) (sent, recv uint64) {
	sent, recv = m.doneSent, m.doneRecv
	add := func(k byteCounter, send bool) {
		if send {
			sent += k.byteCount()
		} else {
			recv += k.byteCount()
		}
	}
	for k, t := range m.tracks {
		add(k, t.send)
	}
	for _, s := range cur {
		if m.tracks[s.key] == nil {
			add(s.key, s.send)
		}
	}
	return sent, recv
}

// track returns what the meter has of k; nil before k's first sample.
func (m *trafficMeter) track(k byteCounter) *trackTraffic { return m.tracks[k] }

// kbps is n bytes over secs seconds in kb/s.
func kbps(n uint64, secs float64) float64 { return float64(n) * 8 / 1000 / secs }

// trafficSamples returns the counters of the tracks the engine sends and
// receives now. It runs on the run loop.
func (e *Engine) trafficSamples() []trafficSample {
	var out []trafficSample
	if p := e.pub; p != nil {
		for _, c := range p.sent {
			n := trafficCount{bytes: c.bytes.Load(), frames: c.frames.Load()}
			if st := p.stats.get(c.ssrc.Load()); st != nil {
				n.lost, n.received = st.RemoteInboundRTPStreamStats.PacketsLost, st.RemoteInboundRTPStreamStats.PacketsReceived
			}
			out = append(out, trafficSample{key: c, send: true, count: n})
		}
	}
	if s := e.sub; s != nil {
		for _, t := range s.trackList() {
			n := trafficCount{bytes: t.bytes.Load(), frames: t.frames.Load()}
			if st := s.stats.get(t.ssrc); st != nil {
				n.lost, n.received = st.InboundRTPStreamStats.PacketsLost, st.InboundRTPStreamStats.PacketsReceived
			}
			out = append(out, trafficSample{key: t, count: n})
		}
	}
	return out
}

// sampleTraffic takes one sample of the traffic meter: once a second
// (qualityTick) and before the media connections close (closeMedia).
func (e *Engine) sampleTraffic(now time.Time) {
	e.traffic.sample(now, e.trafficSamples())
}
