package engine

import (
	"bytes"
	"os"
	"testing"

	"github.com/pion/rtp"
)

// opusPackets reads the Opus packets of internal/media/testdata/opus.ogg
// (a 440-Hz tone) as RTP packets. Ogg (RFC 3533): each page is a 27-byte
// header whose last byte counts the lacing values that follow; a packet
// ends at a lacing value below 255.
func opusPackets(t *testing.T) []*rtp.Packet {
	t.Helper()
	b, err := os.ReadFile("../media/testdata/opus.ogg")
	if err != nil {
		t.Fatal(err)
	}
	var out []*rtp.Packet
	var pkt []byte
	for len(b) >= 27 && string(b[:4]) == "OggS" {
		n := int(b[26])
		lacing, data := b[27:27+n], b[27+n:]
		for _, l := range lacing {
			pkt, data = append(pkt, data[:l]...), data[l:]
			if l == 255 {
				continue
			}
			if !bytes.HasPrefix(pkt, []byte("OpusHead")) && !bytes.HasPrefix(pkt, []byte("OpusTags")) {
				seq := uint16(len(out)) //nolint:gosec // a short file
				out = append(out, &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: pkt})
			}
			pkt = nil
		}
		b = data
	}
	if len(out) < 50 {
		t.Fatalf("%d Opus packets in the test file", len(out))
	}
	return out
}

// Remote audio is decoded until its first frame, and after that only
// while levels are asked for (Config.NoRemoteLevels): the level meter then
// measures the tone again.
func TestAudioFramesDecodeForLevelsOnly(t *testing.T) {
	pkts := opusPackets(t)
	levels := false
	rx := &rxTrack{}
	feed := newAudioFrames(rx, func() bool { return levels })
	if !feed(pkts[0]) {
		t.Fatal("the first packet did not decode")
	}
	rx.level.take()
	for _, p := range pkts[1:20] {
		if feed(p) {
			t.Fatal("a packet decoded with no levels asked for")
		}
	}
	if n := rx.opusDecodes.Load(); n != 1 {
		t.Fatalf("%d packets decoded, want 1 (the first frame)", n)
	}
	if l := rx.level.take(); l != 0 {
		t.Fatalf("level %d without decoding", l)
	}
	levels = true
	decoded := 0
	for _, p := range pkts[20:40] {
		if feed(p) {
			decoded++
		}
	}
	if decoded != 20 || rx.opusDecodes.Load() != 21 {
		t.Fatalf("%d of 20 decoded, %d in all, with levels asked for", decoded, rx.opusDecodes.Load())
	}
	if l := rx.level.take(); l < 5 {
		t.Fatalf("level %d of the tone, want more than 5", l)
	}
}

// By default (levels always asked for) every packet is decoded.
func TestAudioFramesDecodeEveryPacket(t *testing.T) {
	pkts := opusPackets(t)
	rx := &rxTrack{}
	feed := newAudioFrames(rx, func() bool { return true })
	for i, p := range pkts[:30] {
		if !feed(p) {
			t.Fatalf("packet %d did not decode", i)
		}
	}
	if l := rx.level.take(); l < 5 {
		t.Fatalf("level %d of the tone", l)
	}
}
