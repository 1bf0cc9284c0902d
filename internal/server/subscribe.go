package server

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/signal"
)

// subscriber is a participant's subscribe PeerConnection, on which the server
// offers the tracks of the others.
type subscriber struct {
	pc      *webrtc.PeerConnection
	senders map[*fanoutTrack]subTrack

	// At most one offer is in flight; a change meanwhile sets dirty and is
	// offered once the answer is in.
	inFlight bool
	dirty    bool
	// restartICE makes the next offer an ICE restart (the client asked:
	// its subscribe transport went disconnected or failed).
	restartICE bool
	// Video sources added since the last answer: they get a keyframe
	// request once negotiated.
	newVideo []*source

	// m-lines are recycled, so that publishers coming and going (or
	// re-declaring their tracks) do not grow everyone's subscribe SDP: a
	// transceiver whose track was removed is retired until an offer made
	// after the removal is answered (the client has seen its m-line go
	// inactive), then free for the next track of its kind.
	offers  int // subscribe offers created so far
	retired []retiredTransceiver
	free    []*webrtc.RTPTransceiver
	// full: a wanted track found no transceiver within
	// maxSubscribeMediaSections; syncSubs runs again when one frees.
	full       bool
	fullWarned bool
}

type subTrack struct {
	tr     *webrtc.RTPTransceiver
	sender *webrtc.RTPSender
	src    *source
}

type retiredTransceiver struct {
	tr    *webrtc.RTPTransceiver
	after int // free once an offer later than this many is answered
}

// syncSubs makes q's subscribe PeerConnection carry exactly the tracks q
// should receive and renegotiates if that changed.
func (r *room) syncSubs(q *participant) {
	if q.removed || !q.rights.Subscribe {
		return
	}
	type want struct {
		local *fanoutTrack
		src   *source
	}
	var wants []want
	for _, p := range r.parts {
		if p == q || p.pub == nil || (q.filter != nil && !q.filter[p.uid]) {
			continue
		}
		for _, src := range p.pub.sources {
			if l := src.local.Load(); l != nil {
				wants = append(wants, want{l, src})
			}
		}
	}
	sub := q.sub
	if sub == nil {
		if len(wants) == 0 {
			return
		}
		if sub = r.newSubscriber(q); sub == nil {
			return
		}
		q.sub = sub
		q.subCands = candidateBudget{}
	}
	changed := false
	for l, st := range sub.senders {
		if slices.ContainsFunc(wants, func(w want) bool { return w.local == l }) {
			continue
		}
		if err := sub.pc.RemoveTrack(st.sender); err != nil {
			r.s.log.Debug("remove subscribed track", "room", r.id, "uid", q.uid, "err", err)
		} else {
			sub.retired = append(sub.retired, retiredTransceiver{tr: st.tr, after: sub.offers})
		}
		delete(sub.senders, l)
		changed = true
	}
	// A stable order keeps m-lines predictable for clients and tests.
	slices.SortFunc(wants, func(a, b want) int {
		return cmp.Or(cmp.Compare(a.src.uid, b.src.uid), cmp.Compare(a.src.kind, b.src.kind))
	})
	sub.full = false
	for _, w := range wants {
		if _, ok := sub.senders[w.local]; ok {
			continue
		}
		tr, err := r.subTransceiver(q, w.local)
		if err != nil {
			r.s.log.Warn("add subscribed track", "room", r.id, "uid", q.uid, "track", w.local.ID(), "err", err)
			continue
		}
		if tr == nil {
			sub.full = true
			continue
		}
		// Offer the codec the track carries, nothing the publisher cannot send.
		if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{{RTPCodecCapability: w.local.Codec()}}); err != nil {
			r.s.log.Debug("subscribe codec preferences", "room", r.id, "uid", q.uid, "err", err)
		}
		sender := tr.Sender()
		sub.senders[w.local] = subTrack{tr: tr, sender: sender, src: w.src}
		src := w.src
		r.s.spawn(func() { readSenderRTCP(sender, src) })
		if src.kind == "video" {
			// The keyframe is asked for once the subscriber can receive it
			// (answer applied on a connected PeerConnection, or connected):
			// asking now would spend the rate-limited request on a keyframe
			// nobody receives and delay the useful one by pliInterval.
			sub.newVideo = append(sub.newVideo, src)
		}
		changed = true
	}
	if sub.full && !sub.fullWarned {
		sub.fullWarned = true
		r.s.log.Warn("subscribe pc full", "room", r.id, "uid", q.uid, "limit", maxSubscribeMediaSections)
		q.sendError(signal.ErrPayloadTooLarge, fmt.Sprintf("subscribe pc full: %d media sections; limit %d; "+
			"some tracks are not forwarded (choose publishers with subscribe)", len(sub.pc.GetTransceivers()),
			maxSubscribeMediaSections))
	}
	if changed {
		r.negotiateLocked(q)
	}
}

