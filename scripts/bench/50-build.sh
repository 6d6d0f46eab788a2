#!/usr/bin/env bash
# 50-build.sh: `mkbuild build images/prod.yaml` from a cold and a warm
# download cache (median of 3 warm builds), and the initrd size of each
# variant with each compression. The peer is the classic pipeline
# `find | cpio -o -H newc | gzip -9 / zstd -19 / xz -9 --check=crc32` over
# the same files, measured in the same run. Prints a markdown section;
# takes 3-6 minutes on 2 cores (the cold build downloads ~72 MB from
# Debian's mirror and unpacks the kernel package).
set -euo pipefail
cd "$(dirname "$0")/../.."
export LC_ALL=C
runs=3
repo=$PWD

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mkbuild" ./cmd/mkbuild
export SOURCE_DATE_EPOCH=1700000000

# A throwaway SSH key, so that the dev image has one.
ssh-keygen -q -t ed25519 -N "" -f "$work/key" >/dev/null 2>&1 || printf '%s\n' \
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIh1Ed5dYZ3LrvUzdNTBYuPt7ZQ2U0xYDbqRvWfZxV8u bench" >"$work/key.pub"

# now: seconds since the epoch with fractions.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
median() { sort -n | sed -n "$(((runs + 1) / 2))p"; }

build() { # build SPEC OUT CACHE [flags…]
  local spec=$1 out=$2 cache=$3
  shift 3
  "$work/mkbuild" build "$spec" --out "$out" --cache "$cache" --quiet "$@" >/dev/null
}

# Cold: an empty mkbuild cache (the Go build cache is left as it is: the
# agent is compiled by go build, which caches on its own).
cold_cache="$work/cold-cache"
s=$(now)
build images/prod.yaml "$work/cold" "$cold_cache"
cold=$(elapsed "$s" "$(now)")

warm_times=()
for i in $(seq "$runs"); do
  s=$(now)
  build images/prod.yaml "$work/warm$i" "$cold_cache"
  warm_times+=("$(elapsed "$s" "$(now)")")
done
warm=$(printf '%s\n' "${warm_times[@]}" | median)
same=yes
for i in $(seq 2 "$runs"); do
  cmp -s "$work/warm1/initrd" "$work/warm$i/initrd" || same=no
done
cmp -s "$work/cold/initrd" "$work/warm1/initrd" || same=no

# Sizes: each variant with each compression (specs extending the shipped
# ones), and the peer pipeline over the same files (the gzip image's cpio).
declare -A sz peer
for variant in prod dev; do
  for comp in gzip zstd xz; do
    spec="$work/$variant-$comp.yaml"
    # Each at its highest level, as the peer's tools run (gzip 9, zstd 19).
    level=""
    case $comp in gzip) level="  level: 9";; zstd) level="  level: 19";; esac
    printf 'extends: %s/images/%s.yaml\ninitrd:\n  compression: %s\n%s\n' "$repo" "$variant" "$comp" "$level" >"$spec"
    build "$spec" "$work/$variant-$comp" "$cold_cache" --authorized-keys "$work/key.pub"
    sz[$variant-$comp]=$(stat -c %s "$work/$variant-$comp/initrd")
  done
done
unpacked=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sizes"]["initrd_unpacked"])' "$work/prod-gzip/manifest.json" 2>/dev/null || echo "?")
if [ "$(id -u)" -eq 0 ] && command -v cpio >/dev/null; then
  tree="$work/tree"
  mkdir -p "$tree"
  (cd "$tree" && gzip -dc "$work/prod-gzip/initrd" | cpio -idm --quiet 2>/dev/null)
  (cd "$tree" && find . | LC_ALL=C sort | cpio -o -H newc --quiet >"$work/peer.cpio")
  gzip -9 -c "$work/peer.cpio" >"$work/peer.gz"
  zstd -q -19 -c "$work/peer.cpio" >"$work/peer.zst"
  xz -9 --check=crc32 -c "$work/peer.cpio" >"$work/peer.xz"
  peer[gzip]=$(stat -c %s "$work/peer.gz")
  peer[zstd]=$(stat -c %s "$work/peer.zst")
  peer[xz]=$(stat -c %s "$work/peer.xz")
fi

mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1e6}'; }
ratio() { if [ -n "${2:-}" ]; then awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; else echo "n/a"; fi; }
kver=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernel_version"])' "$work/cold/manifest.json" 2>/dev/null || echo "?")
modules=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["modules"]))' "$work/cold/manifest.json" 2>/dev/null || echo "?")

cat <<EOF
## Image build (mkbuild build)

\`scripts/bench/50-build.sh\`: \`mkbuild build images/prod.yaml --out DIR --cache DIR\` from
Debian 12's \`linux-image-amd64\` (kernel $kver, $modules modules with dependencies) and
\`busybox-static\`, with the agent built from source; \`SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH\`.

| build | time |
|---|---|
| cold mkbuild cache (apt download of ~72 MB, unpack, agent build) | ${cold} s |
| warm cache, median of $runs | ${warm} s (aim: under 10 s) |
| all $((runs + 1)) initrds byte-identical | $same |

Initrd size per variant and compression, ours at gzip level 9 and zstd level 19 like the peer
(prod: $(mb "$unpacked") of files unpacked).
Peer: \`find | cpio -o -H newc\` over the same files, then \`gzip -9\`, \`zstd -19\`,
\`xz -9 --check=crc32\`; ratio = ours / peer (below 1: ours is smaller).

| compression | prod | dev | peer (prod files) | ratio prod / peer |
|---|---|---|---|---|
| gzip | $(mb "${sz[prod-gzip]}") | $(mb "${sz[dev-gzip]}") | $( [ -n "${peer[gzip]:-}" ] && mb "${peer[gzip]}" || echo n/a) | $(ratio "${sz[prod-gzip]}" "${peer[gzip]:-}") |
| zstd | $(mb "${sz[prod-zstd]}") | $(mb "${sz[dev-zstd]}") | $( [ -n "${peer[zstd]:-}" ] && mb "${peer[zstd]}" || echo n/a) | $(ratio "${sz[prod-zstd]}" "${peer[zstd]:-}") |
| xz | $(mb "${sz[prod-xz]}") | $(mb "${sz[dev-xz]}") | $( [ -n "${peer[xz]:-}" ] && mb "${peer[xz]}" || echo n/a) | $(ratio "${sz[prod-xz]}" "${peer[xz]:-}") |

Aim: prod initrd under 25 MB with the default driver set. The shipped specs use zstd level 19.

EOF
