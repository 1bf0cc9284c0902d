package push

import (
	"testing"
	"time"

	"github.com/pion/opus"

	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/push/aac"
)

// BenchmarkOpusToAAC is the audio transcoding of one stream per 20 ms
// Opus packet: decode (pion/opus), resample 48 → 44.1 kHz, encode AAC-LC
// 128 kb/s stereo (libavcodec). CPU share of one core per stream =
// ns/op / 20 ms.
func BenchmarkOpusToAAC(b *testing.B) {
	pkts := testutil.OpusPackets(b, "testdata/tone1k.ogg")
	dec, err := opus.NewDecoderWithOutput(opusRate, aacChannels)
	if err != nil {
		b.Fatal(err)
	}
	enc, err := aac.New(aac.Options{})
	if err != nil {
		b.Fatal(err)
	}
	pipe := newAACPipe(enc)
	defer pipe.close()
	pipe.begin(nil, time.Unix(0, 0))
	pcm := make([]float32, 5760*aacChannels)
	var out []aac.Packet
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n, err := dec.DecodeToFloat32(pkts[i%len(pkts)], pcm)
		if err != nil {
			b.Fatal(err)
		}
		out = pipe.write(out[:0], pcm[:n*aacChannels])
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20e6*100, "%core/stream")
}

// BenchmarkOpusDecode is the decoding part alone.
func BenchmarkOpusDecode(b *testing.B) {
	pkts := testutil.OpusPackets(b, "testdata/tone1k.ogg")
	dec, err := opus.NewDecoderWithOutput(opusRate, aacChannels)
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([]float32, 5760*aacChannels)
	i := 0
	for b.Loop() {
		if _, err := dec.DecodeToFloat32(pkts[i%len(pkts)], pcm); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkVideoPath is H.264 passthrough per packet: reassembly, AVCC,
// FLV tag.
func BenchmarkVideoPath(b *testing.B) {
	var pkts []mediaEvent
	for _, e := range testMedia(b) {
		if e.video {
			pkts = append(pkts, e)
		}
	}
	var asm h264Assembler
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := *pkts[i%len(pkts)].pkt
		p.SequenceNumber = uint16(i)
		aus, _ := asm.push(&p)
		for _, au := range aus {
			pic := toPicture(au.annexB)
			_ = videoTagBody(pic.key, avcNALU, pic.avcc)
		}
		i++
	}
}
