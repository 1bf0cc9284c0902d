package push

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/pion/opus"
	"github.com/pion/rtp"

	"github.com/roomctl/roomctl/push/aac"
)

// What the media goroutine is handed.
type inKind uint8

const (
	inPacket    inKind = iota // an RTP packet of a track
	inSR                      // a sender report of a track
	inTrack                   // a new track
	inTrackEnd                // a track ended
	inLive                    // an output (dis)connected
	inAddOut                  // an output was added (AddURL)
	inRemoveOut               // an output was removed (RemoveURL)
	inEncoded                 // an access unit of the transcoded video
)

type input struct {
	kind    inKind
	sink    *trackSink
	pkt     rtp.Packet
	at      time.Time // arrival, or the sender report's wall clock
	rtpTime uint32
	out     *output
	gen     uint64
	live    bool
	enc     *encodedPic
}

const (
	// keyframeInterval paces keyframe requests while one is needed.
	keyframeInterval = 500 * time.Millisecond
	// maxAudioGap: a longer hole in the audio (or a jump back) starts a
	// new audio segment on the track's clock instead of being filled with
	// silence.
	maxAudioGap = 48000 // 1 s at 48 kHz
	opusRate    = 48000
)

// muxer is the media goroutine's state: it turns the source's RTP into
// FLV tags on one timeline and hands them to the outputs. Only the media
// goroutine touches it.
type muxer struct {
	p    *Pusher
	log  *slog.Logger
	now  func() time.Time
	outs []*outState

	video *videoIn
	audio *audioIn
	aac   *aacPipe

	firstTrack time.Time
	open       bool // the timeline started
	useSR      bool
	epoch      time.Time
	epochSet   bool
	il         interleaver
	lastPLI    time.Time
	ascBody    []byte

	// Transcoding (compose.go): tc is the compositor, for a VP8 source or
	// a task. A task's video sources are in srcs, its audio sources in
	// asrcs; m.video and m.audio then stand for the output.
	tc       *compositor
	task     *Task
	srcs     map[*trackSink]*videoIn
	asrcs    map[*trackSink]*audioSrc
	present  []presence
	mixStart time.Time
	mixed    int64 // samples (48 kHz) mixed since mixStart
	mixBuf   []float32
}

type videoIn struct {
	sink    *trackSink
	clk     *rtpClock
	asm     h264Assembler
	needKey bool
	sps     []byte
	pps     []byte
	cfg     *videoConfig
	ended   bool
	lost    int
	// tc: the pictures are transcoded (by the compositor); srcNeedKey:
	// the source's pictures are dropped until its next keyframe.
	tc         bool
	srcNeedKey bool
	lastSrcPLI time.Time
}

type audioIn struct {
	sink     *trackSink
	clk      *rtpClock
	dec      opus.Decoder
	pcm      []float32
	seq      seqGate
	nextExt  int64
	haveNext bool
	ended    bool
}

// outState is what the media goroutine knows of one output.
type outState struct {
	o        *output
	gen      uint64 // the output's connection
	live     bool   // it takes tags
	sentMeta bool
	sentASC  bool
	vcfg     *videoConfig // sequence header sent
	needKey  bool
}

func newMuxer(p *Pusher, enc *aac.Encoder) *muxer {
	m := &muxer{
		p:       p,
		log:     p.log,
		now:     p.cfg.Now,
		aac:     newAACPipe(enc),
		il:      interleaver{hold: p.cfg.Hold},
		ascBody: audioTagBody(aacSequenceHeader, enc.AudioSpecificConfig()),
	}
	if t := p.cfg.Task; t != nil {
		m.task = t
		m.srcs = map[*trackSink]*videoIn{}
		m.asrcs = map[*trackSink]*audioSrc{}
		// The output always has both: a grey or black canvas without
		// video, silence without audio.
		m.video = &videoIn{tc: true, needKey: true}
		m.audio = &audioIn{}
		m.il.active = [2]bool{true, true}
		m.startTC(&t.Mode, t.Users)
	}
	return m
}

// startTC starts the compositor (once).
func (m *muxer) startTC(mode *Mode, users []LayoutUser) {
	if m.tc != nil {
		return
	}
	m.tc = newCompositor(m.log.With("component", "transcode"), mode, users, func(e encodedPic) bool {
		return m.p.sendCtl(input{kind: inEncoded, enc: &e})
	})
	m.p.comp.Store(m.tc)
	go m.tc.run()
}

