#!/bin/sh
# Regenerates the test file (committed, so tests never need ffmpeg).
# Debian 12's ffmpeg 5.1 with libvpx; -bitexact keeps version strings out.
set -eu
cd "$(dirname "$0")"
# 10 frames of solid red VP8 in IVF, 160x120 at 30 fps.
ffmpeg -hide_banner -loglevel error -y -bitexact -f lavfi -i color=c=red:size=160x120:rate=30 -frames:v 10 \
	-c:v libvpx -b:v 100k -auto-alt-ref 0 red.ivf
