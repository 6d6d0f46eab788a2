#!/usr/bin/env bash
# 41-postgres: checkins/s and registrations/s of razor-netboot's checkin
# server on the PostgreSQL store, with one replica and with two replicas
# sharing one database, beside the embedded SQLite store measured in the
# same run. PostgreSQL is Debian's server in a throwaway cluster, durable
# (fsync and synchronous commit on). The Go program internal/bench/pg runs
# the whole suite with the load generator of internal/bench/checkin and
# prints the markdown section; each figure is the median of RUNS runs of
# DURATION.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-5s}
CONC=${CONC:-64}
NODES=${NODES:-2000}

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  printf '## Checkin server on PostgreSQL: one and two replicas\n\nSkipped: PostgreSQL is not installed (apt-get install postgresql).\n\n'
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bin=$(command -v razor-netboot || true)
if [ -z "$bin" ]; then
  go build -o "$tmp/razor-netboot" ./cmd/razor-netboot
  bin=$tmp/razor-netboot
fi
go build -o "$tmp/checkin" ./internal/bench/checkin
go build -o "$tmp/pg" ./internal/bench/pg
"$tmp/pg" -razor-netboot "$bin" -checkin "$tmp/checkin" -runs "$RUNS" -duration "$DURATION" -conc "$CONC" -nodes "$NODES"
