#!/usr/bin/env bash
# deps.sh installs the Debian packages that the tests, benchmarks and demo need.
# As root it installs whatever is missing with apt-get; otherwise it prints the
# exact command to run. It exits non-zero only when root installation fails.
#
# The arm64 image and tests also need dpkg's arm64 architecture (so that apt
# can fetch linux-image-arm64, busybox-static, shim-signed and
# grub-efi-arm64-signed for arm64 from the same sources) and QEMU for aarch64:
# qemu-system-arm boots arm64 nodes with the AAVMF firmware of qemu-efi-aarch64,
# and qemu-user-static runs the arm64 busybox while mkbuild lists its applets.
set -euo pipefail

foreign_arches=(arm64)

packages=(
  qemu-system-x86 qemu-utils ovmf ipxe busybox-static squashfs-tools
  kea-admin kea-dhcp4-server dnsmasq-base postgresql cpio zstd xz-utils
  lz4 bzip2 curl iproute2 tftp-hpa atftp ca-certificates openssh-client
  chromium lldpd systemd lintian adduser openipmi
  isc-dhcp-client dhcpcd-base isc-dhcp-relay
  qemu-system-arm qemu-efi-aarch64 qemu-user-static
)

# Foreign architectures dpkg does not know yet (idempotent: an architecture
# already added is left alone, and apt's lists are refreshed only when one is
# added).
native=$(dpkg --print-architecture)
new_arches=()
for a in "${foreign_arches[@]}"; do
  if [ "$a" != "$native" ] && ! dpkg --print-foreign-architectures | grep -qx "$a"; then
    new_arches+=("$a")
  fi
done
if [ ${#new_arches[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: dpkg lacks the architectures ${new_arches[*]} (for the arm64 image); add them with:"
    for a in "${new_arches[@]}"; do
      echo "  sudo dpkg --add-architecture $a"
    done
    echo "  sudo apt-get update"
  else
    for a in "${new_arches[@]}"; do
      echo "deps: adding the dpkg architecture $a"
      dpkg --add-architecture "$a"
    done
    apt-get update -qq
  fi
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}"
  echo "deps: install them with:"
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}"
  exit 0
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Services from these packages must not start on the host: tests run their
# own instances on private ports and namespaces.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Daemons that only the tests run (in their own namespaces) must not start
# on the host at its next boot either: lldpd would announce the host on
# its real network.
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable lldpd >/dev/null 2>&1 || true
fi
# isc-dhcp-relay enables its init script for the next boot; the tests run
# dhcrelay themselves, in namespaces, so keep the host's copy disabled.
if [ -x /etc/init.d/isc-dhcp-relay ]; then
  update-rc.d isc-dhcp-relay disable >/dev/null 2>&1 || echo "deps: could not disable isc-dhcp-relay at boot"
fi
# openipmi's init script loads the host's IPMI drivers at boot; the tests
# need only its BMC simulator, ipmi_sim, which they run themselves.
if [ -x /etc/init.d/openipmi ]; then
  update-rc.d openipmi disable >/dev/null 2>&1 || echo "deps: could not disable openipmi at boot"
fi
echo "deps: done"
