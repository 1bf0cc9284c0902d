// Package testutil is roomctl's shared test harness: it starts roomctl
// processes and collects their NDJSON events (every line checked against
// the event schema), waits on events with generous deadlines, checks media
// files with ffprobe/ffmpeg, walks Ogg files, finds free loopback ports,
// starts the external programs tests talk to (nginx-rtmp, PulseAudio,
// Chromium, each ended by t.Cleanup), runs processes inside a network
// namespace of the test's own, and fails a test whose processes bind a UDP
// socket anywhere but on loopback.
//
// It is a normal package so that tests of several packages share it; only
// _test.go files import it. It must not import the packages it tests
// (record, push, internal/server...): their in-package tests import it.
package testutil
