#!/usr/bin/env bash
# 51-build-arm64.sh: `mkbuild build images/prod-arm64.yaml` from a cold and
# a warm download cache (median of 3 warm builds) on this (amd64) host, and
# the sizes of the arm64 images as shipped (zstd 19): the arm64 busybox
# runs under qemu-aarch64-static while its applets are listed, the agent is
# cross-compiled. Prints a markdown section; about 2 minutes on 2 cores (the
# cold build downloads ~65 MB of arm64 packages). Needs dpkg's arm64
# architecture and qemu-user-static (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
export LC_ALL=C
runs=3

if [ "$(dpkg --print-architecture)" != arm64 ] &&
  { ! dpkg --print-foreign-architectures | grep -qx arm64 || ! command -v qemu-aarch64-static >/dev/null; }; then
  printf '## Image build, arm64 (mkbuild build)\n\nSkipped: dpkg has no arm64 architecture or qemu-aarch64-static is missing (run scripts/deps.sh).\n'
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mkbuild" ./cmd/mkbuild
export SOURCE_DATE_EPOCH=1700000000
printf '%s\n' "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIh1Ed5dYZ3LrvUzdNTBYuPt7ZQ2U0xYDbqRvWfZxV8u bench" >"$work/key.pub"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
median() { sort -n | sed -n "$(((runs + 1) / 2))p"; }
build() { # build SPEC OUT [flags…]
  local spec=$1 out=$2
  shift 2
  "$work/mkbuild" build "$spec" --out "$out" --cache "$work/cache" --quiet "$@" >/dev/null
}
field() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null || echo "?"; }
mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1e6}'; }

s=$(now)
build images/prod-arm64.yaml "$work/cold"
cold=$(elapsed "$s" "$(now)")
warm_times=()
for i in $(seq "$runs"); do
  s=$(now)
  build images/prod-arm64.yaml "$work/warm$i"
  warm_times+=("$(elapsed "$s" "$(now)")")
done
warm=$(printf '%s\n' "${warm_times[@]}" | median)
same=yes
for i in $(seq 1 "$runs"); do
  for f in initrd vmlinuz manifest.json shimaa64.efi grubaa64.efi; do
    cmp -s "$work/cold/$f" "$work/warm$i/$f" || same=no
  done
done
build images/dev-arm64.yaml "$work/dev" --authorized-keys "$work/key.pub"

m=$work/cold/manifest.json
cat <<EOF2
## Image build, arm64 (mkbuild build)

\`scripts/bench/51-build-arm64.sh\`: \`mkbuild build images/prod-arm64.yaml --out DIR --cache DIR\`
on this amd64 host from Debian 12's \`linux-image-arm64\` (kernel $(field "$m" 'm["kernel_version"]'),
$(field "$m" 'len(m["modules"])') modules with dependencies), \`busybox-static:arm64\` (applets listed under
\`qemu-aarch64-static\`), the signed \`shimaa64.efi\` and \`grubaa64.efi\`, and the agent
cross-compiled with \`GOARCH=arm64\`; \`SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH\`.

| build | time |
|---|---|
| cold mkbuild cache (apt download, unpack, agent build) | ${cold} s |
| warm cache, median of $runs | ${warm} s |
| all $((runs + 1)) builds byte-identical (initrd, vmlinuz, manifest, loaders) | $same |

| image (zstd 19, as shipped) | initrd | unpacked | vmlinuz |
|---|---|---|---|
| prod-arm64 | $(mb "$(stat -c %s "$work/cold/initrd")") | $(mb "$(field "$m" 'm["sizes"]["initrd_unpacked"]')") | $(mb "$(stat -c %s "$work/cold/vmlinuz")") (uncompressed EFI-stub Image) |
| dev-arm64 | $(mb "$(stat -c %s "$work/dev/initrd")") | $(mb "$(field "$work/dev/manifest.json" 'm["sizes"]["initrd_unpacked"]')") | same kernel |

Aim: prod initrd under 25 MB, as for amd64.
EOF2
