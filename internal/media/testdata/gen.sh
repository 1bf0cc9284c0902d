#!/bin/sh
# Regenerates the media test files (committed, so tests never need ffmpeg).
# Debian 12's ffmpeg 5.1 with libvpx, libx264 and libopus; -bitexact keeps
# encoder version strings out of the files.
set -eu
cd "$(dirname "$0")"
F="ffmpeg -hide_banner -loglevel error -y -bitexact"
# 2 s VP8 in IVF, 160x120 at 30 fps, a keyframe every second.
$F -f lavfi -i testsrc=size=160x120:rate=30 -t 2 -c:v libvpx -b:v 150k -g 30 -auto-alt-ref 0 vp8.ivf
# 2 s H.264 Annex-B, constrained baseline (no B-frames), SPS with timing info.
$F -f lavfi -i testsrc=size=160x120:rate=30 -t 2 -pix_fmt yuv420p -c:v libx264 -profile:v baseline -g 30 -b:v 150k \
	-bsf:v h264_mp4toannexb -f h264 h264.h264
# Main profile with B-frames: must be refused.
$F -f lavfi -i testsrc=size=64x48:rate=30 -t 0.5 -pix_fmt yuv420p -c:v libx264 -profile:v main -bf 2 \
	-bsf:v h264_mp4toannexb -f h264 h264-bframes.h264
# 2 s mono Opus in Ogg with ffmpeg's default one-second pages (about 50
# packets a page), which a page-as-packet reader gets wrong.
$F -f lavfi -i sine=frequency=440:sample_rate=48000 -t 2 -c:a libopus -b:a 32k -ac 1 opus.ogg
