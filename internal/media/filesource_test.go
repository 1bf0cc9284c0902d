package media

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

const (
	vp8File     = "testdata/vp8.ivf"   // 2 s, 160x120, 30 fps
	h264File    = "testdata/h264.h264" // 2 s, 160x120, 30 fps, constrained baseline
	opusFile    = "testdata/opus.ogg"  // 2 s, mono, ffmpeg's default 1-s pages
	bframesFile = "testdata/h264-bframes.h264"
)

// fakeBinding binds a track the way a PeerConnection does and records what
// it writes, without a network.
type fakeBinding struct {
	codec webrtc.RTPCodecParameters
	pkts  chan sentPacket
	done  chan struct{} // closed to end the RTCP reader, like a closed sender
	once  sync.Once
}

type sentPacket struct {
	at time.Time
	h  rtp.Header
	n  int
}

func bindFake(t *testing.T, tr Track, codec webrtc.RTPCodecParameters) *fakeBinding {
	t.Helper()
	b := &fakeBinding{codec: codec, pkts: make(chan sentPacket, 1<<14), done: make(chan struct{})}
	if _, err := tr.Local.Bind(b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.once.Do(func() { close(b.done) }) })
	return b
}

func (b *fakeBinding) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{b.codec}
}
func (b *fakeBinding) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (b *fakeBinding) SSRC() webrtc.SSRC                                      { return 1234 }
func (b *fakeBinding) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (b *fakeBinding) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (b *fakeBinding) WriteStream() webrtc.TrackLocalWriter                   { return b }
func (b *fakeBinding) ID() string                                             { return "fake" }
func (b *fakeBinding) RTCPReader() interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func([]byte, interceptor.Attributes) (int, interceptor.Attributes, error) {
		<-b.done
		return 0, nil, io.EOF
	})
}

func (b *fakeBinding) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	select {
	case b.pkts <- sentPacket{at: time.Now(), h: *h, n: len(payload)}:
	default:
	}
	return len(payload), nil
}

func (b *fakeBinding) Write(p []byte) (int, error) {
	var pkt rtp.Packet
	if err := pkt.Unmarshal(p); err != nil {
		return 0, err
	}
	return b.WriteRTP(&pkt.Header, pkt.Payload)
}

// registered returns the codec src registers for one kind, as the
// negotiated parameters a PeerConnection would bind with.
func registered(t *testing.T, tr Track) webrtc.RTPCodecParameters {
	t.Helper()
	fs, ok := tr.Local.(*sampleLocal)
	if !ok {
		t.Fatalf("file track is %T", tr.Local)
	}
	c := fs.Codec()
	return webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: 100}
}

func waitEnded(t *testing.T, tr Track) {
	t.Helper()
	select {
	case <-tr.Ended:
	case <-time.After(waitFor):
		t.Fatalf("%s track did not end within %s", tr.Info.Kind, waitFor)
	}
}

func drain(ch chan sentPacket) []sentPacket {
	var out []sentPacket
	for {
		select {
		case p := <-ch:
			out = append(out, p)
		default:
			return out
		}
	}
}

