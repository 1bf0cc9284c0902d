#!/bin/sh
# Regenerates the push tests' media (committed, so tests never need ffmpeg
# to make them). Debian 12's ffmpeg 5.1 with libx264 and libopus.
set -eu
cd "$(dirname "$0")"
F="ffmpeg -hide_banner -loglevel error -y -bitexact"
# 3 s H.264 Annex-B, 160x120 at 30 fps, constrained baseline, an IDR (with
# SPS and PPS in front) every 10 frames.
$F -f lavfi -i testsrc=size=160x120:rate=30 -t 3 -pix_fmt yuv420p -c:v libx264 -profile:v baseline \
	-g 10 -keyint_min 10 -sc_threshold 0 -b:v 150k -bsf:v h264_mp4toannexb -f h264 gop10.h264
# 3 s of a 1 kHz tone, mono Opus in Ogg, 20 ms packets.
$F -f lavfi -i sine=frequency=1000:sample_rate=48000 -t 3 -c:a libopus -b:a 48k -ac 1 -frame_duration 20 tone1k.ogg
