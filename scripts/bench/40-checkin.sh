#!/usr/bin/env bash
# 40-checkin: checkins/s and registrations/s of razor-netboot's checkin
# server with the embedded SQLite store, against a bare net/http handler
# answering the same URLs with fixed bodies (the ceiling on this machine),
# over loopback with keep-alive connections and many simulated nodes.
# Each figure is the median of RUNS runs of DURATION. Prints a markdown
# section.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-5s}
CONC=${CONC:-64}
NODES=${NODES:-5000}

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

bin=$(command -v razor-netboot || true)
if [ -z "$bin" ]; then
  go build -o "$tmp/razor-netboot" ./cmd/razor-netboot
  bin=$tmp/razor-netboot
fi
go build -o "$tmp/checkin" ./internal/bench/checkin

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_healthy() {
  for _ in $(seq 200); do
    curl -fs "$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "server at $1 not healthy" >&2
  return 1
}

# median FIELD FILE: the median of a JSON field over the lines of FILE.
median() {
  python3 - "$1" "$2" <<'PY'
import json, sys, statistics
vals = [json.loads(l)[sys.argv[1]] for l in open(sys.argv[2]) if l.strip()]
print(f"{statistics.median(vals):.2f}")
PY
}

p=$(port); url=http://127.0.0.1:$p
"$bin" serve --dhcp off --tftp off --data-dir "$tmp/data" --http-addr "127.0.0.1:$p" \
  --rate-limit 0 --register-timeout 1h --log-level error 2>"$tmp/server.log" &
pids+=($!)
wait_healthy "$url"

b=$(port); bare=http://127.0.0.1:$b
"$tmp/checkin" -bare "127.0.0.1:$b" &
pids+=($!)
wait_healthy "$bare"

for i in $(seq "$RUNS"); do
  "$tmp/checkin" -url "$url" -mode register -conc "$CONC" -duration "$DURATION" -seed "$i" >>"$tmp/reg.json"
  "$tmp/checkin" -url "$bare" -mode register -conc "$CONC" -duration "$DURATION" -seed "$i" >>"$tmp/bare-reg.json"
  "$tmp/checkin" -url "$url" -mode checkin -nodes "$NODES" -conc "$CONC" -duration "$DURATION" -seed $((100 + i)) >>"$tmp/chk.json"
  "$tmp/checkin" -url "$bare" -mode checkin -nodes "$NODES" -conc "$CONC" -duration "$DURATION" -seed $((100 + i)) >>"$tmp/bare-chk.json"
done

ratio() { python3 -c "print(f'{$1 / $2 * 100:.0f}%')"; }
cr=$(median per_sec "$tmp/chk.json"); cb=$(median per_sec "$tmp/bare-chk.json")
rr=$(median per_sec "$tmp/reg.json"); rb=$(median per_sec "$tmp/bare-reg.json")

cat <<MD
## Checkin server (razor-netboot, embedded SQLite store)

\`scripts/bench/40-checkin.sh\` (RUNS=$RUNS DURATION=$DURATION CONC=$CONC NODES=$NODES): a Go load
generator (\`internal/bench/checkin\`) drives \`razor-netboot serve --dhcp off --tftp off\` over
loopback with $CONC keep-alive connections; registrations are new nodes with 16 facts, each
acknowledged only once on disk (SQLite WAL, synchronous=FULL, group commit); checkins are
$NODES registered nodes answered \`acknowledge\`. The ceiling is a bare \`net/http\` handler
returning the same bodies, measured in the same run. Load generator and server share the
machine's cores. Medians of $RUNS runs.

| measurement | razor-netboot | bare net/http | ratio | p50 ms | p99 ms |
|---|---:|---:|---:|---:|---:|
| checkins/s | $cr | $cb | $(ratio "$cr" "$cb") | $(median p50_ms "$tmp/chk.json") | $(median p99_ms "$tmp/chk.json") |
| registrations/s | $rr | $rb | $(ratio "$rr" "$rb") | $(median p50_ms "$tmp/reg.json") | $(median p99_ms "$tmp/reg.json") |

MD