func TestFileSourceInfo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path string
		want TrackInfo
	}{
		{vp8File, TrackInfo{Kind: "video", Codec: "VP8", Width: 160, Height: 120, FrameRate: 30}},
		{h264File, TrackInfo{Kind: "video", Codec: "H264", Width: 160, Height: 120, FrameRate: 30}},
		{opusFile, TrackInfo{Kind: "audio", Codec: "opus", SampleRate: 48000, Channel: 1}},
	} {
		src, err := NewFileSource([]string{tc.path}, FileConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if got := src.Tracks()[0].Info; got != tc.want {
			t.Errorf("%s: info %+v, want %+v", tc.path, got, tc.want)
		}
		if err := src.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFileSourcePacing plays each file once: it must take real time, end
// with Ended closed, and carry RTP timestamps spanning the file.
func TestFileSourcePacing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path    string
		clock   float64
		samples int // RTP marker bits for video (one per frame), packets for Opus
	}{
		{vp8File, 90000, 60},
		{h264File, 90000, 60},
		{opusFile, 48000, 101}, // 2 s plus libopus' 312-sample pre-skip
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			t.Parallel()
			src, err := NewFileSource([]string{tc.path}, FileConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			tr := src.Tracks()[0]
			b := bindFake(t, tr, registered(t, tr))
			start := time.Now()
			if err := src.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := src.Start(context.Background()); !errors.Is(err, ErrAlreadyStarted) {
				t.Fatalf("second Start: %v", err)
			}
			waitEnded(t, tr)
			elapsed := time.Since(start)
			// The last sample goes out one sample before the end of the media.
			if elapsed < 1800*time.Millisecond || elapsed > 6*time.Second {
				t.Errorf("played a 2-s file in %s", elapsed)
			}
			pkts := drain(b.pkts)
			if len(pkts) == 0 {
				t.Fatal("nothing written")
			}
			samples := 0
			for _, p := range pkts {
				if tc.clock == 48000 || p.h.Marker {
					samples++
				}
			}
			if samples != tc.samples {
				t.Errorf("%d samples, want %d", samples, tc.samples)
			}
			span := float64(pkts[len(pkts)-1].h.Timestamp-pkts[0].h.Timestamp) / tc.clock
			if span < 1.9 || span > 2.05 {
				t.Errorf("RTP timestamps span %.3f s, want about 2 s", span)
			}
			// Paced, not bursted: halfway through the samples, about half the time.
			mid := pkts[len(pkts)/2].at.Sub(pkts[0].at)
			if mid < 600*time.Millisecond || mid > 2*time.Second {
				t.Errorf("middle packet sent %s after the first", mid)
			}
		})
	}
}