func (m *muxer) run(quit, end <-chan struct{}) {
	defer m.aac.close()
	defer func() {
		if m.tc != nil {
			m.tc.stop()
		}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-quit:
			return
		case <-end:
			m.finish()
			return
		case in := <-m.p.in:
			m.handle(in)
		case <-tick.C:
			m.tick()
		}
	}
}

func (m *muxer) handle(in input) {
	switch in.kind {
	case inTrack:
		m.addTrack(in.sink)
	case inTrackEnd:
		m.endTrack(in.sink)
	case inSR:
		switch {
		case m.video != nil && m.video.sink == in.sink:
			m.video.clk.senderReport(in.at, in.rtpTime)
		case m.audio != nil && m.audio.sink == in.sink:
			m.audio.clk.senderReport(in.at, in.rtpTime)
		}
		m.maybeOpen()
	case inPacket:
		switch {
		case m.srcs[in.sink] != nil:
			m.tcPacket(m.srcs[in.sink], &in)
		case m.asrcs[in.sink] != nil:
			m.mixPacket(m.asrcs[in.sink], &in)
		case m.video != nil && m.video.sink == in.sink:
			m.videoPacket(m.video, &in)
		case m.audio != nil && m.audio.sink == in.sink:
			m.audioPacket(m.audio, &in)
		}
	case inLive:
		m.setLive(in.out, in.gen, in.live)
	case inAddOut:
		m.outs = append(m.outs, &outState{o: in.out})
	case inRemoveOut:
		m.outs = slices.DeleteFunc(m.outs, func(st *outState) bool { return st.o == in.out })
	case inEncoded:
		m.encodedPicture(in.enc)
	}
	m.release()
}

func (m *muxer) tick() {
	m.maybeOpen()
	m.mix()
	if v := m.video; v != nil && !v.ended && m.open {
		need := v.needKey
		for _, st := range m.outs {
			need = need || (st.live && st.needKey)
		}
		if need {
			m.wantKey()
		}
	}
	m.release()
}

func (m *muxer) addTrack(s *trackSink) {
	if m.firstTrack.IsZero() {
		m.firstTrack = m.now()
	}
	if m.task != nil {
		m.addTaskTrack(s)
		return
	}
	if s.video {
		if m.video != nil && !m.video.ended {
			m.log.Warn("second video track of the source ignored")
			return
		}
		m.video = &videoIn{sink: s, clk: newRTPClock(s.t.ClockRate), needKey: true}
		if vp8 := strings.EqualFold(s.t.Codec, "VP8"); vp8 {
			m.video.asm.vp8, m.video.tc, m.video.srcNeedKey = true, true, true
			m.startTC(nil, nil)
		}
		m.il.active[1] = true
	} else {
		if m.audio != nil && !m.audio.ended {
			m.log.Warn("second audio track of the source ignored")
			return
		}
		dec, err := opus.NewDecoderWithOutput(opusRate, aacChannels)
		if err != nil {
			m.log.Error("opus decoder", "err", err)
			return
		}
		m.audio = &audioIn{sink: s, clk: newRTPClock(opusRate), dec: dec, pcm: make([]float32, 5760*aacChannels)}
		m.il.active[0] = true
	}
	// The shape of the stream changed: players get new metadata.
	for _, st := range m.outs {
		st.sentMeta = false
	}
	m.maybeOpen()
	m.wantKey()
}

func (m *muxer) endTrack(s *trackSink) {
	if m.task != nil {
		m.endTaskTrack(s)
		return
	}
	switch {
	case m.video != nil && m.video.sink == s:
		m.video.ended = true
		m.il.active[1] = false
		m.log.Info("source video track ended")
	case m.audio != nil && m.audio.sink == s:
		m.audio.ended = true
		m.il.active[0] = false
		m.log.Info("source audio track ended")
	}
}

// maybeOpen starts the timeline once every track has a sender report, or
// SyncWait after the first track: the clock anchor is chosen then.
func (m *muxer) maybeOpen() {
	if m.open || m.firstTrack.IsZero() || m.task != nil {
		return // a task opens at its first track (addTaskTrack)
	}
	hasSR := func(c *rtpClock) bool { return c.haveSR }
	both := m.video != nil && m.audio != nil
	allSR := (m.video == nil || hasSR(m.video.clk)) && (m.audio == nil || hasSR(m.audio.clk))
	ready := both && allSR
	if !ready && m.now().Sub(m.firstTrack) < m.p.cfg.SyncWait {
		return
	}
	m.open, m.useSR = true, allSR
	anchor := "arrival"
	if allSR {
		anchor = "sender reports"
	}
	m.log.Info("push timeline started", "clock", anchor, "video", m.video != nil, "audio", m.audio != nil)
	if m.video != nil {
		m.video.needKey = true
	}
	m.wantKey()
}

