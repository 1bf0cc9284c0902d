package push

import (
	"slices"
	"strings"
	"time"

	"github.com/pion/opus"

	"github.com/roomctl/roomctl/internal/dsp"
)

// Task is a transcoding task (the SDK's live transcoding): the users'
// pictures composed at the mode's size and frame rate, their audio mixed.
type Task struct {
	Mode Mode
	// Users are the users drawn and mixed, with their cells; empty means
	// every user who publishes, in a default grid in the order they came.
	Users []LayoutUser
}

// wants reports whether uid is part of the task.
func (t *Task) wants(uid string) bool {
	return len(t.Users) == 0 || slices.ContainsFunc(t.Users, func(u LayoutUser) bool { return u.UID == uid })
}

// The audio mix's jitter buffer, in samples at 48 kHz: a source is mixed
// once it has mixPrebuffer buffered (and again after it ran dry), and what
// is buffered beyond mixMaxBuffer is dropped, oldest first.
const (
	mixPrebuffer = 60 * opusRate / 1000
	mixMaxBuffer = 200 * opusRate / 1000
)

// audioSrc is an audio source of a task.
type audioSrc struct {
	sink   *trackSink
	dec    opus.Decoder
	pcm    []float32
	fifo   []float32 // 48 kHz stereo, interleaved
	seq    seqGate
	primed bool
}

// addTaskTrack takes a track of a task: video to the compositor, audio to
// the mix. The task's timeline opens with its first track.
func (m *muxer) addTaskTrack(s *trackSink) {
	if s.video {
		v := &videoIn{sink: s, clk: newRTPClock(s.t.ClockRate), tc: true, srcNeedKey: true}
		v.asm.vp8 = strings.EqualFold(s.t.Codec, "VP8")
		m.srcs[s] = v
		m.srcKey(v)
	} else {
		dec, err := opus.NewDecoderWithOutput(opusRate, aacChannels)
		if err != nil {
			m.log.Error("opus decoder", "err", err)
			return
		}
		m.asrcs[s] = &audioSrc{sink: s, dec: dec, pcm: make([]float32, 5760*aacChannels)}
	}
	m.updatePresence()
	if !m.open {
		m.open, m.useSR = true, false
		m.log.Info("transcoding task started", "mode", m.task.Mode.Number,
			"width", m.task.Mode.Width, "height", m.task.Mode.Height, "fps", m.task.Mode.FPS)
		m.tc.open()
		m.wantKey()
	}
}

func (m *muxer) endTaskTrack(s *trackSink) {
	if _, ok := m.srcs[s]; ok {
		delete(m.srcs, s)
		m.log.Info("video of a user ended", "uid", s.t.UID)
	}
	if _, ok := m.asrcs[s]; ok {
		delete(m.asrcs, s)
		m.log.Info("audio of a user ended", "uid", s.t.UID)
	}
	m.updatePresence()
}

// updatePresence tells the compositor who publishes: users keep their
// place in the order they first came while they publish anything.
func (m *muxer) updatePresence() {
	video, publishes := map[string]bool{}, map[string]bool{}
	for s := range m.srcs {
		video[s.t.UID], publishes[s.t.UID] = true, true
	}
	for s := range m.asrcs {
		publishes[s.t.UID] = true
	}
	var p []presence
	for _, old := range m.present {
		if publishes[old.uid] {
			p = append(p, presence{uid: old.uid, hasVideo: video[old.uid]})
			delete(publishes, old.uid)
		}
	}
	// Newcomers, in a stable order (the tracks of one user come together).
	var fresh []string
	for uid := range publishes {
		fresh = append(fresh, uid)
	}
	slices.Sort(fresh)
	for _, uid := range fresh {
		p = append(p, presence{uid: uid, hasVideo: video[uid]})
	}
	m.present = p
	m.tc.setPresence(slices.Clone(p))
}

