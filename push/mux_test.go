package push

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/dsp/dsptest"
	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/push/aac"
)

// nopEmitter discards events.
type nopEmitter struct{}

func (nopEmitter) Emit(string, any) {}

// muxHarness drives a muxer synchronously, on a fake clock, with one
// output whose queue the test reads.
type muxHarness struct {
	now    time.Time
	m      *muxer
	out    *output
	st     *outState
	video  *trackSink
	audio  *trackSink
	pliReq int
}

func newMuxHarness(t *testing.T, queue int) *muxHarness {
	t.Helper()
	h := &muxHarness{now: time.Unix(1_700_000_000, 0)}
	cfg := Config{Events: nopEmitter{}, Now: func() time.Time { return h.now }}
	cfg.withDefaults()
	p := &Pusher{cfg: cfg, log: cfg.Logger}
	enc, err := aac.New(aac.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.m = newMuxer(p, enc)
	t.Cleanup(h.m.aac.close)
	h.out = &output{p: p, q: make(chan qItem, queue)}
	h.st = &outState{o: h.out}
	h.m.outs = []*outState{h.st}
	h.video = &trackSink{p: p, video: true, requestKeyframe: func() { h.pliReq++ },
		t: &engine.RemoteTrack{Kind: "video", Codec: "H264", ClockRate: 90000}}
	h.audio = &trackSink{p: p, requestKeyframe: func() {},
		t: &engine.RemoteTrack{Kind: "audio", Codec: "opus", ClockRate: 48000, Channels: 2}}
	return h
}

// start adds both tracks, gives them sender reports that put RTP time 0
// of both at the same instant, and connects the output.
func (h *muxHarness) start() {
	h.m.handle(input{kind: inTrack, sink: h.video})
	h.m.handle(input{kind: inTrack, sink: h.audio})
	h.m.handle(input{kind: inSR, sink: h.video, at: h.now, rtpTime: 0})
	h.m.handle(input{kind: inSR, sink: h.audio, at: h.now, rtpTime: 0})
	h.m.handle(input{kind: inLive, out: h.out, gen: 1, live: true})
}

// feed plays the events; skip drops some.
func (h *muxHarness) feed(ev []mediaEvent, skip func(i int, e mediaEvent) bool) {
	t0 := h.now
	for i, e := range ev {
		h.now = t0.Add(time.Duration(e.ms * float64(time.Millisecond)))
		if skip != nil && skip(i, e) {
			continue
		}
		s := h.audio
		if e.video {
			s = h.video
		}
		h.m.handle(input{kind: inPacket, sink: s, pkt: *e.pkt, at: h.now})
	}
}

func (h *muxHarness) tags() []*tag {
	h.m.finish()
	var out []*tag
	for {
		select {
		case it := <-h.out.q:
			if !it.end {
				out = append(out, it.t)
			}
		default:
			return out
		}
	}
}

func isVideoFrame(t *tag) bool { return t.typ == tagVideo && t.body[1] == avcNALU }
func isAudioFrame(t *tag) bool { return t.typ == tagAudio && t.body[1] == aacRaw }

// Metadata and sequence headers come first, the first picture is a
// keyframe, timestamps never go back, and audio and video sit on one
// timeline: with both RTP clocks anchored at the same instant, the AAC
// frame of PTS p is at p/44.1 ms and the picture of RTP time r at r/90 ms.
func TestMuxerTimeline(t *testing.T) {
	h := newMuxHarness(t, 4096)
	h.start()
	h.feed(testMedia(t), nil)
	tags := h.tags()
	ascFirst := len(tags) > 1 && tags[1].typ == tagAudio && tags[1].body[1] == aacSequenceHeader
	avcNext := len(tags) > 2 && tags[2].typ == tagVideo && tags[2].body[1] == avcSequenceHeader
	if len(tags) < 4 || tags[0].typ != tagScript || !ascFirst || !avcNext || !isVideoFrame(tags[3]) || !tags[3].key {
		t.Fatalf("stream does not start with metadata, AAC and AVC headers and a keyframe: %v", describe(tags[:min(6, len(tags))]))
	}
	if !bytes.HasPrefix(tags[1].body[2:], []byte{0x12, 0x10}) {
		t.Errorf("AudioSpecificConfig % x", tags[1].body[2:])
	}
	var video, audio []*tag
	var last uint32
	for i, tg := range tags {
		if tg.ts < last {
			t.Fatalf("tag %d: timestamp %d after %d", i, tg.ts, last)
		}
		last = tg.ts
		switch {
		case isVideoFrame(tg):
			video = append(video, tg)
		case isAudioFrame(tg):
			audio = append(audio, tg)
		}
	}
	if len(video) != 90 {
		t.Errorf("%d pictures, want 90", len(video))
	}
	// 3 s of audio is 129.2 AAC frames, plus priming and the flushed tail.
	if len(audio) < 129 || len(audio) > 133 {
		t.Errorf("%d AAC frames, want about 131", len(audio))
	}
	e := float64(video[0].ts) // where RTP time 0 landed
	for i, v := range video {
		if want := e + float64(i)*1000/30; math.Abs(float64(v.ts)-want) > 1 {
			t.Fatalf("picture %d at %d ms, want %.1f", i, v.ts, want)
		}
		if v.key != (i%10 == 0) {
			t.Errorf("picture %d: key %v", i, v.key)
		}
	}
	// audio[0] is the encoder's priming frame (PTS -1024, clamped).
	for k, a := range audio[1:] {
		if want := e + float64(k)*1024*1000/44100; math.Abs(float64(a.ts)-want) > 1 {
			t.Fatalf("AAC frame %d at %d ms, want %.1f", k, a.ts, want)
		}
	}
	checkFLVDecodes(t, tags)
}

func describe(tags []*tag) []string {
	var s []string
	for _, t := range tags {
		s = append(s, map[byte]string{tagAudio: "audio", tagVideo: "video", tagScript: "script"}[t.typ])
	}
	return s
}

// checkFLVDecodes writes the tags as an FLV file and has ffmpeg decode it:
// no complaint, H.264 and AAC at 44.1 kHz stereo, and the 1 kHz tone back.
func checkFLVDecodes(t *testing.T, tags []*tag) {
	t.Helper()
	testutil.Need(t, "ffmpeg", "ffprobe")
	file := flvHeader(true, true)
	for _, tg := range tags {
		file = appendFLVTag(file, tg.typ, tg.ts, tg.body)
	}
	path := filepath.Join(t.TempDir(), "push.flv")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	out := testutil.RunTool(t, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels,width,height",
		"-of", "compact", path)
	for _, want := range []string{"codec_name=h264", "width=160", "height=120", "codec_name=aac", "sample_rate=44100", "channels=2"} {
		if !strings.Contains(out, want) {
			t.Errorf("ffprobe: no %s in %s", want, out)
		}
	}
	testutil.DecodeClean(t, path)
	x := testutil.DecodePCM(t, path, "-vn", "-af", "pan=mono|c0=c0") // the left channel
	if len(x) < 44100*2 {
		t.Fatalf("%d samples decoded", len(x))
	}
	mid := x[22050 : 22050+44100] // one second: 1000 whole periods
	p1k := dsptest.Goertzel(mid, 1000, 44100)
	for _, f := range []float64{500, 900, 1100, 2000} {
		if p := dsptest.Goertzel(mid, f, 44100); p > p1k*1e-3 {
			t.Errorf("%g Hz at %.1f dB of 1 kHz", f, 10*math.Log10(p/p1k))
		}
	}
	var sum float64
	for _, v := range mid {
		sum += float64(v) * float64(v)
	}
	// ffmpeg's sine source has amplitude 1/8.
	if rms, want := math.Sqrt(sum/float64(len(mid))), 0.125/math.Sqrt2; math.Abs(rms-want) > 0.15*want {
		t.Errorf("tone RMS %.4f, want %.4f", rms, want)
	}
}

// A lost packet drops the picture and what depends on it until the next
// keyframe, which is asked for.
func TestMuxerLossWaitsForKeyframe(t *testing.T) {
	h := newMuxHarness(t, 4096)
	h.start()
	ev := testMedia(t)
	lostTS := uint32(15 * 3000) // an inter picture of the second GOP
	dropped := false
	h.pliReq = 0
	h.feed(ev, func(i int, e mediaEvent) bool {
		if e.video && e.pkt.Timestamp == lostTS && !dropped {
			dropped = true
			return true
		}
		return false
	})
	if h.pliReq == 0 {
		t.Error("no keyframe requested after the loss")
	}
	var pics []uint32
	for _, tg := range h.tags() {
		if isVideoFrame(tg) {
			pics = append(pics, uint32(tg.body[0]>>4))
		}
	}
	// 90 pictures - 5 (15..19 depend on the lost one).
	if len(pics) != 85 {
		t.Fatalf("%d pictures, want 85", len(pics))
	}
	if pics[15] != 1 {
		t.Errorf("picture after the hole has frame type %d, want a keyframe", pics[15])
	}
}

// An output whose queue is full loses tags and starts again on a keyframe.
func TestMuxerSlowOutputRestartsOnKeyframe(t *testing.T) {
	h := newMuxHarness(t, 40)
	h.start()
	ev := testMedia(t)
	var got []*tag
	drain := func() {
		for {
			select {
			case it := <-h.out.q:
				got = append(got, it.t)
			default:
				return
			}
		}
	}
	// Feed the first second without reading: the queue overflows.
	third := len(ev) / 3
	h.feed(ev[:third], nil)
	if h.out.dropped.Load() == 0 {
		t.Fatal("nothing dropped")
	}
	drain()
	n := len(got)
	h.feed(ev[third:], nil)
	drain()
	var first *tag
	for _, tg := range got[n:] {
		if tg.media() {
			first = tg
			break
		}
	}
	if first == nil || !isVideoFrame(first) || !first.key {
		t.Fatalf("after dropping, the output restarted with %+v", first)
	}
}

var _ event.Emitter = nopEmitter{}
