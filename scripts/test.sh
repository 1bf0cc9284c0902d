#!/usr/bin/env bash
# The test command (README, .ci/run): installs what it needs, then formatting,
# vet, lint and every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"

echo "== gofmt" >&2
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
echo "== go vet" >&2
go vet ./...
echo "== golangci-lint" >&2
golangci-lint run ./...
echo "== go test -race" >&2
# Two cores: keep package parallelism low so timing-sensitive media tests
# are not starved.
go test -race -count=1 -p 2 -timeout 20m ./...
