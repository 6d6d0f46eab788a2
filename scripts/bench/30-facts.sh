#!/usr/bin/env bash
# 30-facts.sh: how long mk-agent takes to gather the facts of this machine,
# and how big the static agent binary is. Aims: gathering < 50 ms, binary
# < 12 MB. The peer is what a shell-based agent runs for a comparable (and
# smaller) inventory: lscpu, lsblk and ip from util-linux and iproute2.
# Prints a markdown section on stdout; bounded to well under a minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
runs=${FACTS_BENCH_RUNS:-21}

CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/mk-agent" ./cmd/mk-agent
size=$(stat -c %s "$tmp/mk-agent")

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "n/a"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f\n", m}'; }

# In-process: Go benchmark, 5 samples of 50 gatherings each.
inproc=$(go test -run '^$' -bench '^BenchmarkGatherLive$' -benchtime 50x -count 5 ./agent/facts/ 2>/dev/null |
  awk '/^BenchmarkGatherLive/ {print $3/1e6}' | median)

# Whole command, cold process: wall milliseconds per run.
wall() {
  local i s e
  for ((i = 0; i < runs; i++)); do
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    e=$(date +%s%N)
    echo $(((e - s) / 1000))
  done | awk '{print $1/1000}' | median
}
agent=$(wall "$tmp/mk-agent" facts)
nfacts=$("$tmp/mk-agent" facts 2>/dev/null | wc -l)
peer_cmd='lscpu; lsblk -J -O; ip -j addr'
peer=n/a
if command -v lscpu >/dev/null && command -v lsblk >/dev/null && command -v ip >/dev/null; then
  peer=$(wall sh -c "$peer_cmd")
fi
ratio=n/a
if [ "$peer" != n/a ]; then ratio=$(awk -v a="$agent" -v p="$peer" 'BEGIN {printf "%.2f", a/p}'); fi
mb=$(awk -v s="$size" 'BEGIN {printf "%.2f", s/1048576}')

cat <<EOT
## Fact gathering (mk-agent facts)

\`scripts/bench/30-facts.sh\`: \`go test -bench BenchmarkGatherLive ./agent/facts\` (5 x 50
gatherings, in process) and $runs cold runs of \`mk-agent facts\` against \`sh -c '$peer_cmd'\`
on the same machine, same run. The agent is built with
\`CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' ./cmd/mk-agent\`.

| measure | mk-agent | peer (lscpu + lsblk + ip) | ratio | aim |
|---|---|---|---|---|
| gathering, in process (median ms) | $inproc | | | < 50 |
| \`mk-agent facts\`, whole process (median ms) | $agent | $peer | $ratio | |
| facts reported | $nfacts | | | |
| static binary size | $mb MB ($size bytes) | | | < 12 MB |

EOT