// subTransceiver returns a transceiver of q's subscribe PeerConnection that
// sends local: a free one of its kind when there is one, else a new one
// unless the PeerConnection has maxSubscribeMediaSections already (nil).
func (r *room) subTransceiver(q *participant, local *fanoutTrack) (*webrtc.RTPTransceiver, error) {
	sub := q.sub
	for i, tr := range sub.free {
		if tr.Kind() != local.Kind() {
			continue
		}
		sender, err := r.s.subAPI.NewRTPSender(local, sub.pc.SCTP().Transport())
		if err != nil {
			return nil, fmt.Errorf("new sender: %w", err)
		}
		// The transceiver is inactive: SetSender makes it sendonly again.
		if err := tr.SetSender(sender, local); err != nil {
			_ = sender.Stop()
			return nil, fmt.Errorf("reuse transceiver %s: %w", tr.Mid(), err)
		}
		// A sender made by the API, not by the PeerConnection, has none of
		// its interceptors (pion builds them per PeerConnection, and
		// pc.AddTrack will not reuse a transceiver the subscriber answered
		// inactive): the track sends this sender's RTCP sender reports
		// itself, for the subscriber's A/V sync. (No TWCC sequence numbers
		// on this m-line either; nothing here uses its feedback.)
		if enc := sender.GetParameters().Encodings; len(enc) > 0 {
			local.reportFor(enc[0].SSRC, sub.pc.WriteRTCP)
		}
		sub.free = slices.Delete(sub.free, i, i+1)
		return tr, nil
	}
	if len(sub.pc.GetTransceivers()) >= maxSubscribeMediaSections {
		return nil, nil
	}
	return sub.pc.AddTransceiverFromTrack(local,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
}

func (r *room) newSubscriber(q *participant) *subscriber {
	pc, err := r.s.subAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		r.s.log.Error("create subscribe peer connection", "room", r.id, "uid", q.uid, "err", err)
		q.sendError(signal.ErrInternal, "cannot create peer connection")
		return nil
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) { q.sendCandidate(signal.PCSubscribe, c) })
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		r.s.log.Debug("subscribe peer connection", "room", r.id, "uid", q.uid, "state", st.String())
		if st == webrtc.PeerConnectionStateConnected {
			r.subscriberConnected(q, pc)
		}
	})
	return &subscriber{pc: pc, senders: make(map[*fanoutTrack]subTrack)}
}

// subscriberConnected asks for keyframes of every video q receives, now that
// media can reach q. It runs on a goroutine pion starts for the callback.
func (r *room) subscriberConnected(q *participant, pc *webrtc.PeerConnection) {
	if !r.s.enter() {
		return
	}
	defer r.s.wg.Done()
	var srcs []*source
	r.mu.Lock()
	if q.sub != nil && q.sub.pc == pc {
		for _, st := range q.sub.senders {
			srcs = append(srcs, st.src)
		}
		q.sub.newVideo = nil
	}
	r.mu.Unlock()
	for _, src := range srcs {
		src.requestKeyframe()
	}
}

// negotiateLocked sends q a subscribe offer, or marks one as needed when an
// offer is already in flight.
func (r *room) negotiateLocked(q *participant) {
	sub := q.sub
	if sub.inFlight {
		sub.dirty = true
		return
	}
	if len(sub.pc.GetTransceivers()) == 0 {
		return // nothing to offer yet
	}
	offer, err := sub.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: sub.restartICE})
	sub.restartICE = false
	if err != nil {
		r.s.log.Error("create subscribe offer", "room", r.id, "uid", q.uid, "err", err)
		return
	}
	msg := &signal.Message{Type: signal.TypeOffer, PC: signal.PCSubscribe, SDP: offer.SDP}
	if n, ok := fits(msg); !ok {
		// maxSubscribeMediaSections keeps offers well below this; a safety
		// net so that the server never sends what a client cannot read.
		r.s.log.Error("subscribe offer too large", "room", r.id, "uid", q.uid, "bytes", n)
		q.sendError(signal.ErrPayloadTooLarge, fmt.Sprintf("subscribe offer would be %d bytes; limit %d",
			n, signal.MaxMessageSize))
		return
	}
	// Queued before SetLocalDescription starts gathering: candidates follow it.
	q.send(msg)
	if err := sub.pc.SetLocalDescription(offer); err != nil {
		r.s.log.Error("set subscribe offer", "room", r.id, "uid", q.uid, "err", err)
		return
	}
	sub.offers++
	sub.inFlight = true
}

// subscribeAnswerLocked applies the client's answer to the offer in flight
// and sends the next offer if tracks changed meanwhile.
func (r *room) subscribeAnswerLocked(p *participant, m *signal.Message) {
	sub := p.sub
	if sub == nil || !sub.inFlight {
		p.sendError(signal.ErrBadMessage, "no subscribe offer to answer")
		return
	}
	sub.inFlight = false
	answer := p.filterSDP(signal.PCSubscribe, m.SDP)
	err := sub.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
	if err != nil {
		p.sendError(signal.ErrBadMessage, "subscribe answer: "+err.Error())
		if err := sub.pc.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); err != nil {
			r.s.log.Debug("roll back subscribe offer", "room", r.id, "uid", p.uid, "err", err)
		}
		sub.dirty = true // offer again
	} else {
		p.flushCandidates(sub.pc, &p.pendingSub)
		if sub.pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
			for _, src := range sub.newVideo {
				src.requestKeyframe()
			}
			sub.newVideo = nil
		}
		// The answered offer showed the m-lines retired before it inactive.
		sub.retired = slices.DeleteFunc(sub.retired, func(rt retiredTransceiver) bool {
			if rt.after < sub.offers {
				sub.free = append(sub.free, rt.tr)
				return true
			}
			return false
		})
	}
	if sub.dirty {
		sub.dirty = false
		r.negotiateLocked(p)
	}
	if sub.full && len(sub.free) > 0 {
		sub.full = false
		r.syncSubs(p)
	}
}

// readSenderRTCP turns a subscriber's keyframe requests and NACKs into
// requests to the publisher, until the sender stops.
func readSenderRTCP(sender *webrtc.RTPSender, src *source) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pk := pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				src.requestKeyframe()
			case *rtcp.TransportLayerNack:
				src.resend(pk)
			}
		}
	}
}
