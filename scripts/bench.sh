#!/usr/bin/env bash
# bench.sh runs the benchmarks under scripts/bench/ (in name order) and
# writes BENCHMARKS.md: the machine, then each benchmark's markdown
# section. Each script prints its section to stdout, compares against its
# peer tool in the same run, and bounds its own time.
#
#   scripts/bench.sh              run them all
#   scripts/bench.sh 20-dhcp ...  run these and keep the other sections
#                                 of the existing BENCHMARKS.md
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
out=BENCHMARKS.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# section NAME FILE prints the block of NAME from FILE (markers included).
section() {
  awk -v b="<!-- bench:$1 -->" -v e="<!-- /bench:$1 -->" '
    $0 == b {on = 1} on {print} $0 == e {on = 0}' "$2"
}

for s in scripts/bench/*.sh; do
  name=$(basename "$s" .sh)
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  echo "bench: $name" >&2
  {
    echo "<!-- bench:$name -->"
    echo "_Run on $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1 /proc/loadavg) at the start._"
    echo
    if ! bash "$s"; then
      echo "bench: $name failed" >&2
      printf '\n## %s\n\nFAILED in this run (see the make bench log).\n' "$name"
    fi
    echo "<!-- /bench:$name -->"
  } >"$work/$name.md"
done

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh; \`scripts/bench.sh NAME…\` reruns single sections)."
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM,"
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -sr),"
  echo "$( [ -w /dev/kvm ] && echo 'KVM available' || echo 'no KVM (QEMU under TCG)'), $(go version | awk '{print $3}')."
  echo "These machines are shared and noisy: figures are medians of repeated runs, and ratios"
  echo "against the peer tool measured in the same run matter more than absolute numbers."
  echo
  for s in scripts/bench/*.sh; do
    name=$(basename "$s" .sh)
    if [ -f "$work/$name.md" ]; then
      cat "$work/$name.md"
    elif [ -f "$out" ]; then
      section "$name" "$out"
    fi
    echo
  done
} >"$work/BENCHMARKS.md"
mv "$work/BENCHMARKS.md" "$out"
echo "bench: wrote $out" >&2