// wantKey asks the source for a keyframe, at most every keyframeInterval.
func (m *muxer) wantKey() {
	v := m.video
	if v == nil || v.ended {
		return
	}
	now := m.now()
	if !m.lastPLI.IsZero() && now.Sub(m.lastPLI) < keyframeInterval {
		return
	}
	m.lastPLI = now
	if v.tc {
		m.tc.forceKey.Store(true) // the encoder makes the keyframe
		return
	}
	v.sink.requestKeyframe()
}

// ms places a wall-clock time on the push's timeline.
func (m *muxer) ms(wall time.Time) uint32 {
	if !m.epochSet {
		m.epoch, m.epochSet = wall, true
	}
	d := wall.Sub(m.epoch)
	if d < 0 {
		return 0
	}
	return uint32((d + time.Millisecond/2) / time.Millisecond)
}

func (m *muxer) videoPacket(v *videoIn, in *input) {
	if v.tc {
		m.tcPacket(v, in)
		return
	}
	v.clk.packet(in.pkt.Timestamp, in.at)
	aus, lost := v.asm.push(&in.pkt)
	if lost {
		v.lost++
		v.needKey = true
		m.wantKey()
	}
	for _, au := range aus {
		pic := toPicture(au.annexB)
		if pic.sps != nil || pic.pps != nil {
			m.updateVideoConfig(v, pic.sps, pic.pps)
		}
		if pic.avcc == nil {
			continue
		}
		if !m.open {
			v.needKey = true
			continue
		}
		if v.needKey {
			if !pic.key || v.cfg == nil {
				m.wantKey()
				continue
			}
			v.needKey = false
		}
		wall, ok := v.clk.wall(v.clk.extend(au.rtpTime), m.useSR)
		if !ok {
			v.needKey = true
			continue
		}
		m.il.push(&tag{
			typ: tagVideo, ts: m.ms(wall), key: pic.key, cfg: v.cfg, arrival: in.at,
			body: videoTagBody(pic.key, avcNALU, pic.avcc),
		}, m.now())
	}
}

// updateVideoConfig keeps the newest SPS and PPS; a new pair makes a new
// configuration, which outputs send as a sequence header before the next
// picture that needs it.
func (m *muxer) updateVideoConfig(v *videoIn, sps, pps []byte) {
	if sps != nil {
		v.sps = sps
	}
	if pps != nil {
		v.pps = pps
	}
	if v.sps == nil || v.pps == nil {
		return
	}
	avcC, err := avcDecoderConfig(v.sps, v.pps)
	if err != nil {
		m.log.Warn("bad H.264 parameter sets", "err", err)
		return
	}
	if v.cfg != nil && bytes.Equal(v.cfg.avcC, avcC) {
		return
	}
	cfg := &videoConfig{avcC: avcC}
	if w, h, err := spsSize(v.sps); err == nil {
		cfg.width, cfg.height = w, h
	}
	if v.cfg == nil || v.cfg.width != cfg.width || v.cfg.height != cfg.height {
		for _, st := range m.outs {
			st.sentMeta = false
		}
	}
	// Some encoders (openh264) number their parameter sets anew at
	// every IDR, so a new configuration per keyframe is normal.
	lv := slog.LevelDebug
	if v.cfg == nil {
		lv = slog.LevelInfo
	}
	m.log.Log(context.Background(), lv, "H.264 configuration", "width", cfg.width, "height", cfg.height,
		"profile", avcC[1], "level", avcC[3], "avcC", fmt.Sprintf("%x", avcC))
	v.cfg = cfg
}

// seqGate lets an audio track's packets through in sequence order: a
// duplicate or a late packet (one behind the newest) is refused.
type seqGate struct {
	last    uint16
	started bool
}

func (g *seqGate) next(seq uint16) bool {
	if d := seq - g.last; g.started && (d == 0 || d >= 0x8000) {
		return false
	}
	g.started, g.last = true, seq
	return true
}

