#!/usr/bin/env bash
# 10-initramfs.sh: write a ~200 MB tree to a compressed initrd with
# `mkbuild initrd pack` (gzip and zstd) and with the classic pipelines
# `find | cpio -o -H newc | gzip -9` and `| zstd`, in the same run.
# Prints a markdown section; takes 2-4 minutes on 2 idle cores.
#
# The tree is a sample of this machine's /usr/lib and /usr/share: every
# Nth regular file under 4 MiB in sorted order, N chosen so that the sample
# totals about 200 MB, so that it mixes ELF binaries and libraries, Python
# and Perl modules, locale data, documentation and images as an initrd
# with kernel modules, firmware and userland does.
set -euo pipefail
cd "$(dirname "$0")/../.."
export LC_ALL=C
target=$((${INITRAMFS_BENCH_MB:-200} * 1000 * 1000)) # INITRAMFS_BENCH_MB=5 for a quick check
runs=3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mkbuild" ./cmd/mkbuild

find /usr/lib /usr/share -xdev -type f -size -4M -printf '%s %p\n' 2>/dev/null | sort -k2 >"$work/all"
total=$(awk '{s += $1} END {print s}' "$work/all")
stride=$(((total + target - 1) / target))
awk -v n="$stride" -v t="$target" 'NR % n == 0 { if (s >= t) exit; s += $1; print $2 }' "$work/all" >"$work/list"
tree="$work/tree"
mkdir -p "$tree"
# Copy the sample in one pass, skipping files this user cannot read.
sed 's|^/||' "$work/list" | tar -C / -cf - --ignore-failed-read --no-recursion -T - 2>/dev/null | tar -C "$tree" -xf -
files=$(find "$tree" -type f | wc -l)
bytes=$(du -sb "$tree" | cut -f1)

# time_cmd NAME OUTFILE CMD…: runs CMD $runs times; records the median
# wall time, the median CPU time (user + system, children included: less
# sensitive than wall time to other load on a shared machine) and the
# output size.
declare -A med cpu size
median() { sort -n | sed -n "$(((runs + 1) / 2))p"; }
time_cmd() {
  local name=$1 out=$2
  shift 2
  local ws=() cs=() TIMEFORMAT='%R %U %S'
  for _ in $(seq "$runs"); do
    rm -f "$out"
    if ! { time "$@" 2>"$work/err"; } 2>"$work/tm"; then
      cat "$work/err" >&2
      return 1
    fi
    read -r r u s <"$work/tm"
    ws+=("$r")
    cs+=("$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.3f", u + s}')")
  done
  med[$name]=$(printf '%s\n' "${ws[@]}" | median)
  cpu[$name]=$(printf '%s\n' "${cs[@]}" | median)
  size[$name]=$(stat -c %s "$out")
}

export SOURCE_DATE_EPOCH=0
time_cmd "mkbuild initrd pack -c gzip" "$work/ours.gz" "$work/mkbuild" initrd pack -c gzip "$tree" "$work/ours.gz"
time_cmd "find | cpio -o -H newc | gzip -9" "$work/cpio.gz" sh -c "cd '$tree' && find . | cpio -o -H newc --quiet | gzip -9 >'$work/cpio.gz'"
time_cmd "mkbuild initrd pack -c zstd" "$work/ours.zst" "$work/mkbuild" initrd pack -c zstd "$tree" "$work/ours.zst"
time_cmd "find | cpio -o -H newc | zstd" "$work/cpio.zst" sh -c "cd '$tree' && find . | cpio -o -H newc --quiet | zstd -q >'$work/cpio.zst'"

# Both pipelines' outputs must hold the same files.
"$work/mkbuild" initrd diff "$work/cpio.gz" "$work/ours.zst" >"$work/diff" || true
changed=$(grep -vc ' added, ' "$work/diff" || true)

base=${med["find | cpio -o -H newc | gzip -9"]}
cbase=${cpu["find | cpio -o -H newc | gzip -9"]}
echo "## Initramfs writer: a $((target / 1000000)) MB tree to a compressed initrd"
echo
echo "Tree: $files files, $((bytes / 1000000)) MB, every ${stride}th regular file under 4 MiB of this"
echo "machine's /usr/lib and /usr/share (ELF binaries and libraries, Python modules, locale"
echo "data, documentation, images). Each pipeline runs $runs times; medians of wall time and"
echo "of CPU time (user + system) are shown: our writer compresses on all cores, the pipelines"
echo "mostly on one, so wall time is the operator's wait and CPU time the work done. Ratio is"
echo "tree bytes / output bytes. Command: \`scripts/bench/10-initramfs.sh\`."
echo "Defaults: gzip level $(grep -o 'DefaultGzipLevel = [0-9]*' initramfs/compress.go | grep -o '[0-9]*$') (parallel, klauspost/pgzip), zstd level $(grep -o 'DefaultZstdLevel = [0-9]*' initramfs/compress.go | grep -o '[0-9]*$') (klauspost/compress)."
echo
echo "| pipeline | wall (s) | CPU (s) | output (MB) | ratio | wall vs cpio \\| gzip -9 | CPU vs cpio \\| gzip -9 |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for name in "mkbuild initrd pack -c gzip" "find | cpio -o -H newc | gzip -9" "mkbuild initrd pack -c zstd" "find | cpio -o -H newc | zstd"; do
  nums=$(awk -v t="${med[$name]}" -v c="${cpu[$name]}" -v sz="${size[$name]}" -v b="$bytes" -v base="$base" -v cbase="$cbase" \
    'BEGIN {printf "%.2f | %.2f | %.1f | %.2f | %.1fx | %.1fx", t, c, sz / 1e6, b / sz, base / t, cbase / c}')
  printf '| `%s` | %s |\n' "${name//|/\\|}" "$nums"
done
echo
echo "Entries differing between the cpio | gzip -9 and the mkbuild zstd initrds: $changed (expected 1: the \`.\` entry that find lists)."
echo
