package push

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/roomctl/roomctl/internal/media"
)

// Test media: testdata/gop10.h264 (3 s, 30 fps, an IDR every 10 frames) and
// testdata/tone1k.ogg (3 s of 1 kHz, Opus, 20 ms packets), as RTP.

// accessUnits splits an Annex-B file into access units: a new one begins
// at a delimiter, parameter set or SEI after a slice, or at a slice whose
// first_mb_in_slice is 0 after a slice.
func accessUnits(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][]byte
	var cur []byte
	slice := false
	for _, n := range media.SplitAnnexB(b) {
		typ := n[0] & 0x1f
		isSlice := typ == media.NALSlice || typ == media.NALIDR
		if slice && (!isSlice || n[1]&0x80 != 0) {
			aus = append(aus, cur)
			cur, slice = nil, false
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, n...)
		slice = slice || isSlice
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// oggPackets returns the Opus packets of an Ogg file (the two header
// packets skipped), reassembled from the pages' lacing values.
func oggPackets(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	var cur []byte
	for len(b) >= 27 {
		if string(b[:4]) != "OggS" {
			t.Fatal("not an Ogg page")
		}
		nseg := int(b[26])
		lacing := b[27 : 27+nseg]
		data := b[27+nseg:]
		for _, l := range lacing {
			cur = append(cur, data[:l]...)
			data = data[l:]
			if l < 255 {
				pkts = append(pkts, cur)
				cur = nil
			}
		}
		b = data
	}
	if len(pkts) < 3 {
		t.Fatal("no Opus packets")
	}
	return pkts[2:] // OpusHead, OpusTags
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
	for i, op := range oggPackets(t, "testdata/tone1k.ogg") {
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
