package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/roomctl/roomctl/internal/signal"
)

// Limits of one participant's renegotiation (issue 15 item 8). Refusals are
// error messages; the refused offer is not applied.
const (
	// maxMediaSections bounds the m-lines of a publish offer and the
	// transceivers of a publish PeerConnection (error 413).
	maxMediaSections = 16
	// offerRate and offerBurst are the token bucket of publish offers per
	// participant (error 429).
	offerRate  = 2 // per second
	offerBurst = 5
	// maxSDPSize bounds a client's SDP (error 413).
	maxSDPSize = signal.MaxMessageSize
	// maxSubscribeMediaSections bounds the m-lines of a subscribe
	// PeerConnection, and so the tracks one participant receives at once,
	// so that every subscribe offer fits in a signaling message: an m-line
	// costs up to ~1.4 KB encoded (64-character uids, a maxFmtpLen fmtp
	// line, rtx), see TestSubscribeOfferBounded.
	maxSubscribeMediaSections = 40
	// maxFmtpLen bounds the fmtp line of a forwarded codec, which every
	// subscriber's offer repeats; an offered codec with a longer one is
	// not used.
	maxFmtpLen = 128
)

// tokenBucket is a rate limit: up to offerBurst at once, offerRate per
// second on average. The zero value is full.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) allow(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = offerBurst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(offerBurst, b.tokens+d.Seconds()*offerRate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// checkPublishOffer refuses a publish offer with more m-lines than
// maxMediaSections, or one that would take pc (nil for a first offer) past
// that many transceivers: pion keeps a transceiver per mid ever offered, so
// an offer that renames its m-lines adds new ones.
func checkPublishOffer(parsed *sdp.SessionDescription, pc *webrtc.PeerConnection) (reason string, ok bool) {
	n := len(parsed.MediaDescriptions)
	if n > maxMediaSections {
		return fmt.Sprintf("offer has %d media sections; limit %d", n, maxMediaSections), false
	}
	if pc == nil {
		return "", true
	}
	trs := pc.GetTransceivers()
	known := make(map[string]bool, len(trs))
	for _, tr := range trs {
		if mid := tr.Mid(); mid != "" {
			known[mid] = true
		}
	}
	total := len(trs)
	for _, md := range parsed.MediaDescriptions {
		if mid, _ := md.Attribute(sdp.AttrKeyMID); !known[mid] {
			known[mid] = true
			total++
		}
	}
	if total > maxMediaSections {
		return fmt.Sprintf("offer would make %d transceivers (m-lines keep their mid); limit %d",
			total, maxMediaSections), false
	}
	return "", true
}

// fits reports whether a message carrying sdp stays within the signaling
// message limit once encoded.
func fits(m *signal.Message) (int, bool) {
	b, err := signal.Encode(m)
	if err != nil {
		return 0, false
	}
	return len(b), len(b) <= signal.MaxMessageSize
}

// decodeErrorCode is the error code for a message that does not decode: 413
// for one over signal.MaxMessageSize (an SDP that large cannot fit), else 400.
func decodeErrorCode(err error) int {
	if errors.Is(err, signal.ErrTooLarge) {
		return signal.ErrPayloadTooLarge
	}
	return signal.ErrBadMessage
}
