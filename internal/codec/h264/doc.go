// Package h264 is roomctl's one H.264 toolbox: the byte-stream formats
// (Annex-B start codes and AVCC length prefixes), NAL unit types and
// keyframe detection, the sequence parameter set, and the
// AVCDecoderConfigurationRecord ("avcC") that Matroska and FLV carry.
//
// It parses what arrives from files and the network, so every parser is
// bounded and fuzzed; it holds no state and does no I/O. What a caller
// accepts (picture sizes, chroma formats) is the caller's policy.
package h264
