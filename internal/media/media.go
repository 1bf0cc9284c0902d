// Package media provides the sources a participant publishes: a synthetic
// test pattern and tone encoded by pion/mediadevices, and pre-encoded files
// (IVF/VP8, H.264 Annex-B, Ogg/Opus) paced out in real time. The engine builds
// its publishing PeerConnection from a Source: RegisterCodecs for the
// MediaEngine, Tracks for AddTrack, Start once connected, Close at the end.
//
// The package knows nothing of rooms or signaling; it imports only the
// standard library, pion and mediadevices.
package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/pion/webrtc/v4"
)

// Kinds and codec names used in TrackInfo.
const (
	KindAudio = "audio"
	KindVideo = "video"

	CodecVP8  = "VP8"
	CodecVP9  = "VP9"
	CodecH264 = "H264"
	CodecOpus = "opus"
)

// TrackInfo describes a published track for events and logs.
type TrackInfo struct {
	Kind       string // "audio" | "video"
	Codec      string // "VP8" | "H264" | "opus"
	Width      int
	Height     int
	FrameRate  int
	SampleRate int
	Channel    int
	Bitrate    int // kb/s, 0 if unknown
}

// Track is one track of a Source.
type Track struct {
	// Local is what the engine passes to PeerConnection.AddTrack. It reads
	// its sender's RTCP itself (PLI reaches the encoder, NACKs get answered):
	// do not call RTPSender.Read or ReadRTCP on its sender, or the two
	// readers split the packets. After a PeerConnection closes, the same
	// Local can be added to the next one (reconnect).
	Local webrtc.TrackLocal
	Info  TrackInfo
	// Ended is closed when the source of this track ends by itself (a file
	// ran out without Loop). It is never closed for test sources, and not
	// by Close either: Close is the owner ending it, not the media.
	Ended <-chan struct{}
}

// Source is what a participant publishes.
type Source interface {
	// RegisterCodecs registers the codecs this source's tracks encode to on
	// m. The engine builds the publishing MediaEngine from this alone (plus
	// the default interceptors), so every codec a track can bind to must be
	// registered here.
	RegisterCodecs(m *webrtc.MediaEngine) error
	// Tracks returns the tracks to add, at most one audio and one video.
	Tracks() []Track
	// Start begins pacing samples; call it once the publishing
	// PeerConnection is connected. The pacing stops when ctx is done or on
	// Close. Sources that encode on Bind (test sources) do nothing here.
	Start(ctx context.Context) error
	// Close stops every goroutine of the source and releases its devices
	// and files. It is safe to call more than once.
	Close() error
}

// CodecOf maps a MIME type (webrtc.MimeTypeVP8, ...) to the codec name used
// in TrackInfo: "VP8", "H264", "opus", "VP9". Other types map to their
// subtype as written (so "video/AV1" is "AV1"), the empty string to itself.
func CodecOf(mime string) string {
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		return CodecVP8
	case strings.EqualFold(mime, webrtc.MimeTypeVP9):
		return CodecVP9
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		return CodecH264
	case strings.EqualFold(mime, webrtc.MimeTypeOpus):
		return CodecOpus
	}
	if _, sub, ok := strings.Cut(mime, "/"); ok {
		return sub
	}
	return mime
}

// videoRTCPFeedback is what pion's RegisterDefaultCodecs advertises for
// video. Advertising it ourselves keeps PLI/FIR working even when a
// MediaEngine is built without the default interceptors, which would
// otherwise add only nack and nack pli.
var videoRTCPFeedback = []webrtc.RTCPFeedback{
	{Type: "goog-remb"},
	{Type: "ccm", Parameter: "fir"},
	{Type: "nack"},
	{Type: "nack", Parameter: "pli"},
}

// opusCodec is pion's default Opus registration. RTP Opus is always
// 48000/2 in SDP (RFC 7587), whatever the source's channel count.
var opusCodec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType:    webrtc.MimeTypeOpus,
		ClockRate:   48000,
		Channels:    2,
		SDPFmtpLine: "minptime=10;useinbandfec=1",
	},
	PayloadType: 111,
}

// newStreamID returns a random stream id shared by a source's tracks, so a
// receiver groups audio and video of one source into one stream.
func newStreamID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "roomctl-" + hex.EncodeToString(b[:])
}
