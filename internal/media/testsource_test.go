package media

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Test sources share mediadevices' global test drivers, so these tests do
// not run in parallel with each other.

func TestTestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  TestConfig
	}{
		{"nothing", TestConfig{NoAudio: true, NoVideo: true}},
		{"codec", TestConfig{VideoCodec: "vp9"}},
		{"odd width", TestConfig{Width: 321, Height: 240}},
		{"tiny", TestConfig{Width: 8, Height: 8}},
		{"fps", TestConfig{FrameRate: 61}},
		{"negative fps", TestConfig{FrameRate: -1}},
		{"bitrate", TestConfig{Bitrate: -5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewTestSource(tc.cfg)
			if !errors.Is(err, ErrInvalidConfig) {
				if src != nil {
					_ = src.Close()
				}
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestTestSourceInfoAndBusy(t *testing.T) {
	src, err := NewTestSource(TestConfig{VideoCodec: "H264", Width: 320, Height: 180, FrameRate: 15, Bitrate: 300})
	if err != nil {
		t.Fatal(err)
	}
	tracks := src.Tracks()
	if len(tracks) != 2 {
		t.Fatalf("%d tracks, want 2", len(tracks))
	}
	want := []TrackInfo{
		{Kind: "video", Codec: "H264", Width: 320, Height: 180, FrameRate: 15, Bitrate: 300},
		{Kind: "audio", Codec: "opus", SampleRate: 48000, Channel: 1, Bitrate: 32},
	}
	for i, tr := range tracks {
		if tr.Info != want[i] {
			t.Errorf("track %d info %+v, want %+v", i, tr.Info, want[i])
		}
		// Stable ids: pion compares StreamID with the msid it wrote before.
		first, again := tr.Local.StreamID(), tr.Local.StreamID()
		if first != again || first != tracks[0].Local.StreamID() {
			t.Errorf("track %d stream id not stable or not shared", i)
		}
		if tr.Local.ID() != tr.Info.Kind {
			t.Errorf("track %d id %q", i, tr.Local.ID())
		}
	}

	// The drivers are single global instances: a second source must fail
	// cleanly, and work again once the first is closed.
	if _, err := NewTestSource(TestConfig{NoAudio: true}); !errors.Is(err, ErrDeviceBusy) {
		t.Fatalf("second source: err = %v, want ErrDeviceBusy", err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := src.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	again, err := NewTestSource(TestConfig{})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

// closeWithin fails the test if Close hangs: closing a source while
// mediadevices still reads from it is where stranded readers used to hang.
func closeWithin(t *testing.T, src Source) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- src.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("Close hangs")
	}
}

func TestTestSourceVP8Opus(t *testing.T) {
	src, err := NewTestSource(TestConfig{Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, src) // before the PeerConnections close (t.Cleanup)
	if err := src.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := newLoopback(t, src, false)

	audio := l.track(t, webrtc.RTPCodecTypeAudio)
	if audio.codec.MimeType != webrtc.MimeTypeOpus {
		t.Fatalf("audio codec %s", audio.codec.MimeType)
	}
	for range 10 {
		waitPacket(t, audio, "opus packet", func(p *rtp.Packet) bool { return len(p.Payload) > 0 })
	}

	video := l.track(t, webrtc.RTPCodecTypeVideo)
	if video.codec.MimeType != webrtc.MimeTypeVP8 {
		t.Fatalf("video codec %s", video.codec.MimeType)
	}
	first := waitPacket(t, video, "VP8 keyframe", isVP8Keyframe)
	t0 := time.Now()

	// A PLI forces a keyframe long before the 2-s interval would.
	pli := []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: first.SSRC}}
	if err := l.sub.WriteRTCP(pli); err != nil {
		t.Fatal(err)
	}
	waitPacket(t, video, "keyframe after PLI", isVP8Keyframe)
	t1 := time.Now()
	if d := t1.Sub(t0); d > 1500*time.Millisecond {
		t.Errorf("keyframe %s after PLI, want it well before the 2-s interval", d)
	}
	// Then the periodic one, 60 frames later: about 2 s, more on a loaded
	// machine where videotest's ticker drops ticks.
	waitPacket(t, video, "periodic keyframe", isVP8Keyframe)
	if d := time.Since(t1); d < time.Second || d > 6*time.Second {
		t.Errorf("periodic keyframe after %s, want about 2 s", d)
	}
}

func TestTestSourceH264ServerOffers(t *testing.T) {
	src, err := NewTestSource(TestConfig{VideoCodec: "h264", Width: 320, Height: 240, NoAudio: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, src)
	// The receiver offers with pion's default numbering (H.264 42e01f is
	// 106 there, 125 is an RTX type): packets must carry the negotiated type.
	l := newLoopback(t, src, true)
	video := l.track(t, webrtc.RTPCodecTypeVideo)
	if video.codec.MimeType != webrtc.MimeTypeH264 {
		t.Fatalf("video codec %s", video.codec.MimeType)
	}
	p := waitPacket(t, video, "H.264 IDR", hasH264IDR)
	if p.PayloadType != uint8(video.codec.PayloadType) {
		t.Fatalf("payload type %d, negotiated %d", p.PayloadType, video.codec.PayloadType)
	}
}

// TestTestSourceRebind is the engine's reconnect: the same track added to a
// new PeerConnection after the first one closed.
func TestTestSourceRebind(t *testing.T) {
	src, err := NewTestSource(TestConfig{Width: 160, Height: 120, NoAudio: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, src)
	for i := range 2 {
		l := newLoopback(t, src, false)
		waitPacket(t, l.track(t, webrtc.RTPCodecTypeVideo), "VP8 keyframe", isVP8Keyframe)
		if err := l.pub.Close(); err != nil {
			t.Fatalf("close publisher %d: %v", i, err)
		}
		if err := l.sub.Close(); err != nil {
			t.Fatalf("close receiver %d: %v", i, err)
		}
	}
}