func (m *muxer) audioPacket(a *audioIn, in *input) {
	if !a.seq.next(in.pkt.SequenceNumber) {
		return // duplicate or late
	}
	ext := a.clk.packet(in.pkt.Timestamp, in.at)
	if len(in.pkt.Payload) == 0 {
		return
	}
	// Decoded even before the timeline starts, so that the decoder's
	// state is right when it does.
	n, err := a.dec.DecodeToFloat32(in.pkt.Payload, a.pcm)
	if err != nil || n == 0 {
		// Not decodable: the next packet fills the hole with silence.
		m.log.Debug("opus decode", "err", err)
		return
	}
	if !m.open {
		a.haveNext = false
		return
	}
	wall, ok := a.clk.wall(ext, m.useSR)
	if !ok {
		a.haveNext = false
		return
	}
	var pkts []aac.Packet
	switch gap := ext - a.nextExt; {
	case !a.haveNext || gap > maxAudioGap || gap < -int64(n):
		pkts = m.aac.begin(pkts, wall)
	case gap > 0:
		pkts = m.aac.silence(pkts, int(gap))
	}
	pkts = m.aac.write(pkts, a.pcm[:n*aacChannels])
	m.aac.arrived(in.at)
	a.nextExt, a.haveNext = ext+int64(n), true
	m.audioTags(pkts)
}

func (m *muxer) audioTags(pkts []aac.Packet) {
	if err := m.aac.err; err != nil {
		m.log.Warn("AAC encoding lost a frame", "err", err)
		m.aac.err = nil
	}
	now := m.now()
	for _, pk := range pkts {
		m.il.push(&tag{
			typ: tagAudio, ts: m.ms(m.aac.wallOf(pk.PTS)), arrival: m.aac.arrivalOf(pk.PTS),
			body: audioTagBody(aacRaw, pk.Data),
		}, now)
	}
}

// release hands every tag the interleaver lets go to the outputs.
func (m *muxer) release() {
	now := m.now()
	for t := m.il.pop(now); t != nil; t = m.il.pop(now) {
		m.deliver(t)
	}
}

func (m *muxer) deliver(t *tag) {
	for _, st := range m.outs {
		m.deliverTo(st, t)
	}
}

// deliverTo queues t for one output, preceded by what that output has not
// had yet: metadata, sequence headers. An output starts, and starts again
// after it dropped tags, on a video keyframe.
func (m *muxer) deliverTo(st *outState, t *tag) {
	if !st.live {
		return
	}
	hasVideo := m.video != nil && !m.video.ended
	isKey := t.typ == tagVideo && t.key
	if st.needKey && hasVideo && !isKey {
		return
	}
	if !st.sentMeta {
		if !m.send(st, &tag{typ: tagScript, ts: t.ts, body: m.metadata().scriptBody()}) {
			return
		}
		st.sentMeta = true
	}
	if m.audio != nil && !st.sentASC {
		if !m.send(st, &tag{typ: tagAudio, ts: t.ts, body: m.ascBody}) {
			return
		}
		st.sentASC = true
	}
	if t.typ == tagVideo && st.vcfg != t.cfg {
		if !m.send(st, &tag{typ: tagVideo, ts: t.ts, key: true, body: videoTagBody(true, avcSequenceHeader, t.cfg.avcC)}) {
			return
		}
		st.vcfg = t.cfg
	}
	if m.send(st, t) && t.key {
		st.needKey = false
	}
}

// send queues without waiting: a full queue means a slow server, which
// loses the tag and starts again at the next keyframe.
func (m *muxer) send(st *outState, t *tag) bool {
	select {
	case st.o.q <- qItem{gen: st.gen, t: t}:
		return true
	default:
		st.o.dropped.Add(1)
		st.needKey = true
		m.wantKey()
		return false
	}
}

func (m *muxer) metadata() metadata {
	md := metadata{}
	if v := m.video; v != nil && !v.ended {
		md.video = true
		if v.cfg != nil {
			md.width, md.height = v.cfg.width, v.cfg.height
		}
	}
	if m.audio != nil {
		md.audio, md.sampleRate, md.channels, md.audioKbps = true, aacRate, aacChannels, aacBitRate/1000
	}
	return md
}

// setLive: an output connected (it needs everything from a keyframe on)
// or disconnected.
func (m *muxer) setLive(o *output, gen uint64, live bool) {
	for _, st := range m.outs {
		if st.o != o {
			continue
		}
		if live {
			*st = outState{o: o, gen: gen, live: true, needKey: true}
			m.wantKey()
		} else if st.gen == gen {
			st.live = false
		}
	}
}

// finish flushes the audio encoder and the interleaver and tells every
// connected output that the stream ends.
func (m *muxer) finish() {
	if m.open {
		m.audioTags(m.aac.flush(nil))
	}
	for _, t := range m.il.drain() {
		m.deliver(t)
	}
	for _, st := range m.outs {
		if st.live {
			select {
			case st.o.q <- qItem{gen: st.gen, end: true}:
			default:
			}
		}
	}
}
