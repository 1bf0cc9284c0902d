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
func registerInterceptors(me *webrtc.MediaEngine, ir *interceptor.Registry) (*rtpStats, error) {
	sf, err := stats.NewInterceptor()
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	rs := &rtpStats{}
	sf.OnNewPeerConnection(func(_ string, g stats.Getter) { rs.g.Store(g) })
	ir.Add(sf)
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
