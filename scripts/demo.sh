#!/usr/bin/env bash
# demo.sh (make demo): the whole Razor discovery loop on this machine.
# Builds the dev microkernel with bin/mkbuild, starts bin/razor-netboot on a
# private provisioning network (a network namespace with a bridge: full
# DHCP, TFTP, HTTP), powers on one QEMU node that boots from the network,
# prints its boot timeline as it happens and, once it has registered, its
# facts and tags; then cleans up. A few minutes at most; exit 0 on success.
#
#   bash scripts/demo.sh [--uefi] [--timeout 5m]    (as root; make demo runs it)
#
# Needs root, /dev/net/tun, qemu-system-x86_64, iproute2, the ipxe package
# (and ovmf for --uefi), Go, and bin/ from `make build`; it says what is
# missing and exits 1 if anything is.
set -euo pipefail
cd "$(dirname "$0")/.."

uefi=0
for a in "$@"; do [ "$a" = "--uefi" ] && uefi=1; done

missing=()
[ "$(id -u)" -eq 0 ] || missing+=("root: network namespaces and tap devices need it (sudo make demo)")
[ -c /dev/net/tun ] || missing+=("/dev/net/tun: load the tun module (modprobe tun)")
command -v ip >/dev/null || missing+=("ip: apt-get install iproute2")
command -v qemu-system-x86_64 >/dev/null || missing+=("qemu-system-x86_64: apt-get install qemu-system-x86 (make deps)")
[ -r /usr/lib/ipxe/undionly.kpxe ] && [ -r /usr/lib/ipxe/snponly.efi ] || missing+=("iPXE binaries in /usr/lib/ipxe: apt-get install ipxe (make deps)")
[ "$uefi" -eq 0 ] || [ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || missing+=("OVMF for --uefi: apt-get install ovmf (make deps)")
command -v apt-get >/dev/null || missing+=("apt-get: mkbuild fetches Debian's kernel and busybox with it")
command -v go >/dev/null || missing+=("go: the Go toolchain builds the demo helper")
for b in mkbuild razor-netboot; do
  [ -x "bin/$b" ] || missing+=("bin/$b: run make build")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "demo: cannot run here; missing:" >&2
  for m in "${missing[@]}"; do echo "  - $m" >&2; done
  exit 1
fi

work=$(mktemp -d /tmp/razor-demo.XXXXXX)
netns="razor-demo-$$"
cleanup() {
  # The helper tears down what it started; this catches a helper killed
  # before it could.
  if ip netns list 2>/dev/null | grep -qw "$netns"; then
    for pid in $(ip netns pids "$netns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$netns" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "demo: building the dev microkernel: bin/mkbuild build images/dev.yaml --out $work/images/dev"
start=$(date +%s)
bin/mkbuild build images/dev.yaml --out "$work/images/dev" 2>&1 | sed 's/^/  /'
echo "demo: built in $(( $(date +%s) - start )) s"
CGO_ENABLED=0 go build -o "$work/demo" ./internal/demo
"$work/demo" --images-dir "$work/images" --razor-netboot bin/razor-netboot --netns "$netns" "$@"
