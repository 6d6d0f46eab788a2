#!/usr/bin/env bash
# bench.sh runs every benchmark under scripts/bench/ (in name order) and
# writes BENCHMARKS.md: the machine, the command, then each benchmark's
# markdown section. Each script prints its section to stdout, compares
# against its peer tool in the same run, and bounds its own time.
# Run one: scripts/bench.sh 20-dhcp
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
out=BENCHMARKS.md
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d)."
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM,"
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -sr),"
  echo "$( [ -w /dev/kvm ] && echo 'KVM available' || echo 'no KVM (QEMU under TCG)'), $(go version | awk '{print $3}')."
  echo "These machines are shared and noisy: figures are medians of repeated runs, and ratios"
  echo "against the peer tool measured in the same run matter more than absolute numbers."
  echo
} >"$tmp"

for s in scripts/bench/*.sh; do
  name=$(basename "$s" .sh)
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  echo "bench: $name" >&2
  if ! bash "$s" >>"$tmp"; then
    echo "bench: $name failed" >&2
    printf '\n## %s\n\nFAILED in this run (see the make bench log).\n\n' "$name" >>"$tmp"
  fi
done
mv "$tmp" "$out"
trap - EXIT
echo "bench: wrote $out" >&2
