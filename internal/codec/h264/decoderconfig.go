package h264

import "encoding/binary"

// DecoderConfig builds the AVCDecoderConfigurationRecord ("avcC", ISO/IEC
// 14496-15 5.3.3.1) of one SPS and one PPS, with 4-byte NAL unit lengths:
// a Matroska track's CodecPrivate and the body of an FLV AVC sequence
// header. Profile, compatibility and level are copied from the SPS.
//
// The record of a High profile carries an extension with the chroma format
// and bit depths. ext is the parsed SPS to take them from; nil leaves the
// extension out, as many muxers do for 4:2:0 8-bit, and so does an ext
// whose profile does not code them (ChromaFormatPresent unset). Values the
// record's fields cannot hold (chroma format over 3, bit depths over 15)
// are ErrBadSPS.
func DecoderConfig(sps, pps []byte, ext *SPS) ([]byte, error) {
	if len(sps) < 4 || TypeOf(sps) != NALSPS {
		return nil, ErrNotSPS
	}
	if TypeOf(pps) != NALPPS {
		return nil, ErrNotPPS
	}
	if len(sps) > 0xffff || len(pps) > 0xffff {
		return nil, ErrTooLong
	}
	if ext != nil && (ext.ChromaFormatIDC > 3 || ext.BitDepthLuma > 15 || ext.BitDepthChroma > 15) {
		return nil, ErrBadSPS
	}
	b := make([]byte, 0, 11+len(sps)+len(pps)+4)
	b = append(b,
		1,      // configurationVersion
		sps[1], // AVCProfileIndication
		sps[2], // profile_compatibility
		sps[3], // AVCLevelIndication
		0xfc|3, // reserved 6 bits, lengthSizeMinusOne = 3
		0xe0|1, // reserved 3 bits, numOfSequenceParameterSets = 1
	)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1) // numOfPictureParameterSets
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	b = append(b, pps...)
	if ext != nil && ext.ChromaFormatPresent {
		b = append(b,
			0xfc|byte(ext.ChromaFormatIDC),
			0xf8|byte(ext.BitDepthLuma-8),
			0xf8|byte(ext.BitDepthChroma-8),
			0, // numOfSequenceParameterSetExt
		)
	}
	return b, nil
}
