package record

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"

	"github.com/roomctl/roomctl/internal/engine"
)

// cpuTime is the process's user + system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// syntheticCycle is 10 s of one user's media as RTP: video at about
// 1.5 Mb/s (30 fps, a keyframe every 2 s, 1200-byte packets) and Opus at
// 50 packets/s. The recorder does not decode, so the payload is noise
// behind valid keyframe headers.
func syntheticCycle(b *testing.B, codec string) []timedPacket {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 64<<10)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	const fps, keyEvery, keySize, deltaSize = 30, 60, 25_000, 5_900
	var frames [][]byte
	for i := range 10 * fps {
		key := i%keyEvery == 0
		size := deltaSize
		if key {
			size = keySize
		}
		var f []byte
		switch codec {
		case CodecVP8:
			f = append([]byte(nil), noise[:size]...)
			f[0] |= 1 // inter frame
			if key {
				// Frame tag of a shown key frame, start code, 1280x720.
				copy(f, []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02})
			}
		case CodecH264:
			// Annex-B: SPS + PPS + IDR, or one P slice.
			if key {
				f = append(f, 0, 0, 0, 1)
				f = append(f, 0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58)
				f = append(f, 0, 0, 0, 1, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0)
				f = append(f, 0, 0, 0, 1, 0x65)
			} else {
				f = append(f, 0, 0, 0, 1, 0x41)
			}
			for _, c := range noise[:size] {
				if c == 0 {
					c = 1 // no start codes inside
				}
				f = append(f, c)
			}
		}
		frames = append(frames, f)
	}
	pay := vp8Payloader()
	if codec == CodecH264 {
		pay = &codecs.H264Payloader{}
	}
	video := packetize(0, pay, 90000, 1200, frames, time.Second/fps, 0)
	var opus [][]byte
	for range 10 * 50 {
		opus = append(opus, append([]byte{0xfc}, noise[:79]...)) // 80-byte CELT/SILK-sized packets
	}
	audio := packetize(1, &codecs.OpusPayloader{}, 48000, 1200, opus, 20*time.Millisecond, 0)
	return merge(video, audio)
}

// BenchmarkRecord measures what one passthrough recording costs: a user's
// synthetic VP8 (or H.264) at ~1.5 Mb/s + Opus, fed without a network into
// a Recorder writing to a temp directory. One op is one second of media;
// cpu-ms/media-s is the process CPU (all goroutines, GC, file writes) per
// second recorded, and recordings/core how many such recordings one core
// keeps up with.
//
//	go test -run '^$' -bench Record -benchtime 60x ./record
func BenchmarkRecord(b *testing.B) {
	for _, codec := range []string{CodecVP8, CodecH264} {
		b.Run(codec, func(b *testing.B) {
			cycle := syntheticCycle(b, codec)
			var perCycle [2]uint16
			for _, p := range cycle {
				perCycle[p.track]++
			}
			ev := newEvents()
			r, err := New(Config{Dir: b.TempDir(), Events: ev})
			if err != nil {
				b.Fatal(err)
			}
			r.lossless = true
			sinks := []engine.PacketSink{
				r.HandleTrack(track("alice", "video", codec)),
				r.HandleTrack(track("alice", "audio", CodecOpus)),
			}
			var bytes int64
			for _, p := range cycle {
				bytes += int64(len(p.p.Payload))
			}
			b.SetBytes(bytes / 10)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			end := time.Duration(b.N) * time.Second
			for c := 0; ; c++ {
				off := time.Duration(c) * 10 * time.Second
				if off >= end {
					break
				}
				for _, p := range cycle {
					if off+p.at >= end {
						continue
					}
					q := *p.p
					q.SequenceNumber += uint16(c) * perCycle[p.track]
					rate := uint32(90000)
					if p.track == 1 {
						rate = 48000
					}
					q.Timestamp += uint32(c) * 10 * rate
					sinks[p.track].WriteRTP(&q, base.Add(off+p.at))
				}
			}
			for _, s := range sinks {
				s.Close(engine.ReasonStreamRemoved)
			}
			cl := closedOf(ev.wait(b, EventFileClosed, 1, nil))
			_ = r.Close()
			cpu := cpuTime(b) - cpu0
			b.StopTimer()
			if got := time.Duration(cl.DurationMs) * time.Millisecond; got < end-time.Second {
				b.Fatalf("recorded %s of %s", got, end)
			}
			perSec := float64(cpu) / float64(b.N) / float64(time.Millisecond)
			b.ReportMetric(perSec, "cpu-ms/media-s")
			b.ReportMetric(1000/perSec, "recordings/core")
		})
	}
}
