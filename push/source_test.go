package push

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/roomctl/roomctl/internal/codec/h264"
	"github.com/roomctl/roomctl/internal/testutil"
)

// Test media: testdata/gop10.h264 (3 s, 30 fps, an IDR every 10 frames) and
// testdata/tone1k.ogg (3 s of 1 kHz, Opus, 20 ms packets), as RTP.

// accessUnits splits an Annex-B file into access units, each NAL unit
// behind a 4-byte start code: a NAL unit that h264.StartsAccessUnit after
// a slice begins the next one.
func accessUnits(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][]byte
	var cur []byte
	slice := false
	for n := range h264.NALUnits(b) {
		if slice && h264.StartsAccessUnit(n) {
			aus = append(aus, cur)
			cur, slice = nil, false
		}
		cur = h264.AppendAnnexB(cur, [][]byte{n})
		slice = slice || h264.TypeOf(n).IsVCL()
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// rtpStream packetizes media for one track.
type rtpStream struct {
	seq uint16
}

func (s *rtpStream) frame(payloads [][]byte, ts uint32) []*rtp.Packet {
	var out []*rtp.Packet
	for i, pl := range payloads {
		s.seq++
		out = append(out, &rtp.Packet{
			Header:  rtp.Header{Version: 2, SequenceNumber: s.seq, Timestamp: ts, Marker: i == len(payloads)-1},
			Payload: pl,
		})
	}
	return out
}

// mediaEvent is one RTP packet at its media time (ms since the start).
type mediaEvent struct {
	video bool
	ms    float64
	pkt   *rtp.Packet
}

// testMedia returns the test files as RTP packets in media-time order:
// video at 90 kHz from RTP time 0, audio at 48 kHz from RTP time 0.
func testMedia(t testing.TB) []mediaEvent {
	t.Helper()
	var ev []mediaEvent
	var vs, as rtpStream
	pay := &codecs.H264Payloader{}
	for i, au := range accessUnits(t, "testdata/gop10.h264") {
		ts := uint32(i * 3000)
		for _, p := range vs.frame(pay.Payload(1000, au), ts) {
			ev = append(ev, mediaEvent{video: true, ms: float64(i) * 1000 / 30, pkt: p})
		}
	}
	for i, op := range testutil.OpusPackets(t, "testdata/tone1k.ogg") {
		for _, p := range as.frame([][]byte{op}, uint32(i*960)) {
			ev = append(ev, mediaEvent{ms: float64(i) * 20, pkt: p})
		}
	}
	// Stable merge by media time; video first on ties.
	sortEvents(ev)
	return ev
}

func sortEvents(ev []mediaEvent) {
	for i := 1; i < len(ev); i++ {
		for j := i; j > 0 && ev[j].ms < ev[j-1].ms; j-- {
			ev[j], ev[j-1] = ev[j-1], ev[j]
		}
	}
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
