#!/usr/bin/env bash
# Installs everything roomctl's build, demo and tests need on Debian/Ubuntu.
# Idempotent: safe to re-run. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Build: cgo for libvpx (VP8); mediadevices ships static openh264 and opus.
# Tests: ffmpeg/ffprobe and mkvinfo check media, jq and python3 for the scripts
# and the README's --control examples, nftables
# to cut loopback media in the resilience tests, PulseAudio (daemon, pactl,
# pacat) for the device and capture tests, iproute2 for the browser tests'
# network namespace, redis-server for the two-node LiveKit tests.
PKGS=(gcc pkg-config libvpx-dev ffmpeg mkvtoolnix jq python3 ca-certificates git nftables nginx libnginx-mod-rtmp libavcodec-dev libavutil-dev libswscale-dev chromium pulseaudio pulseaudio-utils iproute2 redis-server)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  # Debian's Go is older than go.mod asks; with GOTOOLCHAIN=auto it fetches
  # the right toolchain from the Go module proxy on first use.
  missing+=(golang-go)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "setup: system packages present" >&2
fi

export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

GOLANGCI_VERSION=v2.15.0
if ! golangci-lint version 2>/dev/null | grep -q "${GOLANGCI_VERSION#v}"; then
  echo "setup: installing golangci-lint ${GOLANGCI_VERSION}" >&2
  go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_VERSION}"
fi

# LiveKit's server, for the LiveKit backend's tests. Newer releases replace
# pion with LiveKit's forks in their go.mod, which `go install` refuses;
# v1.13.5 is the newest that builds from the module proxy (v1.13.11 fails).
LIVEKIT_VERSION=v1.13.5
if ! livekit-server --version 2>/dev/null | grep -q "${LIVEKIT_VERSION#v}"; then
  echo "setup: building livekit-server ${LIVEKIT_VERSION} (a few minutes)" >&2
  gobin="$(go env GOBIN)"; gobin="${gobin:-$(go env GOPATH)/bin}"
  tmp="$(mktemp -d)"
  mkdir -p "$gobin"
  GOBIN="$tmp" go install "github.com/livekit/livekit-server/cmd/server@${LIVEKIT_VERSION}"
  mv "$tmp/server" "$gobin/livekit-server"
  rmdir "$tmp"
fi