func TestFileSourceLoop(t *testing.T) {
	t.Parallel()
	src, err := NewFileSource([]string{opusFile}, FileConfig{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	tr := src.Tracks()[0]
	b := bindFake(t, tr, registered(t, tr))
	if err := src.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Keep reading until the media clock is half a second past the file's end.
	var first *sentPacket
	deadline := time.After(waitFor)
	for done := false; !done; {
		select {
		case p := <-b.pkts:
			if first == nil {
				first = &p
			}
			if float64(p.h.Timestamp-first.h.Timestamp)/48000 > 2.5 {
				done = true
			}
		case <-tr.Ended:
			t.Fatal("Ended closed with Loop")
		case <-deadline:
			t.Fatal("looping stopped")
		}
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Close waited for the pacing goroutine: nothing is written after it.
	drain(b.pkts)
	select {
	case <-b.pkts:
		t.Fatal("packet written after Close")
	default:
	}
	select {
	case <-tr.Ended:
		t.Fatal("Close closed Ended; it is for the media ending by itself")
	default:
	}
	if err := src.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

func TestFileSourceStopsWithContext(t *testing.T) {
	t.Parallel()
	src, err := NewFileSource([]string{vp8File, opusFile}, FileConfig{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := src.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	closeWithin(t, src)
}

// TestFileSourceLoopback publishes VP8 + Opus and H.264 files to a real
// receiving PeerConnection built from pion's defaults.
func TestFileSourceLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files []string
	}{
		{"vp8+opus", []string{vp8File, opusFile}},
		{"h264", []string{h264File}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := NewFileSource(tc.files, FileConfig{Loop: true})
			if err != nil {
				t.Fatal(err)
			}
			defer closeWithin(t, src)
			l := newLoopback(t, src, false)
			if err := src.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, tr := range src.Tracks() {
				kind := webrtc.NewRTPCodecType(tr.Info.Kind)
				rt := l.track(t, kind)
				if got := CodecOf(rt.codec.MimeType); got != tr.Info.Codec {
					t.Fatalf("received %s, published %s", got, tr.Info.Codec)
				}
				switch tr.Info.Codec {
				case CodecVP8:
					waitPacket(t, rt, "VP8 keyframe", isVP8Keyframe)
				case CodecH264:
					waitPacket(t, rt, "H.264 IDR", hasH264IDR)
				default:
					for range 10 {
						waitPacket(t, rt, "opus packet", func(p *rtp.Packet) bool { return len(p.Payload) > 0 })
					}
				}
			}
		})
	}
}

func TestFileSourceErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	vp9 := write("vp9.ivf", ivfHeader("VP90"))
	av1 := write("av1.ivf", ivfHeader("AV01"))
	text := write("notes.h264", []byte("hello, this is not video\n"))
	empty := write("empty.ogg", nil)
	shortIVF := write("short.ivf", []byte("DKIF\x00\x00"))
	vorbis := write("vorbis.ogg", oggPage(0x02, []byte("\x01vorbis\x00\x00\x00\x00\x01\x44\xac\x00\x00")))
	annexBJunk := write("junk.h264", []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x01, 0x88})

	for _, tc := range []struct {
		name  string
		paths []string
		want  error
		in    []string // substrings the message must contain
	}{
		{"no files", nil, ErrInvalidConfig, nil},
		{"missing", []string{filepath.Join(dir, "nope.ivf")}, fs.ErrNotExist, []string{"nope.ivf"}},
		{"unknown", []string{text}, ErrUnknownFormat, []string{text}},
		{"empty", []string{empty}, ErrUnknownFormat, []string{empty}},
		{"vp9", []string{vp9}, ErrUnsupportedCodec, []string{vp9, "VP9"}},
		{"other fourcc", []string{av1}, ErrUnsupportedCodec, []string{av1, "AV01"}},
		{"vorbis", []string{vorbis}, ErrUnsupportedCodec, []string{vorbis, "Vorbis"}},
		{"short ivf", []string{shortIVF}, nil, []string{shortIVF}},
		{"h264 without sps", []string{annexBJunk}, ErrUnknownFormat, []string{annexBJunk, "SPS"}},
		{"b-frames", []string{bframesFile}, ErrUnsupportedCodec, []string{bframesFile, "B-frames"}},
		{"two video", []string{vp8File, h264File}, ErrTooManyTracks, []string{vp8File, h264File}},
		{"two audio", []string{opusFile, opusFile}, ErrTooManyTracks, []string{opusFile}},
		{"second file bad", []string{opusFile, vp9}, ErrUnsupportedCodec, []string{vp9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewFileSource(tc.paths, FileConfig{})
			if err == nil {
				_ = src.Close()
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			for _, s := range tc.in {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err %q does not mention %q", err, s)
				}
			}
		})
	}
}

// ivfHeader is a 32-byte IVF file header for fourcc, 30 fps, no frames.
func ivfHeader(fourcc string) []byte {
	h := make([]byte, 32)
	copy(h, "DKIF")
	h[6] = 32
	copy(h[8:], fourcc)
	h[12], h[14] = 64, 48
	h[16], h[20] = 30, 1
	return h
}

// oggPage builds one Ogg page holding one packet, with a valid CRC.
func oggPage(headerType byte, packet []byte) []byte {
	p := make([]byte, 0, 28+len(packet))
	p = append(p, "OggS"...)
	p = append(p, 0, headerType)
	p = append(p, make([]byte, 8)...)   // granule
	p = append(p, 1, 0, 0, 0)           // serial
	p = append(p, make([]byte, 4)...)   // sequence
	p = append(p, make([]byte, 4)...)   // CRC, filled below
	p = append(p, 1, byte(len(packet))) // one segment
	p = append(p, packet...)
	var crc uint32
	for _, c := range p {
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	p[22], p[23], p[24], p[25] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
	return p
}

// TestFileSourceMuteCycle is the engine's mute: the sender's track replaced
// by nothing and put back. Media must flow again, on one RTCP reader.
func TestFileSourceMuteCycle(t *testing.T) {
	t.Parallel()
	src, err := NewFileSource([]string{opusFile}, FileConfig{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, src)
	l := newLoopback(t, src, false)
	if err := src.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr := src.Tracks()[0]
	rt := l.track(t, webrtc.RTPCodecTypeAudio)
	waitPacket(t, rt, "opus packet", func(*rtp.Packet) bool { return true })
	sender := l.pub.GetSenders()[0]
	for range 3 {
		if err := sender.ReplaceTrack(nil); err != nil {
			t.Fatal(err)
		}
		if err := sender.ReplaceTrack(tr.Local); err != nil {
			t.Fatal(err)
		}
	}
	for len(rt.pkts) > 0 { // what was sent before the cycles
		<-rt.pkts
	}
	for range 5 {
		waitPacket(t, rt, "opus packet after unmute", func(*rtp.Packet) bool { return true })
	}
	if n := tr.Local.(*sampleLocal).rtcp.draining(); n != 1 {
		t.Errorf("%d RTCP readers for one sender", n)
	}
}
