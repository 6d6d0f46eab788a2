#!/usr/bin/env bash
# 62-boot-4: four QEMU nodes powered on at once against one server, BIOS and
# UEFI, through razor-netboot (full DHCP, TFTP, HTTP, at its defaults but
# --checkin-skew 0) beside the usual dnsmasq DHCP+TFTP set-up, in the same
# run: the real firmware path of a small boot storm (61-storm simulates 200
# nodes). Time until the last node registered, median of RUNS (default 1);
# about 6 minutes on 2 cores under TCG. internal/bench/boot -nodes 4 does
# the work and prints the markdown section. Needs root, /dev/net/tun,
# qemu-system-x86, ovmf, ipxe and dnsmasq.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-1}
[ "$(id -u)" -eq 0 ] || { echo "62-boot-4: needs root (network namespaces, taps)" >&2; exit 1; }
for p in qemu-system-x86_64 dnsmasq ip; do
  command -v "$p" >/dev/null || { echo "62-boot-4: $p missing (scripts/deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for p in mkbuild razor-netboot; do
  if command -v "$p" >/dev/null; then
    ln -s "$(command -v "$p")" "$work/$p"
  else
    go build -o "$work/$p" "./cmd/$p"
  fi
done
go build -o "$work/boot" ./internal/bench/boot
"$work/mkbuild" build images/prod.yaml --out "$work/images/prod" --quiet >/dev/null
"$work/boot" -images-dir "$work/images" -razor-netboot "$work/razor-netboot" -runs "$RUNS" -nodes 4 \
  -firmware BIOS,UEFI -timeout 8m