// tcPacket reassembles a transcoded source's pictures and hands them to
// the compositor, from a keyframe on.
func (m *muxer) tcPacket(v *videoIn, in *input) {
	v.clk.packet(in.pkt.Timestamp, in.at)
	aus, lost := v.asm.push(&in.pkt)
	if lost {
		v.lost++
		m.srcKey(v)
	}
	codec := "H264"
	if v.asm.vp8 {
		codec = "VP8"
	}
	for _, au := range aus {
		key := au.vp8Key
		if !v.asm.vp8 {
			key = toPicture(au.annexB).key
		}
		if v.srcNeedKey && !key {
			m.srcKey(v)
			continue
		}
		wall := in.at // a task's pictures are placed when they arrive
		if m.task == nil {
			if !m.open {
				v.srcNeedKey = true
				continue
			}
			w, ok := v.clk.wall(v.clk.extend(au.rtpTime), m.useSR)
			if !ok {
				v.srcNeedKey = true
				continue
			}
			wall = w
		}
		if !m.tc.push(srcFrame{
			uid: v.sink.t.UID, codec: codec, data: au.annexB, key: key, wall: wall, arrival: in.at,
			requestKeyframe: v.sink.requestKeyframe,
		}) {
			logEvery(&m.tc.lastQueuedLog, m.now(), func() {
				m.tc.log.Warn("the transcoder is behind: source pictures dropped", "dropped", m.tc.dropped.Load(), "encoded", m.tc.encoded.Load())
			})
			m.srcKey(v)
			continue
		}
		v.srcNeedKey = false
	}
}

// srcKey drops a transcoded source's pictures until its next keyframe and
// asks for one, at most every keyframeInterval.
func (m *muxer) srcKey(v *videoIn) {
	v.srcNeedKey = true
	now := m.now()
	if v.lastSrcPLI.IsZero() || now.Sub(v.lastSrcPLI) >= keyframeInterval {
		v.lastSrcPLI = now
		v.sink.requestKeyframe()
	}
}

// encodedPicture puts an access unit of the transcoded video on the
// timeline.
func (m *muxer) encodedPicture(e *encodedPic) {
	v := m.video
	if v == nil || !v.tc || v.ended || !m.open {
		return
	}
	pic := toPicture(e.annexB)
	if pic.sps != nil || pic.pps != nil {
		m.updateVideoConfig(v, pic.sps, pic.pps)
	}
	if pic.avcc == nil {
		return
	}
	if v.needKey {
		if !pic.key || v.cfg == nil {
			m.wantKey()
			return
		}
		v.needKey = false
	}
	m.il.push(&tag{
		typ: tagVideo, ts: m.ms(e.wall), key: pic.key, cfg: v.cfg, arrival: e.arrival,
		body: videoTagBody(pic.key, avcNALU, pic.avcc),
	}, m.now())
}

// mixPacket decodes a task's audio packet into its source's buffer.
func (m *muxer) mixPacket(a *audioSrc, in *input) {
	if !a.seq.next(in.pkt.SequenceNumber) || len(in.pkt.Payload) == 0 {
		return
	}
	n, err := a.dec.DecodeToFloat32(in.pkt.Payload, a.pcm)
	if err != nil || n == 0 {
		m.log.Debug("opus decode", "err", err)
		return
	}
	a.fifo = append(a.fifo, a.pcm[:n*aacChannels]...)
	if over := len(a.fifo)/aacChannels - mixMaxBuffer; over > 0 {
		a.fifo = append(a.fifo[:0], a.fifo[over*aacChannels:]...)
	}
}

// mix mixes what is due of a task's audio, up to now, and encodes it: the
// output's audio runs on the wall clock, silence where nobody speaks.
func (m *muxer) mix() {
	if m.task == nil || !m.open {
		return
	}
	now := m.now()
	if m.mixStart.IsZero() || now.Sub(m.mixStart.Add(samplesDur(m.mixed))) > time.Second {
		// The start, or a stall of the whole process: a new segment.
		m.mixStart, m.mixed = now, 0
		m.audioTags(m.aac.begin(nil, now))
	}
	due := int(int64(now.Sub(m.mixStart))*opusRate/int64(time.Second) - m.mixed)
	if due <= 0 {
		return
	}
	m.mixBuf = slices.Grow(m.mixBuf[:0], due*aacChannels)[:due*aacChannels]
	buf := m.mixBuf
	clear(buf)
	for _, a := range m.asrcs {
		avail := len(a.fifo) / aacChannels
		if !a.primed {
			if avail < mixPrebuffer {
				continue
			}
			a.primed = true
		}
		n := min(due, avail)
		for i, x := range a.fifo[:n*aacChannels] {
			buf[i] += x
		}
		a.fifo = append(a.fifo[:0], a.fifo[n*aacChannels:]...)
		if n < due {
			a.primed = false // ran dry: buffer again before mixing it
		}
	}
	for i, x := range buf {
		buf[i] = dsp.Limit(x)
	}
	pkts := m.aac.write(nil, buf)
	m.aac.arrived(now)
	m.mixed += int64(due)
	m.audioTags(pkts)
}

func samplesDur(n int64) time.Duration { return time.Duration(n) * time.Second / opusRate }
