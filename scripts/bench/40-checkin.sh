#!/usr/bin/env bash
# 40-checkin: checkins/s and registrations/s of razor-netboot's checkin
# server with the embedded SQLite store, beside a bare net/http handler
# answering the same URLs (the ceiling on this machine), over loopback
# with keep-alive connections and many simulated nodes. The Go program
# internal/bench/checkin runs the whole suite and prints the markdown
# section; each figure is the median of RUNS runs of DURATION.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-5s}
CONC=${CONC:-64}
NODES=${NODES:-5000}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bin=$(command -v razor-netboot || true)
if [ -z "$bin" ]; then
  go build -o "$tmp/razor-netboot" ./cmd/razor-netboot
  bin=$tmp/razor-netboot
fi
go build -o "$tmp/checkin" ./internal/bench/checkin
"$tmp/checkin" -suite "$bin" -runs "$RUNS" -duration "$DURATION" -conc "$CONC" -nodes "$NODES"
