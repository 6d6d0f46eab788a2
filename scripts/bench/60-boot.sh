#!/usr/bin/env bash
# 60-boot: power-on to kernel start and to registration of a QEMU node
# booting the prod microkernel from the network, BIOS, UEFI (iPXE) and UEFI
# with Secure Boot enforced (shim + Debian's signed GRUB), and arm64 (QEMU
# virt, AAVMF, shimaa64 + GRUB, emulated under TCG), through
# razor-netboot (full DHCP, TFTP, HTTP) beside the usual dnsmasq DHCP+TFTP
# set-up with the same kernel and initrd, in the same run (TCG; KVM too
# when it boots a guest here). Median of RUNS boots each (default 3);
# about 2-3 minutes per round on 2 cores under TCG. The Go program
# internal/bench/boot does the work and prints the markdown section.
# Needs root, /dev/net/tun, qemu-system-x86, ovmf, ipxe and dnsmasq.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}  # CPUS=N gives each node N vCPUs (default 1)
# NODES=N powers N machines on at once per boot; FIRMWARE picks the
# firmwares (default all: BIOS,UEFI,UEFI-SB,ARM64). 62-boot-4 sets both.
NODES=${NODES:-1} FIRMWARE=${FIRMWARE:-BIOS,UEFI,UEFI-SB,ARM64} TIMEOUT=${TIMEOUT:-4m}
[ "$(id -u)" -eq 0 ] || { echo "60-boot: needs root (network namespaces, taps)" >&2; exit 1; }
for p in qemu-system-x86_64 qemu-system-aarch64 dnsmasq ip; do
  command -v "$p" >/dev/null || { echo "60-boot: $p missing (scripts/deps.sh)" >&2; exit 1; }
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
if [[ ",$FIRMWARE," == *,ARM64,* ]]; then
  "$work/mkbuild" build images/prod-arm64.yaml --out "$work/images/prod-arm64" --quiet >/dev/null
fi
"$work/boot" -images-dir "$work/images" -razor-netboot "$work/razor-netboot" -runs "$RUNS" -cpus "${CPUS:-1}" \
  -nodes "$NODES" -firmware "$FIRMWARE" -timeout "$TIMEOUT"
