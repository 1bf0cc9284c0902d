package push

import (
	"errors"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/roomctl/roomctl/internal/codec/h264"
)

// accessUnit is one H.264 picture reassembled from RTP, in Annex-B, or
// one VP8 frame.
type accessUnit struct {
	annexB  []byte
	rtpTime uint32
	vp8Key  bool // a VP8 keyframe (the frame tag's P bit is 0)
}

// h264Assembler reassembles access units from RTP packets (RFC 6184) that
// come in arrival order. It does not reorder: a packet out of sequence
// counts as a loss, and the picture it belonged to is dropped, because a
// picture with a hole is worse for a CDN viewer than a skipped one. The
// caller then waits for a keyframe (and asks for one).
//
// With vp8 set it reassembles VP8 frames (RFC 7741) the same way: a frame
// is the payloads of the packets of one timestamp, without their payload
// descriptors.
type h264Assembler struct {
	vp8     bool
	dep     codecs.H264Packet
	vp8dep  codecs.VP8Packet
	buf     []byte
	rtpTime uint32
	have    bool // buf holds (part of) the picture at rtpTime
	broken  bool // a packet of the current picture is missing
	lastSeq uint16
	started bool
}

// push feeds one packet. It returns the pictures that it completed (at
// most two: one whose marker bit was lost, and the current one) and
// whether a loss was detected.
func (a *h264Assembler) push(p *rtp.Packet) (aus []accessUnit, lost bool) {
	if a.started {
		d := p.SequenceNumber - a.lastSeq
		if d == 0 || d >= 0x8000 {
			return nil, false // duplicate or late: already counted as lost
		}
		if d != 1 {
			lost = true
			a.broken = true
			a.dep = codecs.H264Packet{} // drop a half-assembled FU-A
		}
	}
	a.started = true
	a.lastSeq = p.SequenceNumber

	if a.have && p.Timestamp != a.rtpTime {
		// A new picture without the previous one's marker bit.
		aus = a.finish(aus)
		if lost {
			a.broken = true // the lost packets may have begun this picture
		}
	}
	a.rtpTime = p.Timestamp
	a.have = true
	if len(p.Payload) > 0 {
		var out []byte
		var err error
		if a.vp8 {
			out, err = a.vp8dep.Unmarshal(p.Payload)
		} else {
			out, err = a.dep.Unmarshal(p.Payload)
		}
		if err != nil {
			a.broken = true
			a.dep = codecs.H264Packet{}
		} else {
			a.buf = append(a.buf, out...)
		}
	}
	if p.Marker {
		aus = a.finish(aus)
	}
	return aus, lost
}

func (a *h264Assembler) finish(aus []accessUnit) []accessUnit {
	if !a.broken && len(a.buf) > 0 {
		aus = append(aus, accessUnit{annexB: a.buf, rtpTime: a.rtpTime, vp8Key: a.vp8 && a.buf[0]&1 == 0})
		a.buf = nil // handed over
	}
	a.buf = a.buf[:0]
	a.have = false
	a.broken = false
	return aus
}

// picture is an access unit made ready for FLV: AVCC data without access
// unit delimiters, whether it is a keyframe, and the SPS and PPS it
// carried, if any. The parameter sets go into the sequence header and also
// stay in band: encoders like openh264 renumber them at every IDR, and a
// player that ignores a new sequence header still decodes the keyframe.
type picture struct {
	avcc     []byte
	key      bool
	sps, pps []byte
}

// toPicture splits an Annex-B access unit for FLV.
func toPicture(annexB []byte) picture {
	var info h264.AUInfo
	var keep [][]byte
	for n := range h264.NALUnits(annexB) {
		if h264.TypeOf(n) == h264.NALAUD {
			continue
		}
		info.Add(n)
		keep = append(keep, n)
	}
	pic := picture{key: info.IDR, sps: info.SPS, pps: info.PPS}
	if len(keep) > 0 {
		pic.avcc = h264.AppendAVCC(nil, keep)
	}
	return pic
}

// spsSize returns the picture size that an SPS NAL unit (header byte
// included) declares, after frame cropping. onMetaData carries it;
// decoders read the SPS itself.
func spsSize(sps []byte) (width, height int, err error) {
	s, err := h264.ParseSPS(sps)
	if err != nil {
		return 0, 0, err
	}
	if s.PicWidthInMbs > 1024 || s.PicHeightInMapUnits > 1024 || s.Width > 16384 || s.Height > 16384 {
		return 0, 0, errors.New("sps: implausible size")
	}
	return s.Width, s.Height, nil
}
