package mixing

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/roomctl/roomctl/internal/dsp/dsptest"
	"github.com/roomctl/roomctl/internal/media"
)

// BenchmarkMixedStream is one second of one mixed stream: decode a 1-s
// 44.1 kHz WAV, resample to 48 kHz, mix with the mic, limit. The Opus
// encode is BenchmarkOpusEncode in media. ns/op ÷ 1e9 is the realtime
// factor of the CPU one stream costs.
func BenchmarkMixedStream(b *testing.B) {
	wav := wavBytes(dsptest.Tone{Freq: 1000, Amp: 0.5, Rate: 44100}.Samples(0, 44100))
	frame := make([]float32, FrameSamples)
	for b.Loop() {
		c, err := Decode(bytes.NewReader(wav))
		if err != nil {
			b.Fatal(err)
		}
		m, _ := New(Config{MicTone: 440})
		_ = m.Play(0, c, PlayConfig{Volume: 100})
		for range 50 {
			_ = m.ReadPCM(frame)
		}
	}
}

var _ media.PCMReader = (*Mixer)(nil)

// wavBytes is a 16-bit mono 44.1 kHz WAV.
func wavBytes(x []float32) []byte {
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + 2*len(x)))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))
	w(uint16(1))
	w(uint32(44100))
	w(uint32(88200))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(2 * len(x)))
	for _, v := range x {
		w(int16(v * 32767))
	}
	return b.Bytes()
}
