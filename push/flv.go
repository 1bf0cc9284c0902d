package push

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/roomctl/roomctl/internal/codec/h264"
)

// FLV (Adobe FLV spec v10.1, annex E) as RTMP carries it: a message per
// tag, whose body is what is built here. All functions are pure.

// FLV tag types.
const (
	tagAudio  byte = 8
	tagVideo  byte = 9
	tagScript byte = 18
)

// AVCPacketType and AACPacketType values.
const (
	avcSequenceHeader byte = 0
	avcNALU           byte = 1
	aacSequenceHeader byte = 0
	aacRaw            byte = 1
)

// avcDecoderConfig is the body of the AVC sequence header: the avcC record
// of one SPS and one PPS. The High profile extension (chroma format, bit
// depths) is left out, as most muxers do for 4:2:0 8-bit; WebRTC sends
// constrained baseline anyway.
func avcDecoderConfig(sps, pps []byte) ([]byte, error) {
	return h264.DecoderConfig(sps, pps, nil)
}

// videoTagBody is an FLV VIDEODATA body for AVC: frame type (1 key, 2
// inter), codec id 7, AVCPacketType, composition time 0 (WebRTC H.264 has
// no B-frames, so decode order is presentation order), then data.
func videoTagBody(key bool, pktType byte, data []byte) []byte {
	ft := byte(2)
	if key {
		ft = 1
	}
	b := make([]byte, 5, 5+len(data))
	b[0] = ft<<4 | 7
	b[1] = pktType
	// b[2:5]: CompositionTime, 0
	return append(b, data...)
}

// audioTagBody is an FLV AUDIODATA body for AAC. The header byte is 0xAF
// (AAC, "44 kHz", 16 bit, stereo) as the spec requires for AAC whatever the
// real format is: decoders read the AudioSpecificConfig.
func audioTagBody(pktType byte, data []byte) []byte {
	b := make([]byte, 2, 2+len(data))
	b[0] = 10<<4 | 3<<2 | 1<<1 | 1
	b[1] = pktType
	return append(b, data...)
}

var aacRates = []int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// audioSpecificConfig is the 2-byte AudioSpecificConfig (ISO/IEC 14496-3
// 1.6.2.1) of an AAC stream: object type (2 = LC), sampling frequency
// index, channel configuration.
func audioSpecificConfig(objectType, sampleRate, channels int) ([]byte, error) {
	idx := -1
	for i, r := range aacRates {
		if r == sampleRate {
			idx = i
		}
	}
	if idx < 0 || objectType < 1 || objectType > 30 || channels < 1 || channels > 7 {
		return nil, fmt.Errorf("audioSpecificConfig: unsupported %d/%d Hz/%d ch", objectType, sampleRate, channels)
	}
	v := uint16(objectType)<<11 | uint16(idx)<<7 | uint16(channels)<<3
	return binary.BigEndian.AppendUint16(nil, v), nil
}

// metadata is what onMetaData announces.
type metadata struct {
	video         bool
	width, height int // 0: unknown
	audio         bool
	sampleRate    int
	channels      int
	audioKbps     int
}

// scriptBody is the FLV SCRIPTDATA body "onMetaData" + an ECMA array, in
// AMF0, keys in a fixed order.
func (m metadata) scriptBody() []byte {
	type kv struct {
		k string
		v any
	}
	props := []kv{{"duration", 0.0}}
	if m.video {
		props = append(props, kv{"videocodecid", 7.0})
		if m.width > 0 && m.height > 0 {
			props = append(props, kv{"width", float64(m.width)}, kv{"height", float64(m.height)})
		}
	}
	if m.audio {
		props = append(props,
			kv{"audiocodecid", 10.0},
			kv{"audiosamplerate", float64(m.sampleRate)},
			kv{"audiosamplesize", 16.0},
			kv{"stereo", m.channels == 2},
			kv{"audiodatarate", float64(m.audioKbps)},
		)
	}
	props = append(props, kv{"encoder", "roomctl"})

	b := amf0String(nil, "onMetaData")
	b = append(b, 0x08) // ECMA array
	b = binary.BigEndian.AppendUint32(b, uint32(len(props)))
	for _, p := range props {
		b = amf0Key(b, p.k)
		switch v := p.v.(type) {
		case float64:
			b = append(b, 0x00)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		case bool:
			b = append(b, 0x01)
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case string:
			b = amf0String(b, v)
		}
	}
	return append(b, 0, 0, 0x09) // object end
}

func amf0String(b []byte, s string) []byte {
	b = append(b, 0x02)
	return amf0Key(b, s)
}

func amf0Key(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// flvHeader is the 9-byte FLV file header plus PreviousTagSize0.
func flvHeader(audio, video bool) []byte {
	var flags byte
	if audio {
		flags |= 4
	}
	if video {
		flags |= 1
	}
	return []byte{'F', 'L', 'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0}
}

// appendFLVTag appends one tag of an FLV file and its PreviousTagSize.
func appendFLVTag(dst []byte, typ byte, ts uint32, body []byte) []byte {
	n := len(body)
	dst = append(dst, typ, byte(n>>16), byte(n>>8), byte(n),
		byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24), // timestamp, extended
		0, 0, 0) // stream id
	dst = append(dst, body...)
	return binary.BigEndian.AppendUint32(dst, uint32(11+n))
}
