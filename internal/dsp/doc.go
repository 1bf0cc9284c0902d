// Package dsp is roomctl's audio signal processing: sample-rate
// conversion (a Kaiser-windowed sinc, polyphase) and the soft limiter.
// The mixer resamples decoded files as whole buffers, the RTMP push
// resamples 48 kHz Opus to 44.1 kHz AAC in 20-ms chunks; both use the one
// Resampler here. Everything works on mono float32 samples, full scale ±1.
package dsp
